"""Encoder: texts in, sentence embeddings out.

An :class:`Encoder` is a model (loaded from a folder, a packaged model or a Hub id; see
:mod:`frasi.sources`) on a runtime (:mod:`frasi.backends`), and adds what notebooks do
by hand: input checks, prompts chosen per use, a documented long-text policy, token
inspection, atomic saving, and the key under which its vectors are cached. One string
gives a 1-D float32 array; a list gives a 2-D array.

Prompts. Models that define prompts (multilingual-e5-small: ``query`` -> "query: ",
``passage`` -> "passage: ") get their default prompt for symmetric uses (similarity,
STS, classification features): for e5 that is "query: ". Search encodes queries with
the ``query`` prompt and the corpus with ``passage``. ``prompt=""`` disables prompts;
``prompt="..."`` sets one explicitly.

Long texts. ``long_texts="truncate"`` (default) cuts each text at the model's maximum
length and logs how many texts were cut; :meth:`Encoder.count_truncated` returns that
number. ``long_texts="chunk"`` embeds them whole from overlapping windows
(:mod:`frasi.chunking`).

Backends. ``Encoder.load(name, backend=...)`` picks the runtime: ``torch`` (the
sentence-transformers reference), ``onnx`` and ``openvino`` (same embeddings, faster),
``onnx-int8`` or ``openvino-int8`` (int8, approximate; ``openvino-int8`` is the fastest
on CPUs with VNNI). A runtime backend exports the model once into frasi's cache and,
once exported, loads without torch; ``threads`` sets the CPU threads of every backend.

Caching. :meth:`Encoder.vector_key` is everything besides a text that decides its
vector (the model's files, the backend and its versions, the prompt, the options), so
``encode(texts, cache=EmbeddingCache())`` can serve vectors it has already computed
without running, or even compiling, the model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from . import chunking
from ._fs import atomic_dir
from ._hf import quiet_loading, quiet_tokenizer
from .backends import AUTO, Runtime, backend_spec, check_threads
from .backends.artefact import ModelNotExportable
from .backends.torch_backend import TorchRuntime
from .errors import FrasiError, InputError, ModelLoadError, check_choice
from .fingerprint import HashMemo, VectorKey
from .io import validate_texts
from .loading import check_device, load_sentence_transformer
from .progress import show_progress_default
from .quantize import Precision, check_calibration, check_precision, quantize
from .settings import settings
from .sources import ResolvedModel, check_embedder, resolve

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

LONG_TEXT_POLICIES: tuple[str, ...] = ("truncate", "chunk")
KEY_FORMAT = 2  # bump when what a vector key holds changes: older cached vectors are not reused
#: Logged (WARNING) by encode when it cut texts; ``frasi.parity`` says it once for all backends.
TRUNCATION_WARNING = ("%d of %d texts are longer than %d tokens and were truncated; "
                      "use long_texts='chunk' (--long-texts chunk) to embed them whole")


class VectorStore(Protocol):
    """Where ``encode(cache=...)`` finds and keeps vectors (:class:`frasi.EmbeddingCache`)."""

    def get_or_compute(self, key: VectorKey, texts: Sequence[str],
                       compute: Callable[[list[str]], np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class TokenInfo:
    """What the tokenizer makes of one text (``frasi tokenize``)."""

    text: str
    prompt: str
    tokens: list[str]
    ids: list[int]
    decoded: str
    n_tokens: int
    max_length: int
    truncated: bool
    embedding_shape: tuple[int, int]  # token-embedding matrix: (tokens kept, hidden size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "prompt": self.prompt, "tokens": self.tokens, "ids": self.ids,
            "decoded": self.decoded, "n_tokens": self.n_tokens, "max_length": self.max_length,
            "truncated": self.truncated, "embedding_shape": list(self.embedding_shape),
        }


class Encoder:
    """A sentence-embedding model with a small, checked API.

    Build one with :meth:`Encoder.load` (any model name or folder) or :func:`frasi.compose`
    (a plain encoder plus pooling); wrap a ``SentenceTransformer`` in memory with
    ``Encoder(model)``. ``runtime`` is what computes the vectors (:mod:`frasi.backends`).
    """

    def __init__(self, model: SentenceTransformer | Runtime, *, name: str | None = None, source: str = "object",
                 path: Path | None = None, threads: int | None = None) -> None:
        if hasattr(model, "spec") and hasattr(model, "settings"):  # a Runtime
            self.runtime: Runtime = model  # type: ignore[assignment]
        else:
            self.runtime = TorchRuntime(model, threads=None if threads is None else check_threads(threads),
                                        path=path)
        self.name = name or type(model).__name__
        self.source = source
        self.path = path  # the model folder on disk, when it came from one
        self._torch_model: SentenceTransformer | None = None
        self.backend_note: str | None = None  # why the backend is not the one asked for (auto fell back to torch)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str] | None = None, *, backend: str | None = None,
             threads: int | None = None, device: str = "cpu", cache_folder: str | os.PathLike[str] | None = None,
             fallback: str | None = None) -> Encoder:
        """Load a model by folder, packaged name or Hub id.

        Args:
            name_or_path: the model (default: ``FRASI_MODEL``, the config file, or ``multilingual-e5-small``;
                see :mod:`frasi.settings`).
            backend: ``auto`` (the default: ``openvino`` when the model can be exported, else ``torch``),
                ``torch``, ``onnx``, ``onnx-int8``, ``openvino`` or ``openvino-int8``; see :mod:`frasi.backends`.
                A runtime backend exports the model once into the cache. Default: ``FRASI_BACKEND``, the
                config file, or ``auto``.
            threads: CPU threads for inference (default: ``FRASI_THREADS``, the config file, or every CPU
                this process may use; for ``torch``, torch's own setting).
            device: ``cpu``, or a torch device for the torch backend (``auto`` then means torch).
            cache_folder: where packaged models are converted and exports kept (default
                :func:`frasi.sources.cache_dir`).
            fallback: a backend to load instead when ``backend`` cannot load (runtime not installed,
                export failed), with a warning; by default such a failure raises. ``auto`` always falls
                back to torch, and says why in ``backend_note``.
        """
        chosen = settings(model=name_or_path, backend=backend, threads=threads)
        name_or_path, backend, threads = (chosen[n].value for n in ("model", "backend", "threads"))
        try:
            spec = backend_spec(backend)
        except InputError as exc:
            source = chosen["backend"].source
            raise InputError(f"{exc} (from {source})" if source not in ("flag", "built-in") else str(exc)) from None
        if fallback is not None:
            backend_spec(fallback)
        if threads is not None:
            check_threads(threads)
        folder = Path(cache_folder).expanduser() if cache_folder is not None else None
        resolved = resolve(name_or_path, cache_folder=folder)
        check_embedder(resolved)
        if backend == AUTO:
            if device != "cpu":
                spec = backend_spec("torch")
            elif fallback is None:
                fallback = "torch"
        if spec.name == "torch":
            check_device(device)
            model = load_sentence_transformer(resolved, device)
            return cls(TorchRuntime(model, threads=threads, path=resolved.path), name=resolved.name,
                       source=resolved.source, path=resolved.path)
        if device != "cpu":
            raise InputError(f"the {spec.name} backend runs on the CPU; got device={device!r}: pass device='cpu' "
                             "or backend='torch'")
        from .backends.exported import ExportedRuntime

        try:
            runtime = ExportedRuntime.load(resolved, spec, threads=threads, cache_folder=folder)
        except FrasiError as exc:
            if fallback is None or fallback == spec.name:
                raise
            note = f"{spec.name} unavailable: {exc}"
            (logger.info if backend == AUTO and isinstance(exc, ModelNotExportable) else logger.warning)(
                "running %s on %s (%s)", resolved.name, fallback, note)
            encoder = cls.load(resolved.path if resolved.source == "local" else name_or_path, backend=fallback,
                               threads=threads, device=device, cache_folder=cache_folder)
            encoder.backend_note = note
            return encoder
        return cls(runtime, name=resolved.name, source=resolved.source, path=resolved.path)

    # ------------------------------------------------------------------ properties

    @property
    def backend(self) -> str:
        """The backend's name (``torch``, ``openvino``, ...)."""
        return self.runtime.spec.name

    @property
    def threads(self) -> int | None:
        """CPU threads of the runtime (None: torch's own setting)."""
        return self.runtime.threads

    @property
    def backend_info(self) -> dict[str, Any]:
        """What computes the vectors: backend, runtime and library versions, export details (never loads torch
        for a runtime backend)."""
        return self.runtime.info()

    @property
    def model(self) -> SentenceTransformer:
        """The ``SentenceTransformer``; with a runtime backend it is loaded (with torch) on first use."""
        if isinstance(self.runtime, TorchRuntime):
            return self.runtime.model
        if self._torch_model is None:
            if self.path is None:  # pragma: no cover - runtimes always come from a folder
                raise ModelLoadError(f"{self.name} has no model folder to load with torch")
            logger.info("loading %s with torch (the %s backend does not need it for encoding)", self.name,
                        self.backend)
            self._torch_model = load_sentence_transformer(ResolvedModel(self.name, self.path, "local"), "cpu")
        return self._torch_model

    @model.setter
    def model(self, model: SentenceTransformer) -> None:
        """Replace the model: the encoder then runs it on torch, and no longer comes from a folder."""
        self.runtime = TorchRuntime(model, threads=self.threads if isinstance(self.runtime, TorchRuntime) else None)
        self.path = None

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (with a runtime backend, a ``frasi.backends.tokenizer.FastTokenizer``)."""
        return self.runtime.tokenizer

    @property
    def dimension(self) -> int:
        """Size of the sentence embeddings."""
        return int(self.runtime.settings["dimension"])

    @property
    def max_length(self) -> int:
        """Maximum number of tokens per input, special tokens and prompt included."""
        return int(self.runtime.settings["max_length"])

    @property
    def prompts(self) -> dict[str, str]:
        """The model's named prompts with a non-empty text (e.g. ``{"query": "query: "}``)."""
        return {k: v for k, v in self._all_prompts.items() if v}

    @property
    def _all_prompts(self) -> dict[str, str]:
        return dict(self.runtime.settings["prompts"] or {})

    @property
    def default_prompt(self) -> str:
        """The prompt used when none is asked for ("" when the model has none)."""
        name = self.runtime.settings["default_prompt_name"]
        return self._all_prompts.get(name, "") if name else ""

    @property
    def normalizes(self) -> bool:
        """Whether the model's last module L2-normalises its output."""
        return bool(self.runtime.settings["normalizes"])

    def fingerprint(self, memo: HashMemo | None = None) -> str:
        """Which model computes the vectors: its folder's files (``files:...``) or its weights in memory
        (``weights:...``); ``memo`` (an EmbeddingCache) keeps file hashes across processes."""
        return self.runtime.fingerprint(memo)

    def __repr__(self) -> str:
        return f"Encoder(name={self.name!r}, dimension={self.dimension}, max_length={self.max_length}, " \
               f"backend={self.backend!r})"

    # ------------------------------------------------------------------ prompts

    def resolve_prompt(self, prompt_name: str | None = None, prompt: str | None = None) -> str:
        """Return the prompt text for a named prompt, an explicit prompt, or the default."""
        if prompt is not None and prompt_name is not None:
            raise InputError("pass either prompt or prompt_name, not both")
        for name, value in (("prompt", prompt), ("prompt_name", prompt_name)):
            if value is not None and not isinstance(value, str):
                raise InputError(f"{name} must be a string, got {type(value).__name__}")
        if prompt is not None:
            return prompt
        if prompt_name is not None:
            if self.prompts and prompt_name not in self._all_prompts:
                raise InputError(f"the model has no prompt named {prompt_name!r}; its prompts are "
                                 f"{', '.join(sorted(self.prompts))}")
            # A model without prompts encodes every use the same way (all-MiniLM has none).
            return self._all_prompts.get(prompt_name, "")
        return self.default_prompt

    # ------------------------------------------------------------------ encoding

    def vector_key(self, *, prompt_name: str | None = None, prompt: str | None = None, normalize: bool = False,
                   long_texts: str = "truncate", chunk_overlap: int | None = None,
                   memo: HashMemo | None = None) -> VectorKey:
        """The key of the float32 vectors that ``encode`` gives with these options: the model's fingerprint,
        the backend (runtime, versions, export), the model's shape, the effective prompt text and every
        option that changes vectors. ``encode``'s other options (batch size, progress, precision,
        calibration) do not change the float32 vectors and are left out. Loads nothing heavy."""
        fields = {"format": KEY_FORMAT, "model": self.fingerprint(memo), "backend": self.backend_info,
                  "max_length": self.max_length, "dimension": self.dimension, "normalizes": self.normalizes,
                  "prompt": self.resolve_prompt(prompt_name, prompt), "normalize": bool(normalize),
                  "long_texts": long_texts, "chunk_overlap": chunk_overlap}
        return VectorKey.from_fields(fields, label=self.name)

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        normalize: bool = False,
        precision: Precision = "float32",
        long_texts: Literal["truncate", "chunk"] = "truncate",
        chunk_overlap: int | None = None,
        calibration: np.ndarray | None = None,
        show_progress: bool | None = None,
        cache: VectorStore | None = None,
    ) -> np.ndarray:
        """Encode one text (1-D array) or a list of texts (2-D array, one row per text).

        Args:
            prompt_name: a named prompt of the model (``"query"``, ``"passage"``).
            prompt: an explicit prompt text; ``""`` disables prompts.
            batch_size: texts per forward pass (texts are sorted by length first).
            normalize: L2-normalise the embeddings (models that end in Normalize already do).
            precision: ``float32``, or ``int8``/``uint8``/``binary``/``ubinary`` (:mod:`frasi.quantize`).
            calibration: float32 embeddings (from this model) that fix the int8/uint8
                per-dimension ranges, so vectors from separate calls share one scale;
                without it the ranges come from the texts encoded together.
            long_texts: ``truncate`` (default) or ``chunk``; see the module docstring.
            chunk_overlap: tokens shared by neighbouring windows when chunking
                (default: 32, or a quarter of the window for short models).
            show_progress: progress bar; default follows the terminal and the log level.
            cache: an :class:`frasi.EmbeddingCache`; texts already in it are not encoded
                again and new ones are stored. It holds float32 vectors under
                :meth:`vector_key`; ``precision`` is applied afterwards to the whole matrix,
                so int8 ranges are the same.
        """
        single = isinstance(texts, str)
        items = validate_texts(texts)
        check_precision(precision, calibration=calibration, n_texts=len(items))
        check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if chunk_overlap is not None and long_texts != "chunk":
            raise InputError("chunk_overlap only applies with long_texts='chunk'")
        for flag, value in (("normalize", normalize), ("show_progress", show_progress)):
            if not isinstance(value, (bool, np.bool_)) and not (flag == "show_progress" and value is None):
                raise InputError(f"{flag} must be True or False, got {value!r}")
        if cache is not None and not callable(getattr(cache, "get_or_compute", None)):
            raise InputError(f"cache must be a frasi.EmbeddingCache (EmbeddingCache() or EmbeddingCache(path)), "
                             f"got {type(cache).__name__}")
        if calibration is not None:
            calibration = check_calibration(calibration, self.dimension)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        show = show_progress_default() if show_progress is None else show_progress

        def compute(batch: list[str]) -> np.ndarray:
            return self._encode_float(batch, prompt_text, batch_size, normalize, long_texts, chunk_overlap, show)

        if cache is None:
            vectors = compute(items)
        else:
            key = self.vector_key(prompt=prompt_text, normalize=normalize, long_texts=long_texts,
                                  chunk_overlap=chunk_overlap, memo=cache if hasattr(cache, "file_hash") else None)
            vectors = cache.get_or_compute(key, items, compute)
        vectors = quantize(vectors, precision, calibration=calibration)
        return vectors[0] if single else vectors

    def _encode_float(self, texts: list[str], prompt: str, batch_size: int, normalize: bool, long_texts: str,
                      chunk_overlap: int | None, show: bool) -> np.ndarray:
        """float32 vectors of checked texts, with the long-text policy applied (what the cache stores)."""
        if long_texts == "chunk":
            windows, owners, weights = chunking.windows_of(
                texts, lambda text: self.split_long_text(text, prompt=prompt, overlap=chunk_overlap))
            vectors, _ = self.runtime.encode(windows, prompt=prompt, batch_size=batch_size, show=show)
            return chunking.average_windows(vectors, owners, weights, len(texts),
                                            normalize=normalize or self.normalizes)
        vectors, truncated = self.runtime.encode(texts, prompt=prompt, batch_size=batch_size, show=show)
        if truncated:
            logger.warning(TRUNCATION_WARNING, truncated, len(texts), self.max_length)
        if normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def split_long_text(self, text: str, *, prompt: str = "", overlap: int | None = None) -> list[tuple[str, int]]:
        """Split ``text`` into windows that fit the model with ``prompt``; return (window, tokens).

        Windows are substrings of the original text that start and end at word boundaries
        (see :mod:`frasi.chunking`); a text that fits is returned whole.
        """
        prompt_tokens = self._n_tokens(prompt)
        budget = chunking.window_budget(self.max_length, self._n_special_tokens(), prompt_tokens, prompt)
        overlap = chunking.check_overlap(overlap, budget)
        with quiet_tokenizer():
            offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                     truncation=False)["offset_mapping"]
        return chunking.split_text(text, offsets, budget=budget, overlap=overlap,
                                   fits=lambda piece: self._n_tokens(prompt + piece) <= budget + prompt_tokens)

    def _n_tokens(self, text: str) -> int:
        if not text:
            return 0
        with quiet_tokenizer():
            return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def _n_special_tokens(self) -> int:
        return len(self.tokenizer("", add_special_tokens=True)["input_ids"])

    def count_truncated(self, texts: str | Sequence[str], *, prompt_name: str | None = None,
                        prompt: str | None = None) -> int:
        """How many of ``texts`` exceed the model's maximum length (and get truncated)."""
        items = validate_texts(texts)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        return self.runtime.count_truncated([prompt_text + t for t in items])

    def count_tokens(self, texts: str | Sequence[str], *, prompt_name: str | None = None,
                     prompt: str | None = None) -> list[int]:
        """Tokens each text takes as the model sees it (prompt and special tokens included), before truncation:
        a count above :attr:`max_length` means the text is truncated."""
        items = validate_texts(texts)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        return self.runtime.token_counts([prompt_text + t for t in items])

    # ------------------------------------------------------------------ tokens

    def tokenize(self, text: str, *, prompt_name: str | None = None, prompt: str | None = None) -> TokenInfo:
        """Tokenize one text as the model will see it (prompt and special tokens included)."""
        if not isinstance(text, str):
            raise InputError(f"tokenize takes one str, got {type(text).__name__}; pass a single text")
        (text,) = validate_texts(text)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        with quiet_tokenizer():
            full = self.tokenizer(prompt_text + text, add_special_tokens=True, truncation=False)["input_ids"]
        kept = full[: self.max_length]
        if len(full) > self.max_length:  # truncation keeps the closing special token
            kept = full[: self.max_length - 1] + full[-1:]
        return TokenInfo(
            text=text, prompt=prompt_text, tokens=self.tokenizer.convert_ids_to_tokens(kept), ids=list(kept),
            decoded=self.tokenizer.decode(kept, skip_special_tokens=True), n_tokens=len(full),
            max_length=self.max_length, truncated=len(full) > self.max_length,
            embedding_shape=(len(kept), int(self.runtime.settings["hidden_size"])),
        )

    # ------------------------------------------------------------------ saving

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save as a standard sentence-transformers folder, atomically; return its path."""
        with atomic_dir(path, what="model") as tmp, quiet_loading():
            self.model.save(str(tmp))
        return Path(path).expanduser()
