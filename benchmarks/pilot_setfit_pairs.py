"""Pilot: SetFit's method at 64 tweets per class with 2,000 contrastive pairs (frasi's cap) or 7,680 (20 rounds).

Same samples as ``sentiment.py --parts few`` (seeded draws from the pooled UMSAB train
splits), ``FineTunedClassifier(method="setfit")`` with only ``contrastive_pairs`` changed,
macro-F1 on the pooled test splits (2,610 tweets). One JSON line per run, and a JSON file.
Measured on samples 0 and 1, 2 threads (``results/pilots/setfit-pairs-64.log``, this
script's lines as an earlier copy of it printed them): 2,000 pairs 60.85 / 63.21 in 222 /
169 s; 7,680 pairs 60.56 / 64.53 in 665 / 648 s. One sample gained 1.3, the other lost 0.3,
for four times the time, so frasi keeps its cap of 2,000.

    PYTHONPATH=src python benchmarks/pilot_setfit_pairs.py --runs 0:2000 1:2000 0:7680 1:7680
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import _common as C

LANGUAGES = ("es", "it", "en")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--per-class", type=int, default=64)
    p.add_argument("--runs", nargs="+", default=["0:2000", "1:2000", "0:7680", "1:7680"], help="SEED:PAIRS")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path, default=C.RESULTS_DIR / "pilots" / "setfit-pairs-64.json")
    args = p.parse_args(argv)

    from frasi.data import read_umsab
    from frasi.finetune import FineTunedClassifier
    from frasi.metrics import classification_metrics

    data = read_umsab(args.data_dir / "umsab_tweet_sentiment", LANGUAGES, splits=("train", "test"))
    train_texts = [t for lang in LANGUAGES for t in data[(lang, "train")].texts]
    train_labels = np.array([y for lang in LANGUAGES for y in data[(lang, "train")].labels])
    test_texts = [t for lang in LANGUAGES for t in data[(lang, "test")].texts]
    test_labels = [y for lang in LANGUAGES for y in data[(lang, "test")].labels]
    classes = sorted(set(test_labels))
    started_at, load_at_start = C.now_utc(), C.load_average()
    runs = []
    for spec in args.runs:
        seed, pairs = map(int, spec.split(":"))
        rng = np.random.default_rng(seed)  # the draw of sentiment.py's few part
        pick = np.concatenate([rng.choice(np.flatnonzero(train_labels == c), args.per_class, replace=False)
                               for c in classes])
        started = time.perf_counter()
        tuned = FineTunedClassifier(method="setfit", random_state=seed, threads=args.threads,
                                    contrastive_pairs=pairs).fit([train_texts[i] for i in pick],
                                                                 train_labels[pick].tolist())
        seconds = time.perf_counter() - started
        f1 = classification_metrics(test_labels, tuned.predict(test_texts).tolist(), labels=classes)["macro_f1"]
        body = tuned.training_["contrastive"]
        runs.append({"seed": seed, "pairs": body["pairs"], "fit_s": round(seconds, 1), "macro_f1": round(100 * f1, 2),
                     "loss": [body["first_loss"], body["last_loss"]]})
        print(json.dumps(runs[-1]), flush=True)
    C.save_run("pilot_setfit_pairs", __doc__.split("\n\n")[0], started_at, load_at_start,
               {"per_class": args.per_class, "runs": args.runs, "threads": args.threads}, args.output, runs=runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
