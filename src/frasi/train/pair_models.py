"""The pair-model recipe: regression / siamese / cross-attention trained with a small torch loop.

Why not sentence-transformers' trainer here: it checkpoints and restores only the
SentenceTransformer, while these models keep a head next to the encoder, so the head
would be lost from the best checkpoint and from a resumed run. The loop below does the
same things explicitly and checkpoints the whole model:

* AdamW (the encoder at ``learning_rate``, the head at ``head_learning_rate``; no decay on
  biases and norms), warmup then the ``scheduler`` schedule, gradient clipping at 1;
* batches in a seeded random order per epoch (seed + epoch), so a resumed run sees the
  same batches; dropout's RNG state is checkpointed too;
* dev Spearman every ``eval_steps`` and at each epoch end; the best state is kept in
  ``best/``, the latest in ``last/`` (both with only the trainable tensors: frozen ones
  come from the starting model); early stopping after ``early_stopping_patience``
  evaluations without improvement.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from frasi._fs import atomic_dir

from . import run as runs
from .config import TrainConfig
from .data import TrainingData

logger = logging.getLogger(__name__)

class PairModel:
    """A PairRegressor (regression, siamese or cross-attention) trained by the loop below."""

    def __init__(self, run: runs.Run) -> None:
        import torch

        from frasi.encoder import Encoder

        from .architectures import PairRegressor

        config = run.config
        encoder = Encoder.load(config.model, backend="torch")
        if config.max_seq_length is not None:
            encoder.model.max_seq_length = config.max_seq_length
        torch.manual_seed(config.seed)  # the head's initialisation
        self.model = PairRegressor(encoder.model, config.architecture,
                                   prompt=encoder.resolve_prompt(prompt=config.prompt))
        runs.freeze(self.model.transformer, config)
        self.sizes = {"parameters": sum(p.numel() for p in self.model.parameters()),
                      "trainable_parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad)}
        self.what = f"{config.architecture} model"
        self.batch_size = max(config.batch_size, 32)

    def fit(self, run: runs.Run, evaluator: Any, callbacks: Sequence[Any]) -> dict[str, Any]:
        return fit(self.model, run.data, run.config, run.work, resuming=run.resuming, evaluator=evaluator,
                   callbacks=callbacks)

    def predict(self, sentences1: list[str], sentences2: list[str]) -> np.ndarray:
        return self.model.predict(sentences1, sentences2, batch_size=self.batch_size, show_progress=False)

    def save(self, folder: Path) -> None:
        self.model.save(folder)


def build(run: runs.Run) -> PairModel:
    return PairModel(run)


# ---------------------------------------------------------------------------- the loop


def _trainable(model: Any) -> dict[str, Any]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _save_state(model: Any, folder: Path, extra: dict[str, Any] | None = None) -> None:
    """Write the trainable tensors (and optimizer etc. in ``extra``) to ``folder``, replacing it atomically."""
    import torch
    from safetensors.torch import save_file

    with atomic_dir(folder, what="checkpoint", replace=True) as tmp:
        save_file({k: v.detach().contiguous() for k, v in _trainable(model).items()}, str(tmp / "model.safetensors"))
        if extra is not None:
            torch.save(extra, tmp / "training_state.pt")


def _load_weights(model: Any, folder: Path) -> None:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)


def _optimizer(model: Any, config: TrainConfig) -> Any:
    return runs.adamw(_trainable(model).items(), config, is_head=lambda name: name.startswith("head."))


def fit(model: Any, data: TrainingData, config: TrainConfig, work: Path, *, resuming: bool, evaluator: Any = None,
        callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train ``model`` in place; on return it holds the best dev state (``evaluator`` scores dev). Returns steps,
    timing and history; ``callbacks`` are told of each checkpoint."""
    import torch
    import transformers

    s1, s2 = data.train.sentences1, data.train.sentences2
    assert data.train.targets is not None
    targets = torch.tensor(data.train.targets, dtype=torch.float32)
    n = len(s1)
    per_epoch = math.ceil(n / config.batch_size)
    total = runs.total_steps(config, n)
    optimizer = _optimizer(model, config)
    scheduler = transformers.get_scheduler(config.scheduler, optimizer,
                                           num_warmup_steps=runs.warmup_steps(config, total),
                                           num_training_steps=total)
    state: dict[str, Any] = {"step": 0, "best_metric": None, "best_step": None, "bad_evals": 0, "history": []}
    last, best = work / "last", work / "best"
    resumed_from = None
    if resuming and (last / "training_state.pt").is_file():
        _load_weights(model, last)
        saved = torch.load(last / "training_state.pt", weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = saved["state"]
        resumed_from = state["step"]
        logger.info("resuming from step %d of %d", resumed_from, total)

    every = runs.log_every(config, total)
    progress = runs.Progress(total, state["step"])
    running: list[float] = []
    model.train()
    stop = state["step"] >= total
    with runs.timed() as clock:
        while not stop:
            epoch = state["step"] // per_epoch
            order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed + epoch))
            for b in range(state["step"] % per_epoch, per_epoch):
                idx = order[b * config.batch_size : (b + 1) * config.batch_size].tolist()
                predicted = model([s1[i] for i in idx], [s2[i] for i in idx])
                loss = torch.nn.functional.mse_loss(predicted, targets[idx])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(_trainable(model).values(), 1.0)
                rate = scheduler.get_last_lr()[0]  # the encoder's rate for this step, as transformers logs it
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["step"] += 1
                step = state["step"]
                running.append(float(loss.detach()))
                progress.update(step, float(np.mean(running[-every:])))
                if step % every == 0 or step == total:
                    state["history"].append({"loss": round(float(np.mean(running[-every:])), 6),
                                             "learning_rate": rate,
                                             "epoch": round(step / per_epoch, 6), "step": step})
                epoch_end = b == per_epoch - 1
                if (config.eval_steps and step % config.eval_steps == 0) or epoch_end or step >= total:
                    stop = _evaluate_and_checkpoint(model, config, evaluator, state, optimizer, scheduler, best,
                                                    last, per_epoch)
                    for callback in callbacks:
                        callback.on_checkpoint(step)
                if stop or step >= total:
                    stop = True
                    break
    progress.close()
    if evaluator is not None and best.is_dir():
        _load_weights(model, best)
    model.eval()
    return {"global_step": state["step"], "epochs_done": round(state["step"] / per_epoch, 6),
            "train_seconds": round(clock["seconds"], 2), "resumed_from_step": resumed_from,
            "best_step": state["best_step"], "best_dev": state["best_metric"], "history": state["history"]}


