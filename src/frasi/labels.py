"""The one rule for class labels, for files and for Python alike.

A label is a string or an integer, and all labels of one data set are of one type:
``1`` and ``"1"`` are different classes, so a column that mixes them is refused rather
than silently merged or split. Integral floats (``1.0``, as pandas writes an integer
column with gaps) count as integers. Refused, with the place named: a missing label
(None, NaN, an empty string, "nan" / "none" / "null"), a boolean, and a fractional
number, in a string too (``"0.5"``: continuous scores belong in an STS file).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError

MISSING = ("", "nan", "none", "null")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_label(value: Any, where: str) -> str | int:
    """One label as a stripped string or an int, or an InputError naming ``where``."""
    fix = "every text needs a label; fill it in or drop it"
    if value is None:
        raise InputError(f"{where} is None, not a label; {fix}")
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and math.isnan(value):
        raise InputError(f"{where} is NaN, not a label; {fix}")
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{where} is a boolean ({value}); labels must be strings or integers")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if float(value).is_integer():
            return int(value)
        raise InputError(f"{where} is the number {value!r}; labels must be strings or integers (class names or "
                         "ids); continuous scores belong in an STS file (frasi eval sts)")
    if not isinstance(value, str):
        raise InputError(f"{where} holds a {type(value).__name__}; labels must be strings or integers")
    label = value.strip()
    if not label:
        raise InputError(f"{where} is empty, not a label; {fix}")
    if label.lower() in MISSING:
        raise InputError(f"{where} is {value!r}, a missing value, not a label; {fix}")
    if _is_number(label) and not label.lstrip("+-").isdigit():
        raise InputError(f"{where} is {label!r}, a non-integer number; labels must be strings or integers "
                         "(write class ids as 1, not 1.0); continuous scores belong in an STS file (frasi eval sts)")
    return label


def check_labels(values: Any, *, where: Sequence[str] | None = None, what: str = "labels") -> np.ndarray:
    """Labels as a 1-D array of str or of int64, checked by the rule above.

    ``where`` names each label's place (``"data.jsonl row 3: column 'label'"``); by default
    ``labels[i]``.
    """
    if isinstance(values, (str, bytes)) or not (isinstance(values, Sequence) or hasattr(values, "tolist")):
        raise InputError(f"{what} must be a list of class labels, got {type(values).__name__}")
    items = list(values if isinstance(values, Sequence) else values.tolist())
    if not items:
        raise InputError(f"{what} are empty: give one label per text")
    places = list(where) if where is not None else [f"{what}[{i}]" for i in range(len(items))]
    clean = [check_label(value, place) for value, place in zip(items, places)]
    first: dict[type, int] = {}
    for i, label in enumerate(clean):
        first.setdefault(type(label), i)
    if len(first) > 1:
        s, n = first[str], first[int]
        raise InputError(f"{what} mix strings and integers ({places[s]} is the string {clean[s]!r}, {places[n]} "
                         f"the integer {clean[n]}); use one type for all labels, or they become different classes")
    return np.asarray(clean) if isinstance(clean[0], str) else np.asarray(clean, dtype=np.int64)


def check_known_labels(labels: Any, classes: np.ndarray) -> None:
    """InputError if ``labels`` holds classes outside ``classes`` (what a classifier was trained on) or is of the
    other label type."""
    labels = check_labels(labels)
    unseen = sorted(set(labels.tolist()) - set(classes.tolist()), key=str)
    if unseen:
        known = ", ".join(map(str, classes.tolist()[:20])) + (", ..." if len(classes) > 20 else "")
        shown = ", ".join(map(repr, unseen[:5])) + (f" and {len(unseen) - 5} more" if len(unseen) > 5 else "")
        raise InputError(f"labels {shown} were not in the training data (known classes: {known})")
    if labels.dtype.kind != classes.dtype.kind:
        kinds = {"U": "strings"}
        raise InputError(f"labels are {kinds.get(labels.dtype.kind, 'integers')} but the classifier was trained "
                         f"on {kinds.get(classes.dtype.kind, 'integers')}")
