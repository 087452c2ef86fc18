"""Commands about runtimes: backends list, backends check (parity with the torch reference)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from frasi.errors import InputError

from ._shared import Column, Display, File, app, command, emit_json, out, read_input_texts

backends_app = typer.Typer(help="Runtimes behind the Encoder: what is installed, and parity checks.",
                           no_args_is_help=True)
app.add_typer(backends_app, name="backends")


@command(backends_app, "list")
def backends_list(*, display: Display) -> None:
    """The backends frasi knows, whether their runtime is installed, and the extra that installs it."""
    from frasi.backends import AUTO_RUNTIME, BACKENDS

    rows = [{"name": s.name, "runtime": s.runtime, "variant": s.variant, "exact": s.exact,
             "default": s.name == AUTO_RUNTIME,
             "installed": importlib.util.find_spec(s.module) is not None,
             "extra": s.extra or (s.export_needs[1] if s.export_needs else None), "description": s.description}
            for s in BACKENDS.values()]
    if display.as_json:
        emit_json(rows)
        return
    table = Table()
    for name in ("backend", "runtime", "variant", "exact", "installed", "install with", "description"):
        table.add_column(name)
    for r in rows:
        table.add_row(r["name"] + (" (auto)" if r["default"] else ""), r["runtime"], r["variant"],
                      "yes" if r["exact"] else "no",
                      "yes" if r["installed"] else "no", f"pip install 'frasi[{r['extra']}]'" if r["extra"] else "-",
                      r["description"])
    out.print(table)


def _fmt(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


@command(backends_app, "check")
def backends_check(
    *, model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Model folder, packaged name or Hub id (default: as every command's --model).")] = None,
    backend: Annotated[list[str] | None, typer.Option(
        "--backend", help="Backend to check (repeatable; default: every installed one).")] = None,
    texts: Annotated[list[str] | None, typer.Argument(help="Sample texts (default: a built-in es/it/en set).")] = None,
    file: File = None, column: Column = None,
    stsb: Annotated[Path | None, typer.Option(
        "--stsb", help="STS pairs (e.g. stsb-es-test.csv): also report the Spearman change.")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="CPU threads (default: as every command's --threads).")] = None,
    display: Display,
) -> None:
    """Cosine agreement of each backend with torch float32 on a sample, and the STSb change."""
    from frasi.parity import check_parity

    sample = read_input_texts(texts, file, column) if (texts or file) else None
    pairs = None
    if stsb is not None:
        from frasi.data import read_sts

        data = read_sts(stsb)
        pairs = list(zip(data.sentences1, data.sentences2, data.scores.tolist()))
    rows = check_parity(model, backend or None, sample, stsb=pairs, threads=threads)
    if display.as_json:
        emit_json(rows)
    else:
        table = Table(title=f"parity with torch float32: {rows[0]['model']}")
        for name in ("backend", "status", "mean cos", "worst cos", "max |diff|", "STSb", "change", "s", "error"):
            table.add_column(name, justify="left" if name in ("backend", "status", "error") else "right")
        for r in rows:
            table.add_row(r["backend"], r["status"], _fmt(r.get("mean_cosine"), ".5f"),
                          _fmt(r.get("min_cosine"), ".5f"),
                          _fmt(r.get("max_abs_diff"), ".1e"), _fmt(r.get("stsb_spearman"), ".2f"),
                          _fmt(r.get("stsb_delta"), "+.2f"), _fmt(r.get("seconds"), ".1f"), r.get("error") or "")
        out.print(table)
    if not any(r["status"] == "ok" and r["backend"] != "torch" for r in rows):
        raise InputError("no runtime backend loaded and agreed with torch; see the table for why")
