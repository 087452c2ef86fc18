"""A fine-tuned classifier's logits for texts: on torch, or on a runtime backend like any frasi model.

:func:`open_logits` follows :meth:`frasi.Encoder.load`'s rules: the backend comes from the
flag, ``FRASI_BACKEND``, the config file or the built-in ``auto``; ``auto`` exports the
classifier once to OpenVINO (float32: the logits of torch within 1e-4, checked at export)
and runs on torch, saying why, when it cannot. ``openvino-int8`` and the ONNX Runtime
backends work too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import AUTO, backend_spec, check_threads
from ..errors import FrasiError
from ..settings import settings
from ..sources import ResolvedModel

logger = logging.getLogger(__name__)


class TorchLogits:
    """A transformers sequence classifier in memory, run on torch in length-sorted batches."""

    backend = "torch"

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int, threads: int | None = None,
                 note: str | None = None, folder: Path | None = None) -> None:
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.threads = threads
        self.note = note
        self.folder = folder  # where the weights were loaded from, if they were

    def fingerprint(self, memo: Any = None) -> str:
        """The folder's files, or the weights in memory (a model just fine-tuned)."""
        from ..fingerprint import model_fingerprint, weights_fingerprint

        if self.folder is not None:
            return "files:" + model_fingerprint(self.folder, memo)
        return "weights:" + weights_fingerprint(self.model)

    def info(self) -> dict[str, Any]:
        from ..versions import versions

        return {"backend": "torch", "max_length": self.max_length, **versions(("torch", "transformers"))}

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = np.argsort([len(seq) for seq in ids], kind="stable")
        out = np.empty((len(ids), self.model.config.num_labels), dtype=np.float32)
        pad = self.tokenizer.pad_token_id or 0
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    rows = order[start:start + batch_size]
                    width = max(len(ids[i]) for i in rows)
                    batch = torch.full((len(rows), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(rows), width), dtype=torch.long)
                    for r, i in enumerate(rows):
                        batch[r, :len(ids[i])] = torch.tensor(ids[i])
                        mask[r, :len(ids[i])] = 1
                    out[rows] = self.model(input_ids=batch, attention_mask=mask).logits.float().numpy()
        finally:
            self.model.train(was_training)
        return out


class ExportedLogits:
    """A classifier exported for a runtime backend (:class:`frasi.backends.exported.ExportedRuntime`)."""

    note = None

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.backend = runtime.spec.name
        self.threads = runtime.threads

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        return self.runtime.encode(list(texts), batch_size=batch_size)[0]

    def fingerprint(self, memo: Any = None) -> str:
        return self.runtime.fingerprint(memo)

    def info(self) -> dict[str, Any]:
        return self.runtime.info()


def load_torch_model(folder: Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a sequence-classification folder, on torch."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .._hf import quiet_loading
    from ..loading import load_checked

    def load() -> Any:
        with quiet_loading():
            return AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True).eval()

    model = load_checked(folder, load)
    return model, AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def open_logits(folder: Path, *, name: str, backend: str | None = None, threads: int | None = None,
                max_length: int, cache_folder: Path | None = None) -> TorchLogits | ExportedLogits:
    """The classifier in ``folder`` ready to score texts on ``backend`` (default: frasi's settings)."""
    chosen = settings(backend=backend, threads=threads)
    backend, threads = chosen["backend"].value, chosen["threads"].value
    spec = backend_spec(backend)
    if threads is not None:
        check_threads(threads)
    note = None
    if spec.name != "torch":
        from ..backends.artefact import ModelNotExportable
        from ..backends.exported import ExportedRuntime

        try:
            runtime = ExportedRuntime.load(ResolvedModel(name, folder, "local"), spec, threads=threads,
                                           cache_folder=cache_folder)
            return ExportedLogits(runtime)
        except FrasiError as exc:
            if backend != AUTO:
                raise
            note = f"{spec.name} unavailable: {exc}"
            (logger.info if isinstance(exc, ModelNotExportable) else logger.warning)(
                "running %s on torch (%s)", name, note)
    model, tokenizer = load_torch_model(folder)
    return TorchLogits(model, tokenizer, max_length=max_length, threads=threads, note=note, folder=folder)
