"""Readers for evaluation and training data: STS pairs and labelled texts.

Every reader checks the whole file before any model work and raises InputError with one
line naming the file, the line or row, what was found, what was expected and the fix.

STS pairs (:func:`read_sts`) come in three layouts, detected from the file itself:

    stsbenchmark  the original STS Benchmark: tab-separated, unquoted (read with
                  csv.QUOTE_NONE), no header; fields genre, filename, year, id, score,
                  sentence1, sentence2 and, on some rows, two source fields (ignored).
                  Detected by 7+ tab-separated fields with a number in the 5th.
    headerless    sentence1, sentence2, score with no header (stsb_multi_mt): a .csv
                  is comma-separated and quoted, a .tsv / .txt tab-separated. Detected
                  by exactly 3 fields with a number in the 3rd.
    table         CSV/TSV/JSONL/parquet with named columns; the columns are guessed
                  from common names (sentence1/sentence_a/text1, sentence2/..., score/
                  label/similarity/relatedness_score, genre/domain) or given by name.

Scores are kept raw. ``STSData.normalization_range`` is the range used to map them to
[0, 1] when asked (``normalized_scores()``): (0, 5) for the STS Benchmark layout and for
scores that all lie in [0, 5] with some above 1; (0, 1) for scores already in [0, 1];
otherwise the observed (min, max). Rank and linear correlations do not depend on it.

Labelled texts (:func:`read_classification`) come as a table with a text and a label
column, or as the two-file layout ``<split>_text.txt`` + ``<split>_labels.txt`` (one text
/ one label a line, as in UMSAB tweet sentiment). Labels follow the one rule of
:mod:`frasi.labels`: strings or integers, never both (a CSV's "0" stays "0", a JSONL's 0
stays 0, and a JSONL mixing 1 and "1" is refused); ``label_names`` renames them, e.g.
``label_names=UMSAB_LABELS``. Texts are kept as
they are: the English UMSAB train/val tweets hold literal escapes such as ``i\\u2019m``
while the test tweets hold the real character; ``decode_escapes=True`` turns ``\\uXXXX``
sequences into the characters they name.

``sha256`` on both data classes hashes the parsed content (canonical JSON of
``to_dict()``), not the file bytes: the same pairs from a CSV or a JSONL hash the same.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._fs import StrPath
from .errors import InputError
from .io import check_looks_like_text, check_unicode, delimited_format, read_table, read_text_file
from .labels import check_labels

__all__ = [
    "UMSAB_LABELS",
    "LabelledTexts",
    "STSData",
    "read_classification",
    "read_sts",
]

logger = logging.getLogger(__name__)

UMSAB_LABELS: Mapping[str, str] = {"0": "negative", "1": "neutral", "2": "positive"}
"""Label names of the UMSAB tweet-sentiment files (pass as ``label_names=``)."""

STS_LAYOUTS = ("stsbenchmark", "headerless", "table", "memory")
STSB_FIELDS = "genre, filename, year, id, score, sentence1, sentence2"

# Column names are matched after lower-casing and dropping everything but letters and
# digits, so "sentence_A", "Sentence A" and "sentencea" are one name.
SENTENCE1_NAMES = ("sentence1", "sentencea", "text1", "texta", "s1", "sent1")
SENTENCE2_NAMES = ("sentence2", "sentenceb", "text2", "textb", "s2", "sent2")
SCORE_NAMES = ("score", "label", "similarity", "similarityscore", "relatednessscore", "relatedness",
               "gold", "goldscore", "sim")
GENRE_NAMES = ("genre", "domain")
TEXT_NAMES = ("text", "sentence", "tweet", "content", "review", "document")
LABEL_NAMES = ("label", "labels", "sentiment", "class", "category", "target")


# ---------------------------------------------------------------------------- data classes


def _content_sha256(content: dict[str, Any]) -> str:
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_texts(source: str, texts: Sequence[Any], what: str) -> list[str]:
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            got = "an empty text" if isinstance(text, str) else f"a {type(text).__name__}"
            raise InputError(f"{source}: {what}[{i}] is {got}; expected a non-empty string")
        check_unicode(text, f"{source}: {what}[{i}]")
    return items


@dataclass(frozen=True, eq=False)
class STSData:
    """Sentence pairs with gold similarity scores (raw, as in the file).

    ``scores`` is a read-only float64 array; ``genres`` is one string per pair or None.
    Construction checks the content: equal lengths, at least 2 pairs, non-empty
    sentences, finite scores that are not all identical.
    """

    sentences1: list[str]
    sentences2: list[str]
    scores: np.ndarray
    genres: list[str] | None = None
    source: str = "<memory>"
    layout: str = "memory"

    def __post_init__(self) -> None:
        s1 = _check_texts(self.source, self.sentences1, "sentences1")
        s2 = _check_texts(self.source, self.sentences2, "sentences2")
        try:
            scores = np.array(self.scores, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{self.source}: scores must be numbers, got {type(self.scores).__name__}") from None
        if scores.ndim != 1 or not len(s1) == len(s2) == len(scores):
            raise InputError(f"{self.source}: got {len(s1)} sentences1, {len(s2)} sentences2 and scores of "
                             f"shape {scores.shape}; expected one score per pair")
        if len(scores) < 2:
            raise InputError(f"{self.source} has {len(scores)} pair(s); expected at least 2 to correlate")
        if not np.isfinite(scores).all():
            i = int(np.flatnonzero(~np.isfinite(scores))[0])
            raise InputError(f"{self.source}: score[{i}] is {scores[i]}; expected finite numbers")
        if scores.min() == scores.max():
            raise InputError(f"{self.source}: all {len(scores)} scores are {scores[0]:g}, so correlation with "
                             "them is undefined; expected at least two different gold scores")
        genres = None
        if self.genres is not None:
            genres = list(self.genres)
            if len(genres) != len(scores) or not all(isinstance(g, str) for g in genres):
                raise InputError(f"{self.source}: genres must be one string per pair ({len(scores)}), "
                                 f"got {len(genres)} values")
        if self.layout not in STS_LAYOUTS:
            raise InputError(f"layout must be one of {', '.join(STS_LAYOUTS)}, got {self.layout!r}")
        scores.setflags(write=False)
        for name, value in (("sentences1", s1), ("sentences2", s2), ("scores", scores), ("genres", genres)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        lo, hi = self.score_range
        return f"STSData(n={len(self)}, source={self.source!r}, layout={self.layout!r}, scores {lo:g}..{hi:g})"

    @property
    def score_range(self) -> tuple[float, float]:
        """The observed (min, max) of the gold scores."""
        return float(self.scores.min()), float(self.scores.max())

    @property
    def normalization_range(self) -> tuple[float, float]:
        """The (low, high) that ``normalized_scores`` maps to (0, 1); see the module docstring."""
        lo, hi = self.score_range
        if self.layout == "stsbenchmark" or (lo >= 0.0 and 1.0 < hi <= 5.0):
            return (0.0, 5.0)
        if lo >= 0.0 and hi <= 1.0:
            return (0.0, 1.0)
        return (lo, hi)

    def normalized_scores(self) -> np.ndarray:
        """The gold scores mapped linearly from ``normalization_range`` to [0, 1] (float64)."""
        lo, hi = self.normalization_range
        return (self.scores - lo) / (hi - lo)

    def to_dict(self) -> dict[str, list]:
        """The content as columns: sentence1, sentence2, score (and genre when known)."""
        content: dict[str, list] = {"sentence1": list(self.sentences1), "sentence2": list(self.sentences2),
                                    "score": self.scores.tolist()}
        if self.genres is not None:
            content["genre"] = list(self.genres)
        return content

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the content (canonical JSON of ``to_dict()``), independent of the file format."""
        return _content_sha256(self.to_dict())

    def summary(self) -> dict[str, Any]:
        """What an evaluation protocol records about the data (JSON-serialisable)."""
        genres = None
        if self.genres is not None:
            names, counts = np.unique(self.genres, return_counts=True)
            genres = {str(n): int(c) for n, c in zip(names, counts)}
        return {"source": self.source, "layout": self.layout, "n_pairs": len(self), "sha256": self.sha256,
                "score_range": list(self.score_range), "normalization_range": list(self.normalization_range),
                "genres": genres}


