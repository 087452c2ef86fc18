"""An exported model ready to encode: tokenizer, runtime session and CPU batching.

Batching for CPU: texts are tokenized once, sorted by length (longest first) and cut
into batches whose padded size stays within a token budget (``TOKEN_BUDGET``, and at
most ``batch_size`` texts), so a batch pads only to its own longest text, never to the
model's maximum, and short texts travel in large batches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, require
from ..sources import ResolvedModel
from . import Backend, BackendSpec, check_threads
from .tokenizer import FastTokenizer

logger = logging.getLogger(__name__)

TOKEN_BUDGET = 4096  # padded tokens per batch: fast on 2-16 cores, a few MB of activations per layer
SLACK = 0.2  # a text joins a batch only if it has at least 80% of the batch's longest text's tokens


def open_backend(spec: BackendSpec, model_file: Path, *, threads: int) -> Backend:
    """Open ``model_file`` with the runtime of ``spec``."""
    if spec.runtime == "onnxruntime":
        from .onnx import OnnxBackend

        return OnnxBackend(model_file, name=spec.name, threads=threads)
    if spec.runtime == "openvino":
        from .export import recipe
        from .openvino import OpenVinoBackend

        group_size = (recipe(spec) or {}).get("activation_group_size", 0)  # the export was checked to match
        return OpenVinoBackend(model_file, name=spec.name, threads=threads, group_size=group_size)
    raise InputError(f"backend {spec.name!r} has no exported runtime")  # pragma: no cover


def token_batches(lengths: np.ndarray, *, max_tokens: int = TOKEN_BUDGET, max_texts: int | None = None,
                  slack: float = SLACK) -> list[np.ndarray]:
    """Split text indices into length-sorted batches of at most ``max_tokens`` padded tokens.

    A batch pads to its first (longest) text; a text shorter than ``(1 - slack)`` of that
    starts a new batch, so no text carries more than ``slack`` of padding.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        width = int(lengths[order[start]])
        size = max(1, max_tokens // max(width, 1))
        if max_texts is not None:
            size = min(size, max_texts)
        end = min(start + size, len(order))
        floor = width * (1.0 - slack)
        cut = start + 1 + int(np.searchsorted(-lengths[order[start + 1 : end]], -floor, side="right"))
        batches.append(order[start:cut])
        start = cut
    return batches


@dataclass
class RuntimeModel:
    """An exported model: its backend, its tokenizer and the settings saved with the export."""

    spec: BackendSpec
    backend: Backend
    tokenizer: FastTokenizer
    settings: dict[str, Any]
    folder: Path
    manifest: dict[str, Any]

    def info(self) -> dict[str, Any]:
        """The backend, its runtime and version, and how the model was exported (a fingerprint of the vectors)."""
        m = self.manifest
        return {"backend": self.spec.name, "runtime": m["runtime"], "runtime_version": m["runtime_version"],
                "variant": m["variant"], "export_format": m["format"], "recipe": m.get("recipe"),
                "modules": self.settings["modules"],
                "quantization": m["export"].get("quantization"), "fused": m["export"].get("fused")}

    def encode(self, texts: list[str], *, batch_size: int | None = None, show: bool = False) -> tuple[np.ndarray, int]:
        """Embed ``texts`` (prompts already prepended); return (float32 vectors, texts truncated)."""
        ids, truncated = self.tokenizer.ids_and_truncated(texts)
        lengths = np.fromiter((len(seq) for seq in ids), dtype=np.int64, count=len(ids))
        out = np.empty((len(texts), self.settings["dimension"]), dtype=np.float32)
        batches = token_batches(lengths, max_texts=batch_size)
        progress = None
        if show:
            from tqdm import tqdm

            progress = tqdm(total=len(texts), desc="Batches", unit="text")
        pad = self.settings["pad_id"]
        for batch in batches:
            width = int(lengths[batch[0]])
            input_ids = np.full((len(batch), width), pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, index in enumerate(batch):
                input_ids[row, : lengths[index]] = ids[index]
                mask[row, : lengths[index]] = 1
            out[batch] = self.backend.embed(input_ids, mask)
            if progress is not None:
                progress.update(len(batch))
        if progress is not None:
            progress.close()
        return out, truncated


def load_runtime(resolved: ResolvedModel, spec: BackendSpec, *, threads: int | None = None,
                 cache: Path | None = None) -> RuntimeModel:
    """Load the cached export of ``resolved`` for ``spec`` (exporting it once if needed)."""
    from .export import load_artefact

    threads = check_threads(threads)
    require(spec.module, extra=spec.extra, purpose=f"the {spec.name} backend")
    artefact = load_artefact(resolved, spec, cache=cache)
    settings = artefact.settings
    tokenizer = FastTokenizer(artefact.folder / "tokenizer.json", max_length=settings["max_length"],
                              clean_up_spaces=settings.get("clean_up_spaces", False),
                              truncation_side=settings.get("truncation_side", "right"))
    backend = open_backend(spec, artefact.model_file, threads=threads)
    logger.debug("loaded %s with the %s backend (%d threads) from %s", resolved.name, spec.name, threads,
                 artefact.folder)
    return RuntimeModel(spec=spec, backend=backend, tokenizer=tokenizer, settings=settings, folder=artefact.folder,
                        manifest=artefact.manifest)
