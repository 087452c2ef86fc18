"""STS evaluation with a disclosed protocol: correlations with gold scores and bootstrap intervals.

STS (:func:`sts_metrics`, :func:`evaluate_sts`). Spearman and Pearson correlations between
predicted similarities and gold scores, x100, named as sentence-transformers'
EmbeddingSimilarityEvaluator names them (``spearman_cosine``, ``pearson_dot``, ...), with
a percentile bootstrap confidence interval each:

* the pairs are resampled with replacement ``n_bootstrap`` times with a seeded numpy
  Generator; every similarity function is scored on the same resamples;
* Spearman is recomputed exactly on each resample: average ranks of the resample (ties,
  including the duplicates that resampling creates, share their mean rank), then
  Pearson on those ranks. It is vectorised through per-resample counts, so 1,000
  resamples of 1,379 pairs take about 0.1 s per similarity function;
* the interval is the (1 - confidence) / 2 and (1 + confidence) / 2 percentiles of the
  resampled correlations; resamples where a correlation is undefined (a constant
  resample) are dropped and counted.

A correlation that is undefined on the full data (constant predictions, or a genre
whose gold scores are all equal) is reported as None, with a warning in the log.

``evaluate_sts`` encodes each distinct sentence once, scores every pair with cosine, dot,
negative euclidean and negative manhattan similarity (higher = more similar), and
returns the metrics with the protocol: model, prompt, data source and sha256, score
range, bootstrap settings and seed. Everything returned is plain JSON-serialisable
Python (dicts, lists, floats, ints, str, None).

A model that scores pairs itself (a cross-encoder, a frasi pair model) is evaluated by
:func:`evaluate_pair_scorer`: one score per pair, the same correlations and protocol.
Classification metrics are in :mod:`frasi.metrics`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .bootstrap import Ties, bootstrap, correlations, interval
from .errors import InputError
from .similarity import PAIR_METRICS, similarity_pairwise

if TYPE_CHECKING:  # pragma: no cover
    from .data import STSData
    from .encoder import Encoder

__all__ = ["evaluate_pair_scorer", "evaluate_sts", "sts_metrics"]

logger = logging.getLogger(__name__)

BOOTSTRAP_METHOD = ("percentile bootstrap over pairs (resampled with replacement, the same resamples for every "
                    "similarity function); Spearman recomputed with average ranks within each resample")


# ---------------------------------------------------------------------------- correlations


def _vector(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers, got {type(values).__name__}; pass a 1-D array") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D (one value per pair), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise InputError(f"{name} contains {bad} NaN or infinite value(s) out of {len(arr)}; "
                         "expected finite numbers; check the model outputs or the data")
    return arr


def _key(kind: str, name: str) -> str:
    return f"{kind}_{name}" if name else kind


def _scores_block(predicted: dict[str, np.ndarray], gold: np.ndarray, n_bootstrap: int, confidence: float,
                  rng: np.random.Generator, what: str) -> dict[str, Any]:
    metrics: dict[str, float | None] = {}
    ci: dict[str, list[float] | None] = {}
    undefined_resamples: dict[str, int] = {}
    ties = {name: Ties(x) for name, x in predicted.items()}
    gold_ties = Ties(gold)
    full = correlations(predicted, ties, gold, gold_ties, np.ones((len(gold), 1)))
    boot = bootstrap(predicted, ties, gold, gold_ties, n_bootstrap, rng) if n_bootstrap else {}
    for name in predicted:
        points = (float(full[name][0][0]), float(full[name][1][0]))
        if math.isnan(points[1]):
            logger.warning("%s: the correlations of %s are undefined (constant %s); reported as None", what,
                           name or "the predictions", "gold scores" if np.ptp(gold) == 0 else "predictions")
        for i, kind in enumerate(("pearson", "spearman")):
            key = _key(kind, name)
            metrics[key] = None if math.isnan(points[i]) else points[i] * 100.0
            if n_bootstrap:
                ci[key], dropped = interval(boot[name][i], confidence)
                if dropped:
                    undefined_resamples[key] = dropped
    worst = max(undefined_resamples.values(), default=0)
    if worst > 0.05 * n_bootstrap:
        logger.warning("%s: %d of %d bootstrap resamples of these %d pairs have an undefined correlation; the "
                       "intervals (and the scores) are unreliable on so few pairs", what, worst, n_bootstrap,
                       len(gold))
    return {"n": len(gold), "metrics": metrics, "ci": ci if n_bootstrap else None,
            "undefined_resamples": undefined_resamples}


def _check_bootstrap(n_bootstrap: Any, seed: Any, confidence: Any) -> None:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise InputError(f"n_bootstrap must be an integer >= 0 (0 disables intervals), got {n_bootstrap!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"seed must be a non-negative integer (or None for a fresh one), got {seed!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be a number strictly between 0 and 1, such as 0.95, got {confidence!r}")


def sts_metrics(
    predicted: Any,
    gold: Any,
    *,
    genres: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Spearman and Pearson (x100) of predicted similarities against gold scores, with bootstrap CIs.

    Args:
        predicted: one array of similarities (keys ``pearson`` and ``spearman``), or a
            mapping such as ``{"cosine": ..., "dot": ...}`` (keys ``pearson_cosine``,
            ``spearman_cosine``, ...).
        gold: the gold scores, one per pair (any range).
        genres: one genre per pair; adds a per-genre breakdown.
        n_bootstrap: resamples for the confidence intervals; 0 disables them.
        seed: seed of the numpy Generator that draws the resamples.
        confidence: coverage of the percentile intervals.

    Returns a dict::

        {"n": 1379, "primary_metric": "spearman_cosine",
         "metrics": {"pearson_cosine": 81.2, "spearman_cosine": 82.0, ...},   # x100; None if undefined
         "ci": {"spearman_cosine": [80.9, 83.1], ...},                        # None if n_bootstrap == 0
         "undefined_resamples": {},                                           # metric -> resamples dropped
         "bootstrap": {"n_resamples": 1000, "seed": 0, "confidence": 0.95, "method": "..."},
         "by_genre": {"main-news": {"n": 500, "metrics": {...}, "ci": {...}, ...}, ...} or None}
    """
    _check_bootstrap(n_bootstrap, seed, confidence)
    y = _vector(gold, "gold")
    if isinstance(predicted, Mapping):
        if not predicted:
            raise InputError("predicted is an empty mapping; expected e.g. {'cosine': similarities}")
        series = {str(k): _vector(v, f"predicted[{k!r}]") for k, v in predicted.items()}
        if any(not name for name in series):
            raise InputError("predicted has an empty name; name each similarity function, e.g. 'cosine'")
        primary = _key("spearman", "cosine" if "cosine" in series else next(iter(series)))
    else:
        series = {"": _vector(predicted, "predicted")}
        primary = "spearman"
    for name, x in series.items():
        if len(x) != len(y):
            label = f"predicted[{name!r}]" if name else "predicted"
            raise InputError(f"{label} has {len(x)} values but gold has {len(y)}; expected one per pair")
    if len(y) < 2:
        raise InputError(f"got {len(y)} pair(s); expected at least 2 to correlate")
    if np.ptp(y) == 0:
        raise InputError(f"all {len(y)} gold scores are {y[0]:g}, so correlation is undefined; "
                         "expected at least two different gold scores")
    genre_list: list[str] | None = None
    if genres is not None:
        genre_list = [str(g) for g in genres] if not isinstance(genres, str) else None
        if genre_list is None or len(genre_list) != len(y):
            got = "a str" if genre_list is None else f"{len(genre_list)} values"
            raise InputError(f"genres must give one genre per pair ({len(y)}), got {got}")

    # One child seed per block keeps each block's draws independent of the others' sizes.
    names = sorted(set(genre_list)) if genre_list is not None else []
    children = np.random.SeedSequence(seed).spawn(1 + len(names))
    result = {"primary_metric": primary,
              **_scores_block(series, y, n_bootstrap, confidence, np.random.default_rng(children[0]), "all pairs")}
    result["bootstrap"] = {"n_resamples": int(n_bootstrap), "seed": None if seed is None else int(seed),
                           "confidence": float(confidence), "method": BOOTSTRAP_METHOD}
    by_genre = None
    if genre_list is not None:
        g = np.asarray(genre_list)
        by_genre = {}
        for name, child in zip(names, children[1:]):
            mask = g == name
            by_genre[name] = _scores_block({k: v[mask] for k, v in series.items()}, y[mask], n_bootstrap,
                                           confidence, np.random.default_rng(child), f"genre {name!r}")
    result["by_genre"] = by_genre
    return result


