"""Top-k search and paraphrase mining over embeddings, exact (numpy) or approximate (faiss).

Scores follow :mod:`frasi.similarity`: higher = more similar, euclidean scores are NEGATIVE
distances. Search results come back as ``(scores, indices)``, like faiss: float32 and int64
arrays of shape (q, k), best first. A saved index records its provenance (model files,
corpus, prompt, long-text policy: :func:`index_provenance`), and :func:`check_provenance`
refuses to search a corpus with an index built from something else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from frasi._fs import atomic_dir
from frasi.errors import InputError, MissingExtraError, OutputError, require
from frasi.similarity import (
    as_matrix,
    check_metric,
    check_positive_int,
    check_same_dim,
    kernel,
    prepare,
)

__all__ = [
    "ExactIndex", "FaissIndex", "build_index", "check_provenance", "index_provenance", "load_index",
    "mine_paraphrases", "semantic_search",
]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 2048  # a block of at most 2048 x 2048 scores (16 MiB) at a time
FORMAT_VERSION = 1


def semantic_search(
    queries, corpus, *, top_k: int | None = 10, metric: str = "cosine", chunk_size: int = DEFAULT_CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k: for each query, the ``min(top_k, n)`` best rows of ``corpus`` (n, d), best first,
    ties broken by the lower index; ``top_k=None`` ranks all n rows.

    Returns ``(scores, indices)``, float32 and int64, like faiss: of shape (q, k) for queries
    (q, d), and of shape (k,) for one query vector (d,). Scores are computed in blocks of
    ``chunk_size`` queries x ``chunk_size`` corpus rows, never the whole matrix at once.
    """
    check_metric(metric)
    single = np.ndim(queries) == 1
    queries, corpus = as_matrix(queries, "queries"), as_matrix(corpus, "corpus")
    check_same_dim(queries, corpus, "queries", "corpus")
    k = corpus.shape[0] if top_k is None else min(check_positive_int(top_k, "top_k"), corpus.shape[0])
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    scores, indices = _search(prepare(queries, metric), prepare(corpus, metric), k, metric, chunk_size)
    return (scores[0], indices[0]) if single else (scores, indices)


def mine_paraphrases(
    embeddings,
    *,
    top_k: int = 5,
    metric: str = "cosine",
    max_pairs: int | None = None,
    threshold: float | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """The most similar distinct pairs within one set of embeddings (n, d).

    Each item contributes its ``top_k`` nearest other items; the pairs are deduplicated as
    ``(i, j)`` with ``i < j``, kept if ``score >= threshold`` and sorted by descending score
    (ties by i, then j), at most ``max_pairs`` of them. Returns ``(pairs, scores)``: int64 (p, 2)
    and float32 (p,). Works in ``chunk_size`` blocks, never on the full n x n matrix.
    """
    check_metric(metric)
    emb = prepare(as_matrix(embeddings, "embeddings"), metric)
    top_k = check_positive_int(top_k, "top_k")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if max_pairs is not None:
        check_positive_int(max_pairs, "max_pairs")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                                  or not math.isfinite(threshold)):
        raise InputError(f"threshold must be a number, got {threshold!r}")
    n, k = emb.shape[0], min(top_k, emb.shape[0] - 1)
    if k == 0:
        return np.empty((0, 2), np.int64), np.empty(0, np.float32)
    scores, neighbours = _search(emb, emb, k, metric, chunk_size, exclude_self=True)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols, scores = neighbours.ravel(), scores.ravel()
    if threshold is not None:
        keep = scores >= threshold
        rows, cols, scores = rows[keep], cols[keep], scores[keep]
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    order = np.lexsort((hi, lo, -scores))
    lo, hi, scores = lo[order], hi[order], scores[order]
    _, first = np.unique(lo * n + hi, return_index=True)  # (i, j) found from both sides: keep one
    first = np.sort(first)[:max_pairs]
    return np.stack([lo[first], hi[first]], axis=1), scores[first]


