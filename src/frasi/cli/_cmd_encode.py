"""Commands that turn texts into vectors: models, tokenize, embed, compose."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import frasi
from frasi.encoder import LONG_TEXT_POLICIES, PRECISIONS, check_choice
from frasi.errors import InputError, require
from frasi.io import (
    EMBEDDING_SUFFIXES,
    check_output_path,
    write_embeddings,
)
from frasi.sources import DEFAULT_MODEL

from ._shared import (
    Backend,
    BatchSize,
    Column,
    Fallback,
    File,
    Json,
    LongTexts,
    Model,
    Output,
    Prompt,
    Quiet,
    Threads,
    UseCache,
    app,
    emit_json,
    encode_texts,
    err,
    load_encoder,
    out,
    read_input_texts,
    setup_logging,
)


@app.command()
def models(as_json: Json = False, quiet: Quiet = False) -> None:
    """List the models available offline and where they live."""
    setup_logging(quiet)
    rows = frasi.list_models()
    if as_json:
        emit_json({"default": DEFAULT_MODEL, "cache": str(frasi.cache_dir()),
                    "models": [vars(r) for r in rows]})
        return
    table = Table(title=f"packaged models (cache: {frasi.cache_dir()})")
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("location", overflow="fold")
    for r in rows:
        table.add_row(r.name + (" (default)" if r.name == DEFAULT_MODEL else ""), r.status, r.location)
    out.print(table)
    out.print("Any local sentence-transformers or Hugging Face encoder folder, or a Hub id when online, works too.")


@app.command()
def tokenize(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to tokenize.")] = None,
    file: File = None, column: Column = None, model: Model = DEFAULT_MODEL, prompt: Prompt = None,
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Show tokens, ids, decoded text, counts and the token-embedding shape of texts."""
    setup_logging(quiet)
    items = read_input_texts(texts, file, column)
    encoder = load_encoder(model)
    infos = [encoder.tokenize(t, prompt=prompt) for t in items]
    if as_json:
        emit_json([i.to_dict() for i in infos])
        return
    for info in infos:
        out.print(info.text, style="bold")
        if info.prompt:
            out.print(f"  prompt:    {info.prompt!r}")
        out.print(f"  tokens:    {info.tokens}")
        out.print(f"  ids:       {info.ids}")
        out.print(f"  decoded:   {info.decoded}")
        cut = f" (truncated to {info.max_length})" if info.truncated else ""
        out.print(f"  count:     {info.n_tokens} tokens{cut}; token embeddings {info.embedding_shape[0]} x "
                  f"{info.embedding_shape[1]}")


@app.command()
def embed(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to embed.")] = None,
    file: File = None, column: Column = None, output: Output = None, model: Model = DEFAULT_MODEL,
    prompt: Prompt = None,
    normalize: Annotated[bool, typer.Option("--normalize", help="L2-normalise the embeddings.")] = False,
    precision: Annotated[str, typer.Option("--precision", help="float32, int8, uint8, binary or ubinary.")] = "float32",
    long_texts: LongTexts = "truncate",
    batch_size: BatchSize = 32, use_cache: UseCache = True, backend: Backend = "torch", threads: Threads = None,
    fallback: Fallback = None, as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Embed texts and write them to .npy, .parquet (text + vector) or .jsonl."""
    setup_logging(quiet)
    if output is None and not as_json:
        raise InputError("pass --output FILE (.npy, .parquet or .jsonl) or --json to print the vectors")
    if output is not None:
        check_output_path(output, EMBEDDING_SUFFIXES, inputs=[file])
        if output.suffix.lower() == ".parquet":
            require("pyarrow.parquet", extra="parquet", purpose="writing parquet files")
    check_choice("precision", precision, PRECISIONS)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    items = read_input_texts(texts, file, column)
    encoder = load_encoder(model, backend, threads, fallback)
    start = time.perf_counter()
    vectors = encode_texts(encoder, items, use_cache=use_cache, prompt=prompt, normalize=normalize, precision=precision,  # type: ignore[arg-type]
                             long_texts=long_texts, batch_size=batch_size)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    # counted here, not taken from encode's warning: cached texts are never tokenized by encode
    truncated = encoder.count_truncated(items, prompt=prompt) if long_texts == "truncate" else 0
    summary = {"count": len(items), "dim": int(vectors.shape[1]), "dtype": str(vectors.dtype),
               "seconds": round(seconds, 3), "texts_per_second": round(len(items) / max(seconds, 1e-9), 1),
               "truncated": truncated, "model": encoder.name, "output": str(output) if output else None}
    if output is not None:
        write_embeddings(output, vectors, items)
    if as_json:
        if output is None:
            summary["embeddings"] = [{"text": t, "embedding": v.tolist()} for t, v in zip(items, vectors)]
        emit_json(summary)
    elif not quiet:
        err.print(f"embedded {summary['count']} texts, dim {summary['dim']} ({summary['dtype']}), "
                  f"{summary['seconds']:.2f} s, {summary['texts_per_second']} texts/s"
                  + (f", {truncated} truncated" if truncated else "") + f" -> {output}")



@app.command()
def compose(
    encoder: Annotated[str, typer.Argument(help="A Hugging Face encoder folder (or Hub id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to save the composed model in.")],
    pooling: Annotated[str, typer.Option("--pooling", help="cls, mean, max or weightedmean.")] = "mean",
    dense: Annotated[int | None, typer.Option("--dense", min=1, help="Add a Dense layer of this size.")] = None,
    activation: Annotated[str, typer.Option("--activation", help="Dense activation: tanh, relu, gelu, identity, sigmoid.")] = "tanh",
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="End with L2 normalisation.")] = True,
    max_length: Annotated[int | None, typer.Option("--max-length", min=4, help="Maximum tokens per input.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the Dense initialisation.")] = 0,
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Compose Transformer -> Pooling -> [Dense] -> [Normalize] and save it as a sentence-transformers folder."""
    setup_logging(quiet)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output} already exists and is not an empty folder; choose a new --output")
    if not output.parent.is_dir():
        raise InputError(f"cannot write {output}: folder {output.parent} does not exist")
    model = frasi.compose(encoder, pooling=pooling, dense_dim=dense, dense_activation=activation,
                          normalize=normalize, max_length=max_length, seed=seed)
    model.save(output)
    summary = {"output": str(output), "dimension": model.dimension, "max_length": model.max_length,
               "modules": [type(m).__name__ for m in model.model]}
    if as_json:
        emit_json(summary)
    elif not quiet:
        err.print(f"saved {' -> '.join(summary['modules'])} (dim {summary['dimension']}) to {output}")


