"""Fine-tune a bi-encoder (any Encoder) on scored pairs with sentence-transformers' trainer.

Losses: ``cosent`` (CoSENTLoss, the default), ``cosine`` (CosineSimilarityLoss, MSE of the
cosine against the score in [0, 1]) and ``mnrl`` (MultipleNegativesRankingLoss over positive
pairs: unscored pairs, or scored pairs at or above ``mnrl_min_score``). The model is scored
on the dev files (Spearman of the cosine) every ``eval_steps`` and at each epoch end; the
best checkpoint is the one saved. Texts get the model's default prompt during training
("query: " for e5), as :meth:`frasi.Encoder.encode` adds it at inference. A ``prompt`` in the
config replaces the model's prompts (``""`` removes them), so that the dev evaluation, the
scores and the saved model encode texts as training did.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from . import _run, _st_trainer
from .config import TrainConfig
from .data import TrainingData
from .result import TrainResult

logger = logging.getLogger(__name__)

DEV_METRIC = "eval_dev_spearman_cosine"


def train_bi_encoder(config: TrainConfig, output: str | Path, *, resume: bool = False) -> TrainResult:
    """Fine-tune ``config.model`` as a bi-encoder; write the best model and ``frasi_run.json`` to ``output``.

    Every data file is read and checked first; ``output`` must be absent or empty. With
    ``resume=True`` an interrupted run into the same ``output`` continues from its last
    checkpoint. Returns the :class:`TrainResult` (dev and test scores, timings, history).
    """
    run = _run.start(config, output, resume=resume, function="train_bi_encoder", architectures=("bi-encoder",))

    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers

    from frasi.encoder import Encoder

    encoder = Encoder.load(config.model)
    model = encoder.model
    max_length = model.max_seq_length  # the saved model keeps it: max_seq_length only shortens training
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    if config.prompt is not None:
        use_prompt(model, config.prompt)
    sizes = _run.freeze(model[0].auto_model, config)
    dev = _run.dev_pool(run.data.dev)
    evaluator = None
    if dev is not None:
        from sentence_transformers.sentence_transformer.evaluation import (
            EmbeddingSimilarityEvaluator,
        )

        evaluator = EmbeddingSimilarityEvaluator(*dev, name="dev", similarity_fn_names=["cosine"], write_csv=False,
                                                 batch_size=max(config.batch_size, 32))
    extra: dict[str, Any] = {"prompts": encoder.resolve_prompt(prompt=config.prompt) or None}
    if config.loss == "mnrl":  # in-batch negatives: no duplicate texts within a batch
        extra["batch_sampler"] = BatchSamplers.NO_DUPLICATES
    args = _st_trainer.training_arguments(SentenceTransformerTrainingArguments, run,
                                          metric=DEV_METRIC if evaluator else None, **extra)
    trained = _st_trainer.fit(SentenceTransformerTrainer, run, evaluator=evaluator, model=model, args=args,
                              train_dataset=_dataset(run.data, config), loss=_loss(model, config))

    model.max_seq_length = max_length
    final = Encoder(model, name=f"{encoder.name} (fine-tuned)", source="folder")

    def predict(s1: list[str], s2: list[str]) -> np.ndarray:
        return cosine_scores(final, s1, s2, batch_size=max(config.batch_size, 32))

    return _run.save_result(run, trained, sizes, predict=predict, save=lambda folder: model.save(str(folder)),
                            what="fine-tuned bi-encoder")


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
    from frasi.evaluate import paired_scores

    unique = list(dict.fromkeys([*s1, *s2]))
    row = {text: i for i, text in enumerate(unique)}
    vectors = encoder.encode(unique, batch_size=batch_size)
    return paired_scores(vectors[[row[t] for t in s1]], vectors[[row[t] for t in s2]], metric="cosine")


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
