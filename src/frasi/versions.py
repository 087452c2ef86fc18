"""Which versions of the libraries are installed: one reader for run records, cache keys and exports.

Versions come from the installed distributions' metadata, so nothing is imported. A
runtime may be installed under another distribution name (``onnxruntime-gpu``); the
names to try are listed per import name.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from collections.abc import Iterable

# import name -> distributions that provide it
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
    "yaml": ("pyyaml",),
    "sklearn": ("scikit-learn",),
    "sentence_transformers": ("sentence-transformers",),
}


@functools.cache
def version(name: str) -> str | None:
    """The installed version of a distribution (or of the one providing the import name ``name``), or None."""
    for dist in _DISTRIBUTIONS.get(name, (name,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def versions(names: Iterable[str], *, python: bool = False) -> dict[str, str | None]:
    """``{name: version or None}`` for each name, with ``"python"`` first when asked."""
    found: dict[str, str | None] = {"python": platform.python_version()} if python else {}
    found.update((name, version(name)) for name in names)
    return found
