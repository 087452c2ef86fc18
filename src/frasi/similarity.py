"""Similarity between embeddings: pure functions, numpy arrays in, numpy arrays out.

Every score follows one convention, HIGHER = MORE SIMILAR:

    cosine      cosine similarity in [-1, 1]; a zero vector scores 0 against everything
    dot         dot product
    euclidean   NEGATIVE euclidean distance (0 for identical vectors, below 0 otherwise)
    manhattan   NEGATIVE L1 distance (similarity_pairwise only)

so that sorting by descending score always puts the best match first.
"""

from __future__ import annotations

import logging

import numpy as np

from frasi.errors import InputError

__all__ = ["METRICS", "PAIR_METRICS", "similarity_matrix", "similarity_pairwise"]

logger = logging.getLogger(__name__)

METRICS = ("cosine", "dot", "euclidean")
"""Metrics of similarity_matrix and search."""
PAIR_METRICS = (*METRICS, "manhattan")
"""Metrics of similarity_pairwise (manhattan: negative L1 distance)."""


def similarity_matrix(a, b=None, *, metric: str = "cosine") -> np.ndarray:
    """Score every row of ``a`` (n, d) against every row of ``b`` (m, d): an (n, m) float32 matrix.

    ``b=None`` scores ``a`` against itself. A 1-D input counts as a single row. (This is
    sentence-transformers' ``model.similarity``; for row i against row i only, see
    :func:`similarity_pairwise`.)
    """
    check_metric(metric)
    a = as_matrix(a, "a")
    b = a if b is None else as_matrix(b, "b")
    check_same_dim(a, b, "a", "b")
    pa = prepare(a, metric)
    return kernel(pa, pa if b is a else prepare(b, metric), metric)


def similarity_pairwise(a, b, *, metric: str = "cosine") -> np.ndarray:
    """Score row i of ``a`` against row i of ``b`` (both (n, d)): a 1-D float64 array of n scores.

    ``metric`` is cosine, dot, euclidean (negative distance) or manhattan (negative L1
    distance); higher = more similar. A zero vector has cosine 0 with everything. (This is
    sentence-transformers' ``model.similarity_pairwise``.)
    """
    if metric not in PAIR_METRICS:
        raise InputError(f"unknown metric {metric!r}; expected one of {', '.join(PAIR_METRICS)}")
    a64 = as_matrix(a, "a").astype(np.float64)
    b64 = as_matrix(b, "b").astype(np.float64)
    check_same_dim(a64, b64, "a", "b")
    if a64.shape[0] != b64.shape[0]:
        raise InputError(f"a has {a64.shape[0]} rows but b has {b64.shape[0]}; expected one row of b per row of a")
    if metric == "cosine":
        return np.einsum("ij,ij->i", normalize(a64), normalize(b64))
    if metric == "dot":
        return np.einsum("ij,ij->i", a64, b64)
    if metric == "euclidean":
        return -np.linalg.norm(a64 - b64, axis=1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return -np.abs(a64 - b64).sum(axis=1) + 0.0


# Building blocks shared with frasi.search.


def check_metric(metric: str) -> None:
    """Raise InputError unless ``metric`` is one of METRICS."""
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def check_positive_int(value, name: str) -> int:
    """Raise InputError unless ``value`` is an int >= 1; return it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_matrix(x, name: str) -> np.ndarray:
    """Validate embeddings and return them as a C-contiguous 2-D float32 array (1-D -> one row)."""
    if x is None:
        raise InputError(f"{name} is None; pass a numpy array of embeddings of shape (n, d)")
    try:
        arr = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name} must be a numeric array of embeddings, got {type(x).__name__} ({exc}); "
            "pass a numpy array of shape (n, d)"
        ) from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError(f"{name} must be 1-D (d,) or 2-D (n, d), got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}); pass at least one non-empty vector")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise InputError(
            f"{name} contains NaN or infinite values in {bad} of {arr.shape[0]} rows; "
            "clean or drop those rows first"
        )
    return arr


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise InputError unless both matrices have the same number of columns."""
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"{name_a} has dimension {a.shape[1]} but {name_b} has dimension {b.shape[1]}; "
            "embeddings must come from the same model"
        )


def normalize(x: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of ``x``; zero rows stay zero (no NaN)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def prepare(x: np.ndarray, metric: str) -> np.ndarray:
    """What ``kernel`` expects for a metric: normalised rows for cosine, ``x`` itself otherwise."""
    return normalize(x) if metric == "cosine" else x


def kernel(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Scores (float32, higher = better) between rows of already-prepared matrices."""
    if metric == "euclidean":
        # float64 keeps the |a|^2 + |b|^2 - 2ab expansion accurate for near-identical rows.
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        sq = np.einsum("ij,ij->i", a64, a64)[:, None] + np.einsum("ij,ij->i", b64, b64)[None, :]
        sq -= 2.0 * (a64 @ b64.T)
        return (-np.sqrt(np.maximum(sq, 0.0)) + 0.0).astype(np.float32)  # + 0.0 turns -0.0 into 0.0
    scores = a @ b.T
    if metric == "cosine":
        np.clip(scores, -1.0, 1.0, out=scores)
    return scores
