"""The cross-encoder recipe: the pair is encoded jointly (sentence1 [SEP] sentence2), one-logit head.

Built on sentence-transformers' ``CrossEncoder`` and ``CrossEncoderTrainer``, starting from
the transformer of any model (e.g. the packaged multilingual-e5-small). Losses: ``bce``
(BinaryCrossEntropyLoss on scores in [0, 1], the default) or ``mse`` (MSE of the sigmoid
output). Predictions are the sigmoid of the logit, in [0, 1]. Dev evaluation, the best
checkpoint, early stopping and resuming work as for the bi-encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from frasi.loading import transformer_folder

from . import run as runs
from . import st_trainer
from .config import TrainConfig
from .evaluation import METRIC

logger = logging.getLogger(__name__)


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


class CrossEncoderModel:
    """A CrossEncoder being fine-tuned; its new head trains at ``head_learning_rate``."""

    what = "fine-tuned cross-encoder"

    def __init__(self, run: runs.Run) -> None:
        self.config = run.config
        self.model = load_new_cross_encoder(run.config)
        self.sizes = runs.freeze(self.model[0].auto_model.base_model, run.config)
        self.batch_size = max(run.config.batch_size, 32)

    def fit(self, run: runs.Run, evaluator: Any, callbacks: Sequence[Any]) -> dict[str, Any]:
        import torch
        from datasets import Dataset
        from sentence_transformers import CrossEncoderTrainer, CrossEncoderTrainingArguments
        from sentence_transformers.cross_encoder import losses

        config, model = run.config, self.model
        train = run.data.train
        assert train.targets is not None
        dataset = Dataset.from_dict({"sentence1": train.sentences1, "sentence2": train.sentences2,
                                     "score": [float(x) for x in train.targets]})
        loss = (losses.MSELoss(model, activation_fn=torch.nn.Sigmoid()) if config.loss == "mse"
                else losses.BinaryCrossEntropyLoss(model))
        args = st_trainer.training_arguments(CrossEncoderTrainingArguments, run,
                                             metric=METRIC if evaluator else None)
        encoder = {id(p) for p in model[0].auto_model.base_model.parameters()}
        head = {name for name, p in model.named_parameters() if id(p) not in encoder}
        optimizer = runs.adamw(model.named_parameters(), config, is_head=head.__contains__)
        return st_trainer.fit(CrossEncoderTrainer, run, evaluator=evaluator, callbacks=callbacks, model=model,
                              args=args, train_dataset=dataset, loss=loss, optimizers=(optimizer, None))

    def predict(self, sentences1: list[str], sentences2: list[str]) -> np.ndarray:
        return cross_encoder_scores(self.model, sentences1, sentences2, batch_size=self.batch_size)

    def save(self, folder: Path) -> None:
        self.model.save(str(folder))


def build(run: runs.Run) -> CrossEncoderModel:
    return CrossEncoderModel(run)


def cross_encoder_scores(model: Any, s1: list[str], s2: list[str], *, batch_size: int = 32) -> np.ndarray:
    """The model's score (sigmoid of its logit) for each pair, as float64."""
    from frasi.progress import show_progress_default

    scores = model.predict([[a, b] for a, b in zip(s1, s2)], batch_size=batch_size,
                           show_progress_bar=show_progress_default(), convert_to_numpy=True)
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def load_cross_encoder(path: str | Path) -> Any:
    """Load a cross-encoder folder written by :func:`train_cross_encoder`."""
    from sentence_transformers import CrossEncoder

    from frasi.loading import load_checked

    folder = Path(path)
    return load_checked(folder, lambda: CrossEncoder(str(folder), local_files_only=True, device="cpu"))
