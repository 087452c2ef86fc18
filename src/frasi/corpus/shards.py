"""A corpus's inputs as deterministic shards: files, folders and globs to row ranges with stable ids.

:func:`expand_inputs` turns the paths a user gives (files, folders searched recursively,
globs) into an ordered list of files. :func:`plan` reads each file once, streaming: it
checks every row (valid UTF-8, a non-empty text, an id when ``id_col`` is given), and cuts
the rows into shards of ``shard_size`` rows that never cross a file. It keeps no texts:
a shard is where its rows are (the byte range for ``.txt``, ``.csv`` and ``.jsonl``, the
row range for ``.parquet``) and a digest of its rows. :func:`read_shard` reads one
shard's rows back on a worker, and refuses them when they no longer match that digest
(the input changed since the plan).

Rows are the non-blank lines of a ``.txt`` (as :func:`frasi.read_texts` reads it), the
JSON objects of a ``.jsonl``, the records of a ``.csv`` after its header, the rows of a
``.parquet``. A row's id is its ``id_col`` value, or ``NAME:ROW``: the file's path from the
folder that holds every input, and the row's 0-based number in the file. A row's global
number (``row``) counts every row of every file in order; the index's ids are these.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._fs import StrPath, sha256_file
from ..data.cells import text_cell
from ..errors import InputError, first_line, require
from ..io import check_unicode, choose_column, csv_delimiter

logger = logging.getLogger(__name__)

SUFFIXES = (".txt", ".csv", ".jsonl", ".parquet")
DEFAULT_SHARD_SIZE = 10_000
COLUMN_OPTION = "--text-col (text_col= in Python)"
_BOM = b"\xef\xbb\xbf"
_PARQUET_BATCH = 8192


@dataclass(frozen=True)
class InputFile:
    """One input file as planned: where it is, how it is read, and what it held then."""

    path: str  # absolute
    name: str  # the id prefix: its path from the folder holding every input
    format: str  # txt, csv, jsonl or parquet
    size: int
    mtime_ns: int
    sha256: str
    rows: int
    text_col: str | None = None  # None for .txt
    id_col: str | None = None
    delimiter: str | None = None  # .csv only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Shard:
    """Rows ``start`` to ``start + rows`` of input ``input``; global rows from ``first_row``."""

    index: int
    input: int
    start: int
    rows: int
    first_row: int
    offset: int  # bytes: where its first row starts (0 for parquet)
    end: int  # bytes: where its last row ends (0 for parquet)
    digest: str  # SHA-256 over (id, SHA-256 of the text) of its rows, in order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_sha256(text: str) -> str:
    """The SHA-256 of a text's UTF-8 bytes, as parts store it (``text_sha256``)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RowDigest:
    """The digest of a shard's rows: (id, text SHA-256) pairs in order."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"frasi corpus rows v1\n")

    def add(self, row_id: str, text_hash: str) -> None:
        self._hash.update(row_id.encode("utf-8", "surrogatepass") + b"\0" + text_hash.encode("ascii") + b"\n")

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def rows_digest(ids: Iterable[str], text_hashes: Iterable[str]) -> str:
    digest = RowDigest()
    for row_id, text_hash in zip(ids, text_hashes):
        digest.add(row_id, text_hash)
    return digest.hexdigest()


# ---------------------------------------------------------------- which files


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def expand_inputs(inputs: Sequence[StrPath], *, exclude: StrPath | None = None) -> list[Path]:
    """The files of ``inputs`` in order: a file as given, a folder's files (recursive, sorted, hidden ones
    skipped), a glob's matches (sorted); folders and globs keep the supported formats only. Anything
    under ``exclude`` (the output folder) is left out."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise InputError("no inputs: pass files, folders or globs of .txt, .csv, .jsonl or .parquet files")
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None
    files: list[Path] = []
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_file():
            if _suffix(path) not in SUFFIXES:
                hint = " (convert a .tsv to .csv or .parquet)" if _suffix(path) == ".tsv" else ""
                raise InputError(f"{given} has the extension {_suffix(path)!r}; frasi corpus reads "
                                 f"{', '.join(SUFFIXES)} files{hint}")
            files.append(path)
            continue
        if path.is_dir():
            found = sorted((p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)),
                           key=lambda p: p.relative_to(path).as_posix())
            where = f"the folder {given}"
        elif any(c in str(given) for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(os.path.expanduser(str(given)), recursive=True)
                           if Path(p).is_file())
            where = f"the glob {given!r}"
        else:
            raise InputError(f"{given} does not exist; expected a file, a folder or a glob of input files")
        if skip is not None:
            found = [p for p in found if not p.resolve().is_relative_to(skip)]
        kept = [p for p in found if _suffix(p) in SUFFIXES]
        if len(kept) < len(found):
            logger.warning("%s: skipped %d file(s) that are not %s", where, len(found) - len(kept), ", ".join(SUFFIXES))
        if not kept:
            raise InputError(f"{where} holds no {', '.join(SUFFIXES)} files")
        files.extend(kept)
    seen: dict[Path, str] = {}
    for path in files:
        real = path.resolve()
        if real in seen:
            raise InputError(f"{path} is given twice (also as {seen[real]}); each input file must appear once, "
                             "so that each row is embedded once")
        if skip is not None and real.is_relative_to(skip):
            raise InputError(f"{path} is inside the output folder {exclude}; choose another output folder")
        seen[real] = str(path)
    return files


