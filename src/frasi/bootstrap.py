"""Bootstrap confidence intervals for correlations, computed on resample weights, not copies.

A resample of n pairs is a column of counts (how often each pair was drawn), so r resamples
are an (n, r) weight matrix and every correlation of every resample is a few matrix
products. Spearman is recomputed exactly on each resample: the items of a group of tied
values (ties in the data, and the duplicates that resampling makes) share their mean rank
within the resample. 1,000 resamples of 1,379 pairs take about 0.1 s per similarity
function. :func:`frasi.evaluate.sts_metrics` is the public way in.
"""

from __future__ import annotations

import numpy as np

BLOCK_ELEMENTS = 2_000_000  # resamples x pairs held in memory at once


# Bootstrap weights are held as (n, r): n pairs by r resamples, so that gathering pairs
# and summing them by group work on whole contiguous rows.


class Ties:
    """The tie structure of one variable: its items sorted, grouped by equal value."""

    def __init__(self, values: np.ndarray) -> None:
        self.order = np.argsort(values, kind="stable")
        ordered = values[self.order]
        new_group = np.r_[True, ordered[1:] != ordered[:-1]]
        self.starts = np.flatnonzero(new_group)
        self.group = np.empty(len(values), dtype=np.intp)
        self.group[self.order] = np.cumsum(new_group) - 1

    def sum_by_group(self, per_item: np.ndarray) -> np.ndarray:
        """(n, r) values per item -> (groups, r) sums over the items of each group."""
        gathered = per_item[self.order]
        if len(self.starts) == len(self.order):  # no ties: every group is one item
            return gathered
        return np.add.reduceat(gathered, self.starts, axis=0)

    def midranks(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(group sizes, average ranks) per resample: both (groups, r).

        ``weights`` (n, r) says how often each item is drawn; the items of a group share
        the mean of the ranks they occupy in the resample.
        """
        sizes = self.sum_by_group(weights)
        return sizes, _cumsum_rows(sizes) - (sizes - 1.0) / 2.0


def _cumsum_rows(a: np.ndarray) -> np.ndarray:
    """``np.cumsum(a, axis=0)`` for a C-ordered 2-D array, adding whole rows (about 10x faster)."""
    out = np.empty_like(a)
    out[0] = a[0]
    for i in range(1, len(a)):
        np.add(out[i - 1], a[i], out=out[i])
    return out


def pearson_weighted(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson r of x and y (n,) for each resample column of weights w (n, r); NaN where a side is constant."""
    xc, yc = x - x.mean(), y - y.mean()  # centred once, for accuracy
    total = w.sum(axis=0)
    sx, sy = xc @ w, yc @ w
    xx, yy = (xc * xc) @ w, (yc * yc) @ w
    sxx, syy = xx - sx * sx / total, yy - sy * sy / total
    sxy = (xc * yc) @ w - sx * sy / total
    ok = (sxx > 1e-12 * xx) & (syy > 1e-12 * yy)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


class GoldRanks:
    """Per-resample ranks of the gold scores, computed once and shared by every prediction."""

    def __init__(self, ties: Ties, w: np.ndarray) -> None:
        sizes, mid = ties.midranks(w)
        self.w = w
        self.total = w.sum(axis=0)
        self.weighted = w * mid[ties.group]  # (n, r): weight x gold rank of each item
        mean = (self.total + 1.0) / 2.0
        self.syy = (sizes * mid * mid).sum(axis=0) - self.total * mean * mean


def spearman_weighted(x_ties: Ties, gold: GoldRanks) -> np.ndarray:
    """Spearman rho for each resample: Pearson on the average ranks within the resample.

    Works in the groups of equal x: sum(w r_x^2) = sum(size mid^2), and the cross term
    sum(w r_x r_y) = sum over x-groups of mid_x times the group's sum of w r_y.
    """
    sizes, mid = x_ties.midranks(gold.w)
    mean = (gold.total + 1.0) / 2.0
    sxx = (sizes * mid * mid).sum(axis=0) - gold.total * mean * mean
    sxy = (mid * x_ties.sum_by_group(gold.weighted)).sum(axis=0) - gold.total * mean * mean
    floor = 1e-6 * gold.total * gold.total  # a non-constant resample has sxx >= n (n - 1) / 4
    ok = (sxx > floor) & (gold.syy > floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * gold.syy)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def correlations(predicted: dict[str, np.ndarray], ties: dict[str, Ties], gold: np.ndarray,
                  gold_ties: Ties, w: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (pearson, spearman)} for each column of weights ``w`` (n, r): one resample per column."""
    ranks = GoldRanks(gold_ties, w)
    return {name: (pearson_weighted(x, gold, w), spearman_weighted(ties[name], ranks))
            for name, x in predicted.items()}


def resample_counts(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """(n, r) float64: how often pair i is drawn in resample j, for r resamples of n pairs each."""
    idx = rng.integers(0, n, size=(r, n))
    counts = np.bincount((idx + (np.arange(r) * n)[:, None]).ravel(), minlength=r * n).reshape(r, n)
    return np.ascontiguousarray(counts.T, dtype=np.float64)


def bootstrap(predicted: dict[str, np.ndarray], ties: dict[str, Ties], gold: np.ndarray, gold_ties: Ties,
               n_bootstrap: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    n = len(gold)
    block = max(1, BLOCK_ELEMENTS // n)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in predicted}
    for start in range(0, n_bootstrap, block):
        w = resample_counts(rng, n, min(block, n_bootstrap - start))
        for name, pair in correlations(predicted, ties, gold, gold_ties, w).items():
            parts[name].append(pair)
    return {name: (np.concatenate([p for p, _ in blocks]), np.concatenate([s for _, s in blocks]))
            for name, blocks in parts.items()}


def interval(samples: np.ndarray, confidence: float) -> tuple[list[float] | None, int]:
    kept = samples[np.isfinite(samples)]
    dropped = int(len(samples) - len(kept))
    if len(kept) == 0:
        return None, dropped
    lo, hi = np.percentile(kept, [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)])
    return [float(lo) * 100.0, float(hi) * 100.0], dropped