# ---------------------------------------------------------------------------- STS with a model


def evaluate_sts(
    encoder: Encoder,
    data: STSData,
    *,
    batch_size: int = 32,
    prompt_name: str | None = None,
    prompt: str | None = None,
    n_bootstrap: int = 1000,
    seed: int | None = 0,
    show_progress: bool | None = None,
    cache: Any = None,
) -> dict[str, Any]:
    """Encode the distinct sentences of ``data`` once, score the pairs, and correlate with the gold
    (``cache``: an EmbeddingCache for the sentences' vectors).

    Returns :func:`sts_metrics`'s dict for cosine, dot, euclidean and manhattan (primary
    ``spearman_cosine``), with the genres of ``data`` when it has them, plus
    ``"protocol"``: model, prompt, pairs, score range and normalisation, bootstrap
    settings and seed, data source and sha256, timings.
    """
    from .data import STSData

    if not isinstance(data, STSData):
        raise InputError(f"data must be an STSData (from frasi.data.read_sts), got {type(data).__name__}")
    if isinstance(encoder, (str, os.PathLike)) or not callable(getattr(encoder, "encode", None)):
        hint = (f" (frasi.Encoder.load({os.fspath(encoder)!r}) loads one)" if isinstance(encoder, (str, os.PathLike))
                else "")
        raise InputError(f"encoder must be a frasi.Encoder{hint}, got {type(encoder).__name__}")
    _check_bootstrap(n_bootstrap, seed, 0.95)
    effective_prompt = encoder.resolve_prompt(prompt_name, prompt)
    unique = list(dict.fromkeys([*data.sentences1, *data.sentences2]))
    row = {text: i for i, text in enumerate(unique)}
    start = time.perf_counter()
    vectors = encoder.encode(unique, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size,
                             show_progress=show_progress, cache=cache)
    encode_seconds = time.perf_counter() - start
    a = vectors[[row[t] for t in data.sentences1]]
    b = vectors[[row[t] for t in data.sentences2]]
    predicted = {metric: similarity_pairwise(a, b, metric=metric) for metric in PAIR_METRICS}
    result = sts_metrics(predicted, data.scores, genres=data.genres, n_bootstrap=n_bootstrap, seed=seed)
    truncated = None
    if hasattr(encoder, "count_truncated"):
        truncated = int(encoder.count_truncated(unique, prompt=effective_prompt))
    lo, hi = data.normalization_range
    result["protocol"] = {
        "task": "sts",
        "model": getattr(encoder, "name", type(encoder).__name__),
        "prompt": effective_prompt,
        "prompt_name": prompt_name,
        "n_pairs": len(data),
        "n_unique_sentences": len(unique),
        "n_truncated": truncated,
        "similarities": {"cosine": "cosine similarity", "dot": "dot product",
                         "euclidean": "negative euclidean distance", "manhattan": "negative manhattan distance"},
        "correlations": "Pearson and Spearman x100 against the raw gold scores",
        "score_range": list(data.score_range),
        "normalization": {"range": [lo, hi],
                          "note": "gold scores are correlated raw; correlations do not change under the "
                                  "linear map of normalization_range to [0, 1]"},
        "bootstrap": result["bootstrap"],
        "seed": None if seed is None else int(seed),
        "batch_size": batch_size,
        "data": data.summary(),
        "encode_seconds": round(encode_seconds, 3),
    }
    return result


