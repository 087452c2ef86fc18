"""Similarity between embeddings: pure functions, numpy arrays in, numpy arrays out.

Every score follows one convention, HIGHER = MORE SIMILAR:

    cosine      cosine similarity in [-1, 1]; a zero vector scores 0 against everything
    dot         dot product
    euclidean   NEGATIVE euclidean distance (0 for identical vectors, below 0 otherwise)

so that sorting by descending score always puts the best match first.
"""

from __future__ import annotations

import logging

import numpy as np

from frasi.errors import InputError

__all__ = ["METRICS", "pairwise_scores", "rank"]

logger = logging.getLogger(__name__)

METRICS = ("cosine", "dot", "euclidean")


def pairwise_scores(a, b=None, *, metric: str = "cosine") -> np.ndarray:
    """Score every row of ``a`` (n, d) against every row of ``b`` (m, d): an (n, m) float32 matrix.

    ``b=None`` scores ``a`` against itself. A 1-D input counts as a single row.
    """
    check_metric(metric)
    a = as_matrix(a, "a")
    b = a if b is None else as_matrix(b, "b")
    check_same_dim(a, b, "a", "b")
    pa = prepare(a, metric)
    return kernel(pa, pa if b is a else prepare(b, metric), metric)


def rank(
    query, corpus, *, metric: str = "cosine", top_k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rank the rows of ``corpus`` (n, d) against one ``query`` vector (d,).

    Returns ``(scores, indices)`` (the order of ``semantic_search`` and faiss): float32 and
    int64 arrays sorted by descending score, ties
    broken by the lower index; ``top_k=None`` keeps all n rows, otherwise ``min(top_k, n)``.
    """
    query = as_matrix(query, "query")
    if query.shape[0] != 1:
        raise InputError(
            f"rank() takes one query vector of shape (d,), got {query.shape[0]} rows; "
            "for several queries use frasi.search.semantic_search()"
        )
    if top_k is not None:
        check_positive_int(top_k, "top_k")
    check_metric(metric)
    corpus = as_matrix(corpus, "corpus")
    check_same_dim(query, corpus, "query", "corpus")
    scores = kernel(prepare(query, metric), prepare(corpus, metric), metric)[0]
    order = np.argsort(-scores, kind="stable")[:top_k]
    return scores[order], order.astype(np.int64)


# Building blocks shared with frasi.search (not part of the public API).


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
