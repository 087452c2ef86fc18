"""Commands that look after the on-disk embedding cache: cache info, cache clear."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from frasi.cache import EmbeddingCache

from ._shared import Json, Quiet, app, emit_json, err, out, setup_logging

cache_app = typer.Typer(help="The on-disk embedding cache: what it holds, and emptying it.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


@cache_app.command("info")
def cache_info(as_json: Json = False, quiet: Quiet = False) -> None:
    """Show where the embedding cache lives, its size and limit, and the models in it."""
    setup_logging(quiet)
    with EmbeddingCache() as cache:
        info = cache.info()
    if as_json:
        emit_json(info.to_dict())
        return
    limit = "no size limit" if info.max_bytes is None else f"limit {_mib(info.max_bytes)}"
    state = "" if info.exists else " (not created yet)"
    out.print(f"{info.path}{state}: {info.entries} embeddings, {_mib(info.file_bytes)} on disk, {limit}")
    if not info.namespaces:
        return
    table = Table()
    for name in ("model", "prompt", "options", "entries", "size", "last written"):
        table.add_column(name, justify="right" if name in ("entries", "size") else "left")
    for space in info.namespaces:
        d = space.description
        options = f"backend={d.get('backend')}, normalize={d.get('normalize')}, long_texts={d.get('long_texts')}" + (
            f", chunk_overlap={d['chunk_overlap']}" if d.get("chunk_overlap") is not None else "")
        table.add_row(space.label, repr(d.get("prompt", "")), options, str(space.entries), _mib(space.bytes),
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(space.updated)))
    out.print(table)


@cache_app.command("clear")
def cache_clear(as_json: Json = False, quiet: Quiet = False) -> None:
    """Delete every cached embedding (frasi processes using the cache may keep running)."""
    setup_logging(quiet)
    with EmbeddingCache() as cache:
        removed = cache.clear()
    if as_json:
        emit_json({"removed": removed, "path": str(cache.path)})
    elif not quiet:
        err.print(f"removed {removed} embeddings from {cache.path}")
