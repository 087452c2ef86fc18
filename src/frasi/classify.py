"""EmbeddingClassifier: a scikit-learn classifier over sentence embeddings.

Texts go through an :class:`~frasi.Encoder` once; a scikit-learn head (LinearSVC,
logistic regression, ...) learns on the vectors. The class follows the scikit-learn
contract: ``__init__`` only stores parameters, ``fit`` returns ``self``, learned
attributes end in ``_``.

    >>> clf = EmbeddingClassifier(head="logistic", C=[0.1, 1, 10]).fit(texts, labels)
    >>> clf.predict(["¡Qué buen día!"]), clf.C_
    >>> clf.save("mi-clasificador")                 # a folder; no pickle for linear heads
    >>> EmbeddingClassifier.load("mi-clasificador").predict_proba(["Che schifo"])

``fit``, ``predict`` and friends take texts, or a 2-D float array of embeddings that the
same encoder (same prompt) produced: embed once with :meth:`EmbeddingClassifier.embed`
and reuse the array across heads and folds.

Saved folders hold ``classifier.json`` (parameters, classes, encoder reference) and the
head: linear heads as plain arrays in ``head.npz`` (loaded with ``allow_pickle=False``),
other heads as ``head.joblib``, a pickle that :meth:`load` opens only with
``trust_pickle=True``: unpickling runs code, so load only folders you trust. The encoder
reference includes the embeddings of a few probe sentences, so loading the head with a
different encoder is detected instead of silently predicting garbage.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if

from ._fs import atomic_dir
from .classifier_folder import (
    BUNDLED_ENCODER,
    CONFIG_NAME,
    FORMAT_VERSION,
    LINEAR_HEAD_FILE,
    LINEAR_HEADS,
    PICKLED_HEAD_FILE,
    check_encoder,
    encoder_reference,
    load_encoder,
    read_config,
    read_linear_head,
    read_pickled_head,
)
from .encoder import Encoder
from .errors import InputError, ModelLoadError
from .io import validate_texts, write_json
from .labels import check_known_labels, check_labels
from .probes import SHORT_PROBES
from .sources import DEFAULT_MODEL

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class HeadSpec:
    module: str
    name: str
    has_C: bool
    defaults: tuple[tuple[str, Any], ...] = ()

    def build(self, params: dict[str, Any]) -> Any:
        cls = getattr(importlib.import_module(self.module), self.name)
        return cls(**{**dict(self.defaults), **params})


#: Heads by name. ``C`` applies to the ones with ``has_C``; ``head_params`` reach the constructor.
HEADS: dict[str, HeadSpec] = {
    "linear-svc": HeadSpec("sklearn.svm", "LinearSVC", has_C=True, defaults=(("max_iter", 10_000),)),
    "logistic": HeadSpec("sklearn.linear_model", "LogisticRegression", has_C=True,
                         defaults=(("max_iter", 2_000),)),
    "ridge": HeadSpec("sklearn.linear_model", "RidgeClassifier", has_C=False),
    "svc": HeadSpec("sklearn.svm", "SVC", has_C=True),
    "knn": HeadSpec("sklearn.neighbors", "KNeighborsClassifier", has_C=False,
                    defaults=(("metric", "cosine"),)),
    "random-forest": HeadSpec("sklearn.ensemble", "RandomForestClassifier", has_C=False),
    "mlp": HeadSpec("sklearn.neural_network", "MLPClassifier", has_C=False,
                    defaults=(("max_iter", 500),)),
}
_RANDOM_STATE_HEADS = {"linear-svc", "logistic", "svc", "random-forest", "mlp"}


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as JSON values (numpy scalars and arrays become numbers and lists), or an
    InputError naming the one that cannot be saved."""
    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    out = {name: plain(value) for name, value in params.items()}
    for name, value in out.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"cannot save the classifier: its parameter {name}={value!r} is not a JSON value "
                             f"({exc}); use numbers, strings, lists and dicts") from None
    return out


class EmbeddingClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn head over sentence embeddings.

    Parameters
    ----------
    encoder:
        A loaded :class:`Encoder`, or a model name or folder (loaded at ``fit``).
    head:
        One of :data:`HEADS`: ``"linear-svc"`` (default), ``"logistic"``, ``"ridge"``,
        ``"svc"``, ``"knn"``, ``"random-forest"``, ``"mlp"``.
    C:
        Inverse regularisation strength for heads that have one. A list of values selects
        the best by stratified ``cv``-fold cross-validation (macro-F1) on the training data;
        the choice is in ``C_`` and the fold scores in ``cv_results_``.
    cv:
        Folds for the C search.
    prompt_name, prompt:
        The encoder prompt (default: the encoder's default, ``"query: "`` for e5).
    batch_size:
        Texts per encoder batch.
    random_state:
        Seed for the head and the CV folds.
    head_params:
        Extra keyword arguments for the head's constructor.
    cache:
        An :class:`frasi.EmbeddingCache`: texts embedded before are not embedded again.
        It changes speed only, and is not saved with the classifier.
    """

    def __init__(self, encoder: Encoder | str = DEFAULT_MODEL, *, head: str = "linear-svc",
                 C: float | Sequence[float] = 1.0, cv: int = 5, prompt_name: str | None = None,
                 prompt: str | None = None, batch_size: int = 32, random_state: int | None = 0,
                 head_params: dict[str, Any] | None = None, cache: Any = None) -> None:
        self.encoder = encoder
        self.head = head
        self.C = C
        self.cv = cv
        self.prompt_name = prompt_name
        self.prompt = prompt
        self.batch_size = batch_size
        self.random_state = random_state
        self.head_params = head_params
        self.cache = cache

    # ------------------------------------------------------------ embeddings

    def _encoder(self) -> Encoder:
        encoder = getattr(self, "encoder_", None)
        if encoder is None:
            encoder = self.encoder if isinstance(self.encoder, Encoder) else Encoder.load(self.encoder)
            self.encoder_ = encoder
        return encoder

    def embed(self, texts: Sequence[str], *, show_progress: bool | None = None) -> np.ndarray:
        """Embeddings of ``texts`` as this classifier sees them (its encoder and prompt)."""
        texts = validate_texts(texts, what="text")
        return self._encoder().encode(texts, prompt_name=self.prompt_name, prompt=self.prompt,
                                      batch_size=self.batch_size, show_progress=show_progress, cache=self.cache)

    def _features(self, X: Any) -> np.ndarray:
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            if X.ndim != 2:
                raise InputError(f"embeddings must be a 2-D array (texts x dimension), got shape {X.shape}")
            if not np.isfinite(X).all():
                raise InputError("embeddings contain NaN or infinite values")
            expected = getattr(self, "n_features_in_", None)
            if expected is not None and X.shape[1] != expected:
                raise InputError(f"embeddings have dimension {X.shape[1]}, this classifier expects {expected}")
            return X.astype(np.float32, copy=False)
        if isinstance(X, str):
            raise InputError("give a list of texts, not a single string (wrap it: [text])")
        if isinstance(X, np.ndarray) and X.dtype.kind in "iub":
            raise InputError(f"embeddings must be floating point, got {X.dtype}; pass float32 embeddings "
                             "(or texts)")
        return self.embed(X)

    # ------------------------------------------------------------ fit / predict

    def _spec(self) -> HeadSpec:
        if self.head not in HEADS:
            raise InputError(f"unknown head {self.head!r}; choose one of: {', '.join(HEADS)}")
        return HEADS[self.head]

    def _check_params(self) -> tuple[HeadSpec, list[float] | None]:
        spec = self._spec()
        grid: list[float] | None = None
        if isinstance(self.C, (Sequence, np.ndarray)) and not isinstance(self.C, str):
            grid = list(np.asarray(self.C, dtype=object).reshape(-1).tolist())
            if not grid:
                raise InputError("C is an empty list; give a number or several candidates")
        values = grid if grid is not None else [self.C]
        for c in values:
            if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c <= 0:
                raise InputError(f"C must be a positive number or a list of them, got {c!r}")
        if grid is not None:
            grid = [float(c) for c in grid]
        if not spec.has_C and (grid is not None or self.C != 1.0):
            raise InputError(f"head {self.head!r} has no C parameter; drop C or use linear-svc, logistic or svc")
        if grid is not None and (not isinstance(self.cv, numbers.Integral) or self.cv < 2):
            raise InputError(f"cv must be an integer >= 2 to choose C, got {self.cv!r}")
        return spec, grid

    def _new_head(self, spec: HeadSpec, C: float | None) -> Any:
        params = dict(self.head_params or {})
        if spec.has_C and C is not None:
            params.setdefault("C", C)
        if self.head in _RANDOM_STATE_HEADS:
            params.setdefault("random_state", self.random_state)
        try:
            return spec.build(params)
        except TypeError as exc:
            raise InputError(f"head {self.head!r} does not accept these head_params: {exc}") from None

    def fit(self, X: Any, y: Any) -> EmbeddingClassifier:
        """Embed ``X`` (texts, or precomputed embeddings) and fit the head on labels ``y``."""
        spec, grid = self._check_params()
        if isinstance(X, str):
            raise InputError("give a list of texts, not a single string (wrap it: [text])")
        labels = check_labels(y)
        if not isinstance(X, np.ndarray) and len(X) != len(labels):
            raise InputError(f"got {len(X)} texts and {len(labels)} labels; give one label per text")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise InputError(f"the training data has only one class ({classes[0].item()!r}); a classifier needs "
                             "at least 2")
        neighbours = self._new_head(spec, None).get_params().get("n_neighbors") if self.head == "knn" else None
        if neighbours is not None and neighbours > len(labels):  # scikit-learn would fail only at predict time
            raise InputError(f"head 'knn' looks at {neighbours} neighbours but got {len(labels)} training texts; "
                             f"train on at least {neighbours} texts (from Python you can also pass "
                             f"head_params={{'n_neighbors': {len(labels)}}})")
        features = self._features(X)
        if len(features) != len(labels):
            raise InputError(f"got {len(features)} embeddings and {len(labels)} labels; give one label per text")
        if grid is not None:
            self.C_, self.cv_results_ = self._choose_C(spec, grid, features, labels, int(counts.min()))
        else:
            self.C_ = float(self.C) if spec.has_C else None
            self.cv_results_ = None
        head = self._new_head(spec, self.C_)
        try:
            head.fit(features, labels)
        except ValueError as exc:  # scikit-learn's own parameter and data checks
            raise InputError(f"head {self.head!r} cannot fit {len(labels)} texts: {exc}") from None
        self.head_ = head
        self.classes_ = head.classes_
        self.n_features_in_ = features.shape[1]
        return self

    def _choose_C(self, spec: HeadSpec, grid: list[float], features: np.ndarray, labels: np.ndarray,
                  smallest_class: int) -> tuple[float, dict[str, Any]]:
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        if smallest_class < self.cv:
            raise InputError(f"cannot run {self.cv}-fold cross-validation: the smallest class has "
                             f"{smallest_class} examples; lower cv or give a single C")
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        means, stds = [], []
        for c in grid:
            scores = cross_val_score(self._new_head(spec, c), features, labels, cv=folds, scoring="f1_macro")
            means.append(float(scores.mean()))
            stds.append(float(scores.std()))
            logger.info("C=%g: cross-validated macro-F1 %.4f ± %.4f", c, means[-1], stds[-1])
        best = grid[int(np.argmax(means))]
        return best, {"C": grid, "mean_macro_f1": means, "std_macro_f1": stds, "folds": self.cv,
                      "scoring": "f1_macro"}

    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this EmbeddingClassifier is not fitted yet: call fit(texts, labels) "
                                 "or EmbeddingClassifier.load(folder) first")

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for texts (or embeddings)."""
        self._check_fitted()
        return self.head_.predict(self._features(X))

    def _head_has(name: str):  # a decorator factory, evaluated in the class body
        return lambda self: not hasattr(self, "head_") or hasattr(self.head_, name)

    @available_if(_head_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (columns in ``classes_`` order); heads without them lack this method."""
        self._check_fitted()
        return self.head_.predict_proba(self._features(X))

    @available_if(_head_has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        """Signed margins from the head."""
        self._check_fitted()
        return self.head_.decision_function(self._features(X))

    del _head_has

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy on ``(X, y)``; labels the classifier never saw are an error."""
        self._check_fitted()
        if isinstance(X, str):
            raise InputError("give a list of texts, not a single string (wrap it: [text])")
        labels = check_labels(y)
        if len(X) != len(labels):
            raise InputError(f"got {len(X)} texts and {len(labels)} labels; give one label per text")
        self.check_known_labels(labels)
        return super().score(X, labels, sample_weight=sample_weight)

    def check_known_labels(self, labels: np.ndarray) -> None:
        """Raise if ``labels`` has classes this classifier was not trained on."""
        check_known_labels(labels, self.classes_)

    def experiment_record(self) -> dict[str, Any]:
        """What :func:`frasi.experiment.run_experiment` reports about this classifier."""
        encoder = self._encoder()
        return {"model": encoder.name, "head": self.head, "C": getattr(self, "C_", None),
                "cv_results": getattr(self, "cv_results_", None),
                "prompt": encoder.resolve_prompt(self.prompt_name, self.prompt)}

    # ------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str], *, files: Mapping[str, bytes] | None = None,
             bundle_encoder: bool = False) -> Path:
        """Write the classifier to the new folder ``path``, atomically, and return it.

        ``files`` maps extra file names (e.g. a training report) to their bytes; they are
        written into the same folder in the same atomic step. ``bundle_encoder`` saves the
        encoder inside the folder too (a sentence-transformers folder, ``encoder/``), for an
        encoder that exists nowhere else, such as one fine-tuned in memory.
        """
        self._check_fitted()
        encoder = self._encoder()
        probes = encoder.encode(list(SHORT_PROBES), prompt_name=self.prompt_name, prompt=self.prompt,
                                show_progress=False)
        config = {
            "format_version": FORMAT_VERSION,
            "head": self.head,
            "params": _json_params({"C": self.C, "cv": self.cv, "prompt_name": self.prompt_name,
                                    "prompt": self.prompt, "batch_size": self.batch_size,
                                    "random_state": self.random_state, "head_params": self.head_params}),
            "C_": self.C_,
            "cv_results_": self.cv_results_,
            "classes": self.classes_.tolist(),
            "head_file": LINEAR_HEAD_FILE if self.head in LINEAR_HEADS else PICKLED_HEAD_FILE,
            "encoder": {
                "name": encoder.name,
                "reference": BUNDLED_ENCODER if bundle_encoder else encoder_reference(encoder),
                "bundled": bundle_encoder,
                "dimension": int(self.n_features_in_),
                "prompt": encoder.resolve_prompt(self.prompt_name, self.prompt),
                "probe_texts": list(SHORT_PROBES),
                "probe_embeddings": np.round(probes.astype(np.float64), 6).tolist(),
            },
        }
        with atomic_dir(path, what="classifier") as tmp:
            if bundle_encoder:
                encoder.save(tmp / BUNDLED_ENCODER)
            write_json(tmp / CONFIG_NAME, config)
            if self.head in LINEAR_HEADS:
                np.savez(tmp / LINEAR_HEAD_FILE, coef=np.asarray(self.head_.coef_),
                         intercept=np.asarray(self.head_.intercept_))
            else:
                import joblib

                joblib.dump(self.head_, tmp / PICKLED_HEAD_FILE)
            for name, data in (files or {}).items():
                if Path(name).name != name or name in (CONFIG_NAME, LINEAR_HEAD_FILE, PICKLED_HEAD_FILE,
                                                       BUNDLED_ENCODER):
                    raise InputError(f"cannot add file {name!r} to a classifier folder; use a plain, new file name")
                (tmp / name).write_bytes(data)
        logger.info("saved classifier to %s", path)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, encoder: Encoder | str | None = None,
             trust_pickle: bool = False, backend: str | None = None, threads: int | None = None,
             cache: Any = None) -> EmbeddingClassifier:
        """Load a folder written by :meth:`save`.

        ``encoder`` overrides the stored encoder reference (e.g. a loaded Encoder, or the
        model's new folder); either way it must reproduce the stored probe embeddings.
        ``backend`` and ``threads`` apply when the encoder is loaded here (as in
        :meth:`Encoder.load`); ``cache`` is an EmbeddingCache for the texts' vectors.
        Non-linear heads are pickles: they load only with ``trust_pickle=True``.
        """
        folder = Path(path)
        config = read_config(folder)
        head_name = config["head"]
        if head_name not in HEADS:
            raise ModelLoadError(f"{folder}: unknown head {head_name!r} in {CONFIG_NAME}")
        spec = HEADS[head_name]
        encoder = load_encoder(folder, config, encoder, backend=backend, threads=threads)
        clf = cls(encoder=encoder, head=head_name, **config["params"], cache=cache)
        classes = np.asarray(config["classes"])
        clf.head_ = _load_head(folder, spec, config, classes, trust_pickle, clf)
        clf.classes_ = classes
        clf.C_ = config.get("C_")
        clf.cv_results_ = config.get("cv_results_")
        clf.n_features_in_ = int(config["encoder"]["dimension"])
        check_encoder(folder, config["encoder"], encoder)
        return clf


def _load_head(folder: Path, spec: HeadSpec, config: dict[str, Any], classes: np.ndarray,
               trust_pickle: bool, clf: EmbeddingClassifier) -> Any:
    if config["head"] not in LINEAR_HEADS:
        return read_pickled_head(folder, config, trust_pickle)
    coef, intercept = read_linear_head(folder, config)
    head = clf._new_head(spec, config.get("C_"))
    head.coef_ = coef
    head.intercept_ = intercept if intercept.ndim else intercept.item()
    head.classes_ = classes
    head.n_features_in_ = coef.shape[-1]
    return head
