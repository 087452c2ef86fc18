"""Approximate search quality and speed: frasi.search.FaissIndex (HNSW) vs exact search.

Corpus: every unique sentence of STSb train + dev + test, English (``stsb_multi_mt/stsb-en-*.csv``,
~16k sentences), encoded with the model's ``passage`` prompt (all-MiniLM-L6-v2 by default:
no prompt). Queries: ``--queries`` sentences drawn at random (seeded) from the corpus and
encoded with the ``query`` prompt; nothing is excluded, so with a prompt-less model each
query finds itself first. Embeddings are cached in ``benchmarks/results/`` as .npy files
named by model, prompt and a hash of the texts, so re-runs skip the encoding.

Measured, with exact ``frasi.search.semantic_search`` as ground truth:

- recall@k of ``FaissIndex`` with its defaults (HNSW, M=32, efConstruction=200,
  efSearch=128): the fraction of the exact top-k ids found in the approximate top-k,
  averaged over the queries; also a flat (exact) faiss index as a sanity check;
- build time, query time per query (the whole batch of queries / their number, and one
  query at a time), index size on disk (``index.save()``);
- a sweep over efSearch (16, 32, 64, 128, 256 by default) on the same HNSW graph.

    PYTHONPATH=src python benchmarks/search_recall.py
    PYTHONPATH=src python benchmarks/search_recall.py --model multilingual-e5-small

Results: benchmarks/results/search_recall.json (or --output).
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common as C


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR,
                   help=f"folder with stsb_multi_mt/ (default: {C.DEFAULT_DATA_DIR})")
    p.add_argument("--output", type=Path, default=C.default_output("search_recall"),
                   help="JSON results file (default: benchmarks/results/search_recall.json)")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model to encode with (default all-MiniLM-L6-v2)")
    p.add_argument("--queries", type=int, default=500, help="number of queries (default 500)")
    p.add_argument("--top-k", type=int, default=10, help="k of recall@k (default 10)")
    p.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128, 256],
                   help="efSearch values to sweep (default 16 32 64 128 256)")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions per query measurement; median kept")
    p.add_argument("--seed", type=int, default=0, help="seed of the query sample (default 0)")
    p.add_argument("--cache-dir", type=Path, default=C.RESULTS_DIR, help="where embedding caches go")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write embedding caches")
    return p.parse_args(argv)


def load_corpus(data_dir: Path) -> list[str]:
    """Unique sentences of stsb-en train+dev+test, in order of first appearance."""
    texts: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        for s1, s2, _ in C.read_stsb_multi_mt(data_dir, "en", split):
            texts.setdefault(s1)
            texts.setdefault(s2)
    return list(texts)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def encode_cached(encoder, texts: list[str], prompt: str, args, label: str) -> tuple[np.ndarray, dict]:
    """Encode ``texts`` with ``prompt``, reusing benchmarks/results/emb-*.npy when it matches."""
    from frasi.io import write_embeddings

    key = C.texts_hash([encoder.name, prompt, *texts])[:16]
    cache = args.cache_dir / f"emb-{_slug(encoder.name)}-{label}-{key}.npy"
    if not args.no_cache and cache.is_file():
        vectors = np.load(cache, allow_pickle=False)
        if vectors.shape == (len(texts), encoder.dimension):
            print(f"  {label}: {len(texts)} embeddings from cache {cache.name}", flush=True)
            return vectors, {"cache": str(cache), "from_cache": True, "encode_seconds": None}
    print(f"  {label}: encoding {len(texts)} texts with prompt {prompt!r} ...", flush=True)
    t0 = time.perf_counter()
    vectors = encoder.encode(texts, prompt=prompt, show_progress=False)
    secs = time.perf_counter() - t0
    print(f"  {label}: {secs:.1f} s ({len(texts) / secs:.0f} texts/s)", flush=True)
    if not args.no_cache:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        write_embeddings(cache, vectors)
    return vectors, {"cache": None if args.no_cache else str(cache), "from_cache": False, "encode_seconds": secs}


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` over ``repeats`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found.tolist(), truth.tolist())]))


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def per_query_ms(fn_one, queries: np.ndarray) -> float:
    """Mean latency of searching the queries one at a time, in ms."""
    t0 = time.perf_counter()
    for q in queries:
        fn_one(q[None, :])
    return 1000 * (time.perf_counter() - t0) / len(queries)


def main(argv=None) -> int:
    args = parse_args(argv)
    started, load_at_start = C.now_utc(), C.load_average()
    logging.basicConfig(level=logging.WARNING)
    import faiss

    import frasi
    from frasi.search import ExactIndex, FaissIndex, semantic_search

    corpus_texts = load_corpus(args.data_dir)
    rng = np.random.default_rng(args.seed)
    n_queries = min(args.queries, len(corpus_texts))
    query_ids = np.sort(rng.choice(len(corpus_texts), size=n_queries, replace=False))
    query_texts = [corpus_texts[i] for i in query_ids]
    k = args.top_k
    print(f"corpus: {len(corpus_texts)} unique STSb-en sentences (train+dev+test); {n_queries} queries; k={k}")

    encoder = frasi.Encoder.load(args.model)
    passage_prompt = encoder.resolve_prompt("passage")
    query_prompt = encoder.resolve_prompt("query")
    corpus, corpus_info = encode_cached(encoder, corpus_texts, passage_prompt, args, "corpus")
    if query_prompt == passage_prompt:
        queries, query_info = corpus[query_ids], {"reused_corpus_embeddings": True}
    else:
        queries, query_info = encode_cached(encoder, query_texts, query_prompt, args, "queries")
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n, dim = corpus.shape

    # ---- ground truth: exact search
    exact_batch_s, (exact_scores, truth) = timed(lambda: semantic_search(queries, corpus, top_k=k), args.repeats)
    exact_one_ms = per_query_ms(lambda q: semantic_search(q, corpus, top_k=k), queries)
    # ties at the k-th exact score make recall ambiguous: count them
    kth = exact_scores[:, -1:]
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    all_scores = unit(queries) @ unit(corpus).T
    ties = int(((np.abs(all_scores - kth) < 1e-6).sum(axis=1) > 1).sum())

    rows, methods = [], {}

    def record(name, build_s, batch_s, one_ms, size, found, extra=None):
        r = recall_at_k(found, truth)
        methods[name] = {"recall_at_k": r, "build_seconds": build_s, "batch_query_seconds": batch_s,
                         "batch_ms_per_query": None if batch_s is None else 1000 * batch_s / n_queries,
                         "single_query_ms": one_ms, "index_bytes_on_disk": size, **(extra or {})}
        print(f"  {name}: recall@{k} {r:.4f}", flush=True)

    with tempfile.TemporaryDirectory(prefix="frasi-search-bench-") as tmp:
        # exact numpy index (same results as semantic_search, stored vectors)
        build_s, exact_index = timed(lambda: ExactIndex.build(corpus), 1)
        batch_s, (_, found) = timed(lambda: exact_index.search(queries, k), args.repeats)
        one_ms = per_query_ms(lambda q: exact_index.search(q, k), queries)
        size = folder_size(exact_index.save(Path(tmp) / "exact"))
        record("frasi.search.semantic_search (exact, ground truth)", None, exact_batch_s, exact_one_ms, None, truth)
        record("ExactIndex", build_s, batch_s, one_ms, size, found)

        # faiss flat: exact inner product, a sanity check of the faiss path
        build_s, flat = timed(lambda: FaissIndex.build(corpus, hnsw=False), 1)
        batch_s, (_, found) = timed(lambda: flat.search(queries, k), args.repeats)
        one_ms = per_query_ms(lambda q: flat.search(q, k), queries)
        size = folder_size(flat.save(Path(tmp) / "flat"))
        record("FaissIndex(hnsw=False) (flat)", build_s, batch_s, one_ms, size, found, {"params": flat.params()})

        # faiss HNSW with frasi's defaults
        build_s, hnsw = timed(lambda: FaissIndex.build(corpus), 1)
        default_ef = hnsw.ef_search
        batch_s, (_, found) = timed(lambda: hnsw.search(queries, k), args.repeats)
        one_ms = per_query_ms(lambda q: hnsw.search(q, k), queries)
        hnsw_size = folder_size(hnsw.save(Path(tmp) / "hnsw"))
        record("FaissIndex (HNSW, defaults)", build_s, batch_s, one_ms, hnsw_size, found, {"params": hnsw.params()})

        # efSearch sweep on the same graph
        sweep = []
        for ef in args.ef_search:
            hnsw.ef_search = ef
            batch_s, (_, found) = timed(lambda: hnsw.search(queries, k), args.repeats)
            one_ms = per_query_ms(lambda q: hnsw.search(q, k), queries)
            sweep.append({"ef_search": ef, "effective_ef_search": max(ef, k), "recall_at_k": recall_at_k(found, truth),
                          "batch_ms_per_query": 1000 * batch_s / n_queries, "single_query_ms": one_ms})
        hnsw.ef_search = default_ef

    # ---- tables
    print()
    print(f"Search over {n} x {dim} {encoder.name} embeddings, {n_queries} queries, recall@{k} vs exact search")
    for name, m in methods.items():
        rows.append([name, f"{m['recall_at_k']:.4f}",
                     "-" if m["build_seconds"] is None else f"{m['build_seconds']:.2f}",
                     f"{m['batch_ms_per_query']:.3f}", f"{m['single_query_ms']:.3f}",
                     "-" if m["index_bytes_on_disk"] is None else f"{m['index_bytes_on_disk'] / 2**20:.1f}"])
    print(C.format_table(["method", f"recall@{k}", "build s", "ms/query (batch)", "ms/query (one)", "disk MiB"],
                         rows, align="lrrrrr"))
    print(f"HNSW efSearch sweep (M={hnsw.m}, efConstruction={hnsw.ef_construction}; "
          f"frasi default efSearch={default_ef})")
    print(C.format_table(["efSearch", f"recall@{k}", "ms/query (batch)", "ms/query (one)"],
                         [[s["ef_search"], f"{s['recall_at_k']:.4f}", f"{s['batch_ms_per_query']:.3f}",
                           f"{s['single_query_ms']:.3f}"] for s in sweep], align="rrrr"))
    if ties:
        print(f"note: {ties} of {n_queries} queries have a tie (within 1e-6) at the exact k-th score; "
              "recall counts them against one order of the tied ids")

    payload = {
        "benchmark": "search_recall",
        "description": "Recall@k of frasi.search.FaissIndex (HNSW) against exact frasi.search.semantic_search on "
                       "real sentence embeddings, with build time, query time and index size.",
        "date": started,
        "finished": C.now_utc(),
        "machine": {**C.machine_info(), "load_average_at_start": load_at_start,
                    "faiss_omp_threads": faiss.omp_get_max_threads()},
        "parameters": {"data_dir": str(args.data_dir), "model": encoder.name, "corpus": "stsb_multi_mt en "
                       "train+dev+test, unique sentences", "corpus_size": n, "dim": dim,
                       "corpus_texts_sha256": C.texts_hash(corpus_texts), "passage_prompt": passage_prompt,
                       "query_prompt": query_prompt, "n_queries": n_queries, "query_seed": args.seed,
                       "queries": "random corpus sentences (kept in the index)", "top_k": k, "metric": "cosine",
                       "repeats": args.repeats, "ef_search_sweep": args.ef_search},
        "embeddings": {"corpus": corpus_info, "queries": query_info},
        "exact_ties_at_kth_score": ties,
        "methods": methods,
        "ef_search_sweep": sweep,
    }
    out = C.save_results(args.output, payload)
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
