"""Scoring on the dev files while training: one evaluator for every architecture.

:class:`DevEvaluator` predicts the pooled dev pairs (every dev file together, gold
scores normalised per file) with the model being trained and returns ``dev_spearman`` and
``dev_pearson`` in [-1, 1] (NaN where undefined: constant predictions). It is a
sentence-transformers evaluator, so their trainers call it, and frasi's pair-model loop
calls it the same way. It keeps the predictions of its best evaluation, so the dev
scores recorded for the selected model need no second pass over dev.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from frasi.metrics import pearson, spearman

PRIMARY = "dev_spearman"
METRIC = "eval_dev_spearman"  # as the trainers name it: selection and early stopping watch it


def dev_evaluator(dev: list[Any], predict: Callable[[list[str], list[str]], np.ndarray]) -> Any:
    """A :class:`DevEvaluator` over the STSData files ``dev``, or None without dev files."""
    if not dev:
        return None
    from sentence_transformers.base.evaluation import BaseEvaluator

    class DevEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()
            self.primary_metric = PRIMARY
            self.sentences1 = [s for d in dev for s in d.sentences1]
            self.sentences2 = [s for d in dev for s in d.sentences2]
            self.gold = np.concatenate([d.normalized_scores() for d in dev])
            self.best: float | None = None
            self.best_step: int | None = None
            self.best_predictions: np.ndarray | None = None

        def __call__(self, model: Any = None, output_path: str | None = None, epoch: float = -1,
                     steps: int = -1) -> dict[str, float]:
            predicted = np.asarray(predict(self.sentences1, self.sentences2), dtype=np.float64)
            scores = {PRIMARY: spearman(predicted, self.gold), "dev_pearson": pearson(predicted, self.gold)}
            value = scores[PRIMARY]
            # the first evaluation is the best so far; later ones must beat it (an undefined one never does)
            if self.best_step is None or (not math.isnan(value) and (self.best is None or math.isnan(self.best)
                                                                     or value > self.best)):
                self.best, self.best_step, self.best_predictions = value, steps, predicted
            return scores

        def predictions_at(self, step: int | None) -> list[np.ndarray] | None:
            """Per dev file, the predictions of the evaluation at ``step`` when it is the best one kept."""
            if step is None or step != self.best_step or self.best_predictions is None:
                return None
            cuts = np.cumsum([len(d) for d in dev])[:-1]
            return list(np.split(self.best_predictions, cuts))

    return DevEvaluator()
