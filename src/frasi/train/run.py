"""What every training recipe shares: the work folder, resuming, freezing, progress, finishing.

A run that trains into ``OUT`` keeps its checkpoints in the sibling folder
``OUT.partial/`` (with the config it was started with). When training ends, the best
model and ``frasi_run.json`` are written to ``OUT`` atomically and ``OUT.partial`` is
removed. After an interrupt, the same call with ``resume=True`` continues from the last
checkpoint in ``OUT.partial``; a different config is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frasi._fs import atomic_dir, check_new_folder
from frasi.errors import InputError, require
from frasi.io import write_json
from frasi.progress import show_progress_default

from .config import TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .data import TrainingData
    from .result import TrainResult

logger = logging.getLogger(__name__)

RUN_FILE = "frasi_run.json"
_CONFIG_FILE = "train_config.json"
_DATA_FILE = "train_data.json"  # the data hashes the run started with


def require_training(purpose: str) -> None:
    """Raise MissingExtraError when the ``train`` extra (datasets, accelerate) is missing."""
    require("datasets", extra="train", purpose=purpose)
    require("accelerate", extra="train", purpose=purpose)


@dataclass(frozen=True)
class Run:
    """A started run: its checked data, the output folder, the work folder and whether it resumes."""

    config: TrainConfig
    data: TrainingData
    target: Path
    work: Path
    resuming: bool


def start(config: TrainConfig, output: str | Path, *, resume: bool, uses_trainer: bool = True) -> Run:
    """Everything before the first slow step, in order: the ``train`` extra is installed
    (``uses_trainer``), every data file reads and checks, ``output`` can take the model, and
    the model resolves."""
    from .data import load_training_data

    if uses_trainer:
        require_training(f"training a {config.architecture}")
    data = load_training_data(config)
    logger.info("training data: %d pairs from %d file(s); %d dev and %d test file(s)", len(data.train),
                len(config.train_files), len(data.dev), len(data.test))
    target, work, resuming = prepare_output(config, output, resume=resume, data=data.summary())
    set_threads(config)
    return Run(config, data, target, work, resuming)


def save_result(run: Run, trained: dict[str, Any], sizes: dict[str, int], *,
                predict: Callable[[list[str], list[str]], np.ndarray], save: Callable[[Path], Any], what: str,
                dev_predictions: list[np.ndarray] | None = None) -> TrainResult:
    """Score the selected model on dev and test, write it (``save(folder)``) with
    ``frasi_run.json`` atomically to the output folder, and remove the work folder.

    ``dev_predictions`` (one array per dev file), when the selected model's dev evaluation
    kept them, spare predicting dev again."""
    from frasi._hf import quiet_loading

    from .result import TrainResult

    config, data = run.config, run.data
    dev = score_sets(predict, data.dev, seed=config.seed, predicted=dev_predictions)
    test = score_sets(predict, data.test, seed=config.seed)
    with atomic_dir(run.target, what="trained model") as tmp:
        with quiet_loading():
            save(tmp)
        result = TrainResult.build(config, data, tmp, trained, sizes, dev, test)
        write_run(tmp, result.record)
    finish(run.work)
    result = result.moved(run.target)
    logger.info("saved the %s to %s%s", what, run.target, result.summary_suffix())
    return result


def work_folder(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def prepare_output(config: TrainConfig, output: str | Path, *, resume: bool,
                   data: dict[str, Any] | None = None) -> tuple[Path, Path, bool]:
    """Check ``output`` and its work folder before any slow work; return (output, work, resuming).

    Resuming needs the config the run started with and, when given, the same ``data`` summary
    (file and training-pair hashes)."""
    target = check_new_folder(Path(output).expanduser(), what="trained model")
    work = work_folder(target)
    saved = work / _CONFIG_FILE
    if work.exists() and not resume:
        raise InputError(f"{work} holds an interrupted run for {target}; pass resume=True (--resume) to continue "
                         "it, or delete that folder to start again")
    if resume and saved.is_file():
        before = json.loads(saved.read_text(encoding="utf-8"))
        now = config.to_dict()
        changed = changed_keys(before, now)
        if changed:
            raise InputError(f"cannot resume {work}: the config differs in {', '.join(changed)}; resume with the "
                             "same settings, or delete that folder to start again")
        saved_data = work / _DATA_FILE
        if data is not None and saved_data.is_file():
            before = json.loads(saved_data.read_text(encoding="utf-8"))
            changed = changed_keys(before, data)
            if changed:
                raise InputError(f"cannot resume {work}: the data files changed since the run started "
                                 f"({', '.join(changed)} differ); restore them, or delete that folder to start again")
        logger.info("resuming the run in %s", work)
        return target, work, True
    if resume:
        logger.info("no interrupted run in %s: starting from scratch", work)
    from frasi.sources import resolve

    resolve(config.model)  # an unknown model fails here, before the work folder is made
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    write_json(saved, config.to_dict())
    if data is not None:
        write_json(work / _DATA_FILE, data)
    return target, work, False


def changed_keys(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two records (a key missing on one side counts as None)."""
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def finish(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


def discard_unstarted(work: Path) -> None:
    """Remove ``work`` if it holds no checkpoint yet (only the config): a run that failed
    before its first checkpoint leaves nothing to resume, and must not block the next run."""
    started = {work / _CONFIG_FILE, work / _DATA_FILE}
    if work.is_dir() and not any(p.is_file() and p not in started for p in work.rglob("*")):
        shutil.rmtree(work, ignore_errors=True)


def set_threads(config: TrainConfig) -> None:
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)


