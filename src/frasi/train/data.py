"""The data of a training run: every file read and checked before any model loads.

Scored pairs come through :func:`frasi.data.read_sts` (missing columns, NaN or
non-numeric scores, fewer than 2 rows, mismatched pair counts: one-line InputError).
Several train files (es + it + en) are concatenated; several dev or test files are
scored together (pooled) and one by one. For the MultipleNegativesRanking loss the train
files may also be unscored tables of positive pairs (sentence1 / sentence2 columns).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from frasi.errors import InputError

from .config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pairs:
    """Sentence pairs with targets in [0, 1] (``None`` for unscored positive pairs)."""

    sentences1: list[str]
    sentences2: list[str]
    targets: np.ndarray | None
    summaries: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.sentences1)

    def pairs(self) -> list[list[str]]:
        return [[a, b] for a, b in zip(self.sentences1, self.sentences2)]

    def sha256(self) -> str:
        """A hash of the pairs and their targets, in order."""
        targets = None if self.targets is None else [float(x) for x in self.targets]
        return _json_sha256({"sentence1": self.sentences1, "sentence2": self.sentences2, "targets": targets})


def _json_sha256(content: dict[str, Any]) -> str:
    """SHA-256 of ``content`` as compact JSON with sorted keys."""
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TrainingData:
    train: Pairs
    dev: list[Any]  # STSData, one per dev file
    test: list[Any]  # STSData, one per test file

    def summary(self) -> dict[str, Any]:
        """Sources, sizes and sha256 of every file, and the sha256 of the training pairs actually used
        (after sampling and filtering): what the run record keeps."""
        return {"train": self.train.summaries, "n_train_pairs": len(self.train),
                "train_pairs_sha256": self.train.sha256(),
                "dev": [d.summary() for d in self.dev], "test": [t.summary() for t in self.test]}


def load_training_data(config: TrainConfig) -> TrainingData:
    """Read and check every file of ``config``; raise InputError before any training starts."""
    from frasi.data import read_sts

    if not config.train_files:
        raise InputError("no training data: pass at least one train file (train_files, --train)")
    parts = [_read_train_file(path, config) for path in config.train_files]
    s1 = [s for p in parts for s in p.sentences1]
    s2 = [s for p in parts for s in p.sentences2]
    targets = None if any(p.targets is None for p in parts) else np.concatenate([p.targets for p in parts])
    if config.max_train_pairs is not None and config.max_train_pairs < len(s1):
        # A seeded sample, so that a short run still sees every language of the train files.
        seed = config.seed if config.data_seed is None else config.data_seed
        keep = np.sort(np.random.default_rng(seed).permutation(len(s1))[: config.max_train_pairs])
        s1, s2 = [s1[i] for i in keep], [s2[i] for i in keep]
        targets = None if targets is None else targets[keep]
    if len(s1) < 2:
        raise InputError(f"the train files hold {len(s1)} usable pair(s); expected at least 2")
    train = Pairs(s1, s2, targets, [p.summaries[0] for p in parts])
    dev = [read_sts(path) for path in config.dev_files]
    test = [read_sts(path) for path in config.test_files]
    logger.debug("read %d training pairs from %d file(s); %d dev and %d test file(s)", len(train), len(parts),
                 len(dev), len(test))
    return TrainingData(train, dev, test)


def _read_train_file(path: str, config: TrainConfig) -> Pairs:
    from frasi.data import read_sts

    if config.loss != "mnrl":
        data = read_sts(path)
        return Pairs(list(data.sentences1), list(data.sentences2), data.normalized_scores(), [data.summary()])
    try:
        data = read_sts(path)
    except InputError as exc:
        if "no score column" not in str(exc):
            raise
        return _read_positive_pairs(path)
    keep = np.flatnonzero(data.normalized_scores() >= config.mnrl_min_score)
    if len(keep) < 2:
        raise InputError(f"{path}: {len(keep)} pair(s) score at or above mnrl_min_score={config.mnrl_min_score:g} "
                         "(normalized); expected at least 2 positive pairs; lower mnrl_min_score")
    summary = {**data.summary(), "positives": len(keep), "mnrl_min_score": config.mnrl_min_score}
    return Pairs([data.sentences1[i] for i in keep], [data.sentences2[i] for i in keep], None, [summary])


def _read_positive_pairs(path: str) -> Pairs:
    """Unscored positive pairs from a table with sentence1 / sentence2 columns."""
    from frasi.data import read_pairs

    s1, s2 = read_pairs(path)
    return Pairs(s1, s2, None, [{"source": str(path), "layout": "positive pairs", "n_pairs": len(s1),
                                 "sha256": _json_sha256({"sentence1": s1, "sentence2": s2})}])