def _search(queries, corpus, k: int, metric: str, chunk_size: int, exclude_self: bool = False):
    """Blockwise exact top-k over prepared, validated matrices -> (scores, indices).

    ``exclude_self`` (queries is corpus) never pairs a row with itself.
    """
    q = queries.shape[0]
    all_scores, all_indices = np.empty((q, k), np.float32), np.empty((q, k), np.int64)
    for qs in range(0, q, chunk_size):
        block_q = queries[qs : qs + chunk_size]
        best_s = np.empty((len(block_q), 0), np.float32)
        best_i = np.empty((len(block_q), 0), np.int64)
        for cs in range(0, corpus.shape[0], chunk_size):
            scores = kernel(block_q, corpus[cs : cs + chunk_size], metric)
            if exclude_self:
                r = np.arange(max(qs, cs), min(qs + len(block_q), cs + scores.shape[1]))
                scores[r - qs, r - cs] = -np.inf
            idx = _top_k(scores, k)
            # Earlier chunks hold lower indices, so a stable merge keeps ties in index order.
            best_s = np.concatenate([best_s, np.take_along_axis(scores, idx, 1)], axis=1)
            best_i = np.concatenate([best_i, idx + cs], axis=1)
            order = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(best_s, order, 1)
            best_i = np.take_along_axis(best_i, order, 1)
        all_scores[qs : qs + chunk_size], all_indices[qs : qs + chunk_size] = best_s, best_i
    return all_scores, all_indices


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Row-wise column indices of the k best scores, best first, ties by the lower index."""
    if k >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    idx = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
    picked = np.take_along_axis(scores, idx, 1)
    idx = np.take_along_axis(idx, np.argsort(-picked, axis=1, kind="stable"), 1)
    # argpartition picks arbitrarily among values tied with the k-th best: redo those rows exactly.
    tied = (scores >= picked.min(axis=1, keepdims=True)).sum(axis=1) > k
    if tied.any():
        idx[tied] = np.argsort(-scores[tied], axis=1, kind="stable")[:, :k]
    return idx


class _Index:
    """The contract shared by ExactIndex and FaissIndex."""

    kind = ""
    payload = ""

    def __init__(self, dim: int, *, metric: str = "cosine") -> None:
        check_metric(metric)
        self._dim, self._metric = check_positive_int(dim, "dim"), metric
        self.metadata: dict = {}  # free-form, JSON-serialisable; saved and loaded with the index

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @classmethod
    def build(cls, vectors, *, metric: str = "cosine", **params):
        """A new index of ``vectors`` (n, d); ``params`` go to the constructor."""
        vectors = as_matrix(vectors, "vectors")
        return cls(vectors.shape[1], metric=metric, **params).add(vectors)

    def add(self, vectors):
        """Append ``vectors`` (n, d) after the ones already there; returns the index."""
        self._add(self._check(vectors, "vectors"))
        return self

    def search(self, queries, top_k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)`` of shape (q, min(top_k, len(self))), best first."""
        if len(self) == 0:
            raise InputError("the index is empty; call add(vectors) before search()")
        k = min(check_positive_int(top_k, "top_k"), len(self))
        return self._search(self._check(queries, "queries"), k)

    def _check(self, x, name: str) -> np.ndarray:
        x = as_matrix(x, name)
        if x.shape[1] != self.dim:
            raise InputError(
                f"{name} have dimension {x.shape[1]}, but this index holds dimension {self.dim}; "
                "use vectors from the same model"
            )
        return prepare(x, self.metric)

    def params(self) -> dict:
        return {}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to the folder ``path`` atomically (all or nothing); returns the path.

        An index folder already there is replaced; any other existing, non-empty path is refused.
        """
        path = Path(path)
        if path.exists() and not (path / "index.json").is_file() and (path.is_file() or any(path.iterdir())):
            raise OutputError(f"{path} exists and is not an index folder; choose a new or an empty folder")
        meta = {"kind": self.kind, "metric": self.metric, "dim": self.dim, "count": len(self),
                "params": self.params(), "format_version": FORMAT_VERSION,
                "metadata": self.metadata}  # fmt: skip
        try:
            with atomic_dir(path, what="index", replace=True) as tmp:
                (tmp / "index.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
                self._save(tmp / self.payload)
        except RuntimeError as exc:  # faiss reports write failures as RuntimeError
            raise OutputError(f"cannot write the index to {path}: {exc}") from exc
        logger.debug("saved %s index of %d vectors to %s", self.kind, len(self), path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read an index written by ``save()``."""
        meta = _read_meta(path)
        if meta["kind"] != cls.kind:
            raise InputError(
                f"{path} holds a {meta['kind']!r} index, not {cls.kind!r}; use load_index()"
            )
        try:
            index = cls(meta["dim"], metric=meta["metric"], **meta["params"])
            index._load(Path(path) / cls.payload)
            index.metadata = dict(meta.get("metadata") or {})
        except MissingExtraError:
            raise
        except Exception as exc:  # numpy, faiss and json each fail in their own way
            raise InputError(
                f"{path} is not a readable {cls.kind} index ({exc}); save the index again"
            ) from exc
        if len(index) != meta["count"]:
            raise InputError(
                f"{path} should hold {meta['count']} vectors but holds {len(index)}; "
                "save the index again"
            )
        return index

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(dim={self.dim}, metric={self.metric!r}, count={len(self)})"