def _percent(value: float | None) -> str:
    return "undefined" if value is None else f"{100 * value:.2f}"


def _evaluate_and_checkpoint(model: Any, config: TrainConfig, evaluator: Any, state: dict[str, Any],
                             optimizer: Any, scheduler: Any, best: Path, last: Path, per_epoch: int) -> bool:
    """Score dev, keep the best state, write the checkpoint; return whether to stop early."""
    import torch

    step = state["step"]
    stop = False
    if evaluator is not None:
        scores = {f"eval_{k}": None if math.isnan(v) else v for k, v in evaluator(model, steps=step).items()}
        model.train()
        state["history"].append({**{k: None if v is None else round(v, 6) for k, v in scores.items()},
                                 "epoch": round(step / per_epoch, 6), "step": step})
        logger.info("step %d (epoch %.2f): dev spearman %s, pearson %s", step, step / per_epoch,
                    *(_percent(scores[f"eval_dev_{name}"]) for name in ("spearman", "pearson")))
        metric = scores["eval_dev_spearman"]
        # An undefined score (constant predictions) never beats a defined one.
        better = metric is not None and (state["best_metric"] is None or metric > state["best_metric"])
        if better or state["best_step"] is None:
            state.update(best_metric=metric, best_step=step, bad_evals=0)
            _save_state(model, best)
        else:
            state["bad_evals"] += 1
            patience = config.early_stopping_patience
            if patience is not None and state["bad_evals"] >= patience:
                logger.info("early stopping at step %d: no dev improvement in %d evaluations", step, patience)
                stop = True
    _save_state(model, last, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                              "rng": torch.get_rng_state(), "state": json.loads(json.dumps(state))})
    return stop
