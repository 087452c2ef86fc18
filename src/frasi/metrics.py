"""Metrics helpers shared by frasi: rank and linear correlation, classification scores.

Pure functions over arrays and label lists. STS evaluation with bootstrap intervals is in
:mod:`frasi.evaluate`; row-wise similarity of two embedding matrices in
:func:`frasi.similarity.similarity_pairwise`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError


def ranks(values: Any) -> np.ndarray:
    """Ranks from 1 (float64); tied values share their average rank."""
    _, inverse, counts = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def pearson(a: Any, b: Any) -> float:
    """Pearson correlation of two equal-length vectors; NaN when one is constant."""
    x = np.asarray(a, dtype=np.float64) - np.mean(a)
    y = np.asarray(b, dtype=np.float64) - np.mean(b)
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation (Pearson on average ranks); NaN when one side is constant."""
    return pearson(ranks(a), ranks(b))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any], *,
                           labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix.

    ``labels`` fixes the class order (default: the sorted union of ``y_true`` and
    ``y_pred``); macro-F1 averages over those classes. Scores are in [0, 1]; an
    undefined precision or recall (no predictions or no examples of a class) counts 0.

    Returns ``{"n", "accuracy", "macro_f1", "labels": [...], "per_class": {str(label):
    {"precision", "recall", "f1", "support"}}, "confusion_matrix": [[...]]}`` with
    rows = true labels and columns = predicted labels, both in ``labels`` order.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )
    from sklearn.utils.multiclass import unique_labels

    true, pred = list(y_true), list(y_pred)
    if not true:
        raise InputError("y_true is empty; expected one true label per example")
    if len(true) != len(pred):
        raise InputError(f"got {len(true)} true labels and {len(pred)} predictions; expected one prediction each")
    try:
        order = list(labels) if labels is not None else list(unique_labels(true, pred))
    except ValueError as exc:
        raise InputError(f"cannot compare these labels ({exc}); use one label type (all str or all int)") from None
    if not order:
        raise InputError("labels is empty; pass the class labels or None")
    if len(set(map(str, order))) != len(order):
        raise InputError(f"labels has duplicates ({order}); pass each class once")
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=order, zero_division=0)
    matrix = confusion_matrix(true, pred, labels=order)
    return {
        "n": len(true),
        "accuracy": float(accuracy_score(true, pred)),
        "macro_f1": float(np.mean(f1)),
        "labels": [_plain(label) for label in order],
        "per_class": {str(label): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(order, precision, recall, f1, support)},
        "confusion_matrix": matrix.astype(int).tolist(),
    }
