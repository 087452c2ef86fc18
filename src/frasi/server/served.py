"""The models a server holds: loading them, one batching worker each, finding one by name.

:class:`Models` loads, in order, the embedding models (``Encoder.load``, then one encode
to compile and warm the runtime), the saved classifiers (``load_classifier``, sharing a
served encoder when they were trained on it), the cross-encoder (``frasi.train.load_scorer``)
and the shipped sentiment classifier (``frasi.load_sentiment``: a fine-tuned e5 of its own).
Until all are loaded the server answers 503. Every model gets a
:class:`~frasi.server.batching.BatchWorker`; all workers share one lock, so one run at a
time has every CPU thread, and a model shared between two of them is never run twice at
once. Everything here calls frasi's public API: the server holds no model logic.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from ..encoder import Encoder
from ..errors import FrasiError, InputError
from ..probes import SHORT_PROBES
from .batching import BatchWorker, QueueFull, Stopped
from .errors import APIError

logger = logging.getLogger(__name__)

LOADING_RETRY_S = 5
CHARS_PER_TOKEN = 4  # a run's budget counts tokens estimated from characters: tokenizing is the worker's job
QUERY, PASSAGE = "query", "passage"


def estimated_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 2


async def result_of(future: Future) -> Any:
    return await asyncio.wrap_future(future)


def submitted(submit: Callable[[], Future]) -> Future:
    """``submit()``, with a full queue as 429 and a stopping worker as 503."""
    try:
        return submit()
    except QueueFull as exc:
        raise APIError(429, f"the server is busy: {exc}; retry after {exc.retry_after} s (Retry-After)",
                       code="queue_full", headers={"Retry-After": str(exc.retry_after)}) from None
    except Stopped as exc:
        raise APIError(503, f"{exc}; retry on another server or after it restarts", code="shutting_down",
                       headers={"Retry-After": str(LOADING_RETRY_S)}) from None


class Served:
    """One served model: its id, its kind and its worker."""

    kind = ""

    def __init__(self, id: str) -> None:
        self.id = id
        self.created = int(time.time())
        self.worker: BatchWorker | None = None

    def start(self, make_worker: Callable[[str, Any], BatchWorker]) -> None:
        """Run once (compiling and warming the runtime), then start the worker."""
        self.warm()
        self.worker = make_worker(self.id, self.run).start()

    def warm(self) -> None:
        pass

    def run(self, group: Hashable, inputs: list[Any]) -> tuple[tuple[Any, ...], int | None]:  # pragma: no cover
        raise NotImplementedError

    def card(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": "frasi", "kind": self.kind}

    async def call(self, function: Callable[[], Any]) -> Any:
        """``function()`` on this model's worker thread."""
        return await result_of(submitted(lambda: self.worker.call(function)))


