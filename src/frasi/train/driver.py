"""The one training driver: check everything, build the architecture's recipe, fit, score, save.

Every architecture runs the same steps (:func:`train`); what differs is its recipe, a
:class:`Trainable` built from the run:

    bi-encoder       sentence-transformers' trainer over an Encoder (bi_encoder.py)
    cross-encoder    sentence-transformers' CrossEncoderTrainer (cross_encoder.py)
    regression, siamese, cross-attention
                     a PairRegressor and frasi's small torch loop (pair_models.py)

Callbacks (:class:`TrainCallback`) are told of every checkpoint written, whichever the
recipe: a caller can log, stop a run, or (in tests) interrupt it there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from frasi.errors import InputError

from . import run as runs
from .config import TrainConfig
from .evaluation import dev_evaluator
from .result import TrainResult


class TrainCallback(Protocol):
    """Told of training events; a callback that raises stops the run (resumable from the last checkpoint)."""

    def on_checkpoint(self, step: int) -> None:
        """A checkpoint of optimizer step ``step`` was written to the work folder."""


class Trainable(Protocol):
    """A model being trained, as a recipe builds it."""

    what: str  # "fine-tuned bi-encoder", for the log
    sizes: dict[str, int]  # parameters, trainable_parameters

    def fit(self, run: runs.Run, evaluator: Any, callbacks: Sequence[TrainCallback]) -> dict[str, Any]:
        """Train in place, ending on the best dev state; return steps, timing, best step and history."""

    def predict(self, sentences1: list[str], sentences2: list[str]) -> np.ndarray:
        """One score per pair."""

    def save(self, folder: Path) -> None:
        """Write the model into the empty folder ``folder``."""


def _recipe(architecture: str) -> tuple[Callable[[runs.Run], Trainable], bool]:
    """(the recipe that builds a Trainable, whether it runs on sentence-transformers' trainer)."""
    if architecture == "bi-encoder":
        from .bi_encoder import build
    elif architecture == "cross-encoder":
        from .cross_encoder import build
    else:
        from .pair_models import build

        return build, False
    return build, True


def train(config: TrainConfig, output: str | Path, *, resume: bool = False,
          callbacks: Sequence[TrainCallback] = ()) -> TrainResult:
    """Train ``config.architecture`` on ``config``'s data; write the model and ``frasi_run.json`` to ``output``.

    Every data file is read and checked before any model loads. ``output`` must be
    absent or empty; checkpoints go to ``output.partial/`` until the end. After an
    interrupt, call again with ``resume=True`` to continue from the last checkpoint; a run
    that fails before its first checkpoint (an unknown model, say) leaves nothing behind.
    """
    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a TrainConfig, got {type(config).__name__}; build one with "
                         "TrainConfig(...) or TrainConfig.from_file(path)")
    build, uses_trainer = _recipe(config.architecture)
    work = runs.work_folder(Path(output).expanduser())
    fresh = not work.exists()  # made by this call, so this call may remove it
    try:
        run = runs.start(config, output, resume=resume, uses_trainer=uses_trainer)
        model = build(run)
        evaluator = dev_evaluator(run.data.dev, model.predict)
        trained = model.fit(run, evaluator, callbacks)
        kept = evaluator.predictions_at(trained.get("best_step")) if evaluator is not None else None
        return runs.save_result(run, trained, model.sizes, predict=model.predict, save=model.save,
                                what=model.what, dev_predictions=kept)
    except BaseException:
        if fresh:
            runs.discard_unstarted(work)
        raise
