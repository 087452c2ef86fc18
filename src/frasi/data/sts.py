"""STS pairs: sentence pairs with gold similarity scores, read from the files STS data comes in.

See :mod:`frasi.data` for the layouts :func:`read_sts` detects.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .._fs import StrPath
from ..errors import InputError
from ..io import delimited_format, read_table, read_text_file
from .cells import check_texts, column, content_sha256, distinct, parse_number, score, text_cell, too_few

logger = logging.getLogger(__name__)

STS_LAYOUTS = ("stsbenchmark", "headerless", "table", "memory")
STSB_FIELDS = "genre, filename, year, id, score, sentence1, sentence2"

# Column names are matched after lower-casing and dropping everything but letters and
# digits, so "sentence_A", "Sentence A" and "sentencea" are one name.
SENTENCE1_NAMES = ("sentence1", "sentencea", "text1", "texta", "s1", "sent1")
SENTENCE2_NAMES = ("sentence2", "sentenceb", "text2", "textb", "s2", "sent2")
SCORE_NAMES = ("score", "label", "similarity", "similarityscore", "relatednessscore", "relatedness",
               "gold", "goldscore", "sim")
GENRE_NAMES = ("genre", "domain")


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
        s1 = check_texts(self.source, self.sentences1, "sentences1")
        s2 = check_texts(self.source, self.sentences2, "sentences2")
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
        return content_sha256(self.to_dict())

    def summary(self) -> dict[str, Any]:
        """What an evaluation protocol records about the data (JSON-serialisable)."""
        genres = None
        if self.genres is not None:
            names, counts = np.unique(self.genres, return_counts=True)
            genres = {str(n): int(c) for n, c in zip(names, counts)}
        return {"source": self.source, "layout": self.layout, "n_pairs": len(self), "sha256": self.sha256,
                "score_range": list(self.score_range), "normalization_range": list(self.normalization_range),
                "genres": genres}


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
        if len(fields) >= 7 and parse_number(fields[4].strip()) is not None:
            data = _read_stsbenchmark(path, text)
        else:
            delimiter = "," if suffix == ".csv" else "\t"
            try:  # a first look at the first line: is it a headerless sentence1, sentence2, score row?
                record = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
            except csv.Error:
                record = []
            if len(record) == 3 and parse_number(record[2].strip()) is not None:
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
    c1 = column(path, columns, sentence1_column, SENTENCE1_NAMES, "sentence1", "sentence1_column")
    c2 = column(path, columns, sentence2_column, SENTENCE2_NAMES, "sentence2", "sentence2_column")
    distinct(path, {"sentence1": c1, "sentence2": c2})
    s1 = [text_cell(row.get(c1), f"{path} row {i}: column {c1!r}") for i, row in enumerate(rows, 1)]
    s2 = [text_cell(row.get(c2), f"{path} row {i}: column {c2!r}") for i, row in enumerate(rows, 1)]
    too_few(path, len(s1), "pairs")
    return s1, s2


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
        scores.append(score(fields[4], f"{where}: the score (field 5)"))
        s1.append(text_cell(fields[5], f"{where}: sentence1 (field 6)"))
        s2.append(text_cell(fields[6], f"{where}: sentence2 (field 7)"))
        genres.append(genre)
    too_few(path, len(scores), "pairs")
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
            s1.append(text_cell(fields[0], f"{where}: sentence1"))
            s2.append(text_cell(fields[1], f"{where}: sentence2"))
            scores.append(score(fields[2], f"{where}: the score"))
    except csv.Error as exc:
        raise InputError(f"{path} line {reader.line_num}: {exc}; expected well-formed {sep}-separated values") from None
    too_few(path, len(scores), "pairs")
    return STSData(s1, s2, np.asarray(scores), None, source=str(path), layout="headerless")


def _read_sts_table(path: StrPath, s1_col: str | None, s2_col: str | None, score_col: str | None,
                    genre_col: str | None) -> STSData:
    columns, rows = read_table(path)
    if not rows:
        raise InputError(f"{path} has no rows; expected STS pairs (sentence1, sentence2, score)")
    c1 = column(path, columns, s1_col, SENTENCE1_NAMES, "sentence1", "sentence1_column")
    c2 = column(path, columns, s2_col, SENTENCE2_NAMES, "sentence2", "sentence2_column")
    cs = column(path, columns, score_col, SCORE_NAMES, "score", "score_column")
    cg = column(path, columns, genre_col, GENRE_NAMES, "genre", "genre_column", required=False)
    distinct(path, {"sentence1": c1, "sentence2": c2, "score": cs, "genre": cg})
    s1, s2, scores, genres = [], [], [], []
    for i, row in enumerate(rows, 1):
        where = f"{path} row {i}: column"
        s1.append(text_cell(row.get(c1), f"{where} {c1!r}"))
        s2.append(text_cell(row.get(c2), f"{where} {c2!r}"))
        scores.append(score(row.get(cs), f"{where} {cs!r}"))
        if cg is not None:
            value = row.get(cg)
            genres.append(text_cell(str(value) if isinstance(value, (int, np.integer)) else value, f"{where} {cg!r}"))
    too_few(path, len(scores), "rows")
    logger.debug("%s: columns sentence1=%r sentence2=%r score=%r genre=%r", path, c1, c2, cs, cg)
    return STSData(s1, s2, np.asarray(scores), genres if cg is not None else None, source=str(path), layout="table")
