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

Embeddings are cached under ``--cache`` (default ``benchmarks/results/``, git-ignored .npy
files keyed by model and text hash), so a rerun only refits the head.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
LANGUAGES = {"es": "spanish", "it": "italian", "en": "english"}
C_GRID = [0.1, 0.3, 1.0, 3.0, 10.0]
SEED = 0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data",
                   help="folder holding umsab_tweet_sentiment/ (default: ../shared/data)")
    p.add_argument("--output", type=Path, default=REPO / "src" / "frasi" / "heads" / "sentiment",
                   help="where to write the head (default: the package's heads/sentiment)")
    p.add_argument("--cache", type=Path, default=REPO / "benchmarks" / "results",
                   help="folder for cached embeddings (.npy)")
    return p.parse_args(argv)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def embed_cached(clf, texts: list[str], cache: Path, tag: str) -> np.ndarray:
    """Embeddings of ``texts`` with the classifier's encoder and prompt, cached as .npy."""
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"emb-{clf.encoder_.name}-{tag}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = clf.embed(texts)
    np.save(path, vectors)
    return vectors


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import frasi
    from frasi.classify import EmbeddingClassifier
    from frasi.data import UMSAB_LABELS, read_classification
    from frasi.evaluate import classification_metrics

    root = args.data_dir / "umsab_tweet_sentiment"
    splits = {(lang, split): read_classification(root / folder, split=split, label_names=UMSAB_LABELS,
                                                decode_escapes=True)
              for lang, folder in LANGUAGES.items() for split in ("train", "val", "test")}
    encoder = frasi.Encoder.load()
    clf = EmbeddingClassifier(encoder, head="logistic", C=C_GRID, cv=5, random_state=SEED)
    clf.encoder_ = encoder
    vectors = {key: embed_cached(clf, list(data.texts), args.cache, f"umsab-{key[0]}-{key[1]}")
               for key, data in splits.items()}
    train_x = np.concatenate([vectors[(lang, "train")] for lang in LANGUAGES])
    train_y = [label for lang in LANGUAGES for label in splits[(lang, "train")].labels]
    clf.fit(train_x, train_y)
    logging.info("chosen C=%s (cross-validated macro-F1 %s)", clf.C_, clf.cv_results_["mean_macro_f1"])

    metrics: dict[str, dict[str, dict]] = {}
    for (lang, split), data in splits.items():
        if split == "train":
            continue
        m = classification_metrics(list(data.labels), clf.predict(vectors[(lang, split)]).tolist(),
                                   labels=clf.classes_.tolist())
        metrics.setdefault(split, {})[lang] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "n": len(data)}
    card = {
        "task": "tweet sentiment: negative / neutral / positive",
        "trained_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "frasi_version": frasi.__version__,
        "scikit_learn_version": importlib.metadata.version("scikit-learn"),
        "encoder": {"name": encoder.name, "prompt": encoder.resolve_prompt()},
        "data": {
            "name": "UMSAB tweet sentiment (cardiffnlp/xlm-t data/sentiment): SemEval-2017 (en), "
                    "InterTASS 2017 (es), SENTIPOLC 2016 (it)",
            "train": "train splits of es + it + en, concatenated",
            "preprocessing": "literal \\uXXXX escapes decoded (read_classification(decode_escapes=True))",
            "label_names": UMSAB_LABELS,
            "files": {f"{folder}/{split}_{kind}.txt": file_sha256(root / folder / f"{split}_{kind}.txt")
                      for folder in LANGUAGES.values() for split in ("train", "val", "test")
                      for kind in ("text", "labels")},
            "n_train": len(train_y),
        },
        "head": {"kind": "logistic", "C_grid": C_GRID, "C": clf.C_, "selection": "5-fold stratified CV on train, "
                 "macro-F1", "cv_results": clf.cv_results_, "seed": SEED},
        "metrics": metrics,
        "note": "val and test were never used for fitting or choosing C.",
    }
    output = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".sentiment-", dir=output.parent))
    shutil.rmtree(tmp)
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