# ---------------------------------------------------------------------------- classification


def evaluate_pair_scorer(scorer: Any, data: STSData, *, name: str, batch_size: int = 32, n_bootstrap: int = 1000,
                         seed: int | None = 0) -> dict[str, Any]:
    """Correlate the scores of a model that reads both sentences of a pair (``scorer.predict(s1, s2)``, such as
    a cross-encoder from :func:`frasi.train.load_scorer`) with the gold scores; :func:`sts_metrics`'s dict plus
    ``"protocol"``. The primary metric is ``spearman`` (of the model's own score)."""
    from .data import STSData

    if not isinstance(data, STSData):
        raise InputError(f"data must be an STSData (from frasi.data.read_sts), got {type(data).__name__}")
    _check_bootstrap(n_bootstrap, seed, 0.95)
    start = time.perf_counter()
    predicted = scorer.predict(list(data.sentences1), list(data.sentences2), batch_size=batch_size)
    seconds = time.perf_counter() - start
    result = sts_metrics({"score": predicted}, data.scores, genres=data.genres, n_bootstrap=n_bootstrap, seed=seed)
    result["protocol"] = {
        "task": "sts", "model": name, "architecture": scorer.architecture, "n_pairs": len(data),
        "similarities": {"score": f"the {scorer.architecture}'s score of the pair, read jointly"},
        "correlations": "Pearson and Spearman x100 against the raw gold scores",
        "score_range": list(data.score_range), "bootstrap": result["bootstrap"],
        "seed": None if seed is None else int(seed), "batch_size": batch_size, "data": data.summary(),
        "encode_seconds": round(seconds, 3),
    }
    return result
