"""Reading texts from files and writing outputs atomically.

Readers decode files as strict UTF-8 (a BOM is dropped) and raise InputError with one
line saying what was found, what was expected and the fix. Writers go through
``atomic_path``: a temp file in the target's directory, fsync, then ``os.replace``, so a
failed write never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from frasi.errors import FrasiError, InputError, OutputError, first_line, require

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]

TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".parquet")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
EMBEDDING_SUFFIXES = (".npy", ".parquet", ".jsonl")
_BOM = b"\xef\xbb\xbf"


def _suffix(path: StrPath, supported: Sequence[str], what: str) -> str:
    """Return the lower-case extension of ``path`` or raise InputError listing ``supported``."""
    suffix = Path(path).suffix.lower()
    if suffix not in supported:
        got = f"the extension {suffix!r}" if suffix else "no extension"
        raise InputError(
            f"{path} has {got}; supported {what} formats are {', '.join(supported)}; "
            "rename or convert the file"
        )
    return suffix


# ---------------------------------------------------------------------------- reading


def _check_file(path: StrPath) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path} does not exist; expected an input file; check the path")
    if p.is_dir():
        raise InputError(f"{path} is a directory; expected an input file; pass a file inside it")
    return p


def read_text_file(path: StrPath) -> str:
    """Read a whole file as strict UTF-8, dropping a leading BOM."""
    try:
        data = _check_file(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc
        raise InputError(f"cannot read {path}: {reason}; check its permissions") from exc
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return str(memoryview(data)[skip:], "utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        raise InputError(
            f"{path} is not valid UTF-8 (invalid byte 0x{data[offset]:02x} at offset {offset}); "
            "re-save it as UTF-8"
        ) from None


def delimited_format(delimiter: str, text: str) -> dict[str, Any]:
    """csv.reader options for ``text``. CSV is quoted and read strictly (a stray quote is an
    error, not silently dropped). TSV comes both ways: raw, as STSb and GLUE write it (a text
    may start with a literal "), or quoted, as pandas and Python's csv write it; a TSV is
    read as quoted when a field is wholly quoted ("...", inner quotes doubled) or the rows'
    field counts only agree once quotes are honoured."""
    if delimiter != "\t":
        return {"delimiter": delimiter, "strict": True}
    raw = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE) if row]
    quoted = len({len(row) for row in raw}) > 1 or any(
        len(f) >= 2 and f[0] == f[-1] == '"' and '"' not in f[1:-1].replace('""', "") for row in raw for f in row)
    return {"delimiter": "\t", "strict": True} if quoted else {"delimiter": "\t", "quoting": csv.QUOTE_NONE}


def _read_delimited(path: StrPath, delimiter: str) -> tuple[list[str], list[dict[str, Any]]]:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    text = read_text_file(path)
    reader = csv.reader(io.StringIO(text, newline=""), **delimited_format(delimiter, text))
    sep = "commas" if delimiter == "," else "tabs"
    columns: list[str] | None = None
    rows: list[dict[str, Any]] = []
    try:
        for fields in reader:
            if not fields:  # blank line
                continue
            if columns is None:
                columns = [name.strip() for name in fields]
                duplicates = sorted({c for c in columns if columns.count(c) > 1})
                if duplicates:
                    raise InputError(
                        f"{path} has duplicate column names ({', '.join(map(repr, duplicates))}); "
                        "expected unique names; rename them in the header row"
                    )
            elif len(fields) != len(columns):
                raise InputError(
                    f"{path} line {reader.line_num}: expected {len(columns)} fields (as in the "
                    f"header), "
                    f"got {len(fields)}; quote fields that contain {sep} or newlines"
                )
            else:
                rows.append(dict(zip(columns, fields)))
    except csv.Error as exc:
        raise InputError(
            f"{path} line {reader.line_num}: {exc}; expected well-formed {sep}-separated values"
        ) from None
    return columns or [], rows


def _read_jsonl(path: StrPath) -> tuple[list[str], list[dict[str, Any]]]:
    columns: dict[str, None] = {}  # ordered set of keys, in order of first appearance
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(read_text_file(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path} line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "expected one JSON object per line"
            ) from None
        if not isinstance(obj, dict):
            raise InputError(
                f"{path} line {number} holds a JSON {type(obj).__name__}; "
                'expected one JSON object per line, such as {"text": "..."}'
            )
        columns.update(dict.fromkeys(obj))
        rows.append(obj)
    return list(columns), rows


def _read_parquet(path: StrPath, choose: Callable[[list[str]], str] | None = None
                  ) -> tuple[list[str], list[dict[str, Any]]]:
    """All columns, or with ``choose`` (column names -> the one needed) only that one: a file
    with an embedding column would otherwise become a Python float per number."""
    _check_file(path)
    pa = require("pyarrow", extra="parquet", purpose="reading parquet files")
    pq = require("pyarrow.parquet", extra="parquet", purpose="reading parquet files")
    try:
        names = list(pq.read_schema(path).names)
        table = pq.read_table(path, columns=None if choose is None else [choose(names)])
    except (pa.ArrowException, OSError) as exc:
        reason = first_line(exc)
        raise InputError(
            f"{path} is not a readable parquet file ({reason}); expected a file written by "
            "pyarrow or pandas"
        ) from None
    return names, table.to_pylist()


def read_table(path: StrPath) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a csv/tsv/jsonl/parquet file into (column names, rows).

    CSV/TSV values are str; JSONL and parquet values keep their types (a key missing
    from a JSONL row is simply absent from that row's dict).
    """
    suffix = _suffix(path, TABLE_SUFFIXES, "table")
    if suffix == ".parquet":
        columns, rows = _read_parquet(path)
    elif suffix == ".jsonl":
        columns, rows = _read_jsonl(path)
    else:
        columns, rows = _read_delimited(path, "," if suffix == ".csv" else "\t")
    logger.debug("read %d rows with columns %s from %s", len(rows), columns, path)
    return columns, rows


def _choose_column(path: StrPath, columns: list[str], column: str | None) -> str:
    available = ", ".join(map(repr, columns))
    if column is not None:
        if column not in columns:
            raise InputError(
                f"column {column!r} not found in {path}; available columns: {available}; "
                "choose one with --column (column= in Python)"
            )
        return column
    if "text" in columns:
        return "text"
    if len(columns) == 1:
        if Path(path).suffix.lower() in (".csv", ".tsv"):
            logger.warning("%s: its first line, %r, is read as the header of its only column; for a file of "
                           "texts without a header, use one text per line in a .txt file", path, columns[0])
        return columns[0]
    raise InputError(
        f"{path} has several columns ({available}) and none is named 'text'; "
        "choose the one holding the texts with --column (column= in Python)"
    )


def _cell(path: StrPath, row: int, column: str, value: Any) -> str:
    where = f"{path} row {row}: column {column!r}"
    if value is None:
        raise InputError(f"{where} is missing; expected a text in every row; fill it in or drop it")
    if not isinstance(value, str):
        raise InputError(
            f"{where} holds {value!r:.40} of type {type(value).__name__}; expected a string; "
            "store the column as text"
        )
    if not value.strip():
        raise InputError(f"{where} is empty; expected a non-empty text; fill it in or drop the row")
    return value


def check_looks_like_text(path: StrPath, column: str, texts: list[str]) -> None:
    """A text column picked by its name that holds only whole numbers is an index or labels:
    the header does not match the columns (as in GLUE's SST-2 test.tsv)."""
    if len(texts) > 1 and all(t.strip().lstrip("-").isdigit() for t in texts):
        raise InputError(f"{path}: column {column!r} holds only whole numbers ({texts[0]!r}, {texts[1]!r}, ...), "
                         "not texts; check the header, or pick the text column (--column)")


def read_texts(path: StrPath, *, column: str | None = None) -> list[str]:
    """Read texts from a .txt (one per line), .csv, .tsv, .jsonl or .parquet file."""
    suffix = _suffix(path, TEXT_SUFFIXES, "text")
    if suffix == ".txt":
        if column is not None:
            raise InputError(f"{path} is a .txt file (one text per line, no columns); a column ({column!r}) "
                             "applies to .csv, .tsv, .jsonl and .parquet files")
        lines = [line.removesuffix("\r") for line in read_text_file(path).removesuffix("\n").split("\n")]
        texts = [line for line in lines if line.strip()]
        if texts and len(texts) < len(lines):
            logger.warning("%s: skipped %d blank line(s); the outputs have one row per non-blank line", path,
                           len(lines) - len(texts))
    else:
        if suffix == ".parquet":
            columns, rows = _read_parquet(path, lambda names: _choose_column(path, names, column))
        else:
            columns, rows = read_table(path)
        texts = []
        if rows:
            name = _choose_column(path, columns, column)
            texts = [_cell(path, i, name, row.get(name)) for i, row in enumerate(rows, 1)]
            if column is None:  # chosen by its name: check that the header matches the columns
                check_looks_like_text(path, name, texts)
    if not texts:
        raise InputError(f"{path} contains no texts; expected at least one non-empty line or row")
    logger.debug("read %d texts from %s", len(texts), path)
    return texts


def validate_texts(texts: str | Iterable[str], *, what: str = "text") -> list[str]:
    """Return ``texts`` as a non-empty list of non-blank strings, or raise InputError."""
    if isinstance(texts, str):
        if not texts.strip():
            raise InputError(f"got an empty or whitespace-only {what}; expected a non-empty {what}")
        return [texts]
    if isinstance(texts, (bytes, bytearray, Mapping)) or not isinstance(texts, Iterable):
        raise InputError(
            f"got {what}s of type {type(texts).__name__}; expected a str or a list of str; "
            "pass a string or a list of strings"
        )
    items = list(texts)
    if not items:
        raise InputError(f"got an empty list of {what}s; expected at least one {what}")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InputError(
                f"{what} at index {i} has type {type(item).__name__}; expected str; "
                "convert it with str() or remove it"
            )
        if not item.strip():
            raise InputError(
                f"{what} at index {i} is empty or whitespace-only; remove it or fill it in"
            )
    return items


# ---------------------------------------------------------------------------- writing


def _check_parent(path: StrPath) -> Path:
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory; expected a file path")
    if not parent.is_dir():
        reason = "is not a directory" if parent.exists() else "does not exist"
        raise OutputError(
            f"cannot write {path}: directory {parent} {reason}; create it or choose another path"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write {path}: permission denied in directory {parent}; "
            "choose a writable location"
        )
    return target


def check_output_path(path: StrPath, suffixes: Iterable[str], *, inputs: Iterable[StrPath | None] = ()) -> Path:
    """Check, before any expensive work, that ``path`` has a supported suffix, is writable and
    is none of the ``inputs`` (an output must never replace the file it is computed from)."""
    _suffix(path, tuple(s.lower() for s in suffixes), "output")
    target = _check_parent(path)
    for source in inputs:
        if source is not None and target.exists() and Path(source).exists() and os.path.samefile(target, source):
            raise OutputError(f"the output {path} is the input file {source}; write the output to another file")
    return target


@contextmanager
def atomic_path(path: StrPath) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success fsync it and move it onto ``path``."""
    target = _check_parent(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, FrasiError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    logger.debug("wrote %s", target)


def check_output_folder(path: StrPath, *, what: str = "output") -> Path:
    """Check, before any expensive work, that folder ``path`` can be created (absent or empty)."""
    target = Path(path).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"cannot write the {what} to {target}: it exists and is not an empty folder; "
                          "choose a new folder")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write the {what} to {target}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what} to {target}: permission denied in {target.parent}")
    return target


@contextmanager
def atomic_dir(path: StrPath, *, what: str = "output") -> Iterator[Path]:
    """Yield a new empty folder next to ``path``; on success move it onto ``path`` (absent or empty).

    On any error the half-written folder is removed, so ``path`` either is complete or
    does not exist.
    """
    import shutil
    import tempfile

    target = check_output_folder(path, what=what)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, FrasiError):
            raise OutputError(f"cannot write the {what} to {target}: {exc.strerror or exc}") from exc
        raise
    logger.debug("wrote folder %s", target)


def sha256_file(path: StrPath) -> str:
    """The SHA-256 of a file's bytes, as hex (read in blocks, never whole into memory)."""
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@contextmanager
def file_lock(path: StrPath) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created with its folder if missing), so
    that one process at a time does what the block does (e.g. converting a model)."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_stream(path: StrPath, write: Callable[[IO[bytes]], Any]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_bytes(path: StrPath, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _write_stream(path, lambda f: f.write(data))


