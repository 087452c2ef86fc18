"""Running sentence-transformers' trainers (bi-encoder and cross-encoder) the frasi way.

The trainer does the optimisation, dev evaluation every N steps, checkpoints, the best
checkpoint (``load_best_model_at_end``), early stopping and resuming. frasi adds an
evaluation at every epoch end when evaluating every N steps, replaces the trainer's
printed log lines and progress bar with one bar (loss, ETA) that follows frasi's log
level, and logs dev scores through ``logging``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import run as runs
from .config import TrainConfig

logger = logging.getLogger(__name__)


def training_arguments(args_cls: type, run_: runs.Run, *, metric: str | None, **extra: Any) -> Any:
    """The trainer's arguments from the run's config: checkpoints in ``work/checkpoints``, select on ``metric``."""
    config, work = run_.config, run_.work
    every = config.eval_steps
    total = runs.total_steps(config, len(run_.data.train))
    strategy = "steps" if every else "epoch"
    evaluate = metric is not None
    return args_cls(
        output_dir=str(work / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 32),
        learning_rate=config.learning_rate,
        warmup_steps=runs.warmup_steps(config, total),
        lr_scheduler_type=config.scheduler,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy=strategy if evaluate else "no",
        eval_steps=every,
        save_strategy=strategy,
        save_steps=every,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=evaluate,
        metric_for_best_model=metric,
        greater_is_better=True if evaluate else None,
        logging_steps=runs.log_every(config, total),
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        dataloader_num_workers=0,
        save_only_model=False,
        **extra,
    )


def progress_callback(listeners: Sequence[Any] = (), *, desc: str = "training") -> type:
    """A transformers ``TrainerCallback`` class: frasi's progress bar with the loss and ETA, and each
    listener's ``on_checkpoint(step)`` after every save. Subclass it to log dev scores."""
    from transformers import TrainerCallback

    class TrainerProgress(TrainerCallback):
        progress: runs.Progress | None = None
        loss: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress = runs.Progress(state.max_steps, state.global_step, desc=desc)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(state.global_step, self.loss)

        def on_save(self, args, state, control, **kwargs):
            for listener in listeners:
                listener.on_checkpoint(state.global_step)

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.close()

    return TrainerProgress


def frasi_callbacks(config: TrainConfig, *, evaluate: bool, listeners: Sequence[Any] = ()) -> list[Any]:
    from transformers import EarlyStoppingCallback

    class FrasiCallback(progress_callback(listeners)):
        """Progress bar with loss and ETA, dev scores in the log, an evaluation at each epoch end."""

        def on_epoch_end(self, args, state, control, **kwargs):
            every = config.eval_steps
            if every and state.global_step % every:  # steps schedule: add one at the epoch end
                control.should_evaluate = evaluate
                control.should_save = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            super().on_log(args, state, control, logs=logs, **kwargs)
            logs = logs or {}
            scores = {k.removeprefix("eval_").removeprefix("dev_"): v for k, v in logs.items()
                      if k.startswith("eval_") and ("spearman" in k or "pearson" in k)}
            if scores:
                shown = ", ".join(f"{k} {100 * v:.2f}" for k, v in scores.items())
                logger.info("step %d (epoch %.2f): dev %s", state.global_step, state.epoch or 0, shown)

    callbacks: list[Any] = [FrasiCallback()]
    if config.early_stopping_patience is not None and evaluate:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    return callbacks


def quiet_trainer(trainer: Any) -> None:
    """Drop the trainer's printing and progress callbacks (frasi's callback replaces them)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for callback in list(trainer.callback_handler.callbacks):
        if isinstance(callback, (PrinterCallback, ProgressCallback)):
            trainer.remove_callback(callback)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """No transformers progress bars (weight shards) and only warnings from the libraries while training."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    st = logging.getLogger("sentence_transformers")
    st_level = st.level
    st.setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        yield
    finally:
        st.setLevel(st_level)
        hf_logging.set_verbosity(level)
        if was_enabled:
            hf_logging.enable_progress_bar()


def quiet_class(trainer_cls: type) -> type:
    """``trainer_cls`` without its model-card callback (it computes widget examples with a progress bar)."""
    return type(trainer_cls.__name__, (trainer_cls,), {"add_model_card_callback": lambda self, defaults: None})


def fit(trainer_cls: type, run_: runs.Run, *, evaluator: Any, callbacks: Sequence[Any] = (),
        **trainer_kwargs: Any) -> dict[str, Any]:
    """Build ``trainer_cls`` (quiet, with frasi's callbacks) and train; see :func:`run`."""
    with quiet_libraries():
        trainer = quiet_class(trainer_cls)(
            evaluator=evaluator,
            callbacks=frasi_callbacks(run_.config, evaluate=evaluator is not None, listeners=callbacks),
            **trainer_kwargs)
    return run(trainer, run_.work, resuming=run_.resuming)


def run(trainer: Any, work: Path, *, resuming: bool) -> dict[str, Any]:
    """Train (from the last checkpoint in ``work`` when resuming); return steps, seconds and history."""
    from transformers.trainer_utils import get_last_checkpoint

    quiet_trainer(trainer)
    checkpoint = None
    if resuming and (work / "checkpoints").is_dir():
        checkpoint = get_last_checkpoint(str(work / "checkpoints"))
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    with quiet_libraries(), runs.timed() as clock:
        output = trainer.train(resume_from_checkpoint=checkpoint)
    state = trainer.state
    best = state.best_model_checkpoint
    return {
        "global_step": int(output.global_step),
        "epochs_done": float(state.epoch or 0.0),
        "train_seconds": round(clock["seconds"], 2),
        "resumed_from_step": int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None,
        "best_step": int(best.rsplit("-", 1)[-1]) if best else None,
        "best_dev": _finite(state.best_metric),
        "history": [{k: _finite(v) for k, v in h.items()} for h in state.log_history],
    }


def _finite(value: Any) -> Any:
    """A float rounded to 6 places, or None when undefined (NaN from constant predictions, inf)."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value
