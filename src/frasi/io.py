"""Reading texts and tables from files, and writing embeddings and result tables.

Readers decode files as strict UTF-8 (a BOM is dropped) and raise InputError with one
line saying what was found, what was expected and the fix. Writers go through
:func:`frasi._fs.atomic_file`, so a failed write never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._fs import StrPath, atomic_file, check_parent, write_bytes
from .errors import InputError, OutputError, first_line, require

logger = logging.getLogger(__name__)

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


def csv_delimiter(path: StrPath, text: str) -> str:
    """``,`` or ``;`` for a .csv: Excel writes ``;`` in Spanish and Italian locales (their decimal comma takes
    the comma). The header decides: ``;`` when it holds more semicolons than commas."""
    header = next((line for line in text.split("\n") if line.strip()), "")
    if header.count(";") > header.count(","):
        logger.info("%s: the header is separated by semicolons; reading the file as ;-separated", path)
        return ";"
    return ","


def _read_delimited(path: StrPath, delimiter: str) -> tuple[list[str], list[dict[str, Any]]]:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    text = read_text_file(path)
    if delimiter == ",":
        delimiter = csv_delimiter(path, text)
    reader = csv.reader(io.StringIO(text, newline=""), **delimited_format(delimiter, text))
    sep = {",": "commas", ";": "semicolons"}.get(delimiter, "tabs")
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


def choose_column(path: StrPath, columns: list[str], column: str | None, *,
                  option: str = "--column (column= in Python)") -> str:
    """The column of ``columns`` that holds the texts: ``column`` when given, else ``text`` or the only one;
    errors name ``option``, the way to choose one."""
    available = ", ".join(map(repr, columns))
    if column is not None:
        if column not in columns:
            raise InputError(
                f"column {column!r} not found in {path}; available columns: {available}; "
                f"choose one with {option}"
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
        f"choose the one holding the texts with {option}"
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
    return check_unicode(value, where)


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
            columns, rows = _read_parquet(path, lambda names: choose_column(path, names, column))
        else:
            columns, rows = read_table(path)
        texts = []
        if rows:
            name = choose_column(path, columns, column)
            texts = [_cell(path, i, name, row.get(name)) for i, row in enumerate(rows, 1)]
            if column is None:  # chosen by its name: check that the header matches the columns
                check_looks_like_text(path, name, texts)
    if not texts:
        raise InputError(f"{path} contains no texts; expected at least one non-empty line or row")
    logger.debug("read %d texts from %s", len(texts), path)
    return texts


def check_unicode(text: str, where: str) -> str:
    """``text``, or an InputError when it cannot be UTF-8 (a lone surrogate, as JSON's ``"\\ud800"`` or a
    command-line argument of non-UTF-8 bytes gives)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"{where} is not valid Unicode text: it holds {text[exc.start]!r} at character "
                             f"{exc.start}, a lone surrogate (from an undecodable byte or a broken \\u escape); "
                             "fix the text or its encoding (frasi reads UTF-8)") from None
    return text


def validate_texts(texts: str | Iterable[str], *, what: str = "text") -> list[str]:
    """Return ``texts`` as a non-empty list of non-blank, valid Unicode strings, or raise InputError."""
    if isinstance(texts, str):
        if not texts.strip():
            raise InputError(f"got an empty or whitespace-only {what}; expected a non-empty {what}")
        return [check_unicode(texts, f"the {what}")]
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
        check_unicode(item, f"{what} at index {i}")
    return items


# ---------------------------------------------------------------------------- writing


def check_output_path(path: StrPath, suffixes: Iterable[str], *, inputs: Iterable[StrPath | None] = ()) -> Path:
    """Check, before any expensive work, that ``path`` has a supported suffix, is writable and
    is none of the ``inputs`` (an output must never replace the file it is computed from)."""
    _suffix(path, tuple(s.lower() for s in suffixes), "output")
    target = check_parent(path)
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; expected a file path")
    for source in inputs:
        if source is not None and target.exists() and Path(source).exists() and os.path.samefile(target, source):
            raise OutputError(f"the output {path} is the input file {source}; write the output to another file")
    return target


def _write_stream(path: StrPath, write: Callable[[IO[bytes]], Any]) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        write(f)


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
    with atomic_file(path) as tmp:
        pq.write_table(table, str(tmp))


RECORD_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv")
"""The formats of result tables (rankings, predictions, pairs)."""


def write_table(path: StrPath, header: list[str], rows: list[list[Any]]) -> None:
    """Write rows as .csv (quoted where needed) or .tsv (raw, as frasi reads TSV), atomically."""
    buffer = io.StringIO()
    if Path(path).suffix.lower() == ".tsv":  # unquoted: a field cannot hold a tab or a line break
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
    write_text(path, buffer.getvalue())


def write_records(path: StrPath, header: list[str], rows: list[list[Any]]) -> None:
    """Write result rows as .json (a list of objects), .jsonl, .csv or .tsv, atomically."""
    suffix = _suffix(path, RECORD_SUFFIXES, "output")
    records = [dict(zip(header, row)) for row in rows]
    if suffix == ".json":
        write_json(path, records)
    elif suffix == ".jsonl":
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        write_table(path, header, rows)
