"""Commands that look after the on-disk embedding cache: cache info, cache clear."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from frasi.cache import EmbeddingCache

from ._shared import Display, app, command, emit_json, err, out

cache_app = typer.Typer(help="The on-disk embedding cache: what it holds, and emptying it.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


@command(cache_app, "info")
def cache_info(*, display: Display) -> None:
    """Show where the embedding cache lives, its size and limit, and the models in it."""
    with EmbeddingCache() as cache:
        info = cache.info()
    if display.as_json:
        emit_json(info.to_dict())
        return
    limit = "no size limit" if info.max_bytes is None else f"limit {_mib(info.max_bytes)}"
    state = "" if info.exists else " (not created yet)"
    if info.problem is not None:
        out.print(f"{info.path}: DAMAGED ({info.problem}), {_mib(info.file_bytes)} on disk; its vectors are "
                  "recomputed as needed; 'frasi cache clear' deletes it")
        return
    out.print(f"{info.path}{state}: {info.entries} embeddings, {_mib(info.file_bytes)} on disk, {limit}")
    if not info.keys:
        return
    table = Table()
    for name in ("model", "prompt", "options", "entries", "size", "last written"):
        table.add_column(name, justify="right" if name in ("entries", "size") else "left")
    for space in info.keys:
        d = space.description
        backend = d.get("backend")
        backend = backend.get("backend") if isinstance(backend, dict) else backend
        options = f"backend={backend}, normalize={d.get('normalize')}, long_texts={d.get('long_texts')}" + (
            f", chunk_overlap={d['chunk_overlap']}" if d.get("chunk_overlap") is not None else "")
        table.add_row(space.label, repr(d.get("prompt", "")), options, str(space.entries), _mib(space.bytes),
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(space.updated)))
    out.print(table)


@command(cache_app, "clear")
def cache_clear(*, display: Display) -> None:
    """Delete every cached embedding (frasi processes using the cache may keep running)."""
    with EmbeddingCache() as cache:
        problem = cache.info().problem
        removed = cache.clear()
    if display.as_json:
        emit_json({"removed": removed, "path": str(cache.path), "damaged": problem})
    elif display.quiet:
        return
    elif problem is not None:
        err.print(f"deleted the damaged embedding cache {cache.path} ({problem}); the next command starts a new one")
    else:
        err.print(f"removed {removed} embeddings from {cache.path}")
