"""``frasi corpus index``: a faiss index of a corpus's parts, built streaming, its recall measured.

The index is built part by part: the driver holds the index and one part's vectors at a
time, never the whole matrix besides the index. Its kind follows the corpus's size:

- below :data:`HNSW_MAX_ROWS` rows, an HNSW graph over the vectors (``M=32``,
  efSearch 128; memory about ``4 d + 256`` bytes per vector);
- from there on, IVF-PQ (:class:`frasi.search.FaissIndex` with ``ivf_lists``): trained on a
  seeded sample of at most :data:`TRAIN_SAMPLE` vectors, then filled part by part; memory
  about ``d / 4 + 8`` bytes per vector. ``nprobe`` (lists visited per query) is the smallest
  that reaches, within 0.005, the best recall of the sweep :data:`NPROBES`.

Recall@10 against exact search is measured on ``queries`` corpus vectors (seeded), each
searched for its 10 nearest other rows: the exact top 10 comes from a second streaming pass
over the parts, and a hit counts when its exact score reaches the 10th exact score (so
duplicate texts, which tie, are not held against the index). The index is saved as
``DIR/index`` (a folder :func:`frasi.load_index` reads) with the recall and the corpus's
run id; :class:`CorpusIndex` searches it and finds each hit's id and text.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._fs import StrPath
from ..errors import InputError, require
from ..progress import show_progress_default
from ..search import ExactIndex, FaissIndex, load_index, semantic_search
from ..similarity import prepare
from .manifest import INDEX, Manifest, now, output_lock
from .parts import part_path, part_record, read_columns, read_vectors, require_dask
from .shards import Shard, read_shard
from .verification import open_manifest

logger = logging.getLogger(__name__)

KINDS = ("auto", "hnsw", "ivf-pq", "exact")
HNSW_MAX_ROWS = 250_000
TRAIN_SAMPLE = 200_000
RECALL_QUERIES = 500
RECALL_K = 10
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
METRIC = "cosine"


@dataclass(frozen=True)
class IndexResult:
    """The index built: where, its kind and parameters, and its recall@10 against exact search."""

    folder: Path
    kind: str
    rows: int
    dimension: int
    params: dict[str, Any]
    recall_at_10: float
    queries: int
    recall_by_nprobe: dict[int, float] | None
    seconds: float
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["folder"] = str(self.folder)
        return out


def _checked_parts(path: Path, manifest: Manifest) -> None:
    if not manifest.complete:
        raise InputError(f"{path} is not complete ({len(manifest.finished)} of {len(manifest.shards)} shards); "
                         "finish it with frasi corpus embed first")
    for shard in manifest.shards:
        part = part_path(path, shard.index)
        if not part.is_file() or part_record(part) != manifest.finished[shard.index]:
            raise InputError(f"{part} does not match the manifest; run frasi corpus verify {path}, and frasi corpus "
                             "embed again to redo it")


def _pick(wanted: np.ndarray, shard: Shard) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``wanted``, rows within the shard) of the sorted global rows ``wanted`` in ``shard``."""
    lo = np.searchsorted(wanted, shard.first_row)
    hi = np.searchsorted(wanted, shard.first_row + shard.rows)
    return np.arange(lo, hi), wanted[lo:hi] - shard.first_row


def _gather(path: Path, manifest: Manifest, rows: np.ndarray, bar: Any = None) -> np.ndarray:
    """The vectors of the sorted global ``rows``, read part by part."""
    out = np.empty((len(rows), manifest.dimension), np.float32)
    for shard in manifest.shards:
        positions, within = _pick(rows, shard)
        if len(positions):
            out[positions] = read_vectors(part_path(path, shard.index), manifest.dimension)[within]
        if bar is not None:
            bar.update()
    return out


def _choose_kind(kind: str, rows: int) -> str:
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "auto":
        return "hnsw" if rows < HNSW_MAX_ROWS else "ivf-pq"
    return kind


