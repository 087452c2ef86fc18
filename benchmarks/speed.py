"""Encoding speed of frasi's backends against sentence-transformers fp32 on PyTorch, plus quality and start-up.

For each model (``multilingual-e5-small``, ``all-MiniLM-L6-v2``) and each text length
(short: STSb test sentences, ~10-15 words; medium: ~60 words; long: ~200 words, built by
joining consecutive STSb test sentences), every contender encodes the same texts with the
same prompt (the model's default) and the same thread budget:

* ``st``: plain ``SentenceTransformer.encode`` (batch 32, fp32, torch): the reference;
* ``st-1thread``: the same with one torch thread: on a shared machine torch's OpenMP threads
  can lose more to waiting than they gain, so speedups are also given against the faster of
  the two (``speedup_vs_best_st``);
* frasi ``Encoder.load(model, backend=B, threads=T).encode`` for each backend B.

Rounds are interleaved (st, onnx, onnx-int8, ... then again), so load from other work on
the machine hits every contender alike; the JSON keeps every timing and reports medians.
Per contender: texts/s, real tokens/s (tokens of the texts), padded tokens/s (what the
batches fed the model), and the fraction of this machine's fp32 matmul peak (measured
here with torch on the model's layer shapes) that the real tokens' linear-layer FLOPs
represent.

Quality, per backend: STSb test Spearman x 100 (en, es, it of stsb_multi_mt) and its
change from torch fp32; cosine agreement with the torch fp32 embedding of every STSb text
(mean and worst).

Cold start, per backend: a fresh process that imports frasi, loads the model (export
already cached) and encodes one text, under GNU ``time -v``: wall time and peak RSS.

    PYTHONPATH=src python benchmarks/speed.py                       # everything (~30-60 min on 2 cores)
    PYTHONPATH=src python benchmarks/speed.py --quick               # small sets, 2 rounds
    PYTHONPATH=src python benchmarks/speed.py --models all-MiniLM-L6-v2 --no-quality

Results: benchmarks/results/speed.json (speed-quick.json with --quick), or --output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C
from frasi import backends as frasi_backends
from frasi.errors import FrasiError

logger = logging.getLogger("speed")

MODELS = ("multilingual-e5-small", "all-MiniLM-L6-v2")
BACKENDS = ("onnx", "onnx-int8", "openvino", "openvino-int8")
LANGS = ("en", "es", "it")
LENGTHS = {"short": (1, 1), "medium": (60, 80), "long": (200, 230)}  # words: (at least, at most)
COUNTS = {"short": 512, "medium": 128, "long": 48}
TARGETS = {"speedup_fast": 2.5, "speedup_exact_short": 1.4, "stsb_loss": 0.5, "mean_cosine": 0.995,
           "min_cosine": 0.98, "exact_max_abs_diff": 1e-4, "peak_fraction": 0.8, "cold_start_s": 2.0}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--backends", nargs="+", default=list(BACKENDS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median reported)")
    p.add_argument("--quick", action="store_true", help="a quarter of the texts, 2 rounds, 200 STSb pairs")
    p.add_argument("--no-quality", action="store_true", help="skip the STSb / cosine-agreement part")
    p.add_argument("--no-cold-start", action="store_true")
    args = p.parse_args(argv)
    if args.output is None:
        args.output = C.default_output("speed-quick" if args.quick else "speed")
    return args


# ---------------------------------------------------------------- texts


def build_texts(data_dir: Path, langs: tuple[str, ...], quick: bool) -> dict[str, list[str]]:
    """Short, medium and long texts from STSb test sentences (in ``langs``, interleaved)."""
    per_lang = [list(dict.fromkeys(s for a, b, _ in C.read_stsb_multi_mt(data_dir, lang) for s in (a, b)))
                for lang in langs]
    sentences = [s for group in zip(*per_lang) for s in group]
    out: dict[str, list[str]] = {}
    for name, (low, high) in LENGTHS.items():
        count = max(8, COUNTS[name] // (4 if quick else 1))
        if low == 1:
            out[name] = sentences[:count]
            continue
        texts, current, i = [], [], 0
        while len(texts) < count:
            current.append(sentences[i % len(sentences)])
            i += 1
            words = sum(len(s.split()) for s in current)
            if words >= low:
                text = " ".join(" ".join(current).split()[:high])
                texts.append(text)
                current = []
        out[name] = texts
    return out


# ---------------------------------------------------------------- matmul peak


def matmul_peak(threads: int, hidden: int, ffn: int, tokens: int = 2048, repeats: int = 15) -> dict[str, Any]:
    """Best fp32 GFLOP/s of torch matmuls with the model's layer shapes (tokens x hidden x ffn and back)."""
    import torch

    torch.set_num_threads(threads)
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, hidden, generator=rng)
    w1, w2 = torch.randn(hidden, ffn, generator=rng), torch.randn(ffn, hidden, generator=rng)
    h = x @ w1
    best, times = 0.0, []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(x, w1)
        torch.matmul(h, w2)
        seconds = time.perf_counter() - start
        times.append(seconds)
        best = max(best, 2 * 2 * tokens * hidden * ffn / seconds / 1e9)
    median = 2 * 2 * tokens * hidden * ffn / float(np.median(times)) / 1e9
    return {"gflops_best": round(best, 2), "gflops_median": round(median, 2), "threads": threads,
            "shape": [tokens, hidden, ffn]}


