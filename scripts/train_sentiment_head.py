"""Train the sentiment head that ships in ``src/frasi/heads/sentiment``.

Protocol (recorded in the head's ``training.json``):
- data: UMSAB tweet sentiment (cardiffnlp/xlm-t), the *train* splits of Spanish, Italian and
  English together; labels 0/1/2 renamed negative/neutral/positive; literal ``\\uXXXX``
  escapes in the English files decoded to the characters real tweets contain;
- features: the default model's embeddings (multilingual-e5-small, its default "query: "
  prompt, not normalised further);
- head: multinomial logistic regression; C chosen by 5-fold stratified cross-validation
  (macro-F1) on the training texts only, from a fixed grid; seed 0;
- reported: macro-F1 and accuracy per language on the *val* splits (never used for fitting
  or selection) and the *test* splits. The test numbers are for the record: nothing is
  tuned on them. ``benchmarks/sentiment.py`` compares them with a TF-IDF baseline.

    PYTHONPATH=src python scripts/train_sentiment_head.py --data-dir ../shared/data

Embeddings go through frasi's embedding cache (``--cache`` for another file), so a rerun only
refits the head.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LANGUAGES = ("es", "it", "en")
C_GRID = [0.1, 0.3, 1.0, 3.0, 10.0]
SEED = 0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data",
                   help="folder holding umsab_tweet_sentiment/ (default: ../shared/data)")
    p.add_argument("--output", type=Path, default=REPO / "src" / "frasi" / "heads" / "sentiment",
                   help="where to write the head (default: the package's heads/sentiment)")
    p.add_argument("--cache", type=Path, default=None,
                   help="embedding cache file (default: frasi's own, in its cache folder)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import frasi
    from frasi._fs import sha256_file
    from frasi.cache import EmbeddingCache
    from frasi.classify import EmbeddingClassifier
    from frasi.data import UMSAB_LABELS, LabelledTexts, concatenate, read_umsab, umsab_files
    from frasi.experiment import run_experiment

    root = args.data_dir / "umsab_tweet_sentiment"
    splits = read_umsab(root, LANGUAGES)

    def together(split: str) -> LabelledTexts:
        return concatenate([splits[(lang, split)] for lang in LANGUAGES], source=f"UMSAB {split} es + it + en")

    encoder = frasi.Encoder.load()
    cache = EmbeddingCache(args.cache) if args.cache else EmbeddingCache()  # a rerun only refits the head
    clf = EmbeddingClassifier(encoder, head="logistic", C=C_GRID, cv=5, random_state=SEED, cache=cache)
    train = together("train")
    evaluations = {f"{split}-{lang}": splits[(lang, split)] for split in ("val", "test") for lang in LANGUAGES}
    output = args.output
    tmp = output.with_name(f".{output.name}.new")
    shutil.rmtree(tmp, ignore_errors=True)
    card = {
        "task": "tweet sentiment: negative / neutral / positive",
        "trained_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "frasi_version": frasi.__version__,
        "scikit_learn_version": importlib.metadata.version("scikit-learn"),
        "encoder": {"name": encoder.name, "prompt": encoder.resolve_prompt()},
        "data": {
            "name": "UMSAB tweet sentiment (cardiffnlp/xlm-t data/sentiment): SemEval-2017 (en), "
                    "InterTASS 2017 (es), SENTIPOLC 2016 (it)",
            "train": "train splits of es + it + en, concatenated",
            "preprocessing": "literal \\uXXXX escapes decoded (read_classification(decode_escapes=True))",
            "label_names": UMSAB_LABELS,
            "files": {name: sha256_file(path) for name, path in umsab_files(root, LANGUAGES).items()},
            "n_train": len(train),
        },
        "note": "val and test were never used for fitting or choosing C.",
    }
    report = run_experiment(clf, train, together("test"), seed=SEED, baseline=False, evaluations=evaluations)
    metrics: dict[str, dict[str, dict]] = {}
    for name, m in report["evaluations"].items():
        split, lang = name.split("-")
        metrics.setdefault(split, {})[lang] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n": m["n"]}
    card["head"] = {"kind": "logistic", "C_grid": C_GRID, "C": clf.C_, "selection": "5-fold stratified CV on "
                    "train, macro-F1", "cv_results": clf.cv_results_, "seed": SEED}
    card["metrics"] = metrics
    clf.save(tmp, files={"training.json": (json.dumps(card, indent=2) + "\n").encode("utf-8")})
    if output.exists():
        shutil.rmtree(output)
    tmp.rename(output)
    for split, per_lang in metrics.items():
        for lang, m in per_lang.items():
            print(f"{split:5s} {lang}: macro-F1 {100 * m['macro_f1']:.2f}  accuracy {100 * m['accuracy']:.2f}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
