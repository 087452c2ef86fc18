"""Fine-tune a cross-encoder: the pair is encoded jointly (sentence1 [SEP] sentence2), one-logit head.

Built on sentence-transformers' ``CrossEncoder`` and ``CrossEncoderTrainer``, starting from
the transformer of any model (e.g. the packaged multilingual-e5-small). Losses: ``bce``
(BinaryCrossEntropyLoss on scores in [0, 1], the default) or ``mse`` (MSE of the sigmoid
output). Predictions are the sigmoid of the logit, in [0, 1]. Dev evaluation, the best
checkpoint, early stopping and resuming work as for the bi-encoder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from . import _run, _st_trainer
from .config import TrainConfig
from .result import TrainResult

logger = logging.getLogger(__name__)

DEV_METRIC = "eval_dev_spearman"


def transformer_folder(name_or_path: str) -> Path:
    """The Hugging Face transformer folder inside a model (the root of a sentence-transformers folder)."""
    from frasi.errors import ModelLoadError
    from frasi.sources import resolve

    path = resolve(name_or_path).path
    modules = path / "modules.json"
    if not modules.is_file():
        return path
    for module in json.loads(modules.read_text(encoding="utf-8")):
        if str(module.get("type", "")).endswith("Transformer"):
            return path / module.get("path", "")
    raise ModelLoadError(f"{path} has no Transformer module in modules.json; expected a transformer encoder model")


def load_new_cross_encoder(config: TrainConfig) -> Any:
    """A CrossEncoder over ``config.model``'s transformer with a new (seeded) one-logit head."""
    import transformers
    from sentence_transformers import CrossEncoder

    from frasi._hf import quiet_loading

    folder = transformer_folder(config.model)
    transformers.set_seed(config.seed)  # the new head's initialisation
    with quiet_loading():  # its load report lists the new head as missing, as expected
        return CrossEncoder(str(folder), num_labels=1, max_length=config.max_seq_length, local_files_only=True,
                            device="cpu")


def train_cross_encoder(config: TrainConfig, output: str | Path, *, resume: bool = False) -> TrainResult:
    """Fine-tune a cross-encoder on scored pairs; write the best model and ``frasi_run.json`` to ``output``."""
    run = _run.start(config, output, resume=resume, function="train_cross_encoder",
                     architectures=("cross-encoder",))

    import torch
    from datasets import Dataset
    from sentence_transformers import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder import losses
    from sentence_transformers.cross_encoder.evaluation import (
        CrossEncoderCorrelationEvaluator,
    )

    model = load_new_cross_encoder(config)
    sizes = _run.freeze(model[0].auto_model.base_model, config)
    dev = _run.dev_pool(run.data.dev)
    evaluator = None
    if dev is not None:
        evaluator = CrossEncoderCorrelationEvaluator([list(p) for p in zip(dev[0], dev[1])], dev[2], name="dev",
                                                     batch_size=max(config.batch_size, 32), write_csv=False,
                                                     show_progress_bar=False)
    train = run.data.train
    assert train.targets is not None
    dataset = Dataset.from_dict({"sentence1": train.sentences1, "sentence2": train.sentences2,
                                 "score": [float(x) for x in train.targets]})
    loss = (losses.MSELoss(model, activation_fn=torch.nn.Sigmoid()) if config.loss == "mse"
            else losses.BinaryCrossEntropyLoss(model))
    args = _st_trainer.training_arguments(CrossEncoderTrainingArguments, run,
                                          metric=DEV_METRIC if evaluator else None)
    encoder = {id(p) for p in model[0].auto_model.base_model.parameters()}
    head = {name for name, p in model.named_parameters() if id(p) not in encoder}
    optimizer = _run.adamw(model.named_parameters(), config, is_head=head.__contains__)
    trained = _st_trainer.fit(CrossEncoderTrainer, run, evaluator=evaluator, model=model, args=args,
                              train_dataset=dataset, loss=loss, optimizers=(optimizer, None))

    def predict(s1: list[str], s2: list[str]) -> np.ndarray:
        return cross_encoder_scores(model, s1, s2, batch_size=max(config.batch_size, 32))

    return _run.save_result(run, trained, sizes, predict=predict, save=lambda folder: model.save(str(folder)),
                            what="fine-tuned cross-encoder")


def cross_encoder_scores(model: Any, s1: list[str], s2: list[str], *, batch_size: int = 32) -> np.ndarray:
    """The model's score (sigmoid of its logit) for each pair, as float64."""
    from frasi.encoder import show_progress_default

    scores = model.predict([[a, b] for a, b in zip(s1, s2)], batch_size=batch_size,
                           show_progress_bar=show_progress_default(), convert_to_numpy=True)
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def load_cross_encoder(path: str | Path) -> Any:
    """Load a cross-encoder folder written by :func:`train_cross_encoder`."""
    from sentence_transformers import CrossEncoder

    from frasi.encoder import load_checked

    folder = Path(path)
    return load_checked(folder, lambda: CrossEncoder(str(folder), local_files_only=True, device="cpu"))
