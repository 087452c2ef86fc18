"""A model exported for a runtime (ONNX Runtime, OpenVINO): tokenizer, compiled model, CPU batching.

Loading reads the export's manifest only (settings, prompts, the source files it was made
from): the tokenizer and the compiled model load on the first texts to encode. So a
command whose vectors are all cached never compiles the model.

Batching for CPU: texts are tokenized once, sorted by length (longest first) and cut
into batches whose padded size stays within a token budget (``TOKEN_BUDGET``, and at
most ``batch_size`` texts), so a batch pads only to its own longest text, never to the
model's maximum, and short texts travel in large batches. ``openvino-int8`` batches only texts
of equal length: its int8 activations would otherwise move by up to 0.005 with the padding
a longer neighbour brings, so a text's vector would depend on what else is in the file.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import require_installed
from ..fingerprint import HashMemo, records_digest
from ..sources import ResolvedModel
from ..versions import version
from . import Backend, BackendSpec, check_threads
from .artefact import Artefact
from .compiled import open_backend, pad_batch
from .export import load_artefact
from .tokenizer import FastTokenizer

logger = logging.getLogger(__name__)

TOKEN_BUDGET = 4096  # padded tokens per batch: fast on 2-16 cores, a few MB of activations per layer
SLACK = 0.2  # a text joins a batch only if it has at least 80% of the batch's longest text's tokens


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


class ExportedRuntime:
    """An export of a model for ``spec``'s runtime, with ``threads`` CPU threads."""

    def __init__(self, spec: BackendSpec, artefact: Artefact, *, threads: int | None = None) -> None:
        self.spec = spec
        self.artefact = artefact
        self.threads = check_threads(threads)
        self._backend: Backend | None = None
        self._tokenizer: FastTokenizer | None = None
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls, resolved: ResolvedModel, spec: BackendSpec, *, threads: int | None = None,
             cache_folder: Path | None = None) -> ExportedRuntime:
        """The cached export of ``resolved`` for ``spec`` (exported once, first, if missing or stale)."""
        threads = check_threads(threads)
        require_installed(spec.module, extra=spec.extra, purpose=f"the {spec.name} backend")
        return cls(spec, load_artefact(resolved, spec, cache_folder=cache_folder), threads=threads)

    @property
    def settings(self) -> dict[str, Any]:
        return self.artefact.settings

    @property
    def tokenizer(self) -> FastTokenizer:
        with self._tokenizer_lock:
            if self._tokenizer is not None:
                return self._tokenizer
            settings = self.settings
            self._tokenizer = FastTokenizer(self.artefact.folder / "tokenizer.json",
                                            max_length=settings["max_length"],
                                            clean_up_spaces=settings.get("clean_up_spaces", False),
                                            truncation_side=settings.get("truncation_side", "right"),
                                            sentencepiece=settings.get("sentencepiece"))
            return self._tokenizer

    @property
    def compiled(self) -> bool:
        """Whether the model has been compiled yet (it is, on the first texts to encode)."""
        return self._backend is not None

    @property
    def backend(self) -> Backend:
        """The compiled model (compiled on first use)."""
        with self._lock:
            if self._backend is None:
                self._backend = open_backend(self.spec, self.artefact.model_file, threads=self.threads)
                logger.debug("compiled %s for the %s backend (%d threads)", self.artefact.model_file,
                             self.spec.name, self.threads)
            return self._backend

    def _compile_and_warm(self) -> None:
        """Compile, then run one tiny batch: the runtime's first inference sets up what every later one reuses
        (a tenth of a second for e5 on OpenVINO), so it happens here, beside the tokenizer, not after it."""
        pad = self.settings["pad_id"]
        self.backend.embed(*pad_batch([[pad] * 4], pad))

    def info(self) -> dict[str, Any]:
        """The backend, its runtime and version, and how the model was exported (a fingerprint of the vectors)."""
        m = self.artefact.manifest
        return {"backend": self.spec.name, "runtime": m["runtime"], "runtime_version": m["runtime_version"],
                "variant": m["variant"], "export_format": m["format"], "recipe": m.get("recipe"),
                "modules": self.settings["modules"], "tokenizers": version("tokenizers"),
                "quantization": m["export"].get("quantization"), "fused": m["export"].get("fused")}

    def fingerprint(self, memo: HashMemo | None = None) -> str:
        """The source files the export was made from, as its manifest records them (nothing is hashed)."""
        return "files:" + records_digest(self.artefact.manifest["source"]["files"])

    def count_truncated(self, texts: list[str]) -> int:
        return self.tokenizer.ids_and_truncated(texts)[1]

    def token_counts(self, texts: list[str]) -> list[int]:
        return self.tokenizer.lengths(texts)

    def encode(self, texts: list[str], *, prompt: str = "", batch_size: int | None = None,
               show: bool = False) -> tuple[np.ndarray, int]:
        """Embed ``texts`` (``prompt`` prepended); return (float32 vectors, texts truncated)."""
        compiling = None
        if self._backend is None:  # compile while the texts are tokenized: both release the GIL
            compiling = threading.Thread(target=_quietly, args=(self._compile_and_warm,), name="frasi-compile")
            compiling.start()
        try:
            ids, truncated = self.tokenizer.ids_and_truncated([prompt + t for t in texts] if prompt else texts)
        finally:
            if compiling is not None:  # never leave the runtime compiling behind our back
                compiling.join()
        lengths = np.fromiter((len(seq) for seq in ids), dtype=np.int64, count=len(ids))
        out = np.empty((len(texts), self.settings["dimension"]), dtype=np.float32)
        backend, pad = self.backend, self.settings["pad_id"]
        progress = None
        if show:
            from tqdm import tqdm

            progress = tqdm(total=len(texts), desc="Batches", unit="text")
        slack = 0.0 if self.spec.equal_length_batches else SLACK
        for batch in token_batches(lengths, max_texts=batch_size, slack=slack):
            out[batch] = backend.embed(*pad_batch([ids[i] for i in batch], pad))
            if progress is not None:
                progress.update(len(batch))
        if progress is not None:
            progress.close()
        return out, truncated


def _quietly(load: Any) -> None:
    """Run ``load`` in a helper thread; a failure is left for the caller's own use to raise."""
    try:
        load()
    except Exception:
        logger.debug("background loading failed; the caller will retry", exc_info=True)
