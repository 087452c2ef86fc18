"""Sentiment on UMSAB tweets: the shipped fine-tuned model, the frozen head, TF-IDF, and the published XLM-R / XLM-T.

Three parts, all in one run (``--parts`` picks some):

``full``
    Macro-F1 and accuracy on the UMSAB test splits (870 tweets per language) of: the shipped
    model (``frasi.load_sentiment()``: e5 fine-tuned with LoRA, on the default fast runtime),
    the earlier head on frozen e5 embeddings (``frasi.sentiment.load_sentiment_head()``), and
    TF-IDF (word 1-2 grams) + LinearSVC trained here on the same train data (C from a grid by
    5-fold CV; the better of own-language and all-language training), beside the published
    XLM-R and XLM-T multilingual results (README.xlm-t.md, trained on eight languages). The
    target: the shipped model >= XLM-T per language. The shipped model's training time on 2
    cores comes from its training record.
``few``
    Few labels: 8, 16 and 64 training tweets per class, drawn from the es + it + en train
    splits with 5 seeds each. On each sample: frasi's fine-tuned path for few labels
    (``FineTunedClassifier(method="setfit")``: SetFit's contrastive pairs tune e5's own
    mean-pooled embedding, then a logistic regression on it), a logistic-regression head on frozen e5
    embeddings (C by 3-fold CV) and TF-IDF + LinearSVC (same C search); macro-F1 on the
    pooled test splits (2,610 tweets); mean and spread over the seeds.
``speed``
    ``frasi sentiment -f`` on 1,000 test tweets, whole processes (GNU time, 3 interleaved
    rounds, medians, no cache): the shipped model on the default runtime, against the frozen
    head's path (``frasi classify predict`` on the head folder), both from a warm export.

    PYTHONPATH=src python benchmarks/sentiment.py
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common as C

LANGUAGES = ("es", "it", "en")
C_GRID = [0.1, 0.3, 1.0, 3.0, 10.0]
PUBLISHED = {  # README.xlm-t.md, UMSAB leaderboard, multilingual training (eight languages), macro-F1
    "XLM-R base (multilingual training)": {"es": 66.0, "it": 68.6, "en": 68.5},
    "XLM-T (multilingual training)": {"es": 67.9, "it": 69.1, "en": 70.6},
}
TARGET = "XLM-T (multilingual training)"
FEW = (8, 16, 64)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--parts", default="full,few,speed", help="comma-separated: full, few, speed")
    p.add_argument("--seeds", type=int, default=5, help="samples per few-label size")
    p.add_argument("--few", default=",".join(map(str, FEW)), help="examples per class, comma-separated")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path, default=None)
    return p.parse_args(argv)


def points(x: float) -> float:
    return round(100 * x, 2)


def read(data_dir: Path) -> dict:
    from frasi.data import read_umsab

    return read_umsab(data_dir / "umsab_tweet_sentiment", LANGUAGES, splits=("train", "test"))


def full_part(data: dict, threads: int) -> dict:
    import frasi
    from frasi.experiment import fit_tfidf_baseline
    from frasi.metrics import classification_metrics
    from frasi.sentiment import load_sentiment_head, sentiment_card

    model = frasi.load_sentiment(threads=threads)
    head = load_sentiment_head(threads=threads)
    labels = model.classes_.tolist()
    all_texts = [t for lang in LANGUAGES for t in data[(lang, "train")].texts]
    all_labels = [y for lang in LANGUAGES for y in data[(lang, "train")].labels]
    joint = fit_tfidf_baseline(all_texts, all_labels, C=C_GRID, cv=5, random_state=0)
    results, rows = {}, []
    for lang in LANGUAGES:
        train, test = data[(lang, "train")], data[(lang, "test")]
        gold, texts = list(test.labels), list(test.texts)
        shipped = classification_metrics(gold, model.predict(texts).tolist(), labels=labels)
        frozen = classification_metrics(gold, head.predict(texts).tolist(), labels=labels)
        own = fit_tfidf_baseline(list(train.texts), list(train.labels), C=C_GRID, cv=5, random_state=0)
        own_m = classification_metrics(gold, own.predict(texts).tolist(), labels=labels)
        joint_m = classification_metrics(gold, joint.predict(texts).tolist(), labels=labels)
        tfidf = max((own_m, "own language"), (joint_m, "all languages"), key=lambda m: m[0]["macro_f1"])
        target = PUBLISHED[TARGET][lang]
        results[lang] = {
            "n_test": len(gold),
            "shipped_model": {"macro_f1": points(shipped["macro_f1"]), "accuracy": points(shipped["accuracy"]),
                              "per_class": shipped["per_class"], "confusion_matrix": shipped["confusion_matrix"]},
            "frozen_head": {"macro_f1": points(frozen["macro_f1"]), "accuracy": points(frozen["accuracy"])},
            "tfidf_linearsvc": {"macro_f1": points(tfidf[0]["macro_f1"]), "accuracy": points(tfidf[0]["accuracy"]),
                                "trained_on": tfidf[1]},
            "published": {name: scores[lang] for name, scores in PUBLISHED.items()},
            "target_met": points(shipped["macro_f1"]) >= target,
        }
        rows.append([lang, points(shipped["macro_f1"]), points(shipped["accuracy"]), points(frozen["macro_f1"]),
                     points(tfidf[0]["macro_f1"]), PUBLISHED["XLM-R base (multilingual training)"][lang], target,
                     "yes" if points(shipped["macro_f1"]) >= target else "NO"])
    print(C.format_table(["lang", "shipped F1", "shipped acc", "frozen head F1", "TF-IDF F1", "XLM-R",
                          "XLM-T", ">= XLM-T"], rows))
    card = sentiment_card()
    runs = card["training"]["runs"]
    return {"per_language": results, "backend": model.backend, "shipped_training": {
        "seconds": card["training"].get("seconds"), "seed": card.get("seed"), "settings": card.get("settings"),
        "runs": [{k: run.get(k) for k in ("seed", "steps", "best_step", "seconds", "val_macro_f1")} for run in runs],
        "soup": card["training"].get("soup"), "val": card.get("metrics", {}).get("val")}}


def few_part(data: dict, sizes: list[int], seeds: int, threads: int) -> dict:
    import frasi
    from frasi.classify import EmbeddingClassifier
    from frasi.experiment import fit_tfidf_baseline
    from frasi.finetune import FineTunedClassifier
    from frasi.metrics import classification_metrics

    train_texts = [t for lang in LANGUAGES for t in data[(lang, "train")].texts]
    train_labels = np.array([y for lang in LANGUAGES for y in data[(lang, "train")].labels])
    test_texts = [t for lang in LANGUAGES for t in data[(lang, "test")].texts]
    test_labels = [y for lang in LANGUAGES for y in data[(lang, "test")].labels]
    classes = sorted(set(test_labels))
    encoder = frasi.Encoder.load(threads=threads)
    with frasi.EmbeddingCache() as cache:
        test_vectors = encoder.encode(test_texts, cache=cache)
    out: dict = {}
    for k in sizes:
        scores: dict[str, list[float]] = {"fine-tuned (setfit)": [], "frozen head (logistic)": [], "TF-IDF": []}
        seconds: list[float] = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            pick = np.concatenate([rng.choice(np.flatnonzero(train_labels == c), k, replace=False) for c in classes])
            texts, labels = [train_texts[i] for i in pick], train_labels[pick].tolist()
            started = time.perf_counter()
            tuned = FineTunedClassifier(method="setfit", random_state=seed, threads=threads).fit(texts, labels)
            seconds.append(time.perf_counter() - started)
            scores["fine-tuned (setfit)"].append(classification_metrics(
                test_labels, tuned.predict(test_texts).tolist(), labels=classes)["macro_f1"])
            frozen = EmbeddingClassifier(encoder, head="logistic", C=C_GRID, cv=3, random_state=seed).fit(texts, labels)
            scores["frozen head (logistic)"].append(classification_metrics(
                test_labels, frozen.predict(test_vectors).tolist(), labels=classes)["macro_f1"])
            tfidf = fit_tfidf_baseline(texts, labels, C=C_GRID, cv=3, random_state=seed)
            scores["TF-IDF"].append(classification_metrics(
                test_labels, tfidf.predict(test_texts).tolist(), labels=classes)["macro_f1"])
            print(f"  {k}/class seed {seed}: " + ", ".join(f"{n} {100 * v[-1]:.2f}" for n, v in scores.items()),
                  flush=True)
        summary = {n: {"mean": points(float(np.mean(v))), "std": points(float(np.std(v))),
                       "runs": [points(x) for x in v]} for n, v in scores.items()}
        best_other = max(summary["frozen head (logistic)"]["mean"], summary["TF-IDF"]["mean"])
        out[str(k)] = {"per_method": summary, "fine_tune_seconds_mean": round(float(np.mean(seconds)), 1),
                       "fine_tuned_beats_both": summary["fine-tuned (setfit)"]["mean"] > best_other}
    rows = [[k, *(f"{v['per_method'][n]['mean']:.2f} ± {v['per_method'][n]['std']:.2f}"
                  for n in ("fine-tuned (setfit)", "frozen head (logistic)", "TF-IDF")),
             "yes" if v["fine_tuned_beats_both"] else "NO"] for k, v in out.items()]
    print(C.format_table(["per class", "fine-tuned (setfit)", "frozen head", "TF-IDF", "fine-tuned best"], rows))
    return out


def speed_part(data: dict, threads: int) -> dict:
    from frasi.sentiment import SENTIMENT_HEAD_DIR

    tweets = [t for lang in LANGUAGES for t in data[(lang, "test")].texts][:1000]
    frasi_bin = str(Path(sys.executable).parent / "frasi")
    env = {**os.environ, "FRASI_THREADS": str(threads), "PYTHONPATH": str(C.REPO_ROOT / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "tweets.txt"
        source.write_text("\n".join(t.replace("\n", " ") for t in tweets), encoding="utf-8")
        cases = {"shipped model (frasi sentiment)": [frasi_bin, "sentiment", "-f", str(source)],
                 "frozen head (classify predict)": [frasi_bin, "classify", "predict", str(SENTIMENT_HEAD_DIR), "-f",
                                                    str(source)]}
        runs: dict[str, list[float]] = {name: [] for name in cases}
        for command in cases.values():  # warm: exports and the model build happen once, outside the timing
            subprocess.run([*command, "--json", "-q"], env=env, check=True, capture_output=True)
        for _ in range(3):
            for name, command in cases.items():
                started = time.perf_counter()
                subprocess.run([*command, "--no-cache", "-o", str(Path(tmp) / "out.csv"), "-q"], env=env,
                               check=True, capture_output=True)
                runs[name].append(time.perf_counter() - started)
                (Path(tmp) / "out.csv").unlink()
    out = {name: {"median_s": round(statistics.median(v), 2), "texts_per_s": round(len(tweets) / statistics.median(v),
                                                                                     1), "runs_s": [round(x, 2)
                                                                                                    for x in v]}
           for name, v in runs.items()}
    print(C.format_table(["path", "median s (1,000 tweets, whole process)", "tweets/s"],
                         [[n, v["median_s"], v["texts_per_s"]] for n, v in out.items()]))
    return {"tweets": len(tweets), "threads": threads, "results": out}


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started, load_at_start = C.now_utc(), C.load_average()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    data = read(args.data_dir)
    results: dict = {}
    if "full" in parts:
        results["full"] = full_part(data, args.threads)
    if "few" in parts:
        results["few_labels"] = few_part(data, [int(x) for x in args.few.split(",")], args.seeds, args.threads)
    if "speed" in parts:
        results["speed"] = speed_part(data, args.threads)
    C.save_run("sentiment" if parts == {"full", "few", "speed"} else "sentiment-" + "-".join(sorted(parts)),
               __doc__.split("\n\n")[0], started, load_at_start,
               {"parts": sorted(parts), "seeds": args.seeds, "few": args.few, "threads": args.threads,
                "published": PUBLISHED, "target": f"shipped model macro-F1 >= {TARGET}, per language"},
               args.output, **results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
