"""Pilot: the sentiment runs of several seeds as an ensemble (their logits averaged), on UMSAB val and test.

What three models together would score, to see whether seeds can close the gap to XLM-T:
``scripts/train_sentiment_model.py --checkpoints DIR`` keeps each run in ``DIR/seed-N``; this
script rebuilds every run from there with the script's settings (``fit(..., resume=True)``
on a finished run trains nothing and restores its best epoch), then scores every subset of
the runs with their logits averaged: macro-F1 per language and pooled, on val and, for the
record, on test. An ensemble is not what frasi ships (it costs one model per member at
every prediction); a soup of the same runs is (``train_sentiment_model.py``).

    PYTHONPATH=src python benchmarks/pilot_sentiment_seed_ensemble.py --checkpoints /tmp/sentiment-runs
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

import _common as C

LANGUAGES = ("es", "it", "en")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--checkpoints", type=Path, required=True, help="train_sentiment_model.py's --checkpoints")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path, default=C.RESULTS_DIR / "pilots" / "sentiment-seed-ensemble.json")
    args = p.parse_args(argv)
    started_at, load_at_start = C.now_utc(), C.load_average()

    from frasi.metrics import classification_metrics
    from frasi.sentiment import LABELS

    sys.path.insert(0, str(C.REPO_ROOT / "scripts"))
    import train_sentiment_model as script  # its settings and data, so the runs rebuild as they were trained

    settings = script.parse_args(["--checkpoints", str(args.checkpoints), "--threads", str(args.threads)])
    splits, train, val = script.read_data(args.data_dir)
    logits: dict[int, dict[tuple[str, str], np.ndarray]] = {}
    for seed in args.seeds:
        clf = script.new_run(settings, seed)
        clf.fit(train.texts, train.labels, X_dev=val.texts, y_dev=val.labels, resume=True)
        assert clf.classes_.tolist() == list(LABELS)
        logits[seed] = {key: clf.decision_function(list(data.texts)) for key, data in splits.items()
                        if key[1] in ("val", "test")}
        print(f"seed {seed}: scored", flush=True)

    def scores(members: tuple[int, ...], split: str) -> dict[str, float]:
        out, gold, predicted = {}, [], []
        for lang in LANGUAGES:
            mean = np.mean([logits[s][(lang, split)] for s in members], axis=0)
            labels = [LABELS[i] for i in mean.argmax(axis=1)]
            out[lang] = round(100 * classification_metrics(list(splits[(lang, split)].labels), labels,
                                                           labels=list(LABELS))["macro_f1"], 2)
            gold += list(splits[(lang, split)].labels)
            predicted += labels
        out["pooled"] = round(100 * classification_metrics(gold, predicted, labels=list(LABELS))["macro_f1"], 2)
        return out

    rows = []
    for size in range(1, len(args.seeds) + 1):
        for members in itertools.combinations(args.seeds, size):
            rows.append({"seeds": list(members), "val": scores(members, "val"), "test": scores(members, "test")})
    print(C.format_table(["seeds", "val pooled", "val es / it / en", "test es / it / en"],
                         [[r["seeds"], r["val"]["pooled"], " / ".join(str(r["val"][x]) for x in LANGUAGES),
                           " / ".join(str(r["test"][x]) for x in LANGUAGES)] for r in rows]))
    C.save_run("pilot_sentiment_seed_ensemble", __doc__.split("\n\n")[0], started_at, load_at_start,
               {"seeds": args.seeds, "settings": {k: v for k, v in vars(settings).items() if k in (
                   "epochs", "learning_rate", "lora_r", "batch_size", "max_length", "patience", "init_seed")},
                "note": "macro-F1 x 100; test scored for the record, nothing chosen on it"}, args.output,
               ensembles=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