class ExactIndex(_Index):
    """Brute-force index: exact results, memory n x d float32, search time linear in n."""

    kind, payload = "exact", "vectors.npy"

    def __init__(self, dim: int, *, metric: str = "cosine", chunk_size: int = DEFAULT_CHUNK):
        super().__init__(dim, metric=metric)
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self._vectors = np.empty((0, self.dim), np.float32)  # already normalised for cosine

    def __len__(self) -> int:
        return self._vectors.shape[0]

    def params(self) -> dict:
        return {"chunk_size": self.chunk_size}

    def _add(self, vectors: np.ndarray) -> None:
        self._vectors = np.concatenate([self._vectors, vectors])

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _search(queries, self._vectors, k, self.metric, self.chunk_size)

    def _save(self, file: Path) -> None:
        np.save(file, self._vectors, allow_pickle=False)

    def _load(self, file: Path) -> None:
        vectors = np.load(file, allow_pickle=False)
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors.npy has dtype {vectors.dtype} and shape {vectors.shape}")
        self._vectors = vectors


class FaissIndex(_Index):
    """Approximate index with faiss: HNSW graph (or flat with ``hnsw=False``), or IVF-PQ.

    Cosine is inner product over L2-normalised vectors, dot is inner product over the vectors
    as given, euclidean is L2. Needs the ``frasi[faiss]`` extra.

    ``ivf_lists`` (with ``hnsw=False``) makes an IVF-PQ index: vectors compressed to ``pq_m``
    bytes (product quantization, 8 bits per sub-vector; default ``dim // 4``) in ``ivf_lists``
    inverted lists, of which a search visits ``nprobe``. Its memory is about
    ``pq_m + 8`` bytes per vector, so it suits corpora whose vectors do not fit in memory; it
    must be trained on a sample first (:meth:`train`, or the first :meth:`add`).
    """

    kind, payload = "faiss", "index.faiss"

    def __init__(
        self, dim: int, *, metric: str = "cosine", hnsw: bool = True,
        m: int = 32, ef_construction: int = 200, ef_search: int = 128,
        ivf_lists: int | None = None, pq_m: int | None = None, nprobe: int = 32,
    ) -> None:  # fmt: skip
        super().__init__(dim, metric=metric)
        faiss = _faiss()
        self.hnsw = bool(hnsw)
        self.m = check_positive_int(m, "m")
        self.ef_construction = check_positive_int(ef_construction, "ef_construction")
        self.ef_search = check_positive_int(ef_search, "ef_search")
        self.ivf_lists = None if ivf_lists is None else check_positive_int(ivf_lists, "ivf_lists")
        self.nprobe = check_positive_int(nprobe, "nprobe")
        self.pq_m = None
        faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        if self.ivf_lists is not None:
            if self.hnsw:
                raise InputError("ivf_lists makes an IVF-PQ index, not HNSW: pass hnsw=False with it")
            self.pq_m = check_positive_int(pq_m if pq_m is not None else max(1, self.dim // 4), "pq_m")
            if self.dim % self.pq_m:
                raise InputError(f"pq_m ({self.pq_m}) must divide the dimension ({self.dim})")
            quantizer = faiss.IndexFlat(self.dim, faiss_metric)
            self._index = faiss.IndexIVFPQ(quantizer, self.dim, self.ivf_lists, self.pq_m, 8, faiss_metric)
        elif pq_m is not None:
            raise InputError("pq_m applies to an IVF-PQ index: pass ivf_lists (and hnsw=False) with it")
        elif self.hnsw:
            self._index = faiss.IndexHNSWFlat(self.dim, self.m, faiss_metric)
            self._index.hnsw.efConstruction = self.ef_construction
        else:
            self._index = faiss.IndexFlat(self.dim, faiss_metric)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def params(self) -> dict:
        params = {"hnsw": self.hnsw, "m": self.m, "ef_construction": self.ef_construction,
                  "ef_search": self.ef_search}  # fmt: skip
        if self.ivf_lists is not None:
            params.update(ivf_lists=self.ivf_lists, pq_m=self.pq_m, nprobe=self.nprobe)
        return params

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, sample):
        """Train an IVF-PQ index on ``sample`` (n, d), at least ``ivf_lists`` vectors and better 39 per list
        (other kinds need no training); returns the index."""
        sample = self._check(sample, "sample")
        if not self.is_trained:
            if len(sample) < max(self.ivf_lists or 1, 256):
                raise InputError(f"an IVF-PQ index of {self.ivf_lists} lists trains on at least "
                                 f"{max(self.ivf_lists or 1, 256)} vectors; got {len(sample)}")
            self._index.train(sample)
        return self

    def _add(self, vectors: np.ndarray) -> None:
        if not self.is_trained:
            self.train(vectors)
        self._index.add(vectors)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        params = None
        if self.ivf_lists is not None:
            params = _faiss().SearchParametersIVF(nprobe=min(self.nprobe, self.ivf_lists))
        elif self.hnsw:  # efSearch below k would return fewer than k neighbours
            params = _faiss().SearchParametersHNSW(efSearch=max(self.ef_search, k))
        scores, indices = self._index.search(queries, k, params=params)
        if self.metric == "euclidean":
            scores = -np.sqrt(np.maximum(scores, 0.0)) + 0.0  # faiss gives squared distances
        scores[indices < 0] = -np.inf  # fewer than k neighbours found
        return scores.astype(np.float32, copy=False), indices.astype(np.int64, copy=False)

    def _save(self, file: Path) -> None:
        _faiss().write_index(self._index, str(file))

    def _load(self, file: Path) -> None:
        index = _faiss().read_index(str(file))
        if index.d != self.dim:
            raise ValueError(f"index.faiss has dimension {index.d}")
        self._index = index


def _faiss():
    return require("faiss", extra="faiss", purpose="approximate search")


_KINDS = {cls.kind: cls for cls in (ExactIndex, FaissIndex)}


def _read_meta(path: str | os.PathLike) -> dict:
    file = Path(path) / "index.json"
    if not file.is_file():
        raise InputError(
            f"no index found at {path} (missing {file.name}); "
            "expected a folder written by index.save()"
        )
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
        missing = {"kind", "metric", "dim", "count", "params", "format_version"} - set(meta)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(
            f"{file} is not valid index metadata ({exc}); save the index again"
        ) from exc
    if missing:
        raise InputError(f"{file} lacks the keys {sorted(missing)}; save the index again")
    if meta["kind"] not in _KINDS:
        raise InputError(
            f"{file} names an unknown index kind {meta['kind']!r}; expected one of {sorted(_KINDS)}"
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise InputError(
            f"{file} has format_version {meta['format_version']}, this frasi reads "
            f"{FORMAT_VERSION}; upgrade frasi or save the index again"
        )
    return meta


def load_index(path: str | os.PathLike) -> ExactIndex | FaissIndex:
    """Load any index written by ``save()``, whatever its kind."""
    return _KINDS[_read_meta(path)["kind"]].load(path)


def texts_sha256(texts: Sequence[str]) -> str:
    """One SHA-256 over a list of texts, in order."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


_PROVENANCE_LABELS = {"model_files": "model", "corpus_sha256": "corpus", "corpus_prompt_text": "corpus prompt",
                      "long_texts": "long-text policy (--long-texts)"}


def index_provenance(*, model_fingerprint: str, corpus: Sequence[str], corpus_prompt: str,
                     long_texts: str) -> dict[str, str]:
    """What a saved index records of how its vectors were made: the model's files, the corpus texts, the corpus
    prompt text and the long-text policy (``index.metadata`` holds it, with the model's name)."""
    return {"model_files": model_fingerprint, "corpus_sha256": texts_sha256(corpus),
            "corpus_prompt_text": corpus_prompt, "long_texts": long_texts}


def check_provenance(index: ExactIndex | FaissIndex, expected: Mapping[str, str], *, where: str,
                     dimension: int, size: int, model_name: str | None = None) -> None:
    """InputError unless ``index`` was built as ``expected`` (:func:`index_provenance`) over ``size`` vectors of
    ``dimension``; a warning names what an index saved by an earlier frasi does not record. Such an index may
    record only the model's name: it is compared with ``model_name``."""
    recorded = index.metadata
    if "model_files" not in recorded and "model" in recorded and model_name is not None \
            and recorded["model"] != model_name:
        raise InputError(f"the index in {where} was built with another model ({recorded['model']!r}); rebuild it "
                         "with --save-index")
    for key, value in expected.items():
        if key in recorded and recorded[key] != value:
            shown = recorded.get("model", recorded[key]) if key == "model_files" else recorded[key]
            raise InputError(f"the index in {where} was built with another {_PROVENANCE_LABELS[key]} ({shown!r}); "
                             "rebuild it with --save-index")
    unknown = [_PROVENANCE_LABELS[key] for key in expected
               if key not in recorded and not (key == "model_files" and "model" in recorded)]
    if unknown:
        logger.warning("the index in %s does not record its %s, so frasi cannot check that they match; rebuild it "
                       "with --save-index to be sure", where, ", ".join(unknown))
    if len(index) != size or index.dim != dimension:
        raise InputError(f"the index in {where} holds {len(index)} vectors of dim {index.dim}, but the corpus has "
                         f"{size} texts and the model dim {dimension}; rebuild it with --save-index")


def build_index(
    vectors, *, kind: str = "auto", metric: str = "cosine", exact_threshold: int = 50_000
) -> ExactIndex | FaissIndex:
    """An index over ``vectors``: ``kind`` is "exact", "faiss", or "auto" (exact below
    ``exact_threshold`` vectors, faiss from there on, exact with a warning if faiss is missing)."""
    if kind not in ("auto", *_KINDS):
        raise InputError(f"unknown index kind {kind!r}; expected 'auto', 'exact' or 'faiss'")
    vectors = as_matrix(vectors, "vectors")
    if kind == "auto":
        kind = "exact" if len(vectors) < exact_threshold else "faiss"
        if kind == "faiss":
            try:
                _faiss()
            except MissingExtraError as exc:
                logger.warning("%s; using exact search over %d vectors instead", exc, len(vectors))
                kind = "exact"
    logger.debug("building a %s index over %d vectors", kind, len(vectors))
    return _KINDS[kind].build(vectors, metric=metric)