def write_text(path: StrPath, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: StrPath, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON with a trailing newline, atomically."""
    try:
        text = json.dumps(obj, ensure_ascii=False, indent=2)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"cannot write {path} as JSON: {exc}; pass dicts, lists, strings and numbers"
        ) from None
    write_text(path, text + "\n")


def write_embeddings(path: StrPath, vectors: Any, texts: Sequence[str] | None = None) -> None:
    """Write embeddings as .npy (array as is), .jsonl or .parquet (both need ``texts``)."""
    suffix = _suffix(path, EMBEDDING_SUFFIXES, "embeddings")
    array = np.asarray(vectors)
    if texts is not None:
        texts = validate_texts(texts)
        if array.ndim == 0 or len(texts) != len(array):
            raise InputError(
                f"got {len(texts)} texts but {len(array) if array.ndim else 0} vectors; "
                "expected one vector per text"
            )
    if suffix == ".npy":
        _write_stream(path, lambda f: np.save(f, array, allow_pickle=False))
        return
    if texts is None:
        raise InputError(f"writing {path} needs the texts; pass texts=..., or write a .npy file")
    if array.ndim != 2:
        raise InputError(
            f"got embeddings of shape {array.shape}; expected a 2-D array (n_texts, dim); "
            "stack the vectors into one matrix"
        )
    if suffix == ".jsonl":
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise InputError(f"cannot write {path}: the embeddings contain NaN or infinity")

        def dump(f: IO[bytes]) -> None:
            for text, row in zip(texts, array):
                line = json.dumps({"text": text, "embedding": row.tolist()}, ensure_ascii=False)
                f.write(line.encode("utf-8") + b"\n")

        _write_stream(path, dump)
        return
    pa = require("pyarrow", extra="parquet", purpose="writing parquet files")
    pq = require("pyarrow.parquet", extra="parquet", purpose="writing parquet files")
    flat = pa.array(np.ascontiguousarray(array).reshape(-1))
    table = pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, array.shape[1]),
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))
