"""Corpora on Dask at scale: frasi corpus embed against a single frasi embed process, 1,000,000 texts end to
end, and the scheduler's overhead per shard.

Texts: the unique sentences of every ``stsb_multi_mt`` file (11 languages, train/dev/test), shuffled with a
fixed seed and repeated in that order as often as a size needs (1,000,000 texts hold each sentence about
seven times). Each part runs in a fresh process, as a user runs it:

1. **throughput**: on the same ``--texts`` texts (default 100,000), ``frasi embed --file --no-cache
   --threads T`` (the reference: one process, T threads) and ``frasi.corpus.embed(workers=T, threads=1)``
   (T worker processes of 1 thread: the same cores; shards of ``--shard-size``, default 2,000 rows, so that
   the last shard leaves a worker idle briefly), for T in ``--threads-list`` (default 1 2), reference
   and corpus alternating. Texts per second per core, end to end (process start to exit: import, model
   loads, cluster start, reading, writing included) and in steady state (the corpus: first shard begun to
   last shard done; the reference: its own encode time). Target: the corpus's end-to-end texts/s per core
   >= 90% of the reference's.
2. **1,000,000 texts** (``--big-texts``) end to end with 2 workers x 1 thread in shards of 10,000 rows
   (``--big-shard-size``; frasi corpus never uses the embedding cache): wall
   time, peak RSS of the driver and of each worker process (sampled every 0.2 s; the driver's exact peak
   from the kernel), compared with a smaller run in the same shards (``--big-baseline-texts``, default 2 shards per
   worker: the peak must not grow with the corpus); then verified: ``verify()``, and the
   ``row`` column of every part read back is 0..N-1 exactly once. ``--index`` also builds the corpus index.
3. **overhead per shard**: the same ``--overhead-texts`` texts with 1 worker x 1 thread in small and large
   shards; the steady-state time difference divided by the difference in shard count. Also Dask's own cost
   per task (empty tasks on a 2-worker local cluster) and the driver's check of a part (MB/s, from verify).
   benchmarks/README.md projects 10 and 100 worker machines from these numbers.

    PYTHONPATH=src python benchmarks/corpus_scale.py                       # the full run (hours on 2 cores)
    PYTHONPATH=src python benchmarks/corpus_scale.py --model all-MiniLM-L6-v2 --texts 1000 --shard-size 250 \\
        --big-texts 4000 --big-shard-size 1000 --overhead-texts 600 --overhead-shards 20 300 \\
        --noop-tasks 200 --index --output benchmarks/results/corpus_scale-smoke.json   # a smoke run, minutes

Results: benchmarks/results/corpus_scale.json (or ``corpus_scale-<model>-<texts>.json`` for other sizes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common as C

DEFAULT_MODEL = "multilingual-e5-small"
TARGET_PER_CORE = 0.90


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--backend", default="auto", help="frasi's default, auto (OpenVINO float32 when it exports)")
    p.add_argument("--texts", type=int, default=100_000, help="texts of the throughput comparison")
    p.add_argument("--threads-list", type=int, nargs="*", default=[1, 2],
                   help="total threads (= workers) compared; none: skip the comparison")
    p.add_argument("--shard-size", type=int, default=2_000, help="rows per shard of the throughput runs")
    p.add_argument("--big-texts", type=int, default=1_000_000, help="texts of the end-to-end run (0: skip it)")
    p.add_argument("--big-workers", type=int, default=2)
    p.add_argument("--big-shard-size", type=int, default=10_000, help="rows per shard of the end-to-end run")
    p.add_argument("--big-baseline-texts", type=int, default=None,
                   help="texts of a smaller run in the same shards, whose peak RSS the big run's is compared with "
                        "(default: 2 shards per worker)")
    p.add_argument("--index", action="store_true", help="also build the corpus index of the big run")
    p.add_argument("--overhead-texts", type=int, default=20_000, help="texts of the per-shard overhead runs (0: skip)")
    p.add_argument("--overhead-shards", type=int, nargs=2, default=[100, 5_000], metavar=("SMALL", "LARGE"))
    p.add_argument("--noop-tasks", type=int, default=2_000, help="empty Dask tasks timed for the scheduler's cost")
    p.add_argument("--overhead-from", type=Path, default=None,
                   help="the overhead part of an earlier result JSON, for the projection (skips measuring it)")
    p.add_argument("--work-dir", type=Path, default=None, help="where inputs and outputs go (default: a temp dir)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # runs one corpus embed, prints JSON
    args = p.parse_args(argv)
    if args.output is None and args.child is None:
        name = "corpus_scale" if (args.model, args.texts) == (DEFAULT_MODEL, 100_000) else \
            f"corpus_scale-{Path(args.model).name}-{args.texts}"
        args.output = C.default_output(name)
    return args


# ---------------------------------------------------------------- texts


def sentence_pool(data_dir: Path) -> tuple[list[str], list[str]]:
    """Every unique sentence of stsb_multi_mt, shuffled with seed 0; and the files read."""
    folder = Path(data_dir) / "stsb_multi_mt"
    files = sorted(folder.glob("stsb-*-*.csv"))
    if not files:
        raise SystemExit(f"no stsb_multi_mt files in {folder}; pass --data-dir")
    seen: dict[str, None] = {}
    for path in files:
        lang, split = path.stem.split("-")[1:3]
        for s1, s2, _ in C.read_stsb_multi_mt(data_dir, lang, split):
            for text in (s1, s2):
                text = " ".join(text.split())
                if text:
                    seen.setdefault(text, None)
    pool = list(seen)
    random.Random(0).shuffle(pool)
    return pool, [str(p.relative_to(data_dir)) for p in files]


def write_texts(path: Path, pool: list[str], n: int) -> Path:
    if not path.exists():
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(pool[i % len(pool)] + "\n")
    return path


# ---------------------------------------------------------------- processes, timed and sampled


def environment() -> dict[str, str]:
    env = dict(os.environ)
    src = str(C.REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else src
    return env


def run_sampled(command: list[str]) -> dict[str, Any]:
    """Run ``command``; its wall time, stdout, exit code, its own peak RSS (kernel) and the peak RSS of each
    descendant process (sampled every 0.2 s)."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment())
    peaks: dict[int, dict[str, Any]] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                for child in psutil.Process(process.pid).children(recursive=True):
                    try:
                        rss = child.memory_info().rss
                        line = " ".join(child.cmdline())[:120]
                    except psutil.Error:
                        continue
                    entry = peaks.setdefault(child.pid, {"pid": child.pid, "command": line, "peak_rss_mb": 0.0})
                    entry["peak_rss_mb"] = max(entry["peak_rss_mb"], round(rss / 2**20, 1))
            except psutil.Error:
                pass
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((process.stdout, out), (process.stderr, err))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    done.set()
    for thread in (sampler, *readers):
        thread.join()
    if process.returncode != 0:
        tail = b"".join(err).decode()[-3000:]
        raise SystemExit(f"{' '.join(command[:6])} ... failed ({process.returncode}):\n{tail}")
    workers = [p for p in peaks.values() if "spawn_main" in p["command"]]  # not multiprocessing's resource tracker
    # wait4 counts the process and its waited-for descendants: the peak RSS of the largest, the CPU time of all
    return {"wall_seconds": round(wall, 3), "stdout": b"".join(out).decode(), "tree_peak_rss_mb":
            round(usage.ru_maxrss / 1024, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "worker_peak_rss_mb": sorted(p["peak_rss_mb"] for p in workers),
            "descendants": sorted(peaks.values(), key=lambda p: p["pid"])}


def reference_embed(args: argparse.Namespace, texts: Path, threads: int, prompt: str, work: Path) -> dict[str, Any]:
    out = work / f"reference-{threads}.npy"
    run = run_sampled([sys.executable, "-m", "frasi.cli", "embed", "--file", str(texts), "-o", str(out),
                       "--no-cache", "--threads", str(threads), "--model", args.model, "--backend", args.backend,
                       "--prompt", prompt, "--json", "--quiet"])
    summary = json.loads(run.pop("stdout"))
    out.unlink(missing_ok=True)
    n = summary["count"]
    return {"threads": threads, "texts": n, "wall_seconds": run["wall_seconds"],
            "texts_per_second": round(n / run["wall_seconds"], 2),
            "texts_per_second_per_core": round(n / run["wall_seconds"] / threads, 2),
            "encode_seconds": summary["seconds"], "encode_texts_per_second": summary["texts_per_second"],
            "cpu_seconds": run["cpu_seconds"], "texts_per_cpu_second": round(n / run["cpu_seconds"], 2),
            "backend": summary["backend"], "peak_rss_mb": run["tree_peak_rss_mb"]}


def corpus_embed(args: argparse.Namespace, texts: Path, out: Path, *, workers: int, shard_size: int) -> dict[str, Any]:
    child = {"inputs": [str(texts)], "output": str(out), "model": args.model, "backend": args.backend,
             "workers": workers, "threads": 1, "shard_size": shard_size, "overwrite": True}
    run = run_sampled([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(child)])
    result = json.loads(run.pop("stdout").strip().splitlines()[-1])
    tasks = result.pop("tasks")
    first = min(t["began"] for t in tasks)
    last = max(t["began"] + t["task_seconds"] for t in tasks)
    loads = sum(t["load_seconds"] for t in tasks)
    steady = last - first - max(t["load_seconds"] for t in tasks)  # the first shards waited for the model
    n = result["rows_computed"]
    return {"workers": workers, "threads_per_worker": 1, "texts": n, "shards": result["shards"],
            "shard_size": shard_size, "wall_seconds": run["wall_seconds"],
            "texts_per_second": round(n / run["wall_seconds"], 2),
            "texts_per_second_per_core": round(n / run["wall_seconds"] / workers, 2),
            "driver_seconds": round(result["seconds"], 3), "steady_seconds": round(steady, 3),
            "steady_texts_per_second": round(n / steady, 2) if steady > 0 else None,
            "encode_seconds_total": round(sum(t["encode_seconds"] for t in tasks), 3),
            "read_seconds_total": round(sum(t["read_seconds"] for t in tasks), 3),
            "write_seconds_total": round(sum(t["write_seconds"] for t in tasks), 3),
            "model_load_seconds_total": round(loads, 3), "prompt": result["prompt"], "backend": result["backend"],
            "cpu_seconds": run["cpu_seconds"], "texts_per_cpu_second": round(n / run["cpu_seconds"], 2),
            "driver_peak_rss_mb": result["driver_peak_rss_mb"], "worker_peak_rss_mb": run["worker_peak_rss_mb"],
            "tasks": tasks}


def child(spec: str) -> None:
    """One ``frasi.corpus.embed`` in this process; its result (with per-shard timings) as the last stdout line."""
    import frasi.corpus

    logging.getLogger("frasi").setLevel(logging.WARNING)
    options = json.loads(spec)
    result = frasi.corpus.embed(options.pop("inputs"), options.pop("output"), show_progress=False, **options)
    payload = result.to_dict()
    payload["tasks"] = result.tasks
    payload["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(payload))


# ---------------------------------------------------------------- measurements


def exactly_once(out: Path, n: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    import frasi.corpus

    started = time.perf_counter()
    report = frasi.corpus.verify(out)
    verify_seconds = time.perf_counter() - started
    rows = np.sort(pq.read_table(out / "parts", columns=["row"]).column("row").to_numpy())
    part_bytes = sum(p.stat().st_size for p in (out / "parts").glob("part-*.parquet"))
    return {"verify_ok": report.ok, "verify_problems": report.problems[:5], "rows": int(len(rows)),
            "rows_are_0_to_n_once": bool(len(rows) == n and np.array_equal(rows, np.arange(n))),
            "verify_seconds": round(verify_seconds, 2), "part_bytes": part_bytes,
            "driver_check_mb_per_second": round(part_bytes / 2**20 / verify_seconds, 1)}


def noop_task_cost(tasks: int) -> dict[str, Any]:
    """Seconds per empty task on a 2-worker local cluster (the scheduler's round trip, no work)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster, set_as_default=False) as client:
        client.gather(client.map(abs, range(20), key=[f"warm-{i}" for i in range(20)]))
        started = time.perf_counter()
        futures = [client.submit(abs, i, key=f"noop-{i}") for i in range(tasks)]
        client.gather(futures)
        seconds = time.perf_counter() - started
    return {"tasks": tasks, "workers": 2, "seconds": round(seconds, 3),
            "seconds_per_task": round(seconds / tasks, 5), "tasks_per_second": round(tasks / seconds, 1)}


def projection(results: dict[str, Any], cores_per_machine: int, shard_size: int) -> dict[str, Any] | None:
    """On paper, from this run's numbers: texts/s of 10 and 100 worker machines of ``cores_per_machine`` cores
    (one worker process of 1 thread per core), shards of ``shard_size`` rows. Each core embeds at the corpus's
    steady per-core rate, slowed by the measured per-shard overhead; the scheduler hands out at most its measured
    empty tasks/s, and the driver checks each part as it arrives at its measured MB/s (the bounds that stop
    scaling). Network and shared-file-system limits are not measured here."""
    if "overhead" not in results or "big" not in results:
        return None
    overhead, big = results["overhead"], results["big"]
    per_text = overhead["seconds_per_text_one_worker"]
    per_shard = max(0.0, overhead["seconds_per_shard"])
    per_core = 1 / per_text * (shard_size * per_text) / (shard_size * per_text + per_shard)
    scheduler_texts = overhead["noop"]["tasks_per_second"] * shard_size
    driver_texts = big["driver_check_mb_per_second"] * 2**20 / (big["part_bytes"] / big["rows"])
    rows = {}
    for machines in (10, 100):
        workers = machines * cores_per_machine
        linear = workers * per_core
        rows[str(machines)] = {"worker_processes": workers, "texts_per_second_compute": round(linear, 1),
                               "texts_per_second": round(min(linear, scheduler_texts, driver_texts), 1),
                               "bound": min((linear, "workers"), (scheduler_texts, "scheduler"),
                                            (driver_texts, "driver part checks"))[1]}
    return {"cores_per_machine": cores_per_machine, "shard_size": shard_size,
            "per_core_texts_per_second": round(per_core, 2), "overhead_share": round(
                per_shard / (shard_size * per_text + per_shard), 5),
            "scheduler_limit_texts_per_second": round(scheduler_texts, 1),
            "driver_check_limit_texts_per_second": round(driver_texts, 1), "machines": rows,
            "shard_size_for_1_percent": overhead["shard_size_for_1_percent"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    started, load_at_start = C.now_utc(), C.load_average()
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="frasi-corpus-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    pool, files = sentence_pool(args.data_dir)
    print(f"{len(pool):,} unique sentences from {len(files)} stsb_multi_mt files; work folder {work}")
    results: dict[str, Any] = {"pool_size": len(pool), "data_files": files}
    try:
        texts = write_texts(work / f"texts-{args.texts}.txt", pool, args.texts) if args.threads_list else None
        rows, prompt = [], None
        for threads in args.threads_list:
            corpus = corpus_embed(args, texts, work / f"corpus-{threads}", workers=threads,
                                  shard_size=args.shard_size)
            prompt = corpus["prompt"]
            reference = reference_embed(args, texts, threads, prompt, work)
            shutil.rmtree(work / f"corpus-{threads}", ignore_errors=True)
            ratio = corpus["texts_per_second_per_core"] / reference["texts_per_second_per_core"]
            steady = (corpus["steady_texts_per_second"] or 0) / corpus["workers"] / \
                reference["encode_texts_per_second"] * threads
            rows.append({"threads": threads, "reference": reference, "corpus": {k: v for k, v in corpus.items()
                                                                               if k != "tasks"},
                         "per_core_ratio_end_to_end": round(ratio, 3), "per_core_ratio_steady": round(steady, 3),
                         "meets_target": ratio >= TARGET_PER_CORE})
            print(f"T={threads}: frasi embed {reference['texts_per_second_per_core']:.1f} texts/s/core, corpus "
                  f"{corpus['texts_per_second_per_core']:.1f} ({ratio:.1%} end to end, {steady:.1%} steady); per CPU "
                  f"second {reference['texts_per_cpu_second']:.1f} and {corpus['texts_per_cpu_second']:.1f}")
        results["throughput"] = rows
        if rows:
            print(C.format_table(
                ["threads", "frasi embed texts/s/core", "corpus texts/s/core", "ratio", "steady ratio", "target met"],
                [[r["threads"], r["reference"]["texts_per_second_per_core"], r["corpus"]["texts_per_second_per_core"],
                  r["per_core_ratio_end_to_end"], r["per_core_ratio_steady"], str(r["meets_target"])] for r in rows]))

        if args.overhead_from:
            results["overhead"] = json.loads(Path(args.overhead_from).read_text())["overhead"]
            results["overhead"]["from"] = str(args.overhead_from)
        elif args.overhead_texts:
            small, large = args.overhead_shards
            few = write_texts(work / f"texts-{args.overhead_texts}.txt", pool, args.overhead_texts)
            runs = {size: corpus_embed(args, few, work / f"overhead-{size}", workers=1, shard_size=size)
                    for size in (small, large)}
            for size in runs:
                shutil.rmtree(work / f"overhead-{size}", ignore_errors=True)
            a, b = runs[small], runs[large]
            per_shard = (a["steady_seconds"] - b["steady_seconds"]) / (a["shards"] - b["shards"])
            per_text = b["steady_seconds"] / b["texts"]
            gaps = sorted((y["began"] - (x["began"] + x["task_seconds"]))
                          for x, y in zip(sorted(a["tasks"], key=lambda t: t["began"]),
                                          sorted(a["tasks"], key=lambda t: t["began"])[1:]))
            results["overhead"] = {
                "texts": args.overhead_texts, "runs": {str(k): {x: y for x, y in v.items() if x != "tasks"}
                                                       for k, v in runs.items()},
                "seconds_per_shard": round(per_shard, 5), "seconds_per_text_one_worker": round(per_text, 6),
                "median_gap_between_tasks_seconds": round(statistics.median(gaps), 5) if gaps else None,
                "shard_size_for_1_percent": int(99 * per_shard / per_text) + 1 if per_shard > 0 else 1,
                "noop": noop_task_cost(args.noop_tasks)}
            print(f"overhead: {per_shard * 1000:.1f} ms per shard, {per_text * 1000:.2f} ms per text on one worker; "
                  f"shards of >= {results['overhead']['shard_size_for_1_percent']:,} rows keep it under 1%; "
                  f"Dask alone: {results['overhead']['noop']['seconds_per_task'] * 1000:.2f} ms per empty task")

        if args.big_texts:
            # peak RSS must not depend on the corpus's size: compare with a small run in the same shards
            baseline_n = args.big_baseline_texts or 2 * args.big_workers * args.big_shard_size
            baseline_texts = write_texts(work / f"texts-{baseline_n}.txt", pool, baseline_n)
            small = corpus_embed(args, baseline_texts, work / "baseline", workers=args.big_workers,
                                 shard_size=args.big_shard_size)
            shutil.rmtree(work / "baseline", ignore_errors=True)
            big = write_texts(work / f"texts-{args.big_texts}.txt", pool, args.big_texts)
            out = work / "big"
            run = corpus_embed(args, big, out, workers=args.big_workers, shard_size=args.big_shard_size)
            check = exactly_once(out, args.big_texts)
            results["big"] = {k: v for k, v in run.items() if k != "tasks"} | check
            results["big"]["rss_compared_with"] = {"texts": small["texts"], "shard_size": small["shard_size"],
                                                   "wall_seconds": small["wall_seconds"],
                                                   "driver_peak_rss_mb": small["driver_peak_rss_mb"],
                                                   "worker_peak_rss_mb": small["worker_peak_rss_mb"]}
            print(f"{args.big_texts:,} texts: {run['wall_seconds']:.0f} s, {run['texts_per_second']:.1f} texts/s; "
                  f"driver peak {run['driver_peak_rss_mb']} MB, workers {run['worker_peak_rss_mb']} MB "
                  f"({small['texts']:,} texts: {small['driver_peak_rss_mb']} MB, {small['worker_peak_rss_mb']} MB); "
                  f"exactly once: {check['rows_are_0_to_n_once'] and check['verify_ok']}")
            if args.index:
                index_run = run_sampled([sys.executable, "-m", "frasi.cli", "corpus", "index", str(out), "--json",
                                         "--quiet"])
                results["big"]["index"] = json.loads(index_run.pop("stdout")) | {
                    "wall_seconds": index_run["wall_seconds"], "peak_rss_mb": index_run["tree_peak_rss_mb"]}
                print(f"index: {results['big']['index']['kind']}, recall@10 {results['big']['index']['recall_at_10']}"
                      f", {index_run['wall_seconds']:.0f} s, peak {index_run['tree_peak_rss_mb']} MB")
        results["projection"] = projection(results, len(os.sched_getaffinity(0)), args.big_shard_size)
        if results["projection"]:
            p = results["projection"]
            print(f"projection ({p['cores_per_machine']} cores per machine, shards of {p['shard_size']:,}): "
                  + "; ".join(f"{m} machines {r['texts_per_second']:,.0f} texts/s (bound: {r['bound']})"
                              for m, r in p["machines"].items()))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    parameters = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"}
    parameters["cpus"] = len(os.sched_getaffinity(0))
    C.save_run("corpus_scale", __doc__.split("\n\n")[0], started, load_at_start, parameters, args.output,
               **results, benchmark_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