def input_names(files: Sequence[Path]) -> list[str]:
    """Each file's path from the folder that holds every input (posix): the prefix of its default ids."""
    real = [p.resolve() for p in files]
    root = Path(os.path.commonpath([p.parent for p in real]))
    return [p.relative_to(root).as_posix() for p in real]


# ---------------------------------------------------------------- reading rows


class _Lines:
    """The lines of a binary file decoded strictly, with where each starts and ends in bytes (``start``,
    ``offset``) and its number (``line``), for errors. ``file_start``: a BOM at the start is skipped."""

    def __init__(self, fh: Any, path: StrPath, *, hasher: Any = None, file_start: bool = False) -> None:
        self.fh, self.path, self.hasher, self.file_start = fh, path, hasher, file_start
        self.start = self.offset = self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.fh:
            if self.hasher is not None:
                self.hasher.update(raw)
            if self.file_start and self.offset == 0 and raw.startswith(_BOM):
                self.offset = len(_BOM)
                raw = raw[len(_BOM):]
            self.line += 1
            self.start = self.offset
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{self.path} line {self.line} is not valid UTF-8 (invalid byte "
                                 f"0x{raw[exc.start]:02x}); re-save the file as UTF-8") from None
            self.offset += len(raw)
            yield text


def _row_id(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int)):
        got = "missing" if value is None else f"{value!r:.40} of type {type(value).__name__}"
        raise InputError(f"{where} is {got}; expected an id (a string or an integer) in every row")
    if isinstance(value, int):
        return str(value)
    if not value.strip():
        raise InputError(f"{where} is empty; expected an id in every row")
    return check_unicode(value, where)


def _jsonl_rows(lines: _Lines, path: StrPath, text_col: str | None, id_col: str | None
                ) -> Iterator[tuple[int, int, str, Any]]:
    column = text_col or "text"
    for line in lines:
        if not line.strip():
            continue
        start = lines.start
        where = f"{path} line {lines.line}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not valid JSON ({exc.msg} at column {exc.colno}); expected one JSON "
                             "object per line") from None
        if not isinstance(obj, dict):
            raise InputError(f'{where} holds a JSON {type(obj).__name__}; expected one JSON object per line, such '
                             'as {"text": "..."}')
        if column not in obj:
            keys = ", ".join(map(repr, obj)) or "none"
            raise InputError(f"{where} has no {column!r} key (its keys: {keys}); name the text key with "
                             f"{COLUMN_OPTION}")
        text = text_cell(obj[column], f"{where}: {column!r}")
        row_id = _row_id(obj.get(id_col), f"{where}: id {id_col!r}") if id_col is not None else None
        yield start, lines.offset, text, row_id


