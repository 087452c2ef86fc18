"""Fine-tuning a sequence classifier with transformers' Trainer, the frasi way.

The Trainer does the optimisation, evaluation on dev (macro-F1, every epoch or every N
steps), checkpoints, keeping the best one (``load_best_model_at_end``), early stopping and
resuming (optimizer, scheduler and random states included). frasi adds class weights in
the loss, a separate learning rate for the new head, batches of similar lengths (less
padding, the main cost on a CPU), and one progress bar with the loss and ETA that follows
frasi's log level.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..train.st_trainer import progress_callback, quiet_libraries, quiet_trainer

logger = logging.getLogger(__name__)

METRIC = "macro_f1"


@dataclass(frozen=True)
class Schedule:
    """How long and how fast to train."""

    epochs: float
    batch_size: int
    learning_rate: float
    head_learning_rate: float
    weight_decay: float = 0.01
    warmup: float = 0.1  # a fraction of the steps
    eval_steps: int | None = None  # None: evaluate at each epoch's end
    early_stopping: int | None = 2  # evaluations without improvement before stopping
    seed: int = 0


class _Encoded:
    """Tokenized texts (and labels) as the Trainer's data collator wants them."""

    def __init__(self, tokenizer: Any, texts: Sequence[str], labels: np.ndarray, max_length: int) -> None:
        self.ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        self.labels = labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "attention_mask": [1] * len(self.ids[i]), "labels": int(self.labels[i])}


def class_weights(labels: np.ndarray, n_classes: int, class_weight: Any) -> np.ndarray | None:
    """Per-class loss weights: None, ``"balanced"`` (n / (k * count), as scikit-learn) or {class index: w}."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        return len(labels) / (n_classes * np.maximum(counts, 1))
    weights = np.ones(n_classes)
    for index, weight in class_weight.items():
        weights[index] = weight
    return weights


def fit(model: Any, tokenizer: Any, train: tuple[Sequence[str], np.ndarray], dev: tuple[Sequence[str], np.ndarray]
        | None, *, schedule: Schedule, max_length: int, weights: np.ndarray | None, work: Path, resume: bool,
        is_head: Any, listeners: Sequence[Any] = ()) -> dict[str, Any]:
    """Train ``model`` in place on ``train`` (texts, class indices), selecting on ``dev``; return the history.

    Checkpoints go to ``work``; ``resume`` continues from the last one there.
    """
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

    from ..metrics import classification_metrics

    train_set = _Encoded(tokenizer, train[0], train[1], max_length)
    dev_set = _Encoded(tokenizer, dev[0], dev[1], max_length) if dev is not None else None
    strategy = "steps" if schedule.eval_steps else "epoch"
    evaluate = dev_set is not None
    args = TrainingArguments(
        output_dir=str(work), num_train_epochs=schedule.epochs, per_device_train_batch_size=schedule.batch_size,
        per_device_eval_batch_size=max(64, schedule.batch_size), learning_rate=schedule.learning_rate,
        weight_decay=schedule.weight_decay, warmup_steps=schedule.warmup, lr_scheduler_type="linear",
        seed=schedule.seed, data_seed=schedule.seed, eval_strategy=strategy if evaluate else "no",
        eval_steps=schedule.eval_steps, save_strategy=strategy, save_steps=schedule.eval_steps, save_total_limit=2,
        load_best_model_at_end=evaluate, metric_for_best_model=METRIC if evaluate else None,
        greater_is_better=True if evaluate else None, train_sampling_strategy="group_by_length",
        logging_steps=10, report_to="none", disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
    )
    loss_weights = torch.tensor(weights, dtype=torch.float32) if weights is not None else None

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        return torch.nn.functional.cross_entropy(outputs.logits, labels, weight=loss_weights)

    every_class = list(range(model.config.num_labels))

    def metrics(prediction: Any) -> dict[str, float]:
        predicted = np.asarray(prediction.predictions).argmax(axis=1)
        scored = classification_metrics(prediction.label_ids.tolist(), predicted.tolist(), labels=every_class)
        return {METRIC: scored["macro_f1"], "accuracy": scored["accuracy"]}

    class Reporter(progress_callback(listeners, desc="fine-tuning")):
        """The progress bar, and dev scores in frasi's log."""

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics:
                logger.info("step %d: dev macro-F1 %.4f, accuracy %.4f", state.global_step,
                            metrics.get(f"eval_{METRIC}", float("nan")), metrics.get("eval_accuracy", float("nan")))

    callbacks: list[Any] = [Reporter()]
    if evaluate and schedule.early_stopping:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=schedule.early_stopping))
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault((bool(is_head(name)), param.ndim >= 2), []).append(param)
    optimizer = torch.optim.AdamW([
        {"params": params, "lr": schedule.head_learning_rate if head else schedule.learning_rate,
         "weight_decay": schedule.weight_decay if decay else 0.0} for (head, decay), params in sorted(groups.items())])
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=dev_set,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_loss_func=loss,
                      compute_metrics=metrics if evaluate else None, callbacks=callbacks,
                      optimizers=(optimizer, None))
    quiet_trainer(trainer)
    checkpoints = sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])) if resume else []
    with quiet_libraries():
        output = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    state = trainer.state
    history = [{k: v for k, v in entry.items() if k in ("step", "epoch", "loss", f"eval_{METRIC}", "eval_accuracy")}
               for entry in state.log_history]
    best = state.best_model_checkpoint
    return {"steps": state.global_step, "epochs": round(float(state.epoch or 0), 3),
            "train_loss": round(float(output.training_loss), 5), "best_step": int(best.rsplit("-", 1)[-1])
            if best else state.global_step, f"best_dev_{METRIC}": state.best_metric, "history": history}