@dataclass(frozen=True, eq=False)
class LabelledTexts:
    """Texts with one label each: strings or integers, never both (:mod:`frasi.labels`)."""

    texts: list[str]
    labels: list[str] | list[int]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        texts = _check_texts(self.source, self.texts, "texts")
        labels = list(self.labels)
        if len(texts) != len(labels):
            raise InputError(f"{self.source}: got {len(texts)} texts and {len(labels)} labels; "
                             "expected one label per text")
        if len(texts) < 2:
            raise InputError(f"{self.source} has {len(texts)} labelled text(s); expected at least 2")
        checked = check_labels(labels, where=[f"{self.source}: labels[{i}]" for i in range(len(labels))])
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "labels", checked.tolist())

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return f"LabelledTexts(n={len(self)}, source={self.source!r}, classes={self.classes})"

    @property
    def classes(self) -> list[str] | list[int]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def label_counts(self) -> dict[str, int]:
        """How many texts carry each label, in ``classes`` order (keys as strings, for JSON)."""
        counts = dict.fromkeys(map(str, self.classes), 0)
        for label in self.labels:
            counts[str(label)] += 1
        return counts

    def to_dict(self) -> dict[str, list]:
        return {"text": list(self.texts), "label": list(self.labels)}

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the content (canonical JSON of ``to_dict()``), independent of the file format."""
        return _content_sha256(self.to_dict())

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "n": len(self), "sha256": self.sha256, "label_counts": self.label_counts()}


# ---------------------------------------------------------------------------- cells


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _score(value: Any, where: str) -> float:
    if value is None:
        raise InputError(f"{where} is missing; expected a numeric score in every row; fill it in or drop the row")
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{where} is a boolean ({value}); expected a numeric score")
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            number = float(value)
        except OverflowError:
            raise InputError(f"{where} is a number too large for a score ({str(value)[:20]}...)") from None
    elif isinstance(value, str):
        number = _number(value.strip()) if value.strip() else None
        if number is None:
            shown = "empty" if not value.strip() else repr(value[:40])
            raise InputError(f"{where} is {shown}; expected a numeric score; fix or drop the row")
    else:
        raise InputError(f"{where} holds a {type(value).__name__}; expected a numeric score")
    if not math.isfinite(number):
        raise InputError(f"{where} is {number}; expected a finite score; fix or drop the row")
    return number


def _text(value: Any, where: str) -> str:
    if value is None:
        raise InputError(f"{where} is missing; expected a text in every row; fill it in or drop the row")
    if not isinstance(value, str):
        raise InputError(f"{where} holds {value!r:.40} of type {type(value).__name__}; expected a string; "
                         "store the column as text")
    if not value.strip():
        raise InputError(f"{where} is empty; expected a non-empty text; fill it in or drop the row")
    return check_unicode(value, where)


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _column(path: StrPath, columns: list[str], given: str | None, names: Sequence[str], role: str,
            param: str, *, required: bool = True) -> str | None:
    """The column for ``role``: ``given``, else the one column whose name matches ``names``."""
    available = ", ".join(map(repr, columns))
    fix = f"pass {param}=NAME (on the command line --{param.removesuffix('umn').replace('_', '-')})"
    if given is not None:
        if given not in columns:
            raise InputError(f"column {given!r} ({param}) not found in {path}; available columns: {available}")
        return given
    for name in names:
        found = [c for c in columns if _norm(c) == name]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InputError(f"{path}: columns {', '.join(map(repr, found))} could all be the {role} column; {fix}")
    if not required:
        return None
    raise InputError(f"{path} has no {role} column (looked for {', '.join(names)}); available columns: "
                     f"{available}; {fix}")


def _distinct(path: StrPath, chosen: dict[str, str | None]) -> None:
    picked = [c for c in chosen.values() if c is not None]
    if len(set(picked)) < len(picked):
        raise InputError(f"{path}: the same column serves two roles ({chosen}); pass a different column for each")


# ---------------------------------------------------------------------------- STS


def read_sts(
    path: StrPath,
    *,
    sentence1_column: str | None = None,
    sentence2_column: str | None = None,
    score_column: str | None = None,
    genre_column: str | None = None,
) -> STSData:
    """Read STS pairs from the STS Benchmark TSV, a headerless triple file or a named table.

    Column arguments apply to named tables (and force that layout); without them the
    layout is detected from the first line (see the module docstring).
    """
    suffix = Path(path).suffix.lower()
    named = any(c is not None for c in (sentence1_column, sentence2_column, score_column, genre_column))
    if suffix in (".csv", ".tsv", ".txt") and not named:
        text = read_text_file(path)
        if not text.strip():
            raise InputError(f"{path} is empty; expected STS pairs (sentence1, sentence2, score)")
        first = next(line for line in text.split("\n") if line.strip())
        fields = first.rstrip("\r").split("\t")
        if len(fields) >= 7 and _number(fields[4].strip()) is not None:
            data = _read_stsbenchmark(path, text)
        else:
            delimiter = "," if suffix == ".csv" else "\t"
            try:  # a first look at the first line: is it a headerless sentence1, sentence2, score row?
                record = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
            except csv.Error:
                record = []
            if len(record) == 3 and _number(record[2].strip()) is not None:
                data = _read_headerless(path, text, delimiter)
            elif suffix == ".txt":
                raise InputError(
                    f"{path} is neither the STS Benchmark layout ({STSB_FIELDS}; tab-separated) nor headerless "
                    "sentence1, sentence2, score lines; convert it or save it as .csv/.tsv with named columns"
                )
            else:
                data = _read_sts_table(path, None, None, None, None)
    else:
        data = _read_sts_table(path, sentence1_column, sentence2_column, score_column, genre_column)
    logger.debug("read %d STS pairs from %s (%s layout)", len(data), path, data.layout)
    return data


def read_pairs(path: StrPath, *, sentence1_column: str | None = None,
               sentence2_column: str | None = None) -> tuple[list[str], list[str]]:
    """Read unscored sentence pairs (e.g. positives for MultipleNegativesRankingLoss) from a
    table with a sentence1 and a sentence2 column (guessed as in :func:`read_sts`, or given)."""
    columns, rows = read_table(path)
    c1 = _column(path, columns, sentence1_column, SENTENCE1_NAMES, "sentence1", "sentence1_column")
    c2 = _column(path, columns, sentence2_column, SENTENCE2_NAMES, "sentence2", "sentence2_column")
    _distinct(path, {"sentence1": c1, "sentence2": c2})
    s1 = [_text(row.get(c1), f"{path} row {i}: column {c1!r}") for i, row in enumerate(rows, 1)]
    s2 = [_text(row.get(c2), f"{path} row {i}: column {c2!r}") for i, row in enumerate(rows, 1)]
    _too_few(path, len(s1), "pairs")
    return s1, s2


def _too_few(path: StrPath, n: int, what: str) -> None:
    if n < 2:
        raise InputError(f"{path} has {n} {what.removesuffix('s') if n == 1 else what}; expected at least 2")


def _read_stsbenchmark(path: StrPath, text: str) -> STSData:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    genres: list[str] = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        where = f"{path} line {reader.line_num}"
        if len(fields) < 7:
            raise InputError(f"{where}: expected at least 7 tab-separated fields ({STSB_FIELDS}), got "
                             f"{len(fields)}; the STS Benchmark layout is unquoted, one pair per line")
        genre = fields[0].strip()
        if not genre:
            raise InputError(f"{where}: the genre (field 1) is empty; expected e.g. main-captions")
        scores.append(_score(fields[4], f"{where}: the score (field 5)"))
        s1.append(_text(fields[5], f"{where}: sentence1 (field 6)"))
        s2.append(_text(fields[6], f"{where}: sentence2 (field 7)"))
        genres.append(genre)
    _too_few(path, len(scores), "pairs")
    return STSData(s1, s2, np.asarray(scores), genres, source=str(path), layout="stsbenchmark")


def _read_headerless(path: StrPath, text: str, delimiter: str) -> STSData:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""), **delimited_format(delimiter, text))
    sep = "comma" if delimiter == "," else "tab"
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            where = f"{path} line {reader.line_num}"
            if len(fields) != 3:
                raise InputError(f"{where}: expected 3 {sep}-separated fields (sentence1, sentence2, score), got "
                                 f"{len(fields)}; quote fields that contain {sep}s")
            s1.append(_text(fields[0], f"{where}: sentence1"))
            s2.append(_text(fields[1], f"{where}: sentence2"))
            scores.append(_score(fields[2], f"{where}: the score"))
    except csv.Error as exc:
        raise InputError(f"{path} line {reader.line_num}: {exc}; expected well-formed {sep}-separated values") from None
    _too_few(path, len(scores), "pairs")
    return STSData(s1, s2, np.asarray(scores), None, source=str(path), layout="headerless")


def _read_sts_table(path: StrPath, s1_col: str | None, s2_col: str | None, score_col: str | None,
                    genre_col: str | None) -> STSData:
    columns, rows = read_table(path)
    if not rows:
        raise InputError(f"{path} has no rows; expected STS pairs (sentence1, sentence2, score)")
    c1 = _column(path, columns, s1_col, SENTENCE1_NAMES, "sentence1", "sentence1_column")
    c2 = _column(path, columns, s2_col, SENTENCE2_NAMES, "sentence2", "sentence2_column")
    cs = _column(path, columns, score_col, SCORE_NAMES, "score", "score_column")
    cg = _column(path, columns, genre_col, GENRE_NAMES, "genre", "genre_column", required=False)
    _distinct(path, {"sentence1": c1, "sentence2": c2, "score": cs, "genre": cg})
    s1, s2, scores, genres = [], [], [], []
    for i, row in enumerate(rows, 1):
        where = f"{path} row {i}: column"
        s1.append(_text(row.get(c1), f"{where} {c1!r}"))
        s2.append(_text(row.get(c2), f"{where} {c2!r}"))
        scores.append(_score(row.get(cs), f"{where} {cs!r}"))
        if cg is not None:
            value = row.get(cg)
            genres.append(_text(str(value) if isinstance(value, (int, np.integer)) else value, f"{where} {cg!r}"))
    _too_few(path, len(scores), "rows")
    logger.debug("%s: columns sentence1=%r sentence2=%r score=%r genre=%r", path, c1, c2, cs, cg)
    return STSData(s1, s2, np.asarray(scores), genres if cg is not None else None, source=str(path), layout="table")


# ---------------------------------------------------------------------------- classification

_ESCAPE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_ESCAPE = re.compile(r"\\u([0-9a-f]{4})", re.IGNORECASE)


def _decode_escapes(text: str) -> str:
    """Turn literal ``\\uXXXX`` sequences (and surrogate pairs) into characters; lone surrogates stay."""

    def pair(m: re.Match[str]) -> str:
        high, low = int(m.group(1), 16), int(m.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    def single(m: re.Match[str]) -> str:
        code = int(m.group(1), 16)
        return m.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)

    return _ESCAPE.sub(single, _ESCAPE_PAIR.sub(pair, text))


def read_classification(
    path: StrPath,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str | None = None,
    label_names: Mapping[str, str] | None = None,
    decode_escapes: bool = False,
) -> LabelledTexts:
    """Read labelled texts from a table or from the ``<split>_text.txt`` + ``<split>_labels.txt`` layout.

    Args:
        path: a .csv/.tsv/.jsonl/.parquet table, a ``<split>_text.txt`` file, or a folder
            holding ``<split>_text.txt`` and ``<split>_labels.txt`` (then pass ``split``).
        text_column, label_column: table columns (default: guessed from text/sentence/tweet
            and label/sentiment/class).
        split: the split to read from a folder, e.g. ``"train"`` or ``"test"``.
        label_names: rename labels, e.g. ``UMSAB_LABELS``; every label must have an entry.
        decode_escapes: turn literal ``\\uXXXX`` sequences in the texts into characters.
    """
    p = Path(path)
    if p.is_dir() or p.name.lower().endswith(("_text.txt", "_labels.txt")):
        if text_column is not None or label_column is not None:
            raise InputError(f"text_column and label_column apply to tables, not to the text+labels layout of {path}")
        texts, labels, where = _read_two_files(p, split)
    else:
        if split is not None:
            raise InputError(f"split={split!r} only applies to a folder of <split>_text.txt files; {path} is a file")
        texts, labels, where = _read_classification_table(path, text_column, label_column)
    if decode_escapes:
        texts = [_decode_escapes(t) for t in texts]
    if label_names is not None:
        labels = _rename(labels, label_names, where)
    data = LabelledTexts(texts, labels, source=str(path) if not p.is_dir() else f"{path} ({split})")
    logger.debug("read %d labelled texts from %s; classes %s", len(data), data.source, data.classes)
    return data


def _rename(labels: list[str] | list[int], names: Mapping[Any, str], where: list[str]) -> list[str]:
    if not isinstance(names, Mapping):
        raise InputError(f"label_names must be a mapping such as {dict(UMSAB_LABELS)}, got {type(names).__name__}")
    mapping = {str(k).strip(): v for k, v in names.items()}
    for key, value in mapping.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"label_names[{key!r}] is {value!r}; expected a non-empty string")
    renamed = []
    for label, at in zip(map(str, labels), where):
        if label not in mapping:
            raise InputError(f"{at}: label {label!r} has no entry in label_names (keys: "
                             f"{', '.join(map(repr, mapping))}); add it")
        renamed.append(mapping[label])
    return renamed


def _lines(path: Path) -> list[str]:
    lines = [line.removesuffix("\r") for line in read_text_file(path).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _read_two_files(p: Path, split: str | None) -> tuple[list[str], list[str], list[str]]:
    if p.is_dir():
        if split is None:
            found = sorted(f.name[: -len("_text.txt")] for f in p.glob("*_text.txt"))
            hint = f"pass split= one of {', '.join(map(repr, found))}" if found else "no <split>_text.txt file is there"
            raise InputError(f"{p} is a folder; expected split='train' (or another split) to pick "
                             f"<split>_text.txt and <split>_labels.txt; {hint}")
        text_path, label_path = p / f"{split}_text.txt", p / f"{split}_labels.txt"
    else:
        if split is not None:
            raise InputError(f"split={split!r} only applies to a folder; {p} already names the split")
        if p.name.lower().endswith("_labels.txt"):
            raise InputError(f"{p} holds the labels; pass the texts file {p.name[: -len('_labels.txt')]}_text.txt "
                             "(its labels file is found beside it)")
        text_path, label_path = p, p.with_name(p.name[: -len("_text.txt")] + "_labels.txt")
    for f in (text_path, label_path):
        if not f.is_file():
            raise InputError(f"{f} does not exist; the two-file layout needs {text_path.name} and "
                             f"{label_path.name} side by side")
    texts, labels = _lines(text_path), _lines(label_path)
    if not texts:
        raise InputError(f"{text_path} is empty; expected one text per line")
    if len(texts) != len(labels):
        raise InputError(f"{text_path} has {len(texts)} lines but {label_path} has {len(labels)}; "
                         "expected one label per text line")
    _too_few(text_path, len(texts), "texts")
    for i, text in enumerate(texts, 1):
        _text(text, f"{text_path} line {i}")
    where = [f"{label_path} line {i}" for i in range(1, len(labels) + 1)]
    return texts, check_labels(labels, where=where).tolist(), where


def _read_classification_table(path: StrPath, text_column: str | None,
                               label_column: str | None) -> tuple[list[str], list[str], list[str]]:
    columns, rows = read_table(path)
    if not rows:
        raise InputError(f"{path} has no rows; expected texts with labels")
    ct = _column(path, columns, text_column, TEXT_NAMES, "text", "text_column")
    cl = _column(path, columns, label_column, LABEL_NAMES, "label", "label_column")
    _distinct(path, {"text": ct, "label": cl})
    texts = [_text(row.get(ct), f"{path} row {i}: column {ct!r}") for i, row in enumerate(rows, 1)]
    where = [f"{path} row {i}: column {cl!r}" for i in range(1, len(rows) + 1)]
    labels = check_labels([row.get(cl) for row in rows], where=where).tolist()
    _too_few(path, len(texts), "rows")
    if text_column is None:
        check_looks_like_text(path, ct, texts)
    return texts, labels, where
