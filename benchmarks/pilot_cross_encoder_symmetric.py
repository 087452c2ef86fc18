"""Pilot (dev only): does a trained cross-encoder score better when it reads each pair both ways?

A cross-encoder reads "s1 [SEP] s2", so its score for (a, b) differs from its score for
(b, a), while STS similarity is symmetric. This pilot scores STSb dev pairs in both orders
with a trained cross-encoder folder and compares Spearman/Pearson of (a, b), of (b, a) and
of their mean. It never reads a test file.

Measured on the 4-epoch cross-encoder of the README (trained from the fine-tuned bi-encoder),
STSb-en dev Spearman: 87.28 as (a, b), 86.95 as (b, a), 87.37 for the mean. A gain of 0.09
for twice the inference cost, so frasi scores one order.

    PYTHONPATH=src python benchmarks/pilot_cross_encoder_symmetric.py /tmp/frasi-bench/cross-en-bi-4ep \
        --output benchmarks/results/pilots/cross-encoder-en-symmetric-dev.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import _common as C
from frasi.metrics import spearman
from frasi.train.cross_encoder import cross_encoder_scores, load_cross_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a cross-encoder folder written by frasi train cross-encoder")
    parser.add_argument("--langs", nargs="+", default=["en"])
    parser.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=C.RESULTS_DIR / "pilots" / "cross-encoder-symmetric-dev.json")
    args = parser.parse_args()

    started, load_at_start = C.now_utc(), C.load_average()
    model = load_cross_encoder(args.model)
    results, rows = {}, []
    for lang in args.langs:
        pairs = C.read_stsb_multi_mt(args.data_dir, lang, "dev")
        first, second, gold = ([p[i] for p in pairs] for i in range(3))
        gold = np.asarray(gold)
        tic = time.perf_counter()
        forward = cross_encoder_scores(model, first, second, batch_size=args.batch_size)
        backward = cross_encoder_scores(model, second, first, batch_size=args.batch_size)
        seconds = time.perf_counter() - tic
        scores = {}
        for name, predicted in (("a_b", forward), ("b_a", backward), ("mean", (forward + backward) / 2)):
            scores[name] = {"spearman": 100 * spearman(predicted, gold),
                            "pearson": 100 * float(np.corrcoef(predicted, gold)[0, 1])}
            rows.append((lang, name, scores[name]["spearman"], scores[name]["pearson"]))
        results[lang] = {"n": len(pairs), "scores": scores, "seconds_both_orders": round(seconds, 1),
                         "correlation_a_b_with_b_a": float(np.corrcoef(forward, backward)[0, 1])}
    print(C.format_table(["dev", "order", "spearman", "pearson"], rows))
    C.save_run("pilot_cross_encoder_symmetric", "Score STSb dev pairs as (a, b), (b, a) and their mean with one "
               "trained cross-encoder; dev files only.", started, load_at_start,
               {"model": str(args.model), "langs": args.langs, "batch_size": args.batch_size},
               args.output, results=results)


if __name__ == "__main__":
    main()