class ServedEncoder(Served):
    """An embedding model: ``embed`` merges concurrent requests into runs of ``Encoder.encode``."""

    kind = "embedding"

    def __init__(self, encoder: Encoder, *, cache: Any, batch_size: int, matryoshka: bool) -> None:
        super().__init__(encoder.name)
        self.encoder = encoder
        self.cache = cache
        self.batch_size = batch_size
        self.matryoshka = matryoshka

    def run(self, prompt: Hashable, texts: list[str]) -> tuple[tuple[Any, ...], int]:
        """Vectors and token counts (before truncation) of ``texts`` with ``prompt``, and the tokens the model read."""
        counts = np.asarray(self.encoder.count_tokens(texts, prompt=prompt), dtype=np.int64)
        vectors = self.encoder.encode(texts, prompt=prompt, batch_size=self.batch_size, show_progress=False,
                                      cache=self.cache)
        return (vectors, counts), int(np.minimum(counts, self.encoder.max_length).sum())

    def warm(self) -> None:
        self.encoder.encode(SHORT_PROBES[0], show_progress=False)

    def prompt(self, prompt_name: str | None) -> str:
        """The prompt text of ``prompt_name`` (None: the model's default); 422 for a name the model lacks."""
        try:
            return self.encoder.resolve_prompt(prompt_name)
        except InputError as exc:
            raise APIError(422, str(exc), code="unknown_prompt") from None

    async def embed(self, texts: list[str], prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, token counts before truncation) of ``texts``, in order."""
        costs = [estimated_tokens(prompt) + estimated_tokens(t) for t in texts]
        vectors, counts = await result_of(submitted(lambda: self.worker.submit(texts, costs, group=prompt)))
        return vectors, counts

    async def check_lengths(self, texts: list[str], prompt: str) -> None:
        """422 naming the first text over the model's maximum length (a request with ``truncate: false``)."""
        counts = await self.call(lambda: self.encoder.count_tokens(texts, prompt=prompt))
        limit = self.encoder.max_length
        over = [i for i, n in enumerate(counts) if n > limit]
        if over:
            raise APIError(422, f"{len(over)} input text(s) are longer than {self.id}'s maximum of {limit} tokens "
                                f"(text {over[0]} has {counts[over[0]]}, prompt and special tokens included) and "
                                "truncate is false; shorten them, or send truncate: true to have them cut",
                           code="input_too_long")

    def check_dimensions(self, dimensions: int | None) -> None:
        """400 unless the model gives ``dimensions`` (its own, or fewer when it is served as Matryoshka-trained)."""
        dimension = self.encoder.dimension
        if dimensions is None or dimensions == dimension:
            return
        if dimensions > dimension:
            raise APIError(400, f"dimensions is {dimensions}, but {self.id} gives {dimension}-dimensional "
                                f"embeddings; ask for at most {dimension}", code="invalid_dimensions")
        if not self.matryoshka:
            raise APIError(400, f"dimensions {dimensions} asks for truncated embeddings, but {self.id} is not served "
                                f"as Matryoshka-trained: its first {dimensions} dimensions are not an embedding it "
                                f"was trained to give; leave dimensions out (or send {dimension}), or start the "
                                f"server with --matryoshka {self.id} if the model was trained that way",
                           code="invalid_dimensions")

    def reduce(self, vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
        """The first ``dimensions`` of each vector, renormalised (checked by :meth:`check_dimensions`)."""
        self.check_dimensions(dimensions)
        if dimensions is None or dimensions == self.encoder.dimension:
            return vectors
        cut = np.ascontiguousarray(vectors[:, :dimensions])
        return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)

    async def tokenize(self, texts: list[str], prompt_name: str | None) -> list[dict[str, Any]]:
        return await self.call(lambda: [self.encoder.tokenize(t, prompt_name=prompt_name).to_dict() for t in texts])

    def card(self) -> dict[str, Any]:
        e = self.encoder
        return {**super().card(), "dimension": e.dimension, "max_length": e.max_length, "backend": e.backend,
                "prompts": e.prompts, "matryoshka": self.matryoshka}


class ServedClassifier(Served):
    """A classifier (a saved frasi classifier folder, or the shipped sentiment one): texts in, labels out."""

    def __init__(self, id: str, classifier: Any, *, kind: str) -> None:
        super().__init__(id)
        self.classifier = classifier
        self.kind = kind
        self.labels = [str(c) for c in classifier.classes_]

    def run(self, group: Hashable, texts: list[str]) -> tuple[tuple[Any, ...], int | None]:
        """(labels, probabilities or None) of ``texts``: one encode, whichever the head has."""
        if hasattr(self.classifier, "predict_proba"):
            proba = np.asarray(self.classifier.predict_proba(texts), dtype=np.float64)
            labels = [self.labels[i] for i in proba.argmax(axis=1)]
            return (labels, proba), None
        labels = [str(label) for label in self.classifier.predict(texts)]
        return (labels, [None] * len(texts)), None

    def warm(self) -> None:
        self.run(None, [SHORT_PROBES[0]])

    async def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        costs = [estimated_tokens(t) for t in texts]
        labels, proba = await result_of(submitted(lambda: self.worker.submit(texts, costs)))
        return [{"label": label, "scores": None if row is None else dict(zip(self.labels, map(float, row)))}
                for label, row in zip(labels, proba)]

    def card(self) -> dict[str, Any]:
        return {**super().card(), "labels": self.labels}


class ServedReranker(Served):
    """A cross-encoder: it reads query and document together and scores the pair."""

    kind = "cross-encoder"

    def __init__(self, id: str, scorer: Any) -> None:
        super().__init__(id)
        self.scorer = scorer

    def run(self, group: Hashable, pairs: list[tuple[str, str]]) -> tuple[tuple[Any, ...], int | None]:
        scores = self.scorer.predict([q for q, _ in pairs], [d for _, d in pairs])
        return (np.asarray(scores, dtype=np.float64),), None

    def warm(self) -> None:
        self.run(None, [(SHORT_PROBES[0], SHORT_PROBES[1])])

    async def score(self, query: str, documents: list[str]) -> np.ndarray:
        pairs = [(query, d) for d in documents]
        costs = [estimated_tokens(query) + estimated_tokens(d) for d in documents]
        (scores,) = await result_of(submitted(lambda: self.worker.submit(pairs, costs)))
        return scores


