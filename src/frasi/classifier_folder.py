"""A saved classifier folder, read with numpy alone: its config, its head, the encoder check.

:meth:`frasi.EmbeddingClassifier.save` writes ``classifier.json`` (parameters, classes,
the encoder reference and the embeddings of three probe sentences) and the head: linear
heads (``linear-svc``, ``logistic``) as plain arrays in ``head.npz``, others as a joblib
pickle. An encoder that exists nowhere else (fine-tuned in memory) is saved inside, in
``encoder/``, and the reference points there. This module owns that format.
:func:`load_classifier` gives a :class:`SavedClassifier` ready to predict; a linear head predicts with numpy
(:class:`LinearHead`), because scikit-learn's import alone takes over a second, most of a
one-sentence ``frasi sentiment``. Loading refuses an encoder that does not reproduce the
stored probe embeddings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .encoder import Encoder
from .errors import InputError, ModelLoadError
from .io import validate_texts
from .labels import check_known_labels
from .similarity import similarity_pairwise
from .sources import model_kind

if TYPE_CHECKING:  # pragma: no cover
    from .finetune.predictor import TextClassifier

FORMAT_VERSION = 1
CONFIG_NAME = "classifier.json"
LINEAR_HEAD_FILE = "head.npz"
PICKLED_HEAD_FILE = "head.joblib"
BUNDLED_ENCODER = "encoder"  # the encoder saved inside the folder (``save(..., bundle_encoder=True)``)
#: Minimum cosine between stored and recomputed probe embeddings (int8 runtimes stay above).
PROBE_MIN_COSINE = 0.98
#: Heads that ``coef_`` and ``intercept_`` describe fully: saved as arrays, predicted with numpy.
LINEAR_HEADS = ("linear-svc", "logistic")


def read_config(folder: Path) -> dict[str, Any]:
    """``classifier.json`` of ``folder``, checked; ModelLoadError naming what is wrong."""
    file = folder / CONFIG_NAME
    if not folder.is_dir():
        raise ModelLoadError(f"classifier folder {folder} does not exist")
    if not file.is_file():
        raise ModelLoadError(f"{folder} is not a frasi classifier folder: {CONFIG_NAME} is missing")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{file} is not valid JSON ({exc})") from None
    version = config.get("format_version") if isinstance(config, dict) else None
    if version != FORMAT_VERSION:
        raise ModelLoadError(f"{file} has format_version {version!r}; this frasi reads version {FORMAT_VERSION}")
    missing = [k for k in ("head", "params", "classes", "head_file", "encoder") if k not in config]
    if missing:
        raise ModelLoadError(f"{file} lacks {', '.join(missing)}")
    return config


def read_linear_head(folder: Path, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept) of a linear head, read without pickle."""
    file = folder / config["head_file"]
    if not file.is_file():
        raise ModelLoadError(f"{folder} is incomplete: {config['head_file']} is missing")
    try:
        with np.load(file, allow_pickle=False) as arrays:
            return arrays["coef"], arrays["intercept"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{file} is not a valid head file ({exc})") from None


def encoder_reference(encoder: Encoder) -> str | None:
    """What :meth:`Encoder.load` needs to load this encoder again: a packaged name, Hub id or folder."""
    if encoder.source in ("packaged", "hub"):
        return encoder.name
    if encoder.path is not None:
        return str(Path(encoder.path).resolve())
    return None


def load_encoder(folder: Path, config: dict[str, Any], encoder: Encoder | str | os.PathLike[str] | None, *,
                 backend: str | None, threads: int | None) -> Encoder:
    """``encoder`` (loaded if a name), or the one the classifier recorded."""
    if encoder is not None:
        return encoder if isinstance(encoder, Encoder) else Encoder.load(encoder, backend=backend, threads=threads)
    if config["encoder"].get("bundled"):
        bundled = folder / BUNDLED_ENCODER
        if not bundled.is_dir():
            raise ModelLoadError(f"{folder} is incomplete: its encoder folder {BUNDLED_ENCODER}/ is missing")
        loaded = Encoder.load(bundled, backend=backend, threads=threads)
        loaded.name = config["encoder"]["name"]  # the trained encoder's name, not its subfolder's ("encoder")
        return loaded
    reference = config["encoder"].get("reference")
    if reference is None:
        raise ModelLoadError(f"{folder} was trained on an encoder built in memory "
                             f"({config['encoder']['name']!r}); pass encoder= (CLI: --model)")
    return Encoder.load(reference, backend=backend, threads=threads)


def check_encoder(folder: Path, reference: dict[str, Any], encoder: Encoder, cache: Any = None) -> None:
    """ModelLoadError unless ``encoder`` embeds the stored probe sentences as the training encoder did."""
    if encoder.dimension != reference["dimension"]:
        raise ModelLoadError(f"{folder} was trained on {reference['dimension']}-dimensional embeddings of "
                             f"{reference['name']!r}, but encoder {encoder.name!r} gives {encoder.dimension}; "
                             "load it with the encoder it was trained with")
    stored = np.asarray(reference["probe_embeddings"], dtype=np.float32)
    fresh = encoder.encode(list(reference["probe_texts"]), prompt=reference["prompt"], show_progress=False,
                           cache=cache)
    cosines = similarity_pairwise(stored, fresh)
    if float(cosines.min()) < PROBE_MIN_COSINE:
        raise ModelLoadError(f"{folder} was trained on embeddings of {reference['name']!r}, and encoder "
                             f"{encoder.name!r} embeds differently (probe cosine {cosines.min():.3f}); "
                             "load it with the encoder it was trained with")


def read_pickled_head(folder: Path, config: dict[str, Any], trust_pickle: bool) -> Any:
    """The joblib-pickled head of ``folder``; refused unless ``trust_pickle`` (unpickling runs code)."""
    file = folder / config["head_file"]
    if not file.is_file():
        raise ModelLoadError(f"{folder} is incomplete: {config['head_file']} is missing")
    if not trust_pickle:
        raise ModelLoadError(f"{file} is a pickle (head {config['head']!r}); unpickling runs code, so it "
                             "loads only with trust_pickle=True (CLI: --trust-pickle) for folders you trust")
    import joblib

    return joblib.load(file)


class LinearHead:
    """A linear head in numpy: scikit-learn's LinearSVC / LogisticRegression predictions, exactly.

    ``decision_function`` is ``X @ coef.T + intercept`` (one column for two classes);
    ``predict`` takes the best class. With ``probabilities`` (a logistic head) it also has
    ``predict_proba``: the softmax of the scores for three or more classes, the logistic
    sigmoid for two, as scikit-learn computes them.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, *, probabilities: bool):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64).reshape(-1)
        self.classes_ = classes
        self.probabilities = probabilities

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)]

    @property
    def predict_proba(self) -> Any:
        if not self.probabilities:
            raise AttributeError("a linear-svc head has no probabilities; train with head='logistic'")
        return self._proba

    def _proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = 1.0 / (1.0 + np.exp(-scores))
            return np.stack([1.0 - positive, positive], axis=1)
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


class SavedClassifier:
    """A saved classifier ready to predict: texts (or float embeddings) in, labels out.

    Linear heads predict with numpy (:class:`LinearHead`); other heads are the unpickled
    scikit-learn estimators. ``predict_proba`` and ``decision_function`` exist when the head
    has them, as on :class:`frasi.EmbeddingClassifier`.
    """

    def __init__(self, encoder: Encoder, config: dict[str, Any], head: Any, *, cache: Any = None) -> None:
        params = config["params"]
        self.encoder_ = encoder
        self.head = config["head"]
        self.head_ = head
        self.classes_ = np.asarray(config["classes"])
        self.prompt_name, self.prompt = params.get("prompt_name"), params.get("prompt")
        self.batch_size = params.get("batch_size", 32)
        self.n_features_in_ = int(config["encoder"]["dimension"])
        self.cache = cache

    def embed(self, texts: Sequence[str], *, show_progress: bool | None = None) -> np.ndarray:
        """Embeddings of ``texts`` as this classifier sees them (its encoder and prompt)."""
        return self.encoder_.encode(validate_texts(texts), prompt_name=self.prompt_name, prompt=self.prompt,
                                    batch_size=self.batch_size, show_progress=show_progress, cache=self.cache)

    def _features(self, X: Any) -> np.ndarray:
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise InputError(f"embeddings must be a 2-D array of dimension {self.n_features_in_}, got shape "
                                 f"{X.shape}")
            return X
        if isinstance(X, str):
            raise InputError("give a list of texts, not a single string (wrap it: [text])")
        return self.embed(X)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for texts (or embeddings)."""
        return self.head_.predict(self._features(X))

    @property
    def predict_proba(self) -> Any:
        """Class probabilities (columns in ``classes_`` order), when the head has them."""
        head_proba = self.head_.predict_proba  # AttributeError: this head has none, so hasattr() is False
        return lambda X: head_proba(self._features(X))

    @property
    def decision_function(self) -> Any:
        """Signed margins from the head, when it has them."""
        head_scores = self.head_.decision_function
        return lambda X: head_scores(self._features(X))

    def check_known_labels(self, labels: Any) -> None:
        """Raise if ``labels`` has classes this classifier was not trained on."""
        check_known_labels(labels, self.classes_)


def load_classifier(path: str | os.PathLike[str], *, encoder: Encoder | str | None = None,
                    backend: str | None = None, threads: int | None = None, cache: Any = None,
                    trust_pickle: bool = False) -> SavedClassifier | TextClassifier:
    """A saved classifier ready to predict, without scikit-learn for linear heads.

    A fine-tuned classifier's folder (a Hugging Face sequence-classification folder, see
    :mod:`frasi.finetune`) gives a :class:`~frasi.finetune.predictor.TextClassifier` on
    ``backend``.

    ``encoder`` replaces the recorded one (it must reproduce the stored probe embeddings);
    ``backend``, ``threads``, ``cache`` and ``trust_pickle`` are as for
    :meth:`frasi.EmbeddingClassifier.load`, which gives a refittable scikit-learn estimator
    instead.
    """
    folder = Path(path)
    if not (folder / CONFIG_NAME).is_file() and model_kind(folder) == "text-classifier":
        if encoder is not None:
            raise InputError(f"{folder} is a fine-tuned classifier: it carries its own encoder; drop the encoder "
                             "(CLI: --model)")
        from .finetune.predictor import TextClassifier

        return TextClassifier.load(folder, backend=backend, threads=threads)
    config = read_config(folder)
    classes = np.asarray(config["classes"])
    if config["head"] in LINEAR_HEADS:
        head = LinearHead(*read_linear_head(folder, config), classes, probabilities=config["head"] == "logistic")
    else:
        head = read_pickled_head(folder, config, trust_pickle)
    loaded = load_encoder(folder, config, encoder, backend=backend, threads=threads)
    check_encoder(folder, config["encoder"], loaded, cache)
    return SavedClassifier(loaded, config, head, cache=cache)