def freeze(module: Any, config: TrainConfig) -> dict[str, int]:
    """Freeze the word embeddings and/or the lowest layers of a transformers model; return counts."""
    if config.freeze_embeddings:
        module.get_input_embeddings().weight.requires_grad_(False)
    if config.freeze_layers:
        pattern = re.compile(r"(?:^|\.)(?:layer|layers)\.(\d+)\.")
        layers = {int(m.group(1)) for name, _ in module.named_parameters() if (m := pattern.search(name))}
        if config.freeze_layers > len(layers):
            raise InputError(f"freeze_layers={config.freeze_layers} but the model has {len(layers)} layers; "
                             f"pass at most {len(layers)}")
        for name, param in module.named_parameters():
            m = pattern.search(name)
            if m and int(m.group(1)) < config.freeze_layers:
                param.requires_grad_(False)
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if config.freeze_embeddings or config.freeze_layers:
        logger.info("training %d of %d parameters (%.0f%%)", trainable, total, 100 * trainable / max(total, 1))
    return {"parameters": total, "trainable_parameters": trainable}


def adamw(named_parameters: Iterable[tuple[str, Any]], config: TrainConfig, *,
          is_head: Callable[[str], bool]) -> Any:
    """AdamW over the trainable parameters: a new head (``is_head(name)``) at ``head_learning_rate``,
    the pretrained encoder at ``learning_rate``; no weight decay on biases and norm weights."""
    import torch

    groups: dict[tuple[bool, bool], list] = {}
    for name, param in named_parameters:
        if param.requires_grad:
            groups.setdefault((is_head(name), param.ndim >= 2), []).append(param)
    return torch.optim.AdamW([
        {"params": params, "lr": config.head_learning_rate if head else config.learning_rate,
         "weight_decay": config.weight_decay if decay else 0.0}
        for (head, decay), params in sorted(groups.items())])


def log_every(config: TrainConfig, total: int) -> int:
    """Training-loss log interval in steps: the eval interval, at most 50 and at most a tenth of
    the ``total`` steps, so that a short run still shows its loss."""
    return max(1, min(config.eval_steps or 50, 50, total // 10))


def total_steps(config: TrainConfig, n_pairs: int) -> int:
    import math

    if config.max_steps is not None:
        return config.max_steps
    return max(1, math.ceil(config.epochs * math.ceil(n_pairs / config.batch_size)))


def warmup_steps(config: TrainConfig, total: int) -> int:
    """The warmup in optimizer steps, the same for every training path (transformers reads a
    ``warmup_steps`` of 1.0 as one step, not as all of them)."""
    import math

    return math.ceil(config.warmup_ratio * total)


class Progress:
    """A tqdm bar over optimizer steps with the running loss and ETA, shown when frasi logs INFO to a
    terminal; otherwise (a log file, a pipe) one INFO line every 5% of the steps with the same figures."""

    def __init__(self, total: int, initial: int = 0, desc: str = "training") -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", disable=not show_progress_default(),
                        dynamic_ncols=True, leave=False)
        self.total, self.initial, self.every = total, initial, max(1, min(50, total // 20))
        self.start = time.perf_counter()

    def update(self, step: int, loss: float | None) -> None:
        if not self.bar.disable:
            self.bar.update(step - self.bar.n)
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        elif step % self.every == 0 and step > self.initial:
            per_step = (time.perf_counter() - self.start) / (step - self.initial)
            eta = per_step * (self.total - step)
            shown = "-" if loss is None else f"{loss:.4f}"
            logger.info("step %d/%d: loss %s, %.2f s/step, ETA %d min %02d s", step, self.total, shown, per_step,
                        eta // 60, eta % 60)

    def close(self) -> None:
        self.bar.close()


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def score_sets(predict, sets: list[Any], *, n_bootstrap: int = 1000, seed: int = 0,
               predicted: list[np.ndarray] | None = None) -> list[dict[str, Any]]:
    """Spearman/Pearson (x100, bootstrap CIs) of ``predict(s1, s2)`` on each STSData of ``sets``
    (or of the given ``predicted`` scores, one array per set)."""
    from frasi.evaluate import sts_metrics

    results = []
    for i, data in enumerate(sets):
        start = time.perf_counter()
        scores = predicted[i] if predicted is not None else predict(list(data.sentences1), list(data.sentences2))
        seconds = None if predicted is not None else round(time.perf_counter() - start, 3)
        metrics = sts_metrics(scores, data.scores, genres=data.genres, n_bootstrap=n_bootstrap, seed=seed)
        results.append({"source": data.source, "sha256": data.sha256, "n": len(data),
                        "spearman": metrics["metrics"]["spearman"], "pearson": metrics["metrics"]["pearson"],
                        "ci": metrics["ci"], "by_genre": metrics["by_genre"],
                        "predict_seconds": seconds, "predicted": [round(float(x), 6) for x in scores]})
    return results


def write_run(folder: Path, record: dict[str, Any]) -> None:
    write_json(folder / RUN_FILE, record)


def read_run(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise InputError(f"{folder} has no {RUN_FILE}; expected a folder written by frasi train")
    return json.loads(path.read_text(encoding="utf-8"))