def _csv_header(path: StrPath, lines: _Lines) -> tuple[str, list[str], dict[str, Any]]:
    first = ""
    for line in lines:
        if line.strip():
            first = line
            break
    if not first:
        return ",", [], {}
    delimiter = csv_delimiter(path, first)
    try:
        header = next(csv.reader([first], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise InputError(f"{path} line {lines.line}: {exc}; expected a header row of column names") from None
    return delimiter, [name.strip() for name in header], {"delimiter": delimiter, "strict": True}


def _csv_rows(lines: _Lines, path: StrPath, columns: list[str], options: dict[str, Any], text_index: int,
              id_index: int | None) -> Iterator[tuple[int, int, str, Any]]:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # as frasi.io reads: long texts are texts
    reader = csv.reader(iter(lines), **options)
    sep = "semicolons" if options.get("delimiter") == ";" else "commas"
    names = columns
    while True:
        start, line = lines.offset, lines.line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path} line {lines.line}: {exc}; expected well-formed {sep}-separated values") from None
        if not fields:
            continue
        if len(fields) != len(names):
            raise InputError(f"{path} line {line}: expected {len(names)} fields (as in the header), got "
                             f"{len(fields)}; quote fields that contain {sep} or newlines")
        where = f"{path} line {line}"
        text = text_cell(fields[text_index], f"{where}: column {names[text_index]!r}")
        row_id = None if id_index is None else _row_id(fields[id_index], f"{where}: id column {names[id_index]!r}")
        yield start, lines.offset, text, row_id


def _check_id_column(path: StrPath, columns: list[str], id_col: str | None) -> int | None:
    if id_col is None:
        return None
    if id_col not in columns:
        raise InputError(f"id column {id_col!r} not found in {path}; available columns: "
                         f"{', '.join(map(repr, columns))}; choose one with --id-col (id_col= in Python)")
    return columns.index(id_col)


def _parquet(path: StrPath) -> Any:
    pa = require("pyarrow", extra="dask", purpose="reading parquet corpora")
    pq = require("pyarrow.parquet", extra="dask", purpose="reading parquet corpora")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path} is not a readable parquet file ({first_line(exc)}); expected a file written by "
                         "pyarrow or pandas") from None


def _parquet_columns(path: StrPath, file: Any, text_col: str | None, id_col: str | None) -> tuple[str, str | None]:
    pa = require("pyarrow", extra="dask", purpose="reading parquet corpora")
    names = list(file.schema_arrow.names)
    column = choose_column(path, names, text_col, option=COLUMN_OPTION)
    kind = file.schema_arrow.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
        raise InputError(f"{path}: column {column!r} holds {kind} values; expected strings; store the column as "
                         "text or choose another with --text-col")
    if id_col is not None:
        _check_id_column(path, names, id_col)
    return column, id_col


def _parquet_rows(path: StrPath, file: Any, text_col: str, id_col: str | None, start: int = 0,
                  count: int | None = None) -> Iterator[tuple[int, int, str, Any]]:
    """Rows ``start`` to ``start + count`` of a parquet file, reading only the row groups that hold them."""
    meta = file.metadata
    groups, first, seen = [], 0, 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        stop = start + count if count is not None else meta.num_rows
        if seen + n > start and seen < stop:
            if not groups:
                first = seen
            groups.append(g)
        seen += n
    if not groups:
        return
    columns = [text_col] if id_col is None or id_col == text_col else [text_col, id_col]
    number = first
    left = count
    for batch in file.iter_batches(batch_size=_PARQUET_BATCH, row_groups=groups, columns=columns):
        texts = batch.column(text_col).to_pylist()
        ids = batch.column(id_col).to_pylist() if id_col is not None else None
        for i, value in enumerate(texts):
            row = number + i
            if row < start:
                continue
            if left is not None and left <= 0:
                return
            where = f"{path} row {row}"
            text = text_cell(value, f"{where}: column {text_col!r}")
            row_id = _row_id(ids[i], f"{where}: id column {id_col!r}") if ids is not None else None
            yield row, row + 1, text, row_id
            if left is not None:
                left -= 1
        number += len(texts)


