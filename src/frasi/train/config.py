"""TrainConfig: every setting of a training run in one validated dataclass.

The CLI flags and a TOML or YAML file fill it; it round-trips through a plain dict
(``to_dict`` / ``from_dict``) and is saved next to every trained model, with the seed,
the data hashes, the library versions and the metrics (:func:`run_record`), so a result
can be reproduced::

    config = TrainConfig(train_files=["stsb-en-train.csv"], dev_files=["stsb-en-dev.csv"])
    config = TrainConfig.from_file("run.toml", epochs=2)   # file values, then overrides
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frasi._fs import StrPath
from frasi.errors import InputError, first_line, require
from frasi.versions import versions

logger = logging.getLogger(__name__)

LIBRARIES = ("frasi", "torch", "transformers", "sentence-transformers", "tokenizers", "numpy", "datasets",
             "accelerate")
"""The libraries whose versions a run record keeps."""
ARCHITECTURES: tuple[str, ...] = ("bi-encoder", "cross-encoder", "regression", "siamese", "cross-attention")
"""bi-encoder: cosine of two sentence embeddings. cross-encoder: the pair encoded jointly with
sentence-transformers' CrossEncoder (classification head, one logit). regression: the pair
encoded jointly, mean-pooled, an MLP head. siamese: one shared encoder, a head over
[u, v, |u-v|, u*v]. cross-attention: the two token sequences attend to each other, then a head."""
HEAD_ARCHITECTURES: tuple[str, ...] = ("regression", "siamese", "cross-attention")
LOSSES: dict[str, tuple[str, ...]] = {
    "bi-encoder": ("cosent", "cosine", "mnrl"),
    "cross-encoder": ("bce", "mse"),
    "regression": ("mse",), "siamese": ("mse",), "cross-attention": ("mse",),
}
SCHEDULERS: tuple[str, ...] = ("linear", "cosine", "constant", "constant_with_warmup")
_PATH_LISTS = ("train_files", "dev_files", "test_files")
_FLOAT_FIELDS = ("epochs", "learning_rate", "head_learning_rate", "warmup_ratio", "weight_decay", "mnrl_min_score")


@dataclass
class TrainConfig:
    """Settings of one training run. Construction validates them (InputError on a bad value).

    Data: ``train_files`` (one or more STS files, e.g. es + it + en, concatenated),
    ``dev_files`` (selection: best checkpoint, early stopping), ``test_files`` (scored
    once, after training; never used for any choice).
    """

    train_files: list[str] = field(default_factory=list)
    dev_files: list[str] = field(default_factory=list)
    test_files: list[str] = field(default_factory=list)
    model: str = "multilingual-e5-small"
    architecture: str = "bi-encoder"
    loss: str | None = None  # None: the architecture's first loss (cosent, bce, mse)
    epochs: float = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps (overrides epochs)
    batch_size: int = 16
    learning_rate: float = 2e-5
    head_learning_rate: float = 1e-3  # the new heads (cross-encoder / regression / siamese / cross-attention)
    warmup_ratio: float = 0.1
    scheduler: str = "linear"
    weight_decay: float = 0.01
    max_seq_length: int | None = 128  # tokens per text in training (per pair for the joint architectures); a
    # fine-tuned bi-encoder is saved with its starting model's maximum
    freeze_embeddings: bool = False  # freeze the word-embedding matrix (most of e5's parameters)
    freeze_layers: int = 0  # freeze the lowest N transformer layers
    eval_steps: int | None = None  # evaluate on dev every N steps, and at every epoch end
    early_stopping_patience: int | None = None  # evaluations without dev improvement before stopping
    save_total_limit: int = 2  # checkpoints kept while training (the best one is always kept)
    seed: int = 42
    threads: int | None = None  # torch CPU threads (None: torch's default)
    prompt: str | None = None  # bi-encoders: None keeps the model's prompts ("query: " for e5); a text replaces them
    max_train_pairs: int | None = None  # train on a seeded sample of N pairs (quick runs)
    data_seed: int | None = None  # the seed of that sample; None: ``seed``
    mnrl_min_score: float = 0.8  # mnrl: scored pairs at or above this normalized score are positives

    def __post_init__(self) -> None:
        for name in _PATH_LISTS:
            value = getattr(self, name)
            if isinstance(value, (str, os.PathLike)):
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise InputError(f"{name} must be a list of file paths, got {type(value).__name__}")
            setattr(self, name, [str(v) for v in value])
        if self.architecture not in ARCHITECTURES:
            raise InputError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}")
        losses = LOSSES[self.architecture]
        if self.loss is None:
            self.loss = losses[0]
        if self.loss not in losses:
            raise InputError(f"loss {self.loss!r} does not apply to the {self.architecture} architecture; "
                             f"choose one of {', '.join(losses)}")
        if self.scheduler not in SCHEDULERS:
            raise InputError(f"scheduler must be one of {', '.join(SCHEDULERS)}; got {self.scheduler!r}")
        if isinstance(self.model, os.PathLike):
            self.model = os.fspath(self.model)
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError(f"model must be a model name or folder, got {self.model!r}")
        _number(self, "epochs", low=0.0, strict=True)
        for name in ("learning_rate", "head_learning_rate"):
            _number(self, name, low=0.0, strict=True)
        _number(self, "warmup_ratio", low=0.0, high=1.0)
        _number(self, "weight_decay", low=0.0)
        _number(self, "mnrl_min_score", low=0.0, high=1.0)
        _integer(self, "batch_size", low=1 if self.loss != "mnrl" else 2)
        _integer(self, "freeze_layers", low=0)
        _integer(self, "save_total_limit", low=1)
        _integer(self, "seed", low=0, high=2**32 - 1)
        if not isinstance(self.freeze_embeddings, bool):
            raise InputError(f"freeze_embeddings must be true or false, got {self.freeze_embeddings!r}")
        for name, low in (("max_steps", 1), ("max_seq_length", 8), ("eval_steps", 1),
                          ("early_stopping_patience", 1), ("threads", 1), ("max_train_pairs", 2), ("data_seed", 0)):
            if getattr(self, name) is not None:
                _integer(self, name, low=low)
        if self.prompt is not None and not isinstance(self.prompt, str):
            raise InputError(f"prompt must be a string, got {type(self.prompt).__name__}")
        if self.early_stopping_patience is not None and not self.dev_files:
            raise InputError("early_stopping_patience needs dev_files to watch; add a dev file or drop it")

    # ------------------------------------------------------------------ dict / file

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-serialisable values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys raise (they are never silently ignored)."""
        if not isinstance(values, dict):
            raise InputError(f"a training config must be a mapping of settings, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown training setting(s) {', '.join(map(repr, unknown))}; "
                             f"known settings: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def from_file(cls, path: StrPath, **overrides: Any) -> TrainConfig:
        """Read a .toml, .yaml/.yml or .json file; ``overrides`` (not None) replace its values.

        Relative data paths in the file are taken relative to the file's folder.
        """
        values = read_config_file(path)
        base = Path(path).parent
        for name in _PATH_LISTS:
            if name in values:
                items = values[name] if isinstance(values[name], list) else [values[name]]
                values[name] = [str(p) if Path(str(p)).is_absolute() else str(base / str(p)) for p in items]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def read_config_file(path: StrPath) -> dict[str, Any]:
    """The settings in a .toml / .yaml / .yml / .json file, as a dict (a ``[train]`` table is unwrapped)."""
    import json

    from frasi.io import read_text_file

    suffix = Path(path).suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise InputError(f"{path} has the extension {suffix!r}; a training config is .toml, .yaml, .yml "
                         "or .json; rename or convert it")
    text = read_text_file(path)
    try:
        if suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        elif suffix == ".json":
            values = json.loads(text)
        else:
            yaml = require("yaml", extra="train", purpose="reading a YAML training config")
            try:
                values = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(str(exc)) from None
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        first = first_line(exc)
        raise InputError(f"{path} is not valid {suffix[1:].upper()}: {first}; fix the file") from None
    if isinstance(values, dict) and set(values) == {"train"} and isinstance(values["train"], dict):
        values = values["train"]
    if not isinstance(values, dict):
        raise InputError(f"{path} holds a {type(values).__name__}; expected a mapping of settings "
                         "such as epochs = 1")
    values = dict(values)
    if suffix in (".yaml", ".yml"):  # YAML 1.1 reads 2e-5 (no dot) as a string
        for name in _FLOAT_FIELDS:
            if isinstance(values.get(name), str):
                with contextlib.suppress(ValueError):
                    values[name] = float(values[name])
    return values


def _number(config: TrainConfig, name: str, *, low: float, high: float | None = None, strict: bool = False) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    bad = value <= low if strict else value < low
    if bad or (high is not None and value > high):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        span = f"{bound} and <= {high:g}" if high is not None else bound
        raise InputError(f"{name} must be {span}, got {value!r}")
    setattr(config, name, float(value))


def _integer(config: TrainConfig, name: str, *, low: int, high: int | None = None) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"between {low} and {high}"
        raise InputError(f"{name} must be an integer {span}, got {value!r}")


# ---------------------------------------------------------------------------- run record


def run_record(config: TrainConfig, *, data: dict[str, Any], metrics: dict[str, Any],
               **extra: Any) -> dict[str, Any]:
    """What a run writes next to its model (``frasi_run.json``): enough to reproduce the result."""
    import torch

    return {
        "format": "frasi-train-run/1",
        "architecture": config.architecture,
        "config": config.to_dict(),
        "seed": config.seed,
        "data": data,
        "versions": versions(LIBRARIES, python=True),
        "hardware": {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                     "torch_threads": torch.get_num_threads()},
        "selection": ("the saved model is the checkpoint with the best dev score (dev files only); "
                      "test files were scored once, after training, and never used for any choice"),
        "metrics": metrics,
        **extra,
    }
