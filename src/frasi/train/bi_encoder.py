"""Fine-tune a bi-encoder (any Encoder) on scored pairs with sentence-transformers' trainer.

Losses: ``cosent`` (CoSENTLoss, the default), ``cosine`` (CosineSimilarityLoss, MSE of the
cosine against the score in [0, 1]) and ``mnrl`` (MultipleNegativesRankingLoss over positive
pairs: unscored pairs, or scored pairs at or above ``mnrl_min_score``). The model is scored
on the dev files (Spearman of the cosine) every ``eval_steps`` and at each epoch end; the
best checkpoint is the one saved. Texts get the model's default prompt during training
("query: " for e5), as :meth:`frasi.Encoder.encode` adds it at inference.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from . import _run, _st_trainer
from .config import TrainConfig
from .data import TrainingData, load_training_data
from .result import TrainResult

logger = logging.getLogger(__name__)

DEV_METRIC = "eval_dev_spearman_cosine"


def train_bi_encoder(config: TrainConfig, output: str | Path, *, resume: bool = False) -> TrainResult:
    """Fine-tune ``config.model`` as a bi-encoder; write the best model and ``frasi_run.json`` to ``output``.

    Every data file is read and checked first; ``output`` must be absent or empty. With
    ``resume=True`` an interrupted run into the same ``output`` continues from its last
    checkpoint. Returns the :class:`TrainResult` (dev and test scores, timings, history).
    """
    from frasi.errors import InputError

    if config.architecture != "bi-encoder":
        raise InputError(f"train_bi_encoder trains architecture 'bi-encoder', the config says "
                         f"{config.architecture!r}; use frasi.train.train() to dispatch on it")
    _run.require_training("training a bi-encoder")
    data = load_training_data(config)
    target, work, resuming = _run.prepare_output(config, output, resume=resume)
    _run.set_threads(config)

    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers

    from frasi.encoder import Encoder

    encoder = Encoder.load(config.model)
    model = encoder.model
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    sizes = _run.freeze(model[0].auto_model, config)
    prompt = encoder.resolve_prompt(prompt=config.prompt)
    dev = _run.dev_pool(data.dev)
    evaluator = None
    if dev is not None:
        from sentence_transformers.sentence_transformer.evaluation import (
            EmbeddingSimilarityEvaluator,
        )

        evaluator = EmbeddingSimilarityEvaluator(*dev, name="dev", similarity_fn_names=["cosine"], write_csv=False,
                                                 batch_size=max(config.batch_size, 32))
    extra: dict[str, Any] = {"prompts": prompt or None}
    if config.loss == "mnrl":  # in-batch negatives: no duplicate texts within a batch
        extra["batch_sampler"] = BatchSamplers.NO_DUPLICATES
    args = _st_trainer.training_arguments(SentenceTransformerTrainingArguments, config, work,
                                          metric=DEV_METRIC if evaluator else None, **extra)
    with _st_trainer.quiet_libraries():
        trainer = _st_trainer.quiet_class(SentenceTransformerTrainer)(
            model=model, args=args, train_dataset=_dataset(data, config), loss=_loss(model, config),
            evaluator=evaluator, callbacks=_st_trainer.frasi_callbacks(config, evaluate=evaluator is not None))
    trained = _st_trainer.run(trainer, work, resuming=resuming)

    final = Encoder(model, name=f"{encoder.name} (fine-tuned)", source="folder")
    return finish_bi_encoder(final, config, data, target, work, trained, sizes)


def finish_bi_encoder(encoder: Any, config: TrainConfig, data: TrainingData, target: Path, work: Path,
                      trained: dict[str, Any], sizes: dict[str, int]) -> TrainResult:
    """Score dev and test with the selected model, write it and its run record atomically."""
    from frasi._hf import quiet_loading
    from frasi.io import atomic_dir

    def predict(s1: list[str], s2: list[str]) -> np.ndarray:
        return cosine_scores(encoder, s1, s2, batch_size=max(config.batch_size, 32))

    dev = _run.score_sets(predict, data.dev, seed=config.seed)
    test = _run.score_sets(predict, data.test, seed=config.seed)
    with atomic_dir(target, what="trained model") as tmp:
        with quiet_loading():
            encoder.model.save(str(tmp))
        result = TrainResult.build(config, data, tmp, trained, sizes, dev, test)
        _run.write_run(tmp, result.record)
    _run.finish(work)
    result = result.moved(target)
    logger.info("saved the fine-tuned bi-encoder to %s%s", target, result.summary_suffix())
    return result


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
