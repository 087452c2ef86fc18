"""One shard's output: a parquet part, written whole or not at all, and the checks that tell a good one.

A part is ``parts/part-NNNNNN.parquet`` in the output folder, one row per input row:

=============== ============================ ===============================================
column          type                         what
=============== ============================ ===============================================
``row``         int64                        the row's number in the whole corpus (0-based)
``id``          string                       the ``--id-col`` value, or ``NAME:ROW``
``text_sha256`` string                       SHA-256 of the text's UTF-8 bytes (hex)
``embedding``   fixed_size_list<float32>[d]  the vector, as ``frasi embed`` writes parquet
``text``        string                       the text (only with ``store_text``)
=============== ============================ ===============================================

Its schema metadata (``frasi.corpus``) names the output it belongs to (the manifest's
``run``) and its shard. It is written to a temporary name and renamed
(:func:`frasi._fs.atomic_file`), so a part under its own name is complete; :func:`check_part`
says whether it is this shard's part, row for row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._fs import atomic_file, sha256_file
from ..errors import first_line, require, require_installed
from .shards import Shard, rows_digest, text_sha256

PARTS = "parts"
METADATA_KEY = b"frasi.corpus"


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def part_path(folder: Path, index: int) -> Path:
    return Path(folder) / PARTS / part_name(index)


def _pyarrow() -> tuple[Any, Any]:
    pa = require("pyarrow", extra="dask", purpose="writing corpus parts")
    pq = require("pyarrow.parquet", extra="dask", purpose="writing corpus parts")
    return pa, pq


def write_part(path: Path, *, run: str, shard: Shard, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray,
               store_text: bool) -> None:
    """Write one shard's part atomically."""
    pa, pq = _pyarrow()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    columns = {
        "row": pa.array(np.arange(shard.first_row, shard.first_row + shard.rows, dtype=np.int64)),
        "id": pa.array(list(ids), pa.string()),
        "text_sha256": pa.array([text_sha256(t) for t in texts], pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]),
    }
    if store_text:
        columns["text"] = pa.array(list(texts), pa.string())
    meta = {"run": run, "shard": shard.index, "rows": shard.rows, "first_row": shard.first_row}
    table = pa.table(columns).replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode("utf-8")})
    with atomic_file(path, what="corpus part") as tmp:
        pq.write_table(table, str(tmp))


def check_part(path: Path, *, run: str, shard: Shard, dimension: int, store_text: bool,
               vectors: bool = True) -> str | None:
    """Why ``path`` is not shard ``shard``'s part of output ``run`` (None when it is): readable, its metadata,
    its rows in order, the (id, text hash) digest of the plan, vectors of ``dimension`` that are finite."""
    pa, pq = _pyarrow()
    try:
        file = pq.ParquetFile(path)
        raw = (file.schema_arrow.metadata or {}).get(METADATA_KEY)
        meta = json.loads(raw) if raw else {}
        if meta.get("run") != run or meta.get("shard") != shard.index:
            return "it belongs to another output or shard"
        names = ["row", "id", "text_sha256"] + (["embedding"] if vectors else []) + (["text"] if store_text else [])
        missing = sorted(set(names) - set(file.schema_arrow.names))
        if missing:
            return f"it lacks the column(s) {', '.join(missing)}"
        if file.metadata.num_rows != shard.rows:
            return f"it holds {file.metadata.num_rows} rows, not {shard.rows}"
        table = file.read(columns=names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        return f"it is not a readable parquet file ({first_line(exc)})"
    rows = table.column("row").to_numpy()
    if not np.array_equal(rows, np.arange(shard.first_row, shard.first_row + shard.rows)):
        return "its rows are not the shard's rows in order"
    if rows_digest(table.column("id").to_pylist(), table.column("text_sha256").to_pylist()) != shard.digest:
        return "its ids or texts differ from the input rows"
    if store_text:
        texts = table.column("text").to_pylist()
        if [text_sha256(t) for t in texts] != table.column("text_sha256").to_pylist():
            return "its texts do not match their hashes"
    if vectors:
        column = table.column("embedding").combine_chunks()
        if not pa.types.is_fixed_size_list(column.type) or column.type.list_size != dimension:
            return f"its vectors are {column.type}, not {dimension} float32 values"
        values = column.flatten().to_numpy(zero_copy_only=False)
        if values.dtype != np.float32 or not np.isfinite(values).all():
            return "its vectors are not finite float32 values"
    return None


def read_vectors(path: Path, dimension: int) -> np.ndarray:
    """The vectors of a part, (rows, dimension) float32."""
    _, pq = _pyarrow()
    column = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dimension).astype(np.float32, copy=False)


def read_columns(path: Path, columns: Sequence[str]) -> dict[str, list[Any]]:
    """Some columns of a part, as Python lists."""
    _, pq = _pyarrow()
    table = pq.read_table(path, columns=list(columns))
    return {name: table.column(name).to_pylist() for name in columns}


def require_dask() -> None:
    require_installed("distributed", extra="dask", purpose="frasi corpus")
    require_installed("pyarrow", extra="dask", purpose="frasi corpus")


def part_record(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}
