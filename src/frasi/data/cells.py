"""Reading one cell of a data file: a text, a score, a column picked by its name; content hashes.

Shared by :mod:`frasi.data.sts` and :mod:`frasi.data.labelled`. Every check raises an
InputError that names the file, the row and the column.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._fs import StrPath
from ..errors import InputError
from ..io import check_unicode


def content_sha256(content: dict[str, Any]) -> str:
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_texts(source: str, texts: Sequence[Any], what: str) -> list[str]:
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            got = "an empty text" if isinstance(text, str) else f"a {type(text).__name__}"
            raise InputError(f"{source}: {what}[{i}] is {got}; expected a non-empty string")
        check_unicode(text, f"{source}: {what}[{i}]")
    return items


def parse_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def score(value: Any, where: str) -> float:
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
        number = parse_number(value.strip()) if value.strip() else None
        if number is None:
            shown = "empty" if not value.strip() else repr(value[:40])
            raise InputError(f"{where} is {shown}; expected a numeric score; fix or drop the row")
    else:
        raise InputError(f"{where} holds a {type(value).__name__}; expected a numeric score")
    if not math.isfinite(number):
        raise InputError(f"{where} is {number}; expected a finite score; fix or drop the row")
    return number


def text_cell(value: Any, where: str) -> str:
    if value is None:
        raise InputError(f"{where} is missing; expected a text in every row; fill it in or drop the row")
    if not isinstance(value, str):
        raise InputError(f"{where} holds {value!r:.40} of type {type(value).__name__}; expected a string; "
                         "store the column as text")
    if not value.strip():
        raise InputError(f"{where} is empty; expected a non-empty text; fill it in or drop the row")
    return check_unicode(value, where)


def normalized_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def column(path: StrPath, columns: list[str], given: str | None, names: Sequence[str], role: str,
            param: str, *, required: bool = True) -> str | None:
    """The column for ``role``: ``given``, else the one column whose name matches ``names``."""
    available = ", ".join(map(repr, columns))
    fix = f"pass {param}=NAME (on the command line --{param.removesuffix('umn').replace('_', '-')})"
    if given is not None:
        if given not in columns:
            raise InputError(f"column {given!r} ({param}) not found in {path}; available columns: {available}")
        return given
    for name in names:
        found = [c for c in columns if normalized_name(c) == name]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InputError(f"{path}: columns {', '.join(map(repr, found))} could all be the {role} column; {fix}")
    if not required:
        return None
    raise InputError(f"{path} has no {role} column (looked for {', '.join(names)}); available columns: "
                     f"{available}; {fix}")


def distinct(path: StrPath, chosen: dict[str, str | None]) -> None:
    picked = [c for c in chosen.values() if c is not None]
    if len(set(picked)) < len(picked):
        raise InputError(f"{path}: the same column serves two roles ({chosen}); pass a different column for each")


def too_few(path: StrPath, n: int, what: str) -> None:
    if n < 2:
        raise InputError(f"{path} has {n} {what.removesuffix('s') if n == 1 else what}; expected at least 2")
