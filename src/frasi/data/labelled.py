"""Labelled texts: texts with a class label each, from a table or the ``<split>_text.txt`` layout.

See :mod:`frasi.data` for the layouts :func:`read_classification` reads; labels follow
:mod:`frasi.labels`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .._fs import StrPath
from ..errors import InputError
from ..io import check_looks_like_text, read_table, read_text_file
from ..labels import check_labels
from .cells import check_texts, column, content_sha256, distinct, text_cell, too_few

logger = logging.getLogger(__name__)

UMSAB_LABELS: Mapping[str, str] = {"0": "negative", "1": "neutral", "2": "positive"}
"""Label names of the UMSAB tweet-sentiment files (pass as ``label_names=``)."""
UMSAB_LANGUAGES: Mapping[str, str] = {"ar": "arabic", "de": "german", "en": "english", "es": "spanish",
                                      "fr": "french", "hi": "hindi", "it": "italian", "pt": "portuguese"}
"""UMSAB's languages: code -> the folder that holds its splits."""
TEXT_NAMES = ("text", "sentence", "tweet", "content", "review", "document")
LABEL_NAMES = ("label", "labels", "sentiment", "class", "category", "target")


@dataclass(frozen=True, eq=False)
class LabelledTexts:
    """Texts with one label each: strings or integers, never both (:mod:`frasi.labels`)."""

    texts: list[str]
    labels: list[str] | list[int]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        texts = check_texts(self.source, self.texts, "texts")
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
        return content_sha256(self.to_dict())

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "n": len(self), "sha256": self.sha256, "label_counts": self.label_counts()}


_ESCAPE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_ESCAPE = re.compile(r"\\u([0-9a-f]{4})", re.IGNORECASE)


def decode_unicode_escapes(text: str) -> str:
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
        texts = [decode_unicode_escapes(t) for t in texts]
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
    too_few(text_path, len(texts), "texts")
    for i, text in enumerate(texts, 1):
        text_cell(text, f"{text_path} line {i}")
    where = [f"{label_path} line {i}" for i in range(1, len(labels) + 1)]
    return texts, check_labels(labels, where=where).tolist(), where


def _read_classification_table(path: StrPath, text_column: str | None,
                               label_column: str | None) -> tuple[list[str], list[str], list[str]]:
    columns, rows = read_table(path)
    if not rows:
        raise InputError(f"{path} has no rows; expected texts with labels")
    ct = column(path, columns, text_column, TEXT_NAMES, "text", "text_column")
    cl = column(path, columns, label_column, LABEL_NAMES, "label", "label_column")
    distinct(path, {"text": ct, "label": cl})
    texts = [text_cell(row.get(ct), f"{path} row {i}: column {ct!r}") for i, row in enumerate(rows, 1)]
    where = [f"{path} row {i}: column {cl!r}" for i in range(1, len(rows) + 1)]
    labels = check_labels([row.get(cl) for row in rows], where=where).tolist()
    too_few(path, len(texts), "rows")
    if text_column is None:
        check_looks_like_text(path, ct, texts)
    return texts, labels, where


def read_umsab(folder: StrPath, languages: Sequence[str] = ("es", "it", "en"),
               splits: Sequence[str] = ("train", "val", "test")) -> dict[tuple[str, str], LabelledTexts]:
    """UMSAB tweet sentiment (cardiffnlp/xlm-t ``data/sentiment``) as it is laid out on disk.

    ``folder/<language>/<split>_text.txt`` and ``<split>_labels.txt`` for each language
    code (:data:`UMSAB_LANGUAGES`) and split; labels named by :data:`UMSAB_LABELS`, literal
    ``\\uXXXX`` escapes decoded. Keys are ``(language, split)``, in the order asked.
    """
    root = Path(folder).expanduser()
    unknown = [lang for lang in languages if lang not in UMSAB_LANGUAGES]
    if unknown:
        raise InputError(f"UMSAB has no language {', '.join(map(repr, unknown))}; it has "
                         f"{', '.join(UMSAB_LANGUAGES)}")
    return {(lang, split): read_classification(root / UMSAB_LANGUAGES[lang], split=split, label_names=UMSAB_LABELS,
                                               decode_escapes=True)
            for lang in languages for split in splits}


def umsab_files(folder: StrPath, languages: Sequence[str] = ("es", "it", "en"),
                splits: Sequence[str] = ("train", "val", "test")) -> dict[str, Path]:
    """The files :func:`read_umsab` reads, by their name under ``folder`` (to record their hashes)."""
    root = Path(folder).expanduser()
    return {f"{UMSAB_LANGUAGES[lang]}/{split}_{kind}.txt": root / UMSAB_LANGUAGES[lang] / f"{split}_{kind}.txt"
            for lang in languages for split in splits for kind in ("text", "labels")}


def concatenate(parts: Sequence[LabelledTexts], *, source: str) -> LabelledTexts:
    """One set of labelled texts from several, in order."""
    return LabelledTexts([t for p in parts for t in p.texts], [y for p in parts for y in p.labels], source=source)
