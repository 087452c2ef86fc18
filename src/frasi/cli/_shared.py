"""What every command shares: the app, the consoles, option types, input and output helpers."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import frasi
from frasi.errors import InputError
from frasi.io import (
    read_texts,
    validate_texts,
    write_json,
)

app = typer.Typer(
    name="frasi",
    help="Sentence embeddings for Spanish, Italian and English: encode, compare, search. Offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _console(*, stderr: bool) -> Console:
    """markup off: user texts such as "[1]" print as they are. Piped or redirected (and no
    COLUMNS set), rich would assume 80 columns and cut table cells short: allow 200."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, soft_wrap=True, markup=False, highlight=False, width=200 if wide else None)


out = _console(stderr=False)
err = _console(stderr=True)
logger = logging.getLogger("frasi.cli")

# ---------------------------------------------------------------- shared options

Model = Annotated[str, typer.Option("--model", "-m", help="Model folder, packaged name or Hub id.")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Output file; format from its extension.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress bar.")]
File = Annotated[Path | None, typer.Option("--file", "-f", help="Read texts from a .txt/.csv/.tsv/.jsonl/.parquet file.")]
Column = Annotated[str | None, typer.Option("--column", "-c", help="Column holding the texts in a table file.")]
Prompt = Annotated[str | None, typer.Option("--prompt", help='Prompt text to prepend; "" disables the model\'s prompt.')]
Metric = Annotated[str, typer.Option("--metric", help="cosine, dot or euclidean (negative distance).")]
SearchMetric = Annotated[str | None, typer.Option(
    "--metric", help="cosine (default), dot or euclidean (negative distance); a saved index keeps its own.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")]
Backend = Annotated[str, typer.Option(
    "--backend", help="Runtime: torch (default), onnx, onnx-int8, openvino or openvino-int8.")]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads (default: all available).")]
Fallback = Annotated[str | None, typer.Option(
    "--fallback", help="Backend to use when --backend cannot load (e.g. torch); default: fail.")]
UseCache = Annotated[bool, typer.Option(
    "--cache/--no-cache", help="Reuse embeddings from frasi's on-disk cache and store new ones (frasi cache info).")]
LongTexts = Annotated[str, typer.Option("--long-texts", help="Texts over the model's maximum: truncate (default) or chunk.")]


def setup_logging(quiet: bool) -> None:
    """frasi's messages go to stderr: through rich on a terminal, one plain line each otherwise."""
    root = logging.getLogger("frasi")
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


def read_input_texts(texts: list[str] | None, file: Path | None, column: str | None, *, what: str = "texts",
                     file_option: str = "--file") -> list[str]:
    if file is not None and texts:
        raise InputError(f"give {what} either as arguments or with {file_option}, not both")
    if file is not None:
        return read_texts(file, column=column)
    if column is not None:
        raise InputError("--column only applies with --file")
    if not texts:
        raise InputError(f"no {what}: pass them as arguments or with {file_option} PATH")
    return validate_texts(texts)


def load_encoder(model: str, backend: str = "torch", threads: int | None = None,
                 fallback: str | None = None) -> frasi.Encoder:
    return frasi.Encoder.load(model, backend=backend, threads=threads, fallback=fallback)


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def write_table(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    if path.suffix.lower() == ".tsv":  # unquoted, as frasi reads TSV: a field cannot hold a tab or a newline
        for row in [header, *rows]:
            for value in row:
                if isinstance(value, str) and any(c in value for c in "\t\n\r"):
                    raise InputError(f"cannot write {path}: {value[:40]!r} holds a tab or a line break, which "
                                     "a TSV field cannot; write .csv or .jsonl instead")
        writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
    else:
        writer = csv.writer(buffer, delimiter=",", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    frasi.io.write_text(path, buffer.getvalue())


def write_records(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write result rows as .json, .jsonl, .csv or .tsv (checked up front by the command)."""
    suffix = path.suffix.lower()
    records = [dict(zip(header, row)) for row in rows]
    if suffix == ".json":
        write_json(path, records)
    elif suffix == ".jsonl":
        frasi.io.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        write_table(path, header, rows)


RECORD_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv")


def ranking_table(title: str, hits) -> Table:
    """A table of (rank, text, score) rows, best first."""
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("text", overflow="fold")
    for rank_, text, score in hits:
        table.add_row(str(rank_), f"{score:.4f}", text)
    return table


def prompt_args(prompt: str | None, name: str) -> dict[str, str]:
    """An explicit prompt wins; otherwise the model's named prompt for this use."""
    return {"prompt": prompt} if prompt is not None else {"prompt_name": name}


def texts_sha256(texts: list[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def round6(value: float) -> float:
    return round(float(value), 6)


def encode_texts(encoder: frasi.Encoder, texts: list[str], *, use_cache: bool, **options: Any):
    """``encoder.encode(texts, **options)``, through the on-disk embedding cache unless ``use_cache`` is off."""
    if not use_cache:
        return encoder.encode(texts, **options)
    from frasi.cache import EmbeddingCache

    with EmbeddingCache() as store:
        return encoder.encode(texts, cache=store, **options)
