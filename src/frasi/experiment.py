"""A classification experiment: fit on train, score on test beside a TF-IDF baseline, save it all.

:func:`run_experiment` is what ``frasi classify train`` does and what the script that
trains the shipped sentiment head does: it fits an unfitted classifier (any estimator
with ``fit`` / ``predict`` / ``save(folder, files=...)``, such as
:class:`frasi.EmbeddingClassifier`), scores it on a test set (held out from the training
data when none is given: stratified, seeded), trains TF-IDF + LinearSVC on the same
training texts with the same C search as a baseline, and saves the classifier with
``report.json`` and ``confusion.png`` in one atomic step.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._fs import StrPath
from .data import LabelledTexts
from .errors import InputError, MissingExtraError
from .labels import check_labels
from .metrics import classification_metrics

logger = logging.getLogger(__name__)

BASELINE_NAME = "TF-IDF (word 1-2 grams) + LinearSVC"


def hold_out(data: LabelledTexts, test_size: float, seed: int) -> tuple[LabelledTexts, LabelledTexts]:
    """A stratified, seeded split of ``data`` into (train, test)."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(data.labels)
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        raise InputError("cannot hold out a stratified test split: a class has a single example; add examples or "
                         "pass a test set (--test)")
    try:
        a, b, c, d = train_test_split(list(data.texts), labels.tolist(), test_size=test_size, random_state=seed,
                                      stratify=labels)
    except ValueError as exc:
        raise InputError(f"cannot split {len(labels)} examples with test size {test_size}: {exc}") from None
    return LabelledTexts(a, c, source=f"{data.source} (train part)"), LabelledTexts(b, d, source=f"{data.source} "
                                                                                     "(held-out test part)")


def fit_tfidf_baseline(texts: Sequence[str], labels: Any, *, C: float | Sequence[float] = 1.0, cv: int = 5,
                       random_state: int | None = 0) -> Any:
    """TF-IDF (word 1-2 grams, sublinear tf) + LinearSVC on the same data: what embeddings add.

    A list of C values is searched by the same stratified CV (macro-F1) as
    :class:`frasi.EmbeddingClassifier`, so both sides get the same tuning budget.
    Returns a fitted scikit-learn Pipeline.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    y = check_labels(labels)
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                             LinearSVC(random_state=random_state, max_iter=10_000))
    if isinstance(C, (Sequence, np.ndarray)) and not isinstance(C, str):
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
        search = GridSearchCV(pipeline, {"linearsvc__C": [float(c) for c in C]}, cv=folds, scoring="f1_macro")
        return search.fit(list(texts), y).best_estimator_
    pipeline.set_params(linearsvc__C=float(C))
    return pipeline.fit(list(texts), y)


def _confusion_png(metrics: dict[str, Any], title: str) -> bytes | None:
    from .plots import confusion_png

    try:
        return confusion_png(np.asarray(metrics["confusion_matrix"]), [str(x) for x in metrics["labels"]],
                             title=title)
    except MissingExtraError as exc:
        logger.warning("no confusion.png (%s)", exc)
        return None


def run_experiment(
    classifier: Any,
    train: LabelledTexts,
    test: LabelledTexts | None = None,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    baseline: bool = True,
    baseline_C: float | Sequence[float] = 1.0,
    cv: int = 5,
    evaluations: Mapping[str, LabelledTexts] | None = None,
    output: StrPath | None = None,
    files: Mapping[str, bytes] | None = None,
    fit_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit ``classifier`` on ``train``, score it on ``test``, and return (and save) the report.

    Args:
        classifier: an unfitted estimator with ``experiment_record()`` (what the report says of
            it); an :class:`frasi.EmbeddingClassifier` embeds every distinct text of train and
            test once, a :class:`frasi.finetune.FineTunedClassifier` is fine-tuned on the texts.
        test: the test set; None holds out ``test_size`` of ``train`` (stratified, ``seed``).
        baseline: also fit :func:`fit_tfidf_baseline` (C from ``baseline_C``, ``cv`` folds).
        evaluations: more named sets to score (e.g. each language's validation split).
        output: a new folder for the classifier, ``report.json`` and ``confusion.png``.
        files: more files for that folder (name -> bytes).
        fit_params: more keyword arguments for ``classifier.fit`` (a dev set, ``resume``).

    The report holds the split, sizes, classes, timings, ``test`` metrics (accuracy,
    macro-F1, per class, confusion matrix), ``baseline`` and ``evaluations``.
    """
    if test is None:
        train, test = hold_out(train, test_size, seed)
        split: dict[str, Any] = {"data": train.source.removesuffix(" (train part)"), "test_size": test_size,
                                 "stratified": True, "seed": seed}
    else:
        split = {"train": train.source, "test": test.source}
    extra = dict(evaluations or {})
    embed = getattr(classifier, "embed", None)
    features: dict[str, Any] = {}
    start = time.perf_counter()
    if callable(embed):  # embed each distinct text once, for fitting and every evaluation
        sets = [train, test, *extra.values()]
        unique = list(dict.fromkeys(t for data in sets for t in data.texts))
        vectors = embed(unique)
        row = {text: i for i, text in enumerate(unique)}
        features = {id(data): vectors[[row[t] for t in data.texts]] for data in sets}
    embed_seconds = time.perf_counter() - start

    def inputs(data: LabelledTexts) -> Any:
        return features.get(id(data), list(data.texts))

    start = time.perf_counter()
    classifier.fit(inputs(train), train.labels, **(fit_params or {}))
    fit_seconds = time.perf_counter() - start
    classes = np.asarray(classifier.classes_).tolist()

    def score(data: LabelledTexts) -> dict[str, Any]:
        if hasattr(classifier, "check_known_labels"):
            classifier.check_known_labels(check_labels(data.labels))
        return classification_metrics(data.labels, np.asarray(classifier.predict(inputs(data))).tolist(),
                                      labels=classes)

    metrics = score(test)
    report: dict[str, Any] = {
        **classifier.experiment_record(), "seed": seed, "split": split, "n_train": len(train), "n_test": len(test),
        "classes": classes, "embed_seconds": round(embed_seconds, 3), "fit_seconds": round(fit_seconds, 3),
        "test": metrics,
    }
    if extra:
        report["evaluations"] = {name: score(data) for name, data in extra.items()}
    if baseline:
        pipeline = fit_tfidf_baseline(train.texts, train.labels, C=baseline_C, cv=cv, random_state=seed)
        report["baseline"] = {"name": BASELINE_NAME, "C": float(pipeline.get_params()["linearsvc__C"]),
                              "test": classification_metrics(test.labels, pipeline.predict(list(test.texts)).tolist(),
                                                             labels=classes)}
    if output is not None:
        saved = {"report.json": (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")}
        png = _confusion_png(metrics, f"{report['model']} + {report['head']}")
        if png is not None:
            saved["confusion.png"] = png
        classifier.save(Path(output), files={**saved, **(files or {})})
        report["output"] = str(output)
        report["files"] = sorted({*saved, *(files or {})})
    return report
