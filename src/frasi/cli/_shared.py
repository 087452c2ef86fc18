"""What every command shares: the app, the consoles, option groups, input and output helpers.

Options that several commands take come in groups (dataclasses of typer options): a
command declares a parameter of the group's type, and :func:`command` spreads the
group's fields into the command's options and hands the command one group object. So
``--model``, ``--backend``, ``--threads``, ``--cache/--no-cache``, ``--json`` and
``--quiet`` are declared once, with one help text and one default, for every command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import os
import shlex
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import frasi
from frasi.errors import InputError
from frasi.io import read_texts, validate_texts

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

# ---------------------------------------------------------------- option groups

GROUPS: list[type] = []


def option_group(cls: type) -> type:
    """Register a dataclass of typer options as a group that :func:`command` spreads."""
    GROUPS.append(dataclasses.dataclass(cls))
    return cls


@option_group
class ModelOptions:
    """Which model, on which runtime."""

    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Model folder, packaged name or Hub id (default: FRASI_MODEL, the config file, or "
                              "multilingual-e5-small; frasi config shows which).")] = None
    backend: Annotated[str | None, typer.Option(
        "--backend", help="Runtime: auto (default: openvino when the model exports, else torch), torch, onnx, "
                          "onnx-int8, openvino or openvino-int8.")] = None
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="CPU threads (default: FRASI_THREADS, the config file, or all available).")] = None
    fallback: Annotated[str | None, typer.Option(
        "--fallback", help="Backend to use when --backend cannot load (e.g. torch); default: fail (auto always "
                           "falls back to torch).")] = None

    def load(self) -> frasi.Encoder:
        return frasi.Encoder.load(self.model, backend=self.backend, threads=self.threads, fallback=self.fallback)


@option_group
class CacheOptions:
    """Whether to use the on-disk embedding cache."""

    cache: Annotated[bool, typer.Option(
        "--cache/--no-cache",
        help="Reuse embeddings from frasi's on-disk cache and store new ones (frasi cache info).")] = True

    @contextlib.contextmanager
    def store(self) -> Iterator[frasi.EmbeddingCache | None]:
        """The cache to pass to ``encode(cache=...)`` (None with --no-cache), closed afterwards."""
        if not self.cache:
            yield None
            return
        with frasi.EmbeddingCache() as store:
            yield store


@option_group
class EncodeOptions:
    """How texts are encoded."""

    prompt: Annotated[str | None, typer.Option(
        "--prompt", help='Prompt text to prepend; "" disables the model\'s prompt.')] = None
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32
    long_texts: Annotated[str, typer.Option(
        "--long-texts", help="Texts over the model's maximum: truncate (default) or chunk.")] = "truncate"

    def check(self) -> None:
        from frasi.encoder import LONG_TEXT_POLICIES
        from frasi.errors import check_choice

        check_choice("--long-texts", self.long_texts, LONG_TEXT_POLICIES)


@option_group
class Display:
    """What the command prints."""

    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress bar.")] = False


def command(group: typer.Typer = app, name: str | None = None, **kwargs: Any) -> Callable[[Callable], Callable]:
    """``group.command(name)``, with every parameter annotated with an option group spread into its options.

    The command sees one object per group; ``Display`` also sets up logging before the command runs.
    """

    def decorate(func: Callable) -> Callable:
        hints = typing.get_type_hints(func, include_extras=True)
        parameters: list[inspect.Parameter] = []
        spread: dict[str, tuple[type, list[str]]] = {}
        for parameter in inspect.signature(func).parameters.values():
            hint = hints[parameter.name]
            if hint in GROUPS:
                fields = typing.get_type_hints(hint, include_extras=True)
                names = [f.name for f in dataclasses.fields(hint)]
                parameters += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=fields[n],
                                                 default=getattr(hint, n)) for n in names]
                spread[parameter.name] = (hint, names)
            else:
                parameters.append(parameter.replace(annotation=hint, kind=inspect.Parameter.KEYWORD_ONLY))
        seen = [p.name for p in parameters]
        if len(seen) != len(set(seen)):
            twice = sorted({n for n in seen if seen.count(n) > 1})
            raise TypeError(f"{func.__name__}: options declared twice: {twice}")

        @functools.wraps(func)
        def run(**values: Any) -> Any:
            for target, (group_type, names) in spread.items():
                values[target] = group_type(**{n: values.pop(n) for n in names})
                if group_type is Display:
                    setup_logging(values[target].quiet)
            return func(**values)

        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # typer must see the spread signature, not the function's
        return group.command(name, **kwargs)(run)

    return decorate


# ---------------------------------------------------------------- single options

Output = Annotated[Path | None, typer.Option("--output", "-o", help="Output file; format from its extension.")]
File = Annotated[Path | None, typer.Option(
    "--file", "-f", help="Read texts from a .txt/.csv/.tsv/.jsonl/.parquet file.")]
Column = Annotated[str | None, typer.Option("--column", "-c", help="Column holding the texts in a table file.")]
Metric = Annotated[str, typer.Option("--metric", help="cosine, dot or euclidean (negative distance).")]


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
    return validate_texts(texts, what=what.removesuffix("s"))


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0)]}


def shown(text: str) -> str:
    """``text`` safe for a terminal: control characters (escape sequences among them) written as ``\\xNN``."""
    return text.translate(_CONTROL)


def ranking_table(title: str, hits) -> Table:
    """A table of (rank, text, score) rows, best first."""
    table = Table(title=shown(title))
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("text", overflow="fold")
    for rank_, text, score in hits:
        table.add_row(str(rank_), f"{score:.4f}", shown(text))
    return table


def replaced(path: Path | None) -> str:
    """" (replaced the existing file)" when ``path`` exists: a summary says so before the write."""
    return " (replaced the existing file)" if path is not None and path.exists() else ""


def backend_line(encoder: frasi.Encoder) -> str:
    """``backend: openvino``, or ``backend: torch (openvino unavailable: ...)`` after a fallback."""
    note = f" ({encoder.backend_note})" if encoder.backend_note else ""
    return f"backend: {encoder.backend}{note}"


def round6(value: float) -> float:
    return round(float(value), 6)


def say_resumable(output: Path) -> None:
    """After an interrupt: where the checkpoints are, and the exact command that continues the run."""
    from frasi.train.run import work_folder

    work = work_folder(output.expanduser())
    if work.is_dir() and any(work.iterdir()):
        command = shlex.join(["frasi", *sys.argv[1:]]) if "--resume" in sys.argv else \
            shlex.join(["frasi", *sys.argv[1:], "--resume"])
        err.print(f"kept the checkpoints in {work}; to continue from the last one, run: {command}")
