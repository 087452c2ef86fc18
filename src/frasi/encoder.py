"""Encoder: texts in, sentence embeddings out.

An :class:`Encoder` wraps a ``sentence_transformers.SentenceTransformer`` (loaded from a
folder, a packaged model or a Hub id; see :mod:`frasi.sources`) and adds what notebooks
do by hand: input checks, prompts chosen per use, a documented long-text policy,
token inspection and atomic saving. One string gives a 1-D float32 array; a list gives
a 2-D array.

Prompts. Models that define prompts (multilingual-e5-small: ``query`` -> "query: ",
``passage`` -> "passage: ") get their default prompt for symmetric uses (similarity,
STS, classification features): for e5 that is "query: ". Search encodes queries with
the ``query`` prompt and the corpus with ``passage``. ``prompt=""`` disables prompts;
``prompt="..."`` sets one explicitly.

Long texts. ``long_texts="truncate"`` (default) cuts each text at the model's maximum
length and logs how many texts were cut; :meth:`Encoder.count_truncated` returns that
number. ``long_texts="chunk"`` splits a long text into overlapping windows of tokens
(``chunk_overlap`` tokens shared between neighbours, 32 by default), encodes each window with the same
prompt and averages the window embeddings weighted by their token counts; the average
is L2-normalised when the model normalises its outputs.

Backends. ``Encoder.load(name, backend=...)`` picks the runtime (see
:mod:`frasi.backends`): ``torch`` (default, the sentence-transformers reference),
``onnx`` and ``openvino`` (same embeddings, faster), ``onnx-int8`` or ``openvino-int8``
(int8, approximate; ``openvino-int8`` is the fastest on CPUs with VNNI).
A runtime backend exports the model once into frasi's cache and, once exported, loads
without torch; ``threads`` sets the CPU threads of every backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._hf import muted, quiet_loading, quiet_tokenizer
from .backends import DEFAULT_BACKEND, backend_spec, check_threads
from .cache import EmbeddingCache, folder_state
from .errors import FrasiError, InputError, ModelLoadError, OutputError, first_line
from .io import validate_texts
from .sources import DEFAULT_MODEL, ResolvedModel, resolve

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

    from .backends.runtime import RuntimeModel
    from .cache import EmbeddingCache

logger = logging.getLogger(__name__)

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "uint8", "binary", "ubinary")
LONG_TEXT_POLICIES: tuple[str, ...] = ("truncate", "chunk")
#: Logged (WARNING) by encode when it cut texts; ``frasi.backends.parity`` says it once for all backends.
TRUNCATION_WARNING = ("%d of %d texts are longer than %d tokens and were truncated; "
                      "use long_texts='chunk' (--long-texts chunk) to embed them whole")


def _check_device(device: str) -> None:
    """A device torch can parse and this machine has, or an InputError (not a corrupt-folder error)."""
    if device == "cpu":
        return
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise InputError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from None
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}.get(kind, lambda: True)
    if not available():
        raise InputError(f"device={device!r} is not available here (this torch build or machine has no {kind}); "
                         "use device='cpu'")


def _check_ranges(vectors: np.ndarray, source: str) -> None:
    """int8/uint8 scale each dimension by its range in ``vectors``. When no dimension varies
    (duplicate texts, a one-row calibration), every value would come out the same: refuse.
    A few constant dimensions (dead units of a ReLU Dense layer) are harmless."""
    scale = np.abs(vectors).max(axis=0)
    flat = int((np.ptp(vectors, axis=0) <= 1e-5 * np.maximum(scale, 1e-12)).sum())  # float noise counts as flat
    if flat == vectors.shape[1]:
        raise InputError(f"no dimension varies across the {len(vectors)} row{'s' if len(vectors) != 1 else ''} of "
                         f"the {source}, so int8/uint8 cannot scale them; calibrate on several different texts "
                         "(calibration=encoder.encode(sample)) or use binary/ubinary")
    if flat:
        logger.debug("%d of %d dimensions are constant in the %s; they quantize to one value", flat,
                     vectors.shape[1], source)


def show_progress_default() -> bool:
    """Progress bars show on a terminal when frasi's log level lets INFO through."""
    return sys.stderr.isatty() and logging.getLogger("frasi").getEffectiveLevel() <= logging.INFO


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

    Build one with :meth:`Encoder.load` (any model name or folder) or
    :func:`frasi.compose` (a plain encoder plus pooling); wrap an existing
    ``SentenceTransformer`` with ``Encoder(model)``.
    """

    def __init__(self, model: SentenceTransformer, *, name: str | None = None, source: str = "object",
                 path: Path | None = None, threads: int | None = None) -> None:
        self._model: SentenceTransformer | None = model
        self._runtime: RuntimeModel | None = None
        self.name = name or type(model).__name__
        self.source = source
        self.path = path  # the model folder on disk, when it came from one
        self.files_at_load = folder_state(path) if path is not None else None  # (file, size, mtime) as loaded
        self.backend = DEFAULT_BACKEND
        self.threads = None if threads is None else check_threads(threads)  # None: torch's own default

    @classmethod
    def _from_runtime(cls, runtime: RuntimeModel, resolved: ResolvedModel) -> Encoder:
        encoder = cls.__new__(cls)
        encoder._model = None
        encoder._runtime = runtime
        encoder.name, encoder.source, encoder.path = resolved.name, resolved.source, resolved.path
        encoder.files_at_load = None  # the export's manifest records the source files it was made from
        encoder.backend = runtime.spec.name
        encoder.threads = runtime.backend.threads
        return encoder

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, *, device: str = "cpu",
             cache: str | os.PathLike[str] | None = None, backend: str = DEFAULT_BACKEND, threads: int | None = None,
             fallback: str | None = None) -> Encoder:
        """Load a model by folder, packaged name (default ``multilingual-e5-small``) or Hub id.

        Args:
            backend: ``torch`` (default), ``onnx``, ``onnx-int8``, ``openvino`` or ``openvino-int8``; see
                :mod:`frasi.backends`. A runtime backend exports the model once into the cache.
            threads: CPU threads for inference (default: every CPU this process may use;
                for ``torch``, torch's own setting).
            fallback: a backend to load instead when ``backend`` cannot load (runtime not
                installed, export failed), with a warning; by default such a failure raises.
        """
        spec = backend_spec(backend)
        if fallback is not None:
            backend_spec(fallback)
        if threads is not None:
            check_threads(threads)
        cache = Path(cache).expanduser() if cache is not None else None
        resolved = resolve(name_or_path, cache=cache)
        if spec.name == "torch":
            _check_device(device)
            return cls(_load_sentence_transformer(resolved, device), name=resolved.name, source=resolved.source,
                       path=resolved.path, threads=threads)
        if device != "cpu":
            raise InputError(f"the {spec.name} backend runs on the CPU; got device={device!r}: pass device='cpu' "
                             "or backend='torch'")
        from .backends.runtime import load_runtime

        try:
            return cls._from_runtime(load_runtime(resolved, spec, threads=threads, cache=cache), resolved)
        except FrasiError as exc:
            if fallback is None or fallback == spec.name:
                raise
            logger.warning("the %s backend is unavailable (%s); falling back to %s", spec.name, exc, fallback)
            return cls.load(resolved.path if resolved.source == "local" else name_or_path, device=device,
                            cache=cache, backend=fallback, threads=threads)

    # ------------------------------------------------------------------ properties

    @property
    def model(self) -> SentenceTransformer:
        """The ``SentenceTransformer``; with a runtime backend it is loaded (with torch) on first use."""
        if self._model is None:
            if self.path is None:  # pragma: no cover - runtimes always come from a folder
                raise ModelLoadError(f"{self.name} has no model folder to load with torch")
            logger.info("loading %s with torch (the %s backend does not need it for encoding)", self.name,
                        self.backend)
            self._model = _load_sentence_transformer(ResolvedModel(self.name, self.path, "local"), "cpu")
        return self._model

    @model.setter
    def model(self, model: SentenceTransformer) -> None:
        """Replace the model; the encoder no longer comes from a folder (``path`` becomes None)."""
        self._model = model
        self.path = self.files_at_load = None

    @property
    def tokenizer(self):
        """The model's tokenizer (with a runtime backend, a ``frasi.backends.tokenizer.FastTokenizer``)."""
        return self._runtime.tokenizer if self._runtime is not None else self.model.tokenizer

    @property
    def dimension(self) -> int:
        """Size of the sentence embeddings."""
        if self._runtime is not None:
            return int(self._runtime.settings["dimension"])
        return int(self.model.get_embedding_dimension())

    @property
    def max_length(self) -> int:
        """Maximum number of tokens per input, special tokens and prompt included."""
        if self._runtime is not None:
            return int(self._runtime.settings["max_length"])
        return int(self.model.max_seq_length)

    @property
    def _all_prompts(self) -> dict[str, str]:
        if self._runtime is not None:
            return dict(self._runtime.settings["prompts"] or {})
        return dict(self.model.prompts or {})

    @property
    def prompts(self) -> dict[str, str]:
        """The model's named prompts with a non-empty text (e.g. ``{"query": "query: "}``)."""
        return {k: v for k, v in self._all_prompts.items() if v}

    @property
    def default_prompt(self) -> str:
        """The prompt used when none is asked for ("" when the model has none)."""
        if self._runtime is not None:
            name = self._runtime.settings["default_prompt_name"]
        else:
            name = self.model.default_prompt_name
        return self._all_prompts.get(name, "") if name else ""

    @property
    def normalizes(self) -> bool:
        """Whether the model's last module L2-normalises its output."""
        if self._runtime is not None:
            return bool(self._runtime.settings["normalizes"])
        return any(type(m).__name__ == "Normalize" for m in self.model)

    @property
    def backend_info(self) -> dict[str, Any]:
        """What computes the vectors: backend, runtime version, export details. Vectors differ across backends,
        so caches of embeddings should key on this (it never loads torch for a runtime backend)."""
        if self._runtime is not None:
            return self._runtime.info()
        return {"backend": self.backend, "modules": [type(m).__name__ for m in self.model]}

    def __repr__(self) -> str:
        extra = f", backend={self.backend!r}" if self.backend != DEFAULT_BACKEND else ""
        return f"Encoder(name={self.name!r}, dimension={self.dimension}, max_length={self.max_length}{extra})"

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
        cache: EmbeddingCache | None = None,
    ) -> np.ndarray:
        """Encode one text (1-D array) or a list of texts (2-D array, one row per text).

        Args:
            prompt_name: a named prompt of the model (``"query"``, ``"passage"``).
            prompt: an explicit prompt text; ``""`` disables prompts.
            batch_size: texts per forward pass (texts are sorted by length first).
            normalize: L2-normalise the embeddings (models that end in Normalize already do).
            precision: ``float32``, or ``int8``/``uint8``/``binary``/``ubinary`` quantized
                with sentence-transformers' ``quantize_embeddings``.
            calibration: float32 embeddings (from this model) that fix the int8/uint8
                per-dimension ranges, so vectors from separate calls share one scale;
                without it the ranges come from the texts encoded together.
            long_texts: ``truncate`` (default) or ``chunk``; see the module docstring.
            chunk_overlap: tokens shared by neighbouring windows when chunking
                (default: 32, or a quarter of the window for short models).
            show_progress: progress bar; default follows the terminal and the log level.
            cache: an :class:`frasi.EmbeddingCache`; texts already in it are not encoded
                again and new ones are stored. It holds float32 vectors, keyed by
                everything that changes them (see :mod:`frasi.cache`); ``precision`` is
                applied afterwards to the whole matrix, so int8 ranges are the same.
        """
        single = isinstance(texts, str)
        items = validate_texts(texts)
        check_choice("precision", precision, PRECISIONS)
        check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if calibration is not None and precision not in ("int8", "uint8"):
            raise InputError("calibration only applies with precision 'int8' or 'uint8'")
        if precision in ("int8", "uint8") and calibration is None and len(items) < 2:
            raise InputError(
                f"precision {precision!r} calibrates its ranges on the texts encoded together and needs "
                f"at least 2 texts, got {len(items)}; pass calibration embeddings, encode more texts "
                "at once, or use binary/ubinary"
            )
        if chunk_overlap is not None and long_texts != "chunk":
            raise InputError("chunk_overlap only applies with long_texts='chunk'")
        for flag, value in (("normalize", normalize), ("show_progress", show_progress)):
            if not isinstance(value, (bool, np.bool_)) and not (flag == "show_progress" and value is None):
                raise InputError(f"{flag} must be True or False, got {value!r}")
        if cache is not None and not isinstance(cache, EmbeddingCache):
            raise InputError(f"cache must be a frasi.EmbeddingCache (EmbeddingCache() or EmbeddingCache(path)), "
                             f"got {type(cache).__name__}")
        if calibration is not None:
            calibration = self._check_calibration(calibration)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        show = show_progress_default() if show_progress is None else show_progress

        def compute(batch: list[str]) -> np.ndarray:
            return self._encode_float(batch, prompt_text, batch_size, normalize, long_texts, chunk_overlap, show)

        if cache is None:
            vectors = compute(items)
        else:
            from .cache import namespace_for

            namespace = namespace_for(self, cache=cache, prompt=prompt_text, normalize=normalize,
                                      long_texts=long_texts, chunk_overlap=chunk_overlap)
            vectors = cache.get_or_compute(namespace, items, compute)
        if precision != "float32":
            from sentence_transformers.util.quantization import quantize_embeddings

            if precision in ("int8", "uint8"):
                _check_ranges(vectors if calibration is None else calibration,
                              "calibration embeddings" if calibration is not None else "texts encoded together")

            with muted("sentence_transformers"):  # its calibration note is documented above
                vectors = quantize_embeddings(vectors, precision=precision, calibration_embeddings=calibration)
        return vectors[0] if single else vectors

    def _check_calibration(self, calibration: Any) -> np.ndarray:
        array = np.asarray(calibration)
        if array.ndim != 2 or array.dtype.kind != "f":
            raise InputError(f"calibration must be a 2-D float array of embeddings (one row per text), got shape "
                             f"{array.shape} and dtype {array.dtype}; encode a list of texts, not one string")
        if array.shape[1] != self.dimension:
            raise InputError(f"calibration embeddings have dimension {array.shape[1]}; this model gives "
                             f"{self.dimension}")
        if not np.isfinite(array).all():
            raise InputError("calibration embeddings contain NaN or infinite values")
        return array

    def _encode_float(self, texts: list[str], prompt: str, batch_size: int, normalize: bool, long_texts: str,
                      chunk_overlap: int | None, show: bool) -> np.ndarray:
        """float32 vectors of checked texts, with the long-text policy applied (what the cache stores)."""
        if long_texts == "chunk":
            return self._encode_chunked(texts, prompt, batch_size, normalize, chunk_overlap, show)
        if self._runtime is None:
            truncated = self.count_truncated(texts, prompt=prompt)
            vectors = self._encode(texts, prompt, batch_size, normalize, show)
        else:  # the runtime tokenizes once and counts what it cut
            vectors, truncated = self._encode_runtime(texts, prompt, batch_size, normalize, show)
        if truncated:
            logger.warning(TRUNCATION_WARNING, truncated, len(texts), self.max_length)
        return vectors

    def _encode(self, texts: list[str], prompt: str, batch_size: int, normalize: bool, show: bool) -> np.ndarray:
        if self._runtime is not None:
            return self._encode_runtime(texts, prompt, batch_size, normalize, show)[0]
        with _torch_threads(self.threads):
            out = self.model.encode(texts, prompt=prompt, batch_size=batch_size, normalize_embeddings=normalize,
                                    convert_to_numpy=True, show_progress_bar=show)
        return out.astype(np.float32, copy=False)

    def _encode_runtime(self, texts: list[str], prompt: str, batch_size: int, normalize: bool,
                        show: bool) -> tuple[np.ndarray, int]:
        assert self._runtime is not None
        vectors, truncated = self._runtime.encode([prompt + t for t in texts] if prompt else texts,
                                                  batch_size=batch_size, show=show)
        if normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors, truncated

    def _quiet_tokenizer(self) -> contextlib.AbstractContextManager[None]:
        """transformers' tokenizers warn about long texts; the runtime's tokenizer does not (and needs no transformers)."""
        return contextlib.nullcontext() if self._runtime is not None else quiet_tokenizer()

    def _encode_chunked(self, texts: list[str], prompt: str, batch_size: int, normalize: bool,
                        overlap: int | None, show: bool) -> np.ndarray:
        windows, owners, weights = [], [], []
        for i, text in enumerate(texts):
            for piece, n_tokens in self.split_long_text(text, prompt=prompt, overlap=overlap):
                windows.append(piece)
                owners.append(i)
                weights.append(n_tokens)
        vectors = self._encode(windows, prompt, batch_size, False, show)
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float64)
        totals = np.zeros(len(texts), dtype=np.float64)
        np.add.at(out, owners, vectors * np.asarray(weights, dtype=np.float64)[:, None])
        np.add.at(totals, owners, weights)
        out /= totals[:, None]
        if normalize or self.normalizes:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def split_long_text(self, text: str, *, prompt: str = "", overlap: int | None = None) -> list[tuple[str, int]]:
        """Split ``text`` into windows that fit the model with ``prompt``; return (window, tokens).

        Windows are substrings of the original text that start and end at word boundaries
        (inside a word only when one word alone exceeds the budget), so each window tokenizes
        as in the whole text; each is checked to fit with the prompt. A text that fits is
        returned whole.
        """
        prompt_tokens = self._n_tokens(prompt)
        budget = self.max_length - self._n_special_tokens() - prompt_tokens
        if budget < 8:
            raise InputError(f"the prompt {prompt!r} leaves no room for text in {self.max_length} tokens")
        if overlap is None:
            overlap = min(32, budget // 4)
        if not isinstance(overlap, int) or not 0 <= overlap < budget // 2:
            raise InputError(f"chunk_overlap must be an integer in [0, {budget // 2}), got {overlap!r}")
        with self._quiet_tokenizer():
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        offsets = enc["offset_mapping"]
        n = len(offsets)
        if n <= budget:
            return [(text, max(n, 1))]
        # a token starts a word when text separates it from the one before (not "##ism", not ".")
        word_start = [i == 0 or offsets[i][0] > offsets[i - 1][1] for i in range(n)] + [True]
        windows, start = [], 0
        while True:
            end = min(start + budget, n)
            cut = end
            while cut > start + 1 and not word_start[cut]:
                cut -= 1
            end = cut if word_start[cut] else end  # one word longer than the budget: cut inside it
            piece = text[offsets[start][0] : offsets[end - 1][1]]
            while end > start + 1 and self._n_tokens(prompt + piece) > budget + prompt_tokens:
                end -= 1  # re-tokenized, the piece must still fit (it does when cut at words)
                piece = text[offsets[start][0] : offsets[end - 1][1]]
            if piece.strip():
                windows.append((piece, end - start))
            if end == n:
                return windows
            nxt = max(end - overlap, start + 1)
            while nxt < end and not word_start[nxt]:
                nxt += 1
            start = nxt

    def _n_tokens(self, text: str) -> int:
        if not text:
            return 0
        with self._quiet_tokenizer():
            return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def _n_special_tokens(self) -> int:
        return len(self.tokenizer("", add_special_tokens=True)["input_ids"])

    def count_truncated(self, texts: str | Sequence[str], *, prompt_name: str | None = None,
                        prompt: str | None = None) -> int:
        """How many of ``texts`` exceed the model's maximum length (and get truncated)."""
        items = validate_texts(texts)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        with self._quiet_tokenizer():
            lengths = self.tokenizer([prompt_text + t for t in items], add_special_tokens=True,
                                     truncation=False)["input_ids"]
        return sum(len(ids) > self.max_length for ids in lengths)

    # ------------------------------------------------------------------ tokens

    def tokenize(self, text: str, *, prompt_name: str | None = None, prompt: str | None = None) -> TokenInfo:
        """Tokenize one text as the model will see it (prompt and special tokens included)."""
        if not isinstance(text, str):
            raise InputError(f"tokenize takes one str, got {type(text).__name__}; pass a single text")
        (text,) = validate_texts(text)
        prompt_text = self.resolve_prompt(prompt_name, prompt)
        with self._quiet_tokenizer():
            full = self.tokenizer(prompt_text + text, add_special_tokens=True, truncation=False)["input_ids"]
        kept = full[: self.max_length]
        if len(full) > self.max_length:  # truncation keeps the closing special token
            kept = full[: self.max_length - 1] + full[-1:]
        return TokenInfo(
            text=text, prompt=prompt_text, tokens=self.tokenizer.convert_ids_to_tokens(kept), ids=list(kept),
            decoded=self.tokenizer.decode(kept, skip_special_tokens=True), n_tokens=len(full),
            max_length=self.max_length, truncated=len(full) > self.max_length,
            embedding_shape=(len(kept), self._hidden_size()),
        )

    def _hidden_size(self) -> int:
        if self._runtime is not None:
            return int(self._runtime.settings["hidden_size"])
        return int(self.model[0].get_embedding_dimension())

    # ------------------------------------------------------------------ saving

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save as a standard sentence-transformers folder, atomically; return its path."""
        import shutil
        import tempfile

        target = Path(path).expanduser()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise OutputError(f"cannot save the model to {target}: it exists and is not an empty folder")
        if not target.parent.is_dir():
            raise OutputError(f"cannot save the model to {target}: folder {target.parent} does not exist")
        tmp = None
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            with quiet_loading():
                self.model.save(str(tmp))
            tmp.chmod(0o755)
            if target.exists():
                target.rmdir()
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"cannot save the model to {target}: {exc}") from exc
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
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


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _load_sentence_transformer(resolved: ResolvedModel, device: str) -> SentenceTransformer:
    """Load a resolved folder; a plain encoder folder gets mean pooling, as sentence-transformers does."""
    path = resolved.path

    def build() -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        if (path / "modules.json").is_file():
            return SentenceTransformer(str(path), device=device, local_files_only=True)
        from .compose import compose_modules

        logger.info("%s is a plain encoder folder: adding mean pooling", path)
        return compose_modules(str(path), pooling="mean", device=device)

    return load_checked(path, build)


def load_checked(path: Path, build: Callable[[], SentenceTransformer]) -> SentenceTransformer:
    """Run ``build`` quietly over the model folder ``path``; turn every failure into ModelLoadError.

    Missing files are reported before loading; weights that the checkpoint lacks (which
    transformers would initialise at random) are an error, not a warning.
    """
    check_model_files(path)
    try:
        with quiet_loading() as messages:
            model = build()
    except FrasiError:
        raise
    except Exception as exc:
        first = first_line(exc)
        raise ModelLoadError(
            f"cannot load the model in {path}: {first}; the folder may be corrupt or partial "
            "(re-save it, or delete it so frasi converts or downloads it again)"
        ) from exc
    if any("LOAD REPORT" in m and "MISSING" in m for m in messages):
        raise ModelLoadError(
            f"the weights in {path} lack tensors the model needs (they would be random); the checkpoint "
            "is partial or belongs to another architecture: re-save or re-download the model"
        )
    return model


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model",
                   "tokenizer.model", "sentencepiece.model")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def check_model_files(path: Path) -> None:
    """Raise ModelLoadError when a transformer folder lacks its weights or tokenizer files."""
    import json

    folder = path
    if (path / "modules.json").is_file():
        try:
            first = json.loads((path / "modules.json").read_text(encoding="utf-8"))[0]
        except (ValueError, IndexError, KeyError, OSError) as exc:
            raise ModelLoadError(f"{path / 'modules.json'} is not valid; the folder is corrupt") from exc
        if not str(first.get("type", "")).endswith("Transformer"):
            return  # static embeddings and other first modules have their own files
        folder = path / first.get("path", "")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json; the model folder is incomplete")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(f"{folder} has no weights (model.safetensors or pytorch_model.bin); "
                             "the model folder is incomplete")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(f"{folder} has no tokenizer files (tokenizer.json, vocab.txt, ...); "
                             "the model folder is incomplete")
