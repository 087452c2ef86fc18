"""One way to score sentence pairs with any trained model: :func:`load_scorer`.

A bi-encoder scores a pair by the cosine of its two embeddings; a cross-encoder and the
three head architectures predict a score in [0, 1]. Correlations with gold scores do not
depend on the scale.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frasi.errors import InputError

from .run import RUN_FILE

logger = logging.getLogger(__name__)


@dataclass
class PairScorer:
    """A loaded model that scores pairs: ``scorer.predict(sentences1, sentences2)``."""

    architecture: str
    model: Any  # Encoder, CrossEncoder or PairRegressor
    path: Path | None = None
    record: dict[str, Any] | None = None  # the frasi_run.json of a trained model

    def predict(self, sentences1: list[str], sentences2: list[str], *, batch_size: int = 32) -> np.ndarray:
        """One score per pair (float64)."""
        if len(sentences1) != len(sentences2):
            raise InputError(f"got {len(sentences1)} first and {len(sentences2)} second sentences; "
                             "expected one second sentence per first")
        if self.architecture == "bi-encoder":
            from .bi_encoder import cosine_scores

            return cosine_scores(self.model, list(sentences1), list(sentences2), batch_size=batch_size)
        if self.architecture == "cross-encoder":
            from .cross_encoder import cross_encoder_scores

            return cross_encoder_scores(self.model, list(sentences1), list(sentences2), batch_size=batch_size)
        return self.model.predict(list(sentences1), list(sentences2), batch_size=batch_size)

    def n_parameters(self) -> int:
        torch_model = self.model.model if self.architecture == "bi-encoder" else self.model
        return int(sum(p.numel() for p in torch_model.parameters()))

    def pairs_per_second(self, sentences1: list[str], sentences2: list[str], *, batch_size: int = 32) -> float:
        """Scoring speed on these pairs (pairs per second, one timed pass)."""
        start = time.perf_counter()
        self.predict(sentences1, sentences2, batch_size=batch_size)
        return len(sentences1) / max(time.perf_counter() - start, 1e-9)


def detect_architecture(folder: Path) -> str:
    """The architecture of a model folder: from its frasi_run.json, else from what the folder holds."""
    from frasi.sources import model_kind

    run = folder / RUN_FILE
    if run.is_file():
        return json.loads(run.read_text(encoding="utf-8"))["architecture"]
    kind = model_kind(folder)
    if kind == "pair-model":
        return json.loads((folder / "head.json").read_text(encoding="utf-8"))["architecture"]
    return "cross-encoder" if kind == "cross-encoder" else "bi-encoder"


def load_scorer(name_or_path: str | Path) -> PairScorer:
    """Load a model written by frasi train (any architecture) or any Encoder (as a bi-encoder)."""
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        from frasi.encoder import Encoder

        return PairScorer("bi-encoder", Encoder.load(str(name_or_path)))
    architecture = detect_architecture(path)
    record = json.loads((path / RUN_FILE).read_text(encoding="utf-8")) if (path / RUN_FILE).is_file() else None
    if architecture == "bi-encoder":
        from frasi.encoder import Encoder

        model: Any = Encoder.load(path)
    elif architecture == "cross-encoder":
        from .cross_encoder import load_cross_encoder

        model = load_cross_encoder(path)
    else:
        from .architectures import PairRegressor

        model = PairRegressor.load(path)
    return PairScorer(architecture, model, path, record)
