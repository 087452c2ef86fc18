"""``frasi serve``: the embedding server (frasi.server), from flags over FRASI_* variables over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._shared import CacheOptions, ModelOptions, command, option_group, setup_logging


@option_group
class ServedModels(ModelOptions):
    """ModelOptions, with --model repeatable: every model named is served."""

    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", metavar="MODEL",
        help="Embedding model to serve (folder, packaged name or Hub id); repeat to serve several, "
             "the first is the default (default: FRASI_MODELS, else FRASI_MODEL, the config file, "
             "or multilingual-e5-small).")] = None


@command(name="serve")
def serve(
    *, model: ServedModels,
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to bind (default: FRASI_HOST or 127.0.0.1, this machine only).")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", "-p", min=0, max=65535, help="TCP port (default: FRASI_PORT or 8000; 0: any free port).")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", help="Require Authorization: Bearer KEY on every endpoint but /, /health and /metrics "
                          "(default: FRASI_API_KEY; prefer the variable: a flag shows in the process list).")] = None,
    classifier: Annotated[list[Path] | None, typer.Option(
        "--classifier", metavar="FOLDER",
        help="A saved classifier folder (frasi classify train) to serve at /classify; repeat for several.")] = None,
    cross_encoder: Annotated[Path | None, typer.Option(
        "--cross-encoder", help="A cross-encoder folder: /rerank uses it by default.")] = None,
    sentiment: Annotated[bool | None, typer.Option(
        "--sentiment/--no-sentiment", help="Serve the shipped sentiment classifier at /sentiment (default: on; a "
                                           "fine-tuned multilingual-e5-small of its own).")] = None,
    matryoshka: Annotated[list[str] | None, typer.Option(
        "--matryoshka", metavar="MODEL",
        help="A served model trained for truncated embeddings: /v1/embeddings accepts a smaller `dimensions` for "
             "it; repeat for several.")] = None,
    max_inputs: Annotated[int | None, typer.Option("--max-inputs", min=1, help="Texts per request (2048).")] = None,
    max_input_chars: Annotated[int | None, typer.Option(
        "--max-input-chars", min=1, help="Characters per text (50000).")] = None,
    max_body_bytes: Annotated[int | None, typer.Option(
        "--max-body-bytes", min=1024, help="Bytes per request body (8 MiB).")] = None,
    max_queue: Annotated[int | None, typer.Option(
        "--max-queue", min=1, help="Requests waiting per model before 429 (64).")] = None,
    max_batch_tokens: Annotated[int | None, typer.Option(
        "--max-batch-tokens", min=1, help="Tokens per merged run (4096).")] = None,
    max_wait_ms: Annotated[float | None, typer.Option(
        "--max-wait-ms", min=0, help="Wait for requests in flight to merge, in ms (2).")] = None,
    playground: Annotated[bool | None, typer.Option(
        "--playground/--no-playground", help="Serve the web playground at / (default: on).")] = None,
    access_log: Annotated[bool | None, typer.Option("--access-log", help="Log every request.")] = None,
    cache: CacheOptions,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
) -> None:
    """Serve embeddings over HTTP: OpenAI's /v1/embeddings, /similarity, /rerank, /classify, /sentiment,
    /tokenize, /health, /metrics and a web playground at /. Binds 127.0.0.1 unless told otherwise; SIGTERM
    finishes the requests in flight before exiting."""
    from frasi.server import load_settings
    from frasi.server import serve as run_server

    setup_logging(quiet)
    settings = load_settings(
        models=model.model or None, backend=model.backend, threads=model.threads, fallback=model.fallback,
        host=host, port=port, api_key=api_key, classifiers=[str(p) for p in classifier] if classifier else None,
        cross_encoder=str(cross_encoder) if cross_encoder is not None else None, sentiment=sentiment,
        matryoshka=matryoshka or None, max_inputs=max_inputs, max_input_chars=max_input_chars,
        max_body_bytes=max_body_bytes, max_queue=max_queue, max_batch_tokens=max_batch_tokens,
        max_wait_ms=max_wait_ms, playground=playground, access_log=access_log,
        embedding_cache=None if cache.cache else False)
    run_server(settings)
