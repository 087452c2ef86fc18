"""Embedding cache speed: re-encoding N cached texts against encoding them (target: >= 50x).

N distinct real sentences (default 10,000: the first unique sentences of the STSb English
train/dev/test files of ``stsb_multi_mt``) are encoded four ways with one model (default
``all-MiniLM-L6-v2`` via ``frasi.Encoder.load``), in a fresh cache in a temporary folder:

1. ``plain``: ``encoder.encode(texts)``, no cache: the baseline;
2. ``cold``: ``Encoder.encode(cache=...)`` on an empty cache: encodes and stores every text;
3. ``warm``: the same call again (``--repeats`` times), every text a hit;
4. ``reopened``: a new ``EmbeddingCache`` on the same file with the in-process memo of
   file hashes emptied, as a new process (the CLI) would see it.

The warm vectors must equal the cold ones bit for bit; the largest difference from the
plain vectors is reported (batches differ, so the last bits may).

    PYTHONPATH=src python benchmarks/cache_speed.py
    PYTHONPATH=src python benchmarks/cache_speed.py --n 2000   # quick run

Results: benchmarks/results/cache_speed.json (cache_speed-n<N>.json for another N), or --output.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common as C

DEFAULT_N = 10_000
TARGET_SPEEDUP = 50.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR,
                   help=f"folder with stsb_multi_mt/ (default: {C.DEFAULT_DATA_DIR})")
    p.add_argument("--output", type=Path, default=None,
                   help="JSON results file (default: benchmarks/results/cache_speed.json)")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model to encode with (default all-MiniLM-L6-v2)")
    p.add_argument("--n", type=int, default=DEFAULT_N, help=f"number of distinct texts (default {DEFAULT_N})")
    p.add_argument("--repeats", type=int, default=3, help="warm runs (default 3; the median is reported)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    args = p.parse_args(argv)
    if args.n < 1 or args.repeats < 1:
        p.error("--n and --repeats must be positive integers")
    if args.output is None:
        args.output = C.default_output("cache_speed" if args.n == DEFAULT_N else f"cache_speed-n{args.n}")
    return args


def load_texts(data_dir: Path, n: int) -> tuple[list[str], list[str]]:
    """The first n distinct sentences of stsb_multi_mt (English first, then es, it); and the files read."""
    texts: dict[str, None] = {}
    files = []
    for lang in ("en", "es", "it"):
        for split in ("train", "dev", "test"):
            files.append(f"stsb_multi_mt/stsb-{lang}-{split}.csv")
            for s1, s2, _ in C.read_stsb_multi_mt(data_dir, lang, split):
                texts.update(dict.fromkeys((s1, s2)))
            if len(texts) >= n:
                return list(texts)[:n], files
    raise SystemExit(f"only {len(texts)} distinct sentences in {data_dir}/stsb_multi_mt; pass a smaller --n")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import frasi
    import frasi.cache as cache_module
    from frasi.cache import EmbeddingCache

    started, load_at_start = C.now_utc(), C.load_average()
    texts, files = load_texts(args.data_dir, args.n)
    print(f"{len(texts)} distinct texts from {len(files)} stsb_multi_mt files; model {args.model}", flush=True)
    encoder, load_s = timed(lambda: frasi.Encoder.load(args.model))
    options = {"batch_size": args.batch_size, "show_progress": False}

    plain, plain_s = timed(lambda: encoder.encode(texts, **options))
    print(f"  plain encode         {plain_s:8.2f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="frasi-cache-bench-") as folder:
        path = Path(folder) / "embeddings.sqlite"
        with EmbeddingCache(path) as cache:
            cold, cold_s = timed(lambda: encoder.encode(texts, cache=cache, **options))
            print(f"  cold (encode+store)  {cold_s:8.2f} s", flush=True)
            warm_runs = []
            for _ in range(args.repeats):
                warm, seconds = timed(lambda: encoder.encode(texts, cache=cache, **options))
                warm_runs.append(seconds)
                assert warm.tobytes() == cold.tobytes(), "a cached vector differs from the stored one"
            hits, misses = cache.hits, cache.misses
            info = cache.info()
        cache_module._FILE_DIGESTS.clear()  # a new process starts without the in-memory memo
        with EmbeddingCache(path) as cache:
            reopened, reopened_s = timed(lambda: encoder.encode(texts, cache=cache, **options))
            assert reopened.tobytes() == cold.tobytes(), "a cached vector differs after reopening"
            assert cache.misses == 0, "reopening the cache lost entries"
    warm_s = statistics.median(warm_runs)
    speedup, speedup_reopened = plain_s / warm_s, plain_s / reopened_s
    max_diff = float(np.max(np.abs(cold.astype(np.float64) - plain)))
    print(f"  warm (all hits)      {warm_s:8.3f} s  median of {args.repeats}: "
          f"{', '.join(f'{s:.3f}' for s in warm_runs)}")
    print(f"  reopened (all hits)  {reopened_s:8.3f} s")
    print()
    print(C.format_table(
        ["run", "seconds", "texts/s", "speed-up vs plain"],
        [["plain encode", f"{plain_s:.2f}", f"{len(texts) / plain_s:.0f}", "1.0x"],
         ["cold cache", f"{cold_s:.2f}", f"{len(texts) / cold_s:.0f}", f"{plain_s / cold_s:.2f}x"],
         ["warm cache", f"{warm_s:.3f}", f"{len(texts) / warm_s:.0f}", f"{speedup:.0f}x"],
         ["reopened cache", f"{reopened_s:.3f}", f"{len(texts) / reopened_s:.0f}", f"{speedup_reopened:.0f}x"]],
        align="lrrr"))
    verdict = "meets" if min(speedup, speedup_reopened) >= TARGET_SPEEDUP else "MISSES"
    print(f"target >= {TARGET_SPEEDUP:.0f}x: {verdict} it; cache file {info.file_bytes / 2**20:.1f} MiB for "
          f"{info.entries} entries ({info.file_bytes / max(info.entries, 1):.0f} B each); "
          f"max |cached - plain| = {max_diff:.2e}")

    payload = {
        "benchmark": "cache_speed",
        "description": "Re-encoding N texts that are all in frasi's on-disk embedding cache (frasi.cache."
                       "Encoder.encode(cache=...)) against encoding them with Encoder.encode; target speed-up >= 50x.",
        "date": started,
        "finished": C.now_utc(),
        "machine": {**C.machine_info(), "load_average_at_start": load_at_start},
        "parameters": {"data_dir": str(args.data_dir), "files": files, "n_texts": len(texts),
                       "texts_sha256": C.texts_hash(texts), "model": args.model, "batch_size": args.batch_size,
                       "repeats": args.repeats},
        "model": {"name": encoder.name, "source": encoder.source, "path": str(getattr(encoder, "path", None)),
                  "dimension": encoder.dimension, "load_seconds": load_s},
        "seconds": {"plain_encode": plain_s, "cold_cache": cold_s, "warm_cache_median": warm_s,
                    "warm_cache_runs": warm_runs, "reopened_cache": reopened_s},
        "texts_per_second": {"plain_encode": len(texts) / plain_s, "cold_cache": len(texts) / cold_s,
                             "warm_cache": len(texts) / warm_s, "reopened_cache": len(texts) / reopened_s},
        "speedup_vs_plain": {"warm_cache": speedup, "reopened_cache": speedup_reopened,
                             "cold_cache": plain_s / cold_s},
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": verdict == "meets",
        "cache": {"entries": info.entries, "data_bytes": info.data_bytes, "file_bytes": info.file_bytes,
                  "file_bytes_per_entry": info.file_bytes / max(info.entries, 1), "hits": hits, "misses": misses},
        "vectors": {"warm_equals_cold_bitwise": True, "reopened_equals_cold_bitwise": True,
                    "max_abs_diff_cached_vs_plain": max_diff},
    }
    out = C.save_results(args.output, payload)
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
