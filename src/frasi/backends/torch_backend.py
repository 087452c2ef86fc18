"""The ``torch`` backend: a ``SentenceTransformer`` on PyTorch, float32, the reference.

Every other backend is checked against it. It is also what an :class:`frasi.Encoder`
wraps when it is built around a model in memory (``Encoder(model)``, :func:`frasi.compose`
or a fine-tuned model).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._hf import quiet_tokenizer
from ..errors import ModelLoadError
from ..fingerprint import HashMemo, folder_state, model_fingerprint, weights_fingerprint
from ..loading import settings_of
from ..versions import versions
from . import BACKENDS

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

LIBRARIES = ("torch", "transformers", "sentence-transformers", "tokenizers")
"""The libraries whose versions key the vectors of this backend."""


class TorchRuntime:
    """A loaded ``SentenceTransformer``; ``path`` is its folder when it came from one."""

    spec = BACKENDS["torch"]

    def __init__(self, model: SentenceTransformer, *, threads: int | None = None, path: Path | None = None) -> None:
        if not math.isfinite(model.max_seq_length):  # frasi counts, reports and cuts at a token limit
            raise ModelLoadError(f"{path or 'the model'} starts with {type(model[0]).__name__}, which has no token "
                                 "limit (static embeddings such as model2vec's); frasi encodes with transformer "
                                 "models only")
        self.model = model
        self.threads = threads  # None: torch's own setting
        self.path = path
        self.files_at_load = folder_state(path) if path is not None else None

    @property
    def settings(self) -> dict[str, Any]:
        return settings_of(self.model)

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def count_truncated(self, texts: list[str]) -> int:
        """How many of ``texts`` (prompts prepended) exceed the model's maximum length."""
        return sum(n > self.model.max_seq_length for n in self.token_counts(texts))

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of each text (prompt prepended) with the special tokens, before truncation."""
        with quiet_tokenizer():
            return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]

    def encode(self, texts: list[str], *, prompt: str = "", batch_size: int | None = 32,
               show: bool = False) -> tuple[np.ndarray, int]:
        truncated = self.count_truncated([prompt + t for t in texts] if prompt else texts)
        with torch_threads(self.threads):
            out = self.model.encode(texts, prompt=prompt, batch_size=batch_size or 32, convert_to_numpy=True,
                                    show_progress_bar=show)
        return out.astype(np.float32, copy=False), truncated

    def info(self) -> dict[str, Any]:
        """The backend, the modules as loaded (``stack``: with their settings) and the library versions."""
        return {"backend": "torch", "modules": [type(m).__name__ for m in self.model], "stack": repr(self.model),
                "versions": versions(LIBRARIES)}

    def fingerprint(self, memo: HashMemo | None = None) -> str:
        """The model's folder files while they are what was loaded; else its weights in memory.

        Changing weights in memory after loading from a folder is not noticed: replace
        ``Encoder.model`` (which drops the folder) or save the model first.
        """
        if self.path is not None and Path(self.path).is_dir():
            if self.files_at_load is None or self.files_at_load == folder_state(self.path):
                return "files:" + model_fingerprint(self.path, memo)
            logger.warning("the files of %s changed on disk after it was loaded; its vectors are keyed by the "
                           "weights in memory", self.path)
        return "weights:" + weights_fingerprint(self.model)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch using ``threads`` CPU threads (None: leave torch's setting alone)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