class Models:
    """Everything a server serves, loaded by :meth:`load` (in a thread of its own, so /health can answer)."""

    def __init__(self, settings: Any, *, observer: Any = None, in_flight: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.observer = observer
        self.in_flight = in_flight
        self.status = "loading"
        self.error: str | None = None
        self.encoders: dict[str, ServedEncoder] = {}
        self.classifiers: dict[str, ServedClassifier] = {}
        self.rerankers: dict[str, ServedReranker] = {}
        self.sentiment: ServedClassifier | None = None
        self.aliases: dict[str, str] = {}  # names as given (a Hub id, a path) -> served ids
        self.cache: Any = None
        self.lock = threading.Lock()  # one run at a time, across every worker
        self.ready = threading.Event()  # set once every model is loaded
        self.finished = threading.Event()  # set when loading ends, loaded or failed
        self.on_failure: Callable[[BaseException], None] | None = None
        self._stopping = False

    # ---------------------------------------------------------------- loading

    @staticmethod
    def check(settings: Any) -> None:
        """What can be checked in a moment, before the slow loading: setting values, folders that must exist."""
        from ..backends import backend_spec
        from ..settings import settings as frasi_settings
        from ..sources import model_kind

        chosen = frasi_settings(backend=settings.backend, threads=settings.threads)  # FRASI_BACKEND, ... checked
        backend_spec(chosen["backend"].value)
        if settings.fallback is not None:
            backend_spec(settings.fallback)
        for path in settings.classifiers:
            if model_kind(Path(path).expanduser()) != "classifier":
                raise InputError(f"--classifier {path} is not a saved frasi classifier folder (it has no "
                                 "classifier.json); pass a folder written by frasi classify train")
        if settings.cross_encoder is not None and not Path(settings.cross_encoder).expanduser().is_dir():
            raise InputError(f"--cross-encoder {settings.cross_encoder} is not a folder; pass a cross-encoder folder")

    def _worker(self, name: str, run: Any) -> BatchWorker:
        s = self.settings
        return BatchWorker(name, run, max_batch_tokens=s.max_batch_tokens, max_wait_s=s.max_wait_ms / 1000,
                           max_queue=s.max_queue, lock=self.lock, observer=self.observer, in_flight=self.in_flight)

    def load(self) -> None:
        """Load every model; on failure the status is ``failed`` with the error, and ``on_failure`` is told."""
        try:
            self._load()
        finally:
            self.finished.set()

    def _load(self) -> None:
        began = time.perf_counter()
        try:
            self._load_all()
        except BaseException as exc:
            self.status = "failed"
            self.error = str(exc) if isinstance(exc, FrasiError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, FrasiError):
                logger.debug("loading failed", exc_info=True)
            if self.on_failure is not None:  # it reports the error (frasi serve: one line, and exit 2)
                self.on_failure(exc)
            else:
                logger.error("loading the models failed: %s", self.error)
            return
        if self._stopping:
            return
        self.status = "ok"
        self.ready.set()
        logger.info("ready in %.1f s: %s", time.perf_counter() - began, ", ".join(self.ids()))

    def _load_all(self) -> None:
        s = self.settings
        if s.embedding_cache:
            from ..cache import EmbeddingCache

            self.cache = EmbeddingCache()
            if hasattr(self.observer, "watch_cache"):
                self.observer.watch_cache(self.cache)
        for name in s.models or [None]:
            self._check_stopping()
            encoder = Encoder.load(name, backend=s.backend, threads=s.threads, fallback=s.fallback)
            served = ServedEncoder(encoder, cache=self.cache, batch_size=s.batch_size,
                                   matryoshka=bool({encoder.name, name} & set(s.matryoshka)))
            self._add(self.encoders, served, name)
            logger.info("loaded %s (%s, %d dimensions, %d tokens)", served.id, encoder.backend, encoder.dimension,
                        encoder.max_length)
        unknown = sorted(set(s.matryoshka) - set(self.encoders) - set(self.aliases))
        if unknown:
            raise InputError(f"--matryoshka names {', '.join(unknown)}, which this server does not serve; served "
                             f"models: {', '.join(self.encoders)}")
        for path in s.classifiers:
            self._check_stopping()
            from ..classifier_folder import load_classifier

            classifier = load_classifier(path, encoder=self._shared_encoder(Path(path)), backend=s.backend,
                                         threads=s.threads, cache=self.cache)
            self._add(self.classifiers, ServedClassifier(Path(path).name, classifier, kind="classifier"), path)
        if s.cross_encoder:
            self._check_stopping()
            self._add(self.rerankers, ServedReranker(Path(s.cross_encoder).name, self._cross_encoder()),
                      s.cross_encoder)
        if s.sentiment:
            self._check_stopping()
            import frasi

            classifier = frasi.load_sentiment(backend=s.backend, threads=s.threads, cache=self.cache)
            self.sentiment = ServedClassifier("sentiment", classifier, kind="sentiment")
            self.sentiment.start(self._worker)

    def _check_stopping(self) -> None:
        if self._stopping:
            raise InputError("the server stopped while loading its models")

    def _add(self, table: dict[str, Any], served: Served, given: Any) -> None:
        taken = {**self.encoders, **self.classifiers, **self.rerankers}
        if served.id in taken or served.id == "sentiment":
            raise InputError(f"two served models are named {served.id!r}; serve models whose names (folder names "
                             "for folders) differ")
        table[served.id] = served
        if isinstance(given, str) and given != served.id:
            self.aliases[given] = served.id
        served.start(self._worker)

    def _shared_encoder(self, folder: Path) -> Encoder | None:
        """A served encoder that a classifier folder was trained on (so it is not loaded twice), or None."""
        from ..classifier_folder import read_config

        try:
            reference = read_config(folder)["encoder"].get("reference")
        except (FrasiError, KeyError, TypeError):
            return None  # load_classifier says what is wrong with the folder
        for served in self.encoders.values():
            encoder = served.encoder
            if reference in (encoder.name, str(Path(encoder.path).resolve()) if encoder.path else None):
                return encoder
        return None

    def _cross_encoder(self) -> Any:
        from ..sources import model_kind

        folder = Path(self.settings.cross_encoder).expanduser()
        kind = model_kind(folder)
        if kind != "cross-encoder":
            held = f"it holds a {kind} model" if kind else "it is not a model folder"
            raise InputError(f"--cross-encoder {folder} is not a cross-encoder folder ({held}); pass a folder "
                             "written by frasi train cross-encoder or a sentence-transformers CrossEncoder")
        from ..train import load_scorer

        return load_scorer(folder)

    def stop(self, timeout: float | None = None) -> None:
        """Stop every worker after its queued work, and close the cache."""
        self._stopping = True
        for served in self.all():
            if served.worker is not None:
                served.worker.stop(timeout)
        if self.cache is not None:
            self.cache.close()

    # ---------------------------------------------------------------- finding

    def all(self) -> list[Served]:
        return [*self.encoders.values(), *self.classifiers.values(), *self.rerankers.values(),
                *([self.sentiment] if self.sentiment else [])]

    def ids(self) -> list[str]:
        return [served.id for served in self.all()]

    def require_ready(self) -> None:
        if self.status == "ok":
            return
        if self.status == "failed":
            raise APIError(503, f"the server could not load its models: {self.error}", code="load_failed")
        raise APIError(503, "the models are still loading; retry in a few seconds (GET /health says when they are "
                            "ready)", code="loading", headers={"Retry-After": str(LOADING_RETRY_S)})

    def _find(self, table: dict[str, Any], name: str | None, what: str) -> Any:
        self.require_ready()
        if name is None:
            if not table:
                raise APIError(404, f"this server serves no {what}; see GET /v1/models", code="model_not_found")
            return next(iter(table.values()))
        found = table.get(self.aliases.get(name, name))
        if found is None:
            served = ", ".join(table) or "none"
            raise APIError(404, f"model {name!r} is not a {what} served here; served {what}s: {served} (GET "
                                "/v1/models)", code="model_not_found")
        return found

    def encoder(self, name: str | None) -> ServedEncoder:
        return self._find(self.encoders, name, "embedding model")

    def classifier(self, name: str | None) -> ServedClassifier:
        return self._find(self.classifiers, name, "classifier")

    def sentiment_classifier(self) -> ServedClassifier:
        self.require_ready()
        if self.sentiment is None:
            raise APIError(404, "this server does not serve sentiment (it was started with --no-sentiment)",
                           code="model_not_found")
        return self.sentiment

    def reranker(self, name: str | None) -> ServedReranker | ServedEncoder:
        """The named cross-encoder or embedding model; by default the cross-encoder, else the default model."""
        self.require_ready()
        if name is None:
            return next(iter(self.rerankers.values()), None) or self.encoder(None)
        if self.aliases.get(name, name) in self.rerankers:
            return self.rerankers[self.aliases.get(name, name)]
        if self.aliases.get(name, name) in self.encoders:
            return self.encoders[self.aliases.get(name, name)]
        served = ", ".join([*self.rerankers, *self.encoders])
        raise APIError(404, f"model {name!r} cannot rerank here; served cross-encoders and embedding models: "
                            f"{served} (GET /v1/models)", code="model_not_found")