def int8_gemm_ratio(threads: int, hidden: int, ffn: int, tokens: int = 2048, repeats: int = 15) -> dict[str, Any]:
    """ONNX Runtime's int8 matmul (dynamic quantization, as the onnx-int8 backend runs it) against its fp32 matmul.

    On CPUs without VNNI (AVX2 only) int8 products take several instructions each, so int8
    gains little over fp32; this records how much, on this machine, with the model's shapes.
    """
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((hidden, ffn)).astype(np.float32)
    x = rng.standard_normal((tokens, hidden)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, hidden])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, ffn])],
                              [numpy_helper.from_array(weight, "w")])
    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(fp32))
        quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
        for name, path in (("fp32", fp32), ("int8", int8)):
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    best = {name: float("inf") for name in sessions}
    for _ in range(repeats):
        for name, session in sessions.items():  # interleaved
            start = time.perf_counter()
            session.run(None, {"x": x})
            best[name] = min(best[name], time.perf_counter() - start)
    flops = 2 * tokens * hidden * ffn
    return {"fp32_gflops": round(flops / best["fp32"] / 1e9, 2), "int8_gops": round(flops / best["int8"] / 1e9, 2),
            "int8_over_fp32": round(best["fp32"] / best["int8"], 3), "shape": [tokens, hidden, ffn]}


def linear_flops_per_token(config: dict[str, Any]) -> float:
    """FLOPs of the encoder's linear layers per token (attention scores excluded: they depend on length)."""
    h, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    return 2.0 * layers * (4 * h * h + 2 * h * f)


# ---------------------------------------------------------------- contenders


