"""A fine-tuned text classifier ready to predict: logits from a runtime, labels and probabilities.

What :func:`frasi.classifier_folder.load_classifier` gives for a fine-tuned folder and what
:class:`frasi.finetune.FineTunedClassifier` predicts with. It imports neither scikit-learn
nor, on a runtime backend, torch: ``frasi sentiment`` starts in well under a second.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ModelLoadError
from ..fingerprint import VectorKey
from ..io import validate_texts
from ..labels import check_known_labels, check_labels
from .folder import read_record
from .runtime import ExportedLogits, TorchLogits, open_logits


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class TextClassifier:
    """Texts in, labels (``classes_``) and probabilities out, from a sequence classifier's logits."""

    def __init__(self, runtime: TorchLogits | ExportedLogits, classes: np.ndarray, *, batch_size: int = 32,
                 record: dict[str, Any] | None = None, cache: Any = None, name: str = "") -> None:
        self.runtime = runtime
        self.classes_ = classes
        self.batch_size = batch_size
        self.record = record or {}
        self.cache = cache  # an EmbeddingCache: the logits of texts seen before are not computed again
        self.name = name

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str | None = None, threads: int | None = None,
             cache: Any = None, cache_folder: str | os.PathLike[str] | None = None) -> TextClassifier:
        """A fine-tuned folder (or any Hugging Face text-classification folder) on ``backend``; ``cache`` (an
        EmbeddingCache) keeps logits as the Encoder keeps vectors, and ``cache_folder`` is where exports go."""
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{folder} is not a fine-tuned classifier folder: config.json is missing")
        record = read_record(folder)
        max_length = int(record.get("max_length") or 512)
        runtime = open_logits(folder.resolve(), name=folder.name, backend=backend, threads=threads,
                              max_length=max_length,
                              cache_folder=Path(cache_folder).expanduser() if cache_folder is not None else None)
        return cls(runtime, check_labels(record["classes"]), record=record, cache=cache, name=folder.name)

    @property
    def backend(self) -> str:
        """What computes the logits (``torch``, ``openvino``, ...)."""
        return self.runtime.backend

    @property
    def backend_note(self) -> str | None:
        """Why the backend is not the one asked for (``auto`` fell back to torch), or None."""
        return self.runtime.note

    def vector_key(self) -> VectorKey:
        """The key of this classifier's logits in an EmbeddingCache: its files and runtime (loads nothing)."""
        fields = {"format": 1, "output": "sequence-classification logits",
                  "model": self.runtime.fingerprint(self.cache), "backend": self.runtime.info(),
                  "classes": self.classes_.tolist()}
        return VectorKey.from_fields(fields, label=self.name)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """What ``predict`` and ``predict_proba`` read, computed once: the logits of ``texts``.

        The same contract as :meth:`frasi.classifier_folder.SavedClassifier.embed` (there: the
        encoder's embeddings), so a caller that wants labels and probabilities runs the model once.
        """
        return self.decision_function(texts)

    def decision_function(self, X: Sequence[str] | np.ndarray) -> np.ndarray:
        """The logits, columns in ``classes_`` order (``X``: texts, or logits from :meth:`embed`)."""
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            if X.ndim != 2 or X.shape[1] != len(self.classes_):
                raise InputError(f"logits must be a 2-D array with {len(self.classes_)} columns, got shape {X.shape}")
            return X
        if isinstance(X, str):
            raise InputError("give a list of texts, not a single string (wrap it: [text])")
        texts = validate_texts(X)
        if self.cache is None:
            return self.runtime.logits(texts, batch_size=self.batch_size)
        return self.cache.get_or_compute(self.vector_key(), texts,
                                         lambda missing: self.runtime.logits(missing, batch_size=self.batch_size))

    def predict_proba(self, X: Sequence[str] | np.ndarray) -> np.ndarray:
        """Class probabilities (the softmax of the logits), columns in ``classes_`` order."""
        return softmax(self.decision_function(X).astype(np.float64))

    def predict(self, X: Sequence[str] | np.ndarray) -> np.ndarray:
        """Class labels for texts (or their logits from :meth:`embed`)."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def check_known_labels(self, labels: Any) -> None:
        """Raise if ``labels`` has classes this classifier was not trained on."""
        check_known_labels(labels, self.classes_)