def index(folder: StrPath, *, kind: str = "auto", queries: int = RECALL_QUERIES, sample: int = TRAIN_SAMPLE,
          ivf_lists: int | None = None, pq_m: int | None = None, nprobe: int | None = None, m: int = 32,
          ef_search: int = 128, seed: int = 0, show_progress: bool | None = None) -> IndexResult:
    """Build ``folder/index`` from the parts of the output ``folder`` and measure its recall@10.

    Args:
        kind: ``auto`` (HNSW below 250,000 rows, else IVF-PQ), ``hnsw``, ``ivf-pq`` or ``exact``.
        queries: corpus vectors searched to measure recall@10.
        sample: IVF-PQ: vectors it is trained on (at most).
        ivf_lists, pq_m, nprobe: IVF-PQ: lists (default ``4 sqrt(rows)``, at most ``sample / 39``),
            bytes per vector (default ``d / 4``), lists per query (default: chosen by recall).
        m, ef_search: HNSW: links per node, candidates per query.
    """
    require_dask()
    started = time.perf_counter()
    path, manifest = open_manifest(folder)
    n, dim = manifest.rows, manifest.dimension
    chosen = _choose_kind(kind, n)
    for name, value in (("queries", queries), ("sample", sample), ("m", m), ("ef_search", ef_search)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if chosen != "ivf-pq" and (ivf_lists, pq_m, nprobe) != (None, None, None):
        raise InputError("ivf_lists, pq_m and nprobe (--ivf-lists, --pq-m, --nprobe) apply to kind ivf-pq")
    if chosen != "exact":
        require("faiss", extra="faiss", purpose="a corpus index")
    show = show_progress_default() if show_progress is None else show_progress
    rng = np.random.default_rng(seed)
    with output_lock(path):
        _checked_parts(path, manifest)
        query_rows = np.sort(rng.choice(n, size=min(queries, n), replace=False))
        if chosen == "ivf-pq":
            training = np.sort(rng.choice(n, size=min(sample, n), replace=False))
            lists = ivf_lists or max(1, min(4 * math.isqrt(n), len(training) // 39))
            built: ExactIndex | FaissIndex = FaissIndex(dim, metric=METRIC, hnsw=False, ivf_lists=lists, pq_m=pq_m,
                                                        nprobe=nprobe or 1)
            with _bar(len(manifest.shards), "reading the training sample", show) as bar:
                vectors = _gather(path, manifest, training, bar)
            logger.info("training IVF-PQ (%d lists, %d bytes per vector) on %d vectors", lists, built.pq_m,
                        len(vectors))
            built.train(vectors)
            del vectors
        elif chosen == "hnsw":
            built = FaissIndex(dim, metric=METRIC, hnsw=True, m=m, ef_search=ef_search)
        else:
            built = ExactIndex(dim, metric=METRIC)
        query_vectors = np.empty((len(query_rows), dim), np.float32)
        with _bar(len(manifest.shards), f"building the {chosen} index", show) as bar:
            for shard in manifest.shards:
                vectors = read_vectors(part_path(path, shard.index), dim)
                positions, within = _pick(query_rows, shard)
                query_vectors[positions] = vectors[within]
                built.add(vectors)
                bar.update()
        sweep = None
        if isinstance(built, FaissIndex) and built.ivf_lists is not None:
            settings = [nprobe] if nprobe else [p for p in NPROBES if p <= built.ivf_lists] or [built.ivf_lists]
        else:
            settings = [0]
        hits = {}
        for setting in settings:
            if setting:
                built.nprobe = setting
            hits[setting] = _without_self(built.search(query_vectors, top_k=RECALL_K + 1)[1], query_rows)
        with _bar(len(manifest.shards), "measuring recall against exact search", show) as bar:
            recalls = _recall(path, manifest, query_vectors, query_rows, hits, bar)
        if settings != [0]:
            sweep = {int(p): round(r, 4) for p, r in recalls.items()}
            best = max(recalls.values())
            built.nprobe = nprobe or min(p for p, r in recalls.items() if r >= best - 0.005)
            recall = recalls[built.nprobe]
        else:
            recall = recalls[0]
        seconds = time.perf_counter() - started
        built.metadata.update(
            corpus_run=manifest.run, model=manifest.model["name"], model_files=manifest.config["vectors"]["model"],
            corpus_prompt_text=manifest.model["options"]["prompt"],
            long_texts=manifest.model["options"]["long_texts"], corpus_rows=n, corpus_kind=chosen,
            recall_at_10=round(recall, 4), recall_queries=len(query_rows), recall_by_nprobe=sweep, built=now(),
            build_seconds=round(seconds, 2))
        target = built.save(path / INDEX)
    size = sum(p.stat().st_size for p in Path(target).iterdir())
    logger.info("indexed %d vectors (%s), recall@10 %.3f on %d queries", n, chosen, recall, len(query_rows))
    return IndexResult(Path(target), chosen, n, dim, built.params(), round(recall, 4), len(query_rows), sweep,
                       round(seconds, 2), size)


def _without_self(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The first RECALL_K ids of each row of ``ids`` other than the query's own row."""
    out = np.full((len(ids), RECALL_K), -1, np.int64)
    for i, (found, own) in enumerate(zip(ids, rows)):
        kept = found[found != own][:RECALL_K]
        out[i, : len(kept)] = kept
    return out


def _recall(path: Path, manifest: Manifest, queries: np.ndarray, rows: np.ndarray, hits: dict[int, np.ndarray],
            bar: Any) -> dict[int, float]:
    """Recall@10 of each setting's ``hits`` against exact search, in one pass over the parts."""
    q = prepare(queries, METRIC)
    best_scores = np.full((len(q), RECALL_K + 1), -np.inf, np.float32)
    best_rows = np.full((len(q), RECALL_K + 1), -1, np.int64)
    hit_scores = {s: np.full(h.shape, -np.inf, np.float32) for s, h in hits.items()}
    for shard in manifest.shards:
        vectors = prepare(read_vectors(part_path(path, shard.index), manifest.dimension), METRIC)
        scores, found = semantic_search(q, vectors, top_k=RECALL_K + 1, metric=METRIC)
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_rows = np.concatenate([best_rows, found + shard.first_row], axis=1)
        order = np.argsort(-merged_scores, axis=1, kind="stable")[:, : RECALL_K + 1]
        best_scores = np.take_along_axis(merged_scores, order, 1)
        best_rows = np.take_along_axis(merged_rows, order, 1)
        for setting, found_hits in hits.items():
            inside = (found_hits >= shard.first_row) & (found_hits < shard.first_row + shard.rows)
            qi, ki = np.nonzero(inside)
            if len(qi):
                local = found_hits[qi, ki] - shard.first_row
                hit_scores[setting][qi, ki] = np.einsum("ij,ij->i", q[qi], vectors[local])
        bar.update()
    # the 10th best exact score among the other rows (the query's own row set aside)
    kth = np.empty(len(q), np.float32)
    for i, own in enumerate(rows):
        others = best_scores[i][best_rows[i] != own]
        kth[i] = others[RECALL_K - 1] if len(others) >= RECALL_K else -np.inf
    return {setting: float(np.mean((hit_scores[setting] >= kth[:, None] - 1e-5).sum(axis=1) / RECALL_K))
            for setting in hits}


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _bar(total: int, what: str, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=what, unit="part", leave=False)


# ---------------------------------------------------------------- searching a corpus


def corpus_folder(path: StrPath) -> Path | None:
    """The corpus folder that ``path`` is (an output of frasi corpus embed) or whose index it is; else None."""
    folder = Path(path).expanduser()
    for candidate in (folder, folder.parent):
        if (candidate / "manifest.json").is_file() and (candidate / "parts").is_dir():
            if candidate == folder or folder.name == INDEX:
                return candidate
    return None


@dataclass(frozen=True)
class Hit:
    rank: int
    row: int
    id: str
    text: str | None
    score: float


class CorpusIndex:
    """The index of a corpus folder, with the rows' ids and texts: ``search(query_vectors, top_k)``."""

    def __init__(self, folder: StrPath) -> None:
        require_dask()
        found = corpus_folder(folder)
        if found is None:
            raise InputError(f"{folder} is not a frasi corpus folder (no manifest.json and parts/)")
        self.folder, self.manifest = open_manifest(found)
        where = self.folder / INDEX
        if not (where / "index.json").is_file():
            raise InputError(f"{self.folder} has no index yet; build it with: frasi corpus index {self.folder}")
        self.index = load_index(where)
        if self.index.metadata.get("corpus_run") != self.manifest.run:
            raise InputError(f"the index in {where} was built from another state of the corpus; rebuild it with: "
                             f"frasi corpus index {self.folder}")
        self._starts = [s.first_row for s in self.manifest.shards]

    @property
    def model(self) -> str:
        """How to load the corpus's model (its folder, or its packaged or Hub name)."""
        return str(self.manifest.model["reference"])

    @property
    def model_name(self) -> str:
        return str(self.manifest.model["name"])

    def check_encoder(self, encoder: Any, memo: Any = None) -> None:
        """InputError unless ``encoder`` runs the model the corpus was embedded with (its files); ``memo`` (an
        EmbeddingCache) keeps file hashes across processes."""
        if encoder.fingerprint(memo) != self.manifest.config["vectors"]["model"]:
            raise InputError(f"the corpus in {self.folder} was embedded with {self.model_name!r}; encode the queries "
                             f"with the same model (--model {self.model})")

    def search(self, query_vectors: Any, top_k: int = 10) -> list[list[Hit]]:
        """The ``top_k`` rows nearest to each query vector, best first, with their ids and texts (None when the
        texts were not stored and the input file is gone or changed)."""
        scores, rows = self.index.search(query_vectors, top_k=top_k)
        found = self.rows(sorted({int(r) for r in rows.ravel() if r >= 0}))
        return [[Hit(rank + 1, int(r), *found[int(r)], float(s)) for rank, (s, r) in enumerate(zip(srow, rrow))
                 if r >= 0] for srow, rrow in zip(scores, rows)]

    def rows(self, rows: list[int]) -> dict[int, tuple[str, str | None]]:
        """(id, text) of global rows: from the parts, and the texts from the inputs unless the parts hold them."""
        by_shard: dict[int, list[int]] = {}
        for row in rows:
            if not 0 <= row < self.manifest.rows:
                raise InputError(f"row {row} is outside the corpus (0 to {self.manifest.rows - 1})")
            by_shard.setdefault(bisect.bisect_right(self._starts, row) - 1, []).append(row)
        out: dict[int, tuple[str, str | None]] = {}
        for index_, wanted in by_shard.items():
            shard = self.manifest.shards[index_]
            names = ["id", "text"] if self.manifest.store_text else ["id"]
            columns = read_columns(part_path(self.folder, shard.index), names)
            texts: list[str] | None = columns.get("text")
            if texts is None:
                try:
                    texts = read_shard(self.manifest.inputs[shard.input], shard)[1]
                except InputError as exc:
                    logger.warning("%s; showing ids without texts", exc)
            for row in wanted:
                i = row - shard.first_row
                out[row] = (columns["id"][i], texts[i] if texts is not None else None)
        return out