class STReference:
    """Plain sentence-transformers, as users call it, with torch set to ``threads`` threads."""

    def __init__(self, path: Path, prompt: str, threads: int, *, name: str = "st", model: Any = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = model or SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.prompt = prompt
        self.threads = threads

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        torch.set_num_threads(self.threads)
        return self.model.encode(texts, prompt=self.prompt, batch_size=32, convert_to_numpy=True,
                                 show_progress_bar=False)

    def padded_tokens(self, texts: list[str], lengths: np.ndarray) -> int:
        """sentence-transformers sorts by character length, batches 32 and pads to the batch's longest."""
        order = np.argsort([-len(self.prompt + t) for t in texts], kind="stable")
        return int(sum(len(b) * lengths[b].max() for b in np.array_split(order, range(32, len(order), 32))))


class FrasiContender:
    def __init__(self, model: str, backend: str, threads: int) -> None:
        from frasi import Encoder

        self.name = backend
        self.encoder = Encoder.load(model, backend=backend, threads=threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, show_progress=False)

    def padded_tokens(self, texts: list[str], lengths: np.ndarray) -> int:
        from frasi.backends.exported import token_batches

        return int(sum(len(b) * lengths[b].max() for b in token_batches(lengths, max_texts=32)))


def token_lengths(tokenizer: Any, prompt: str, texts: list[str], max_length: int) -> np.ndarray:
    ids = tokenizer([prompt + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    return np.array([len(x) for x in ids])


def time_contenders(contenders: list[Any], texts: list[str], rounds: int) -> dict[str, list[float]]:
    for c in contenders:  # warm-up: first-call allocations, lazy initialisation
        c.encode(texts[: min(len(texts), 16)])
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    for r in range(rounds):
        order = contenders[r % len(contenders):] + contenders[: r % len(contenders)]  # rotate who goes first
        for c in order:
            start = time.perf_counter()
            c.encode(texts)
            times[c.name].append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------- quality


def quality(contenders: list[Any], sets: dict[str, list[tuple[str, str, float]]]) -> dict[str, Any]:
    from frasi.metrics import spearman

    out: dict[str, Any] = {}
    reference: dict[str, np.ndarray] = {}
    for c in contenders:
        row: dict[str, Any] = {"stsb": {}}
        cos_all = []
        for lang, pairs in sets.items():
            texts = sorted({t for a, b, _ in pairs for t in (a, b)})
            vectors = c.encode(texts)
            if c.name == "st":
                reference[lang] = vectors
            else:
                ref = reference[lang]
                cos_all.append((vectors * ref).sum(1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(ref, axis=1)))
                row.setdefault("max_abs_diff", 0.0)
                row["max_abs_diff"] = max(row["max_abs_diff"], float(np.abs(vectors - ref).max()))
            lookup = dict(zip(texts, vectors))
            a = np.stack([lookup[x] for x, _, _ in pairs])
            b = np.stack([lookup[y] for _, y, _ in pairs])
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            row["stsb"][lang] = round(100 * spearman(cos, np.array([s for _, _, s in pairs])), 3)
        if cos_all:
            cos = np.concatenate(cos_all)
            row["cosine_to_torch"] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5),
                                      "p01": round(float(np.percentile(cos, 1)), 5), "n_texts": len(cos)}
        out[c.name] = row
    for row in out.values():
        row["stsb_delta"] = {lang: round(v - out["st"]["stsb"][lang], 3) for lang, v in row["stsb"].items()}
    return out


# ---------------------------------------------------------------- cold start


def cold_start(model: str, backend: str, threads: int) -> dict[str, Any]:
    """A fresh process: import frasi, load (cached export), encode one text; GNU time -v."""
    code = ("from frasi import Encoder; import sys; "
            f"e = Encoder.load({model!r}, backend={backend!r}, threads={threads}); e.encode('hola'); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(C.REPO_ROOT / "src")}
    gnu_time = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    runs = []
    for _ in range(3):
        if gnu_time:
            done = subprocess.run([gnu_time, "-v", sys.executable, "-c", code], capture_output=True, text=True,
                                  env=env, timeout=600, check=False)
            wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
            rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
            seconds = ((int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall
                       else None)
            runs.append({"wall_s": seconds, "max_rss_mb": round(int(rss.group(1)) / 1024, 1) if rss else None,
                         "heavy_modules": done.stdout.strip(), "ok": done.returncode == 0})
        else:  # pragma: no cover - GNU time missing
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                                  check=False)
            runs.append({"wall_s": time.perf_counter() - start, "max_rss_mb": None, "ok": done.returncode == 0,
                         "heavy_modules": done.stdout.strip()})
    walls = [r["wall_s"] for r in runs if r["wall_s"] is not None]
    return {"runs": runs, "wall_s_median": round(float(np.median(walls)), 3) if walls else None,
            "max_rss_mb_median": float(np.median([r["max_rss_mb"] for r in runs if r["max_rss_mb"]]))
            if any(r["max_rss_mb"] for r in runs) else None, "tool": "GNU time -v" if gnu_time else "wall clock only"}


# ---------------------------------------------------------------- main


def run_model(model: str, args, texts: dict[str, list[str]], sts_sets) -> dict[str, Any]:
    from frasi import Encoder

    torch_encoder = Encoder.load(model)  # the folder, the prompt, the config
    path, prompt = torch_encoder.path, torch_encoder.default_prompt
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    st = STReference(path, prompt, args.threads)
    contenders: list[Any] = [st]
    if args.threads > 1:  # on a busy machine torch's OpenMP threads can lose more than they gain
        contenders.append(STReference(path, prompt, 1, name="st-1thread", model=st.model))
    for backend in args.backends:
        try:
            contenders.append(FrasiContender(model, backend, args.threads))
        except FrasiError as exc:  # report and go on with the others
            logger.warning("%s: backend %s unavailable: %s", model, backend, exc)
    tokenizer = torch_encoder.tokenizer
    flops = linear_flops_per_token(config)
    peaks = [matmul_peak(args.threads, config["hidden_size"], config["intermediate_size"])]
    result: dict[str, Any] = {"path": str(path), "prompt": prompt, "linear_flops_per_token": flops,
                              "matmul_peak": peaks[0], "matmul_peak_runs": peaks, "throughput": {},
                              "onnxruntime_int8_vs_fp32_matmul": int8_gemm_ratio(
                                  args.threads, config["hidden_size"], config["intermediate_size"])}
    timed = {}
    for length, items in texts.items():
        lengths = token_lengths(tokenizer, prompt, items, torch_encoder.max_length)
        timed[length] = (items, lengths, time_contenders(contenders, items, args.rounds))
        peaks.append(matmul_peak(args.threads, config["hidden_size"], config["intermediate_size"]))
    # a busy machine lowers any single peak measurement: use the best of all of them
    peak = max(peaks, key=lambda p: p["gflops_best"])
    result["matmul_peak"] = peak
    for length, (items, lengths, times) in timed.items():
        rows = {}
        for c in contenders:
            median = float(np.median(times[c.name]))
            real, padded = int(lengths.sum()), c.padded_tokens(items, lengths)
            rows[c.name] = {
                "seconds": [round(t, 4) for t in times[c.name]], "median_s": round(median, 4),
                "texts_per_s": round(len(items) / median, 1), "real_tokens_per_s": round(real / median, 1),
                "padded_tokens_per_s": round(padded / median, 1), "padding_fraction": round(1 - real / padded, 3),
                "real_token_gflops": round(real * flops / median / 1e9, 2),
                "fraction_of_fp32_matmul_peak": round(real * flops / median / 1e9 / peak["gflops_best"], 3),
            }
        best_st = min(rows[n]["median_s"] for n in rows if n.startswith("st"))
        for row in rows.values():
            row["speedup_vs_st"] = round(rows["st"]["median_s"] / row["median_s"], 3)
            row["speedup_vs_best_st"] = round(best_st / row["median_s"], 3)
        result["throughput"][length] = {"n_texts": len(items), "mean_tokens": round(float(lengths.mean()), 1),
                                        "contenders": rows}
        print(f"\n{model} / {length} ({len(items)} texts, {lengths.mean():.0f} tokens on average)")
        print(C.format_table(["contender", "texts/s", "speedup", "vs best st", "real tok/s", "padded tok/s",
                              "peak frac"],
                             [[n, r["texts_per_s"], r["speedup_vs_st"], r["speedup_vs_best_st"], r["real_tokens_per_s"],
                               r["padded_tokens_per_s"], r["fraction_of_fp32_matmul_peak"]] for n, r in rows.items()]))
    if sts_sets:
        result["quality"] = quality([c for c in contenders if c.name != "st-1thread"], sts_sets)
        print(C.format_table(["contender", *[f"stsb {x}" for x in sts_sets], "cos mean", "cos min"],
                             [[n, *r["stsb"].values(), r.get("cosine_to_torch", {}).get("mean"),
                               r.get("cosine_to_torch", {}).get("min")] for n, r in result["quality"].items()]))
    del contenders
    if not args.no_cold_start:
        result["cold_start"] = {b: cold_start(model, b, args.threads) for b in ["torch", *args.backends]}
        print(C.format_table(["backend", "wall s", "peak RSS MB", "heavy modules imported"],
                             [[b, r["wall_s_median"], r["max_rss_mb_median"], r["runs"][0]["heavy_modules"]]
                              for b, r in result["cold_start"].items()]))
    return result


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Each target of the issue, met or not, from the measured numbers."""
    out: dict[str, Any] = {}
    for model, r in results.items():
        rows: dict[str, Any] = {}
        for backend in BACKENDS:
            if backend not in r["throughput"]["short"]["contenders"]:
                continue
            speed = {length: t["contenders"][backend]["speedup_vs_st"] for length, t in r["throughput"].items()}
            best = {length: t["contenders"][backend]["speedup_vs_best_st"] for length, t in r["throughput"].items()}
            row: dict[str, Any] = {"speedup_vs_st": speed, "min_speedup": min(speed.values()),
                                   "speedup_vs_best_st": best, "min_speedup_vs_best_st": min(best.values())}
            q = r.get("quality", {}).get(backend)
            if q:
                row["stsb_delta"] = q["stsb_delta"]
                row["cosine_to_torch"] = q["cosine_to_torch"]
                row["max_abs_diff"] = q["max_abs_diff"]
                row["meets_fast_target"] = bool(
                    row["min_speedup"] >= TARGETS["speedup_fast"]
                    and min(q["stsb_delta"].values()) >= -TARGETS["stsb_loss"]
                    and q["cosine_to_torch"]["mean"] >= TARGETS["mean_cosine"]
                    and q["cosine_to_torch"]["min"] >= TARGETS["min_cosine"])
                quality_ok = bool(min(q["stsb_delta"].values()) >= -TARGETS["stsb_loss"]
                                  and q["cosine_to_torch"]["mean"] >= TARGETS["mean_cosine"]
                                  and q["cosine_to_torch"]["min"] >= TARGETS["min_cosine"])
                row["meets_fast_target_vs_best_st"] = bool(
                    row["min_speedup_vs_best_st"] >= TARGETS["speedup_fast"] and quality_ok)
                if frasi_backends.BACKENDS[backend].exact:
                    row["meets_exact_target"] = bool(speed["short"] >= TARGETS["speedup_exact_short"]
                                                     and q["max_abs_diff"] < TARGETS["exact_max_abs_diff"])
                    row["meets_exact_target_vs_best_st"] = bool(
                        best["short"] >= TARGETS["speedup_exact_short"]
                        and q["max_abs_diff"] < TARGETS["exact_max_abs_diff"])
            row["fraction_of_fp32_matmul_peak"] = {
                length: t["contenders"][backend]["fraction_of_fp32_matmul_peak"]
                for length, t in r["throughput"].items()}
            cold = r.get("cold_start", {}).get(backend)
            if cold:
                row["cold_start_s"] = cold["wall_s_median"]
                row["cold_start_rss_mb"] = cold["max_rss_mb_median"]
            rows[backend] = row
        out[model] = rows
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    started, load_start = C.now_utc(), C.load_average()
    texts_by_model = {}
    for model in args.models:
        langs = ("en",) if "MiniLM" in model else LANGS
        texts_by_model[model] = build_texts(args.data_dir, langs, args.quick)
    sts_sets = None
    if not args.no_quality:
        limit = 200 if args.quick else None
        sts_sets = {lang: C.read_stsb_multi_mt(args.data_dir, lang)[:limit] for lang in LANGS}
    results = {}
    for model in args.models:
        results[model] = run_model(model, args, texts_by_model[model], sts_sets)
    payload = {
        "benchmark": "speed", "started": started, "finished": C.now_utc(), "machine": C.machine_info(),
        "load_average_at_start": load_start,
        "note": ("the machine is shared: load average > thread count means other work competed for the CPUs; "
                 "rounds are interleaved so it slows every contender alike"),
        "parameters": {"models": args.models, "backends": args.backends, "threads": args.threads,
                       "rounds": args.rounds, "quick": args.quick, "lengths_words": LENGTHS,
                       "st_batch_size": 32, "frasi_batch": "token budget 4096, at most 32 texts"},
        "targets": TARGETS, "results": results, "summary": summarize(results),
    }
    payload["machine"]["versions"].update({k: C._version(k) for k in ("onnxruntime", "openvino", "onnx")})
    print(f"\nwrote {C.save_results(args.output, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
