"""The bi-encoder recipe: fine-tune any Encoder on scored pairs with sentence-transformers' trainer.

Losses: ``cosent`` (CoSENTLoss, the default), ``cosine`` (CosineSimilarityLoss, MSE of the
cosine against the score in [0, 1]) and ``mnrl`` (MultipleNegativesRankingLoss over positive
pairs: unscored pairs, or scored pairs at or above ``mnrl_min_score``). A pair scores the
cosine of its two embeddings. Texts get the model's default prompt during training
("query: " for e5), as :meth:`frasi.Encoder.encode` adds it at inference. A ``prompt`` in the
config replaces the model's prompts (``""`` removes them), so that the dev evaluation, the
scores and the saved model encode texts as training did. ``max_seq_length`` shortens
training only: dev is scored, and the model saved, at the starting model's maximum.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import run as runs
from . import st_trainer
from .config import TrainConfig
from .data import TrainingData
from .evaluation import METRIC

logger = logging.getLogger(__name__)


class BiEncoder:
    """An Encoder being fine-tuned as a bi-encoder."""

    what = "fine-tuned bi-encoder"

    def __init__(self, run: runs.Run) -> None:
        from frasi.encoder import Encoder

        config = run.config
        encoder = Encoder.load(config.model, backend="torch")
        self.name = encoder.name
        self.model = encoder.model
        self.max_length = self.model.max_seq_length  # the saved model keeps it
        self.train_length = config.max_seq_length or self.max_length
        if config.prompt is not None:
            use_prompt(self.model, config.prompt)
        self.prompt = encoder.resolve_prompt(prompt=config.prompt) or None
        self.sizes = runs.freeze(self.model[0].auto_model, config)
        self.encoder = Encoder(self.model, name=f"{encoder.name} (fine-tuned)")
        self.batch_size = max(config.batch_size, 32)

    def fit(self, run: runs.Run, evaluator: Any, callbacks: Sequence[Any]) -> dict[str, Any]:
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.base.sampler import BatchSamplers

        config = run.config
        extra: dict[str, Any] = {"prompts": self.prompt}
        if config.loss == "mnrl":  # in-batch negatives: no duplicate texts within a batch
            extra["batch_sampler"] = BatchSamplers.NO_DUPLICATES
        args = st_trainer.training_arguments(SentenceTransformerTrainingArguments, run,
                                             metric=METRIC if evaluator else None, **extra)
        self.model.max_seq_length = self.train_length
        try:
            return st_trainer.fit(SentenceTransformerTrainer, run, evaluator=evaluator, callbacks=callbacks,
                                  model=self.model, args=args, train_dataset=_dataset(run.data, config),
                                  loss=_loss(self.model, config))
        finally:
            self.model.max_seq_length = self.max_length

    def predict(self, sentences1: list[str], sentences2: list[str]) -> np.ndarray:
        during = self.model.max_seq_length
        self.model.max_seq_length = self.max_length
        try:
            return cosine_scores(self.encoder, sentences1, sentences2, batch_size=self.batch_size)
        finally:
            self.model.max_seq_length = during

    def save(self, folder: Path) -> None:
        self.model.save(str(folder))


def build(run: runs.Run) -> BiEncoder:
    return BiEncoder(run)


def use_prompt(model: Any, prompt: str) -> None:
    """Make ``prompt`` the sentence-transformers ``model``'s prompt for every use (``""``: no prompts)."""
    if not prompt:
        model.prompts, model.default_prompt_name = {}, None
        return
    names = list(model.prompts or {}) or ["query", "passage"]
    model.prompts = dict.fromkeys(names, prompt)
    if model.default_prompt_name not in model.prompts:
        model.default_prompt_name = names[0]


def cosine_scores(encoder: Any, s1: list[str], s2: list[str], *, batch_size: int = 32) -> np.ndarray:
    """Cosine similarity of each pair, each distinct sentence encoded once."""
    from frasi.similarity import similarity_pairwise

    unique = list(dict.fromkeys([*s1, *s2]))
    row = {text: i for i, text in enumerate(unique)}
    vectors = encoder.encode(unique, batch_size=batch_size, show_progress=False)
    return similarity_pairwise(vectors[[row[t] for t in s1]], vectors[[row[t] for t in s2]], metric="cosine")


def _dataset(data: TrainingData, config: TrainConfig) -> Any:
    from datasets import Dataset

    train = data.train
    if config.loss == "mnrl":
        return Dataset.from_dict({"anchor": train.sentences1, "positive": train.sentences2})
    assert train.targets is not None
    return Dataset.from_dict({"sentence1": train.sentences1, "sentence2": train.sentences2,
                              "score": [float(x) for x in train.targets]})


def _loss(model: Any, config: TrainConfig) -> Any:
    from sentence_transformers.sentence_transformer import losses

    if config.loss == "cosine":
        return losses.CosineSimilarityLoss(model)
    if config.loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    return losses.CoSENTLoss(model)