# ---------------------------------------------------------------- planning


def _format(path: Path) -> str:
    return _suffix(path).lstrip(".")


def plan(files: Sequence[Path], *, shard_size: int = DEFAULT_SHARD_SIZE, text_col: str | None = None,
         id_col: str | None = None, progress: Any = None) -> tuple[list[InputFile], list[Shard]]:
    """Read every file once and cut its rows into shards; ``progress(bytes)`` is called as files are read."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise InputError(f"shard_size must be a positive integer, got {shard_size!r}")
    names = input_names(files)
    inputs: list[InputFile] = []
    shards: list[Shard] = []
    total = 0
    for number, (path, name) in enumerate(zip(files, names)):
        record, file_shards = _plan_file(path, name, number, shard_size, text_col, id_col, len(shards), total,
                                         progress)
        if record.rows == 0:
            logger.warning("%s holds no rows; it adds nothing to the corpus", path)
        inputs.append(record)
        shards.extend(file_shards)
        total += record.rows
    if total == 0:
        raise InputError("the inputs hold no texts; expected at least one non-empty line or row")
    logger.info("planned %d rows of %d file(s) in %d shard(s) of up to %d rows", total, len(inputs), len(shards),
                shard_size)
    return inputs, shards


def _plan_file(path: Path, name: str, number: int, shard_size: int, text_col: str | None, id_col: str | None,
               first_shard: int, first_row: int, progress: Any) -> tuple[InputFile, list[Shard]]:
    fmt = _format(path)
    stat = path.stat()
    hasher = hashlib.sha256()
    shards: list[Shard] = []
    column, delimiter = None, None
    state = {"start": 0, "offset": 0, "end": 0, "rows": 0, "digest": RowDigest()}
    row = 0

    def close() -> None:
        shards.append(Shard(first_shard + len(shards), number, state["start"], state["rows"],
                            first_row + state["start"], state["offset"], state["end"], state["digest"].hexdigest()))
        state.update(start=row, rows=0, digest=RowDigest())

    def add(begin: int, end: int, text: str, row_id: Any) -> None:
        nonlocal row
        if state["rows"] == 0:
            state["offset"] = begin
        state["end"] = end
        state["digest"].add(row_id if row_id is not None else f"{name}:{row}", text_sha256(text))
        state["rows"] += 1
        row += 1
        if state["rows"] == shard_size:
            close()

    if fmt == "parquet":
        file = _parquet(path)
        column, id_col_checked = _parquet_columns(path, file, text_col, id_col)
        for _, _, text, row_id in _parquet_rows(path, file, column, id_col_checked):
            add(0, 0, text, row_id)
        if state["rows"]:
            close()
        digest = sha256_file(path)
        if progress is not None:
            progress(stat.st_size)
    else:
        if fmt == "txt" and (text_col is not None or id_col is not None):
            raise InputError(f"{path} is a .txt file (one text per line, no columns); --text-col and --id-col "
                             "apply to .csv, .jsonl and .parquet files")
        try:
            with open(path, "rb") as fh:
                lines = _Lines(_counting(fh, progress), path, hasher=hasher, file_start=True)
                if fmt == "txt":
                    for text in lines:
                        body = text.removesuffix("\n").removesuffix("\r")
                        if body.strip():
                            add(lines.start, lines.offset, body, None)
                elif fmt == "jsonl":
                    column = text_col or "text"
                    for begin, end, text, row_id in _jsonl_rows(lines, path, text_col, id_col):
                        add(begin, end, text, row_id)
                else:
                    delimiter, columns, options = _csv_header(path, lines)
                    if columns:
                        duplicates = sorted({c for c in columns if columns.count(c) > 1})
                        if duplicates:
                            raise InputError(f"{path} has duplicate column names ({', '.join(map(repr, duplicates))})"
                                             "; expected unique names; rename them in the header row")
                        column = choose_column(path, columns, text_col, option=COLUMN_OPTION)
                        id_index = _check_id_column(path, columns, id_col)
                        for begin, end, text, row_id in _csv_rows(lines, path, columns, options,
                                                                  columns.index(column), id_index):
                            add(begin, end, text, row_id)
                for _ in fh:  # the rest of the file counts in its hash
                    hasher.update(_)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from None
        if state["rows"]:
            close()
        digest = hasher.hexdigest()
    record = InputFile(str(path.resolve()), name, fmt, stat.st_size, stat.st_mtime_ns, digest, row,
                       column if fmt != "txt" else None, id_col, delimiter)
    return record, shards


def _counting(fh: Any, progress: Any) -> Iterator[bytes]:
    for raw in fh:
        if progress is not None:
            progress(len(raw))
        yield raw


# ---------------------------------------------------------------- reading a shard back


def read_shard(source: InputFile, shard: Shard) -> tuple[list[str], list[str]]:
    """(ids, texts) of a shard's rows, read from its input file; an InputError when they no longer match the
    plan (the file changed)."""
    path = Path(source.path)
    if not path.is_file():
        raise InputError(f"{source.path} (input {source.name}) is not there; a worker reads its rows from the "
                         "same path as the driver: put the inputs on a folder every worker sees")
    ids: list[str] = []
    texts: list[str] = []
    if source.format == "parquet":
        file = _parquet(path)
        rows: Iterable[tuple[int, int, str, Any]] = _parquet_rows(path, file, source.text_col or "text",
                                                                  source.id_col, shard.start, shard.rows)
    else:
        with open(path, "rb") as fh:
            fh.seek(shard.offset)
            data = fh.read(shard.end - shard.offset)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _changed(source, shard) from None
        if source.format == "txt":
            rows = ((0, 0, line.removesuffix("\r"), None) for line in text.split("\n")
                    if line.removesuffix("\r").strip())
        elif source.format == "jsonl":
            rows = _jsonl_rows(_Lines(iter(io.BytesIO(data)), f"{path} (from byte {shard.offset})"), path,
                               source.text_col, source.id_col)
        else:
            options = {"delimiter": source.delimiter or ",", "strict": True}
            columns = _csv_columns(path, source)
            id_index = columns.index(source.id_col) if source.id_col is not None else None
            rows = _csv_rows(_Lines(iter(io.BytesIO(data)), path), path, columns, options,
                             columns.index(source.text_col or "text"), id_index)
    digest = RowDigest()
    try:
        for number, (_, _, text, row_id) in enumerate(rows):
            row_id = row_id if row_id is not None else f"{source.name}:{shard.start + number}"
            ids.append(row_id)
            texts.append(text)
            digest.add(row_id, text_sha256(text))
    except InputError:
        raise _changed(source, shard) from None
    if len(texts) != shard.rows or digest.hexdigest() != shard.digest:
        raise _changed(source, shard)
    return ids, texts


def _csv_columns(path: Path, source: InputFile) -> list[str]:
    with open(path, "rb") as fh:
        _, columns, _ = _csv_header(path, _Lines(fh, path, file_start=True))
    return columns


def _changed(source: InputFile, shard: Shard) -> InputError:
    return InputError(f"{source.path} changed since the corpus was planned (rows {shard.start} to "
                      f"{shard.start + shard.rows - 1} differ); restore it, or start again with --overwrite")
