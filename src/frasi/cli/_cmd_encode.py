"""Commands that turn texts into vectors: models, tokenize, embed, compose."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import frasi
from frasi._fs import check_new_folder
from frasi.errors import InputError, check_choice, require
from frasi.io import EMBEDDING_SUFFIXES, check_output_path, write_embeddings
from frasi.quantize import PRECISIONS
from frasi.sources import DEFAULT_MODEL, cache_dir

from ._shared import (
    CacheOptions,
    Column,
    Display,
    EncodeOptions,
    File,
    ModelOptions,
    Output,
    backend_line,
    command,
    emit_json,
    err,
    out,
    read_input_texts,
    replaced,
    shown,
)


@command()
def config(*, display: Display) -> None:
    """Show frasi's defaults (model, backend, threads), where each comes from, and where frasi keeps its files.

    A flag wins over the environment (FRASI_MODEL, FRASI_BACKEND, FRASI_THREADS), which wins over the
    config file ($XDG_CONFIG_HOME/frasi/config.toml, or $FRASI_CONFIG), which wins over the built-in default."""
    from frasi.settings import config_path, settings

    rows = settings()
    if display.as_json:
        emit_json({"settings": {name: {"value": s.value, "source": s.source} for name, s in rows.items()},
                   "config_file": str(config_path()), "config_file_exists": config_path().is_file(),
                   "cache": str(cache_dir())})
        return
    table = Table(title="frasi settings: flag > environment > config file > built-in")
    for name in ("setting", "value", "from"):
        table.add_column(name)
    for name, s in rows.items():
        table.add_row(name, "all available CPUs" if s.value is None else str(s.value), s.source)
    out.print(table)
    exists = "" if config_path().is_file() else " (not created; write it to set defaults)"
    out.print(f"config file: {config_path()}{exists}")
    out.print(f"cache folder: {cache_dir()} (FRASI_CACHE)")


@command()
def models(*, display: Display) -> None:
    """List the models available offline and where they live."""
    rows = frasi.list_models()
    if display.as_json:
        emit_json({"default": DEFAULT_MODEL, "cache": str(cache_dir()), "models": [vars(r) for r in rows]})
        return
    table = Table(title=f"packaged models (cache: {cache_dir()})")
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("location", overflow="fold")
    for r in rows:
        table.add_row(r.name + (" (default)" if r.name == DEFAULT_MODEL else ""), r.status, r.location)
    out.print(table)
    out.print("Any local sentence-transformers or Hugging Face encoder folder, or a Hub id when online, works too.")


@command()
def tokenize(
    *, texts: Annotated[list[str] | None, typer.Argument(help="Texts to tokenize.")] = None, file: File = None,
    column: Column = None, model: ModelOptions,
    prompt: Annotated[str | None, typer.Option(
        "--prompt", help='Prompt text to prepend; "" disables the model\'s prompt.')] = None,
    display: Display,
) -> None:
    """Show tokens, ids, decoded text, counts and the token-embedding shape of texts."""
    items = read_input_texts(texts, file, column)
    encoder = model.load()
    infos = [encoder.tokenize(t, prompt=prompt) for t in items]
    if display.as_json:
        emit_json([i.to_dict() for i in infos])
        return
    for info in infos:
        out.print(shown(info.text), style="bold")
        if info.prompt:
            out.print(f"  prompt:    {info.prompt!r}")
        out.print(f"  tokens:    {shown(str(info.tokens))}")
        out.print(f"  ids:       {info.ids}")
        out.print(f"  decoded:   {shown(info.decoded)}")
        cut = f" (truncated to {info.max_length})" if info.truncated else ""
        out.print(f"  count:     {info.n_tokens} tokens{cut}; token embeddings {info.embedding_shape[0]} x "
                  f"{info.embedding_shape[1]}")


@command()
def embed(
    *, texts: Annotated[list[str] | None, typer.Argument(help="Texts to embed.")] = None, file: File = None,
    column: Column = None, output: Output = None, model: ModelOptions, encoding: EncodeOptions, cache: CacheOptions,
    normalize: Annotated[bool, typer.Option("--normalize", help="L2-normalise the embeddings.")] = False,
    precision: Annotated[str, typer.Option("--precision", help="float32, int8, uint8, binary or ubinary.")] = "float32",
    display: Display,
) -> None:
    """Embed texts and write them to .npy, .parquet (text + vector) or .jsonl."""
    if output is None and not display.as_json:
        raise InputError("pass --output FILE (.npy, .parquet or .jsonl) or --json to print the vectors")
    if output is not None:
        check_output_path(output, EMBEDDING_SUFFIXES, inputs=[file])
        if output.suffix.lower() == ".parquet":
            require("pyarrow.parquet", extra="parquet", purpose="writing parquet files")
    check_choice("--precision", precision, PRECISIONS)
    encoding.check()
    items = read_input_texts(texts, file, column)
    encoder = model.load()
    start = time.perf_counter()
    with cache.store() as store:
        vectors = encoder.encode(items, prompt=encoding.prompt, normalize=normalize, precision=precision,  # type: ignore[arg-type]
                                 long_texts=encoding.long_texts, batch_size=encoding.batch_size,  # type: ignore[arg-type]
                                 cache=store)
    seconds = time.perf_counter() - start
    # counted here, not taken from encode's warning: cached texts are never tokenized by encode
    truncated = encoder.count_truncated(items, prompt=encoding.prompt) if encoding.long_texts == "truncate" else 0
    summary = {"count": len(items), "dim": int(vectors.shape[1]), "dtype": str(vectors.dtype),
               "seconds": round(seconds, 3), "texts_per_second": round(len(items) / max(seconds, 1e-9), 1),
               "truncated": truncated, "model": encoder.name, "backend": encoder.backend,
               "backend_note": encoder.backend_note, "output": str(output) if output else None}
    note = replaced(output)
    if output is not None:
        write_embeddings(output, vectors, items)
    if display.as_json:
        if output is None:
            summary["embeddings"] = [{"text": t, "embedding": v.tolist()} for t, v in zip(items, vectors)]
        emit_json(summary)
    elif not display.quiet:
        err.print(f"embedded {summary['count']} texts, dim {summary['dim']} ({summary['dtype']}), "
                  f"{summary['seconds']:.2f} s, {summary['texts_per_second']} texts/s"
                  + (f", {truncated} truncated" if truncated else "") + f" -> {output}{note}; {backend_line(encoder)}")


@command()
def compose(
    *, encoder: Annotated[str, typer.Argument(help="A Hugging Face encoder folder (or Hub id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to save the composed model in.")],
    pooling: Annotated[str, typer.Option("--pooling", help="cls, mean, max or weightedmean.")] = "mean",
    dense: Annotated[int | None, typer.Option("--dense", min=1, help="Add a Dense layer of this size.")] = None,
    activation: Annotated[str, typer.Option(
        "--activation", help="Dense activation: tanh, relu, gelu, identity, sigmoid.")] = "tanh",
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="End with L2 normalisation.")] = True,
    max_length: Annotated[int | None, typer.Option("--max-length", min=4, help="Maximum tokens per input.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the Dense initialisation.")] = 0,
    display: Display,
) -> None:
    """Compose Transformer -> Pooling -> [Dense] -> [Normalize] and save it as a sentence-transformers folder."""
    check_new_folder(output, what="composed model")
    model = frasi.compose(encoder, pooling=pooling, dense_dim=dense, dense_activation=activation,
                          normalize=normalize, max_length=max_length, seed=seed)
    model.save(output)
    summary = {"output": str(output), "dimension": model.dimension, "max_length": model.max_length,
               "modules": [type(m).__name__ for m in model.model]}
    if display.as_json:
        emit_json(summary)
    elif not display.quiet:
        err.print(f"saved {' -> '.join(summary['modules'])} (dim {summary['dimension']}) to {output}")


