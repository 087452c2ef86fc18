"""FineTunedClassifier: fine-tune a sentence encoder end to end as a text classifier (scikit-learn contract).

:class:`frasi.EmbeddingClassifier` fits a head on frozen embeddings; this sibling trains the
encoder itself with a classification head, which is what the published results on tweet
sentiment do. Three methods:

``full``
    every weight trains (cross-entropy), the new head at its own learning rate;
``lora``
    low-rank adapters (peft) on every linear layer of the encoder, plus the head; merged into
    the weights at the end, so the saved model is a plain one;
``setfit``
    SetFit's method for few labels (:mod:`frasi.finetune.contrastive`): contrastive pairs
    tune the encoder's own sentence embedding (mean pooling for e5), then a logistic
    regression on the tuned embeddings is the head.

With a dev set (``X_dev`` / ``y_dev``, or ``validation_fraction`` of the training data held
out, stratified and seeded), ``full`` and ``lora`` evaluate macro-F1 at each epoch (or every
``eval_steps``), keep the best checkpoint and stop early. ``class_weight="balanced"``
weighs the loss against imbalance. ``checkpoint_dir`` keeps checkpoints, and
``fit(..., resume=True)`` continues an interrupted run from the last one.

    >>> clf = FineTunedClassifier("multilingual-e5-small", method="lora", epochs=3).fit(texts, labels)
    >>> clf.predict(["¡Qué buen día!"]); clf.save("mi-modelo")
    >>> FineTunedClassifier.load("mi-modelo").predict_proba(["Che schifo"])   # on OpenVINO by default

``full`` and ``lora`` save a standard Hugging Face sequence-classification folder
(:mod:`frasi.finetune.folder`): ``transformers.pipeline("text-classification",
model="mi-modelo")`` gives the same labels. Loaded, it runs on frasi's backends
(:mod:`frasi.finetune.runtime`). ``setfit`` saves what SetFit itself saves, without its
pickle: a classifier folder of :class:`frasi.EmbeddingClassifier` (``classifier.json``, the
logistic head in ``head.npz``) with the tuned encoder inside, in ``encoder/``, a standard
sentence-transformers folder. Its head reads the mean of the token vectors, which no
``AutoModelForSequenceClassification`` computes, so the pipeline does not load it;
``frasi classify predict``, :func:`frasi.load_classifier` and this class's ``load`` do,
and its encoder runs on frasi's backends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .._fs import atomic_dir
from .._hf import quiet_loading
from ..errors import InputError, require
from ..io import validate_texts, write_json
from ..labels import check_known_labels, check_labels
from ..sources import DEFAULT_MODEL
from ..versions import versions
from . import contrastive, training
from .folder import write_folder
from .predictor import TextClassifier
from .runtime import TorchLogits, load_torch_model

logger = logging.getLogger(__name__)

METHODS = ("full", "lora", "setfit")
SETFIT_RECORD = "frasi_fine_tuning.json"  # beside a setfit folder's classifier.json: how it was trained
LEARNING_RATES = {"full": 5e-5, "lora": 5e-4, "setfit": 2e-5}
ADAPTER_FOLDER = "adapter"  # a LoRA run's adapter, in peft's format, beside the merged model
STATE_FILE = "frasi_fit_state.json"  # in checkpoint_dir: what the run was started with
MIN_PER_CLASS_FOR_DEV = 5  # a held-out dev set needs this many training texts in every class


class FineTunedClassifier(ClassifierMixin, BaseEstimator):
    """A sentence encoder fine-tuned end to end as a text classifier.

    Parameters
    ----------
    encoder:
        The model to start from: a packaged name, a folder or a Hub id (its transformer).
    method:
        ``"full"``, ``"lora"`` or ``"setfit"`` (see the module's description).
    epochs, batch_size, learning_rate, head_learning_rate:
        The schedule (``full`` / ``lora``). ``learning_rate`` None: 5e-5 for ``full``, 5e-4
        for ``lora``, 2e-5 for ``setfit``'s body; the new head trains at
        ``head_learning_rate`` (None: ``learning_rate``).
    max_length:
        Tokens per text, longer texts are cut (tweets need about 64).
    class_weight:
        None, ``"balanced"`` or {class: weight}.
    validation_fraction:
        Held out for dev when ``fit`` gets no ``X_dev`` (0: no dev; every class needs 5 texts).
    early_stopping:
        Evaluations without a better dev macro-F1 before stopping (None: never).
    eval_steps:
        Evaluate (and checkpoint) every this many steps; None: at each epoch's end.
    lora_r, lora_alpha, lora_dropout:
        The adapters' rank, scale (None: 2 x rank) and dropout.
    contrastive_pairs:
        ``setfit``: pairs to train on (None: 20 rounds, at most 2,000 pairs).
    random_state:
        Seed for the head's initialisation, the split, batches, dropout and pairs.
    init_seed:
        ``full`` / ``lora``: seed for the new head's and the adapters' initial weights alone
        (None: ``random_state``).
        Runs that share it and differ in ``random_state`` start from the same weights and see
        the data in different orders: what averaging them into one model (a model soup,
        :func:`frasi.adapters.average_lora`) needs.
    checkpoint_dir:
        Where checkpoints go (None: a temporary folder, removed after ``fit``).
    threads:
        CPU threads for training and prediction (None: frasi's setting).
    """

    def __init__(self, encoder: str | os.PathLike[str] = DEFAULT_MODEL, *, method: str = "full",
                 epochs: float = 3.0, batch_size: int = 32, learning_rate: float | None = None,
                 head_learning_rate: float | None = None, max_length: int = 128,
                 class_weight: str | Mapping[Any, float] | None = None, validation_fraction: float = 0.1,
                 early_stopping: int | None = 2, eval_steps: int | None = None, lora_r: int = 16,
                 lora_alpha: float | None = None, lora_dropout: float = 0.1, contrastive_pairs: int | None = None,
                 random_state: int = 0, init_seed: int | None = None,
                 checkpoint_dir: str | os.PathLike[str] | None = None, threads: int | None = None) -> None:
        self.encoder = encoder
        self.method = method
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.max_length = max_length
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.eval_steps = eval_steps
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.contrastive_pairs = contrastive_pairs
        self.random_state = random_state
        self.init_seed = init_seed
        self.checkpoint_dir = checkpoint_dir
        self.threads = threads

    # ------------------------------------------------------------------ checks

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        numbers = {"epochs": (self.epochs, float), "learning_rate": (self.learning_rate, float),
                   "head_learning_rate": (self.head_learning_rate, float), "lora_alpha": (self.lora_alpha, float)}
        for name, (value, _) in numbers.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise InputError(f"{name} must be a positive number, got {value!r}")
        counts = {"batch_size": (self.batch_size, 1), "max_length": (self.max_length, 1), "lora_r": (self.lora_r, 1),
                  "eval_steps": (self.eval_steps, 1), "early_stopping": (self.early_stopping, 1),
                  "contrastive_pairs": (self.contrastive_pairs, 1), "init_seed": (self.init_seed, 0)}
        for name, (value, least) in counts.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                what = "a positive integer" if least == 1 else f"an integer >= {least}"
                raise InputError(f"{name} must be {what}, got {value!r}")
        if not isinstance(self.validation_fraction, (int, float)) or not 0 <= self.validation_fraction < 0.5:
            raise InputError(f"validation_fraction must be in [0, 0.5), got {self.validation_fraction!r}")
        if not 0 <= self.lora_dropout < 1:
            raise InputError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, Mapping):
            raise InputError(f'class_weight must be None, "balanced" or a {{class: weight}} dict; got '
                             f"{self.class_weight!r}")

    def _require(self) -> None:
        purpose = f"fine-tuning a classifier (method={self.method!r})"
        if self.method != "setfit":  # setfit trains in frasi's own short loop
            require("accelerate", extra="train", purpose=purpose)  # transformers' Trainer needs it
        if self.method == "lora":
            require("peft", extra="finetune", purpose=purpose)

    # ------------------------------------------------------------------ fit

    def fit(self, X: Sequence[str], y: Any, *, X_dev: Sequence[str] | None = None, y_dev: Any = None,
            resume: bool = False, callbacks: Sequence[Any] = ()) -> FineTunedClassifier:
        """Fine-tune on texts ``X`` with labels ``y``; select on (``X_dev``, ``y_dev``) or a held-out part.

        ``resume`` continues the interrupted run in ``checkpoint_dir``; ``callbacks`` are told of
        every checkpoint (``on_checkpoint(step)``, as :class:`frasi.train.TrainCallback`).
        """
        self._check_params()
        if isinstance(X, str):
            raise InputError("give a list of texts, not a single string (wrap it: [text])")
        texts = validate_texts(X)
        labels = check_labels(y)
        if len(texts) != len(labels):
            raise InputError(f"got {len(texts)} texts and {len(labels)} labels; give one label per text")
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise InputError(f"the training data has only one class ({classes[0].item()!r}); a classifier needs "
                             "at least 2")
        dev = self._dev_set(texts, labels, classes, counts, X_dev, y_dev)
        if dev is not None and X_dev is None:
            texts, labels = dev[2], dev[3]
        self._require()
        index = {c: i for i, c in enumerate(classes.tolist())}
        train_ids = np.array([index[c] for c in labels.tolist()])
        dev_pair = (dev[0], np.array([index[c] for c in dev[1].tolist()])) if dev is not None else None
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        if isinstance(self.class_weight, Mapping):
            unknown = [c for c in self.class_weight if c not in set(classes.tolist())]
            if unknown:
                raise InputError(f"class_weight names classes {unknown} that are not in the training data")
        if self.method == "setfit":
            if resume:
                raise InputError("method='setfit' trains in one short pass and keeps no checkpoints: nothing to "
                                 "resume; fit again")
            return self._fit_setfit(texts, labels, train_ids)
        work, temporary = self._work_folder(texts, labels, dev, resume)
        started = time.perf_counter()
        try:
            model, tokenizer, source = self._new_model(classes)
            details = self._train(model, tokenizer, texts, train_ids, dev_pair, classes, work, resume, callbacks)
        except BaseException:
            if not temporary and not resume and not any(work.glob("checkpoint-*")):
                temporary = True  # nothing to resume from: do not block the next run
            raise
        finally:
            if temporary:
                shutil.rmtree(work, ignore_errors=True)
        self.classes_ = classes
        self.model_, self.tokenizer_ = model, tokenizer
        logits = TorchLogits(model, tokenizer, max_length=self.max_length, threads=self.threads)
        self.predictor_ = TextClassifier(logits, classes, batch_size=max(32, self.batch_size))
        self.training_ = {"base_model": source, "method": self.method, "n_train": len(texts),
                          "n_dev": len(dev_pair[0]) if dev_pair is not None else 0,
                          "dev": "given" if X_dev is not None else ("held out" if dev is not None else None),
                          "seconds": round(time.perf_counter() - started, 1), **details}
        return self

    def _fit_setfit(self, texts: list[str], labels: np.ndarray, train_ids: np.ndarray) -> FineTunedClassifier:
        from ..classify import EmbeddingClassifier

        started = time.perf_counter()
        encoder = contrastive.trainable_encoder(self.encoder, threads=self.threads)
        lr = self.learning_rate or LEARNING_RATES[self.method]
        body = contrastive.train_encoder(encoder, texts, train_ids, pairs=self.contrastive_pairs or min(
            40 * len(texts), 2_000), batch_size=min(self.batch_size, 16), learning_rate=lr,
            max_length=self.max_length, seed=self.random_state)
        head_params = {"class_weight": self.class_weight} if self.class_weight is not None else None
        head = EmbeddingClassifier(encoder, head="logistic", head_params=head_params, random_state=self.random_state,
                                   batch_size=max(32, self.batch_size)).fit(texts, labels)
        self.classes_ = head.classes_
        self.model_, self.tokenizer_ = None, None
        self.predictor_ = head
        self.training_ = {"base_model": str(getattr(self.encoder, "name", self.encoder)), "method": self.method,
                          "n_train": len(texts), "n_dev": 0, "dev": None,
                          "seconds": round(time.perf_counter() - started, 1),
                          "contrastive": {**body, "learning_rate": lr},
                          "head": "logistic regression on the tuned embeddings"}
        return self

    def _dev_set(self, texts: list[str], labels: np.ndarray, classes: np.ndarray, counts: np.ndarray,
                 X_dev: Any, y_dev: Any) -> tuple[list[str], np.ndarray, list[str], np.ndarray] | None:
        """(dev texts, dev labels, train texts, train labels), or None without a dev set."""
        if X_dev is not None or y_dev is not None:
            if X_dev is None or y_dev is None:
                raise InputError("give both X_dev and y_dev, or neither")
            dev_texts, dev_labels = validate_texts(X_dev, what="dev text"), check_labels(y_dev)
            if len(dev_texts) != len(dev_labels):
                raise InputError(f"got {len(dev_texts)} dev texts and {len(dev_labels)} dev labels")
            check_known_labels(dev_labels, classes)
            return dev_texts, dev_labels, texts, labels
        if self.method == "setfit" or not self.validation_fraction:
            return None
        if counts.min() < MIN_PER_CLASS_FOR_DEV:
            logger.info("no dev set: a class has %d training texts (holding one out needs %d); training for the "
                        "whole schedule", counts.min(), MIN_PER_CLASS_FOR_DEV)
            return None
        from sklearn.model_selection import train_test_split

        train_texts, dev_texts, train_labels, dev_labels = train_test_split(
            texts, labels, test_size=self.validation_fraction, random_state=self.random_state, stratify=labels)
        return list(dev_texts), np.asarray(dev_labels), list(train_texts), np.asarray(train_labels)

    def _work_folder(self, texts: list[str], labels: np.ndarray, dev: Any, resume: bool) -> tuple[Path, bool]:
        """The checkpoint folder (made, or checked for resuming) and whether it is temporary."""
        if self.checkpoint_dir is None:
            if resume:
                raise InputError("resume=True needs checkpoint_dir: the folder the interrupted run wrote")
            return Path(tempfile.mkdtemp(prefix="frasi-finetune-")), True
        work = Path(self.checkpoint_dir).expanduser()
        digest = hashlib.sha256()
        for part in (texts, labels.tolist(), dev[0] if dev else [], dev[1].tolist() if dev else []):
            digest.update(json.dumps(part, ensure_ascii=False).encode("utf-8"))
        state = {"params": {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in self.get_params().items()
                            if k not in ("checkpoint_dir", "threads")}, "data_sha256": digest.hexdigest()}
        state["params"]["encoder"] = str(state["params"]["encoder"])
        saved = work / STATE_FILE
        if resume:
            if not saved.is_file():
                raise InputError(f"nothing to resume in {work}: it holds no interrupted run")
            before = json.loads(saved.read_text(encoding="utf-8"))
            changed = sorted(k for k in {*before["params"], *state["params"]}
                             if before["params"].get(k) != state["params"].get(k))
            if changed or before["data_sha256"] != state["data_sha256"]:
                what = f"parameters {', '.join(changed)}" if changed else "the training data"
                raise InputError(f"cannot resume the run in {work}: {what} changed since it started; start again "
                                 "in a new folder")
            return work, False
        if work.exists() and any(work.iterdir()):
            raise InputError(f"{work} holds an interrupted run; pass resume=True (--resume) to continue it, or "
                             "delete that folder to start again")
        work.mkdir(parents=True, exist_ok=True)
        write_json(saved, state)
        return work, False

    def _new_model(self, classes: np.ndarray) -> tuple[Any, Any, str]:
        """A sequence classifier over the encoder's transformer with a new, seeded head."""
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ..loading import transformer_folder

        encoder = self.encoder
        source = getattr(encoder, "path", None) or encoder  # an Encoder, or a name or folder
        folder = transformer_folder(source)
        transformers.set_seed(self.random_state if self.init_seed is None else self.init_seed)  # the adapters too
        names = [str(c) for c in classes.tolist()]
        with quiet_loading():  # the new head is reported missing from the checkpoint, as it should be
            model = AutoModelForSequenceClassification.from_pretrained(
                str(folder), num_labels=len(names), id2label=dict(enumerate(names)),
                label2id={n: i for i, n in enumerate(names)}, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return model, tokenizer, str(getattr(encoder, "name", None) or source)

    def _train(self, model: Any, tokenizer: Any, texts: list[str], train_ids: np.ndarray,
               dev: tuple[list[str], np.ndarray] | None, classes: np.ndarray, work: Path,
               resume: bool, callbacks: Sequence[Any]) -> dict[str, Any]:
        lr = self.learning_rate or LEARNING_RATES[self.method]
        class_weight = self.class_weight
        if isinstance(class_weight, Mapping):  # checked in fit: every class is in the training data
            class_weight = {int(np.flatnonzero(classes == c)[0]): float(w) for c, w in class_weight.items()}
        base = {id(p) for p in model.base_model.parameters()}
        head_modules = {"." + name.split(".")[0] + "." for name, p in model.named_parameters() if id(p) not in base}
        if self.method == "lora":
            from peft import LoraConfig, TaskType, get_peft_model

            config = LoraConfig(task_type=TaskType.SEQ_CLS, r=self.lora_r,
                                lora_alpha=self.lora_alpha or 2 * self.lora_r, lora_dropout=self.lora_dropout,
                                target_modules="all-linear")
            with warnings.catch_warnings():  # peft 0.21 calls a transformers 5 alias that warns it is deprecated
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
                model_to_train = get_peft_model(model, config)
        else:
            model_to_train = model
        schedule = training.Schedule(epochs=float(self.epochs), batch_size=self.batch_size, learning_rate=lr,
                                     head_learning_rate=self.head_learning_rate or lr, eval_steps=self.eval_steps,
                                     early_stopping=self.early_stopping, seed=self.random_state)
        weights = training.class_weights(train_ids, len(classes), class_weight)
        history = training.fit(model_to_train, tokenizer, (texts, train_ids), dev, schedule=schedule,
                               max_length=self.max_length, weights=weights, work=work, resume=resume,
                               listeners=callbacks, is_head=lambda name: any(m in f".{name}" for m in head_modules))
        if self.method == "lora":
            self.adapter_files_ = _adapter_files(model_to_train)
            merged = model_to_train.merge_and_unload()
            for name, param in merged.state_dict().items():  # merge in place: the caller keeps ``model``
                model.state_dict()[name].copy_(param)
        return {"schedule": {"epochs": float(self.epochs), "batch_size": self.batch_size, "learning_rate": lr,
                             "head_learning_rate": self.head_learning_rate or lr}, **history}

    # ------------------------------------------------------------------ predict

    def _check_fitted(self) -> None:
        if not hasattr(self, "predictor_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this FineTunedClassifier is not fitted yet: call fit(texts, labels) or "
                                 "FineTunedClassifier.load(folder) first")

    def decision_function(self, X: Sequence[str]) -> np.ndarray:
        """The logits, columns in ``classes_`` order."""
        self._check_fitted()
        return self.predictor_.decision_function(X)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Class probabilities (softmax of the logits), columns in ``classes_`` order."""
        self._check_fitted()
        return self.predictor_.predict_proba(X)

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """Class labels for texts."""
        self._check_fitted()
        return self.predictor_.predict(X)

    def score(self, X: Sequence[str], y: Any, sample_weight: Any = None) -> float:
        """Accuracy on ``(X, y)``; labels the classifier never saw are an error."""
        self._check_fitted()
        self.check_known_labels(y)
        return super().score(X, check_labels(y), sample_weight=sample_weight)

    def check_known_labels(self, labels: Any) -> None:
        """Raise if ``labels`` has classes this classifier was not trained on."""
        check_known_labels(labels, self.classes_)

    @property
    def backend(self) -> str:
        """What computes the logits: ``torch`` after ``fit``; after :meth:`load`, frasi's backend setting."""
        self._check_fitted()
        if self.method == "setfit":  # an EmbeddingClassifier: its encoder computes what the head reads
            return self.predictor_.encoder_.backend
        return self.predictor_.backend

    def experiment_record(self) -> dict[str, Any]:
        """What :func:`frasi.experiment.run_experiment` reports about this classifier."""
        training_ = getattr(self, "training_", {})
        return {"model": training_.get("base_model"), "head": f"fine-tuned ({self.method})", "method": self.method,
                "training": training_}

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str], *, files: Mapping[str, bytes] | None = None) -> Path:
        """Write the classifier to the new folder ``path``: a Hugging Face sequence-classification folder (and
        frasi's record); for ``setfit``, a classifier folder with the tuned encoder inside."""
        self._check_fitted()
        params = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in self.get_params().items()
                  if k not in ("checkpoint_dir", "threads")}
        params["encoder"] = str(getattr(params["encoder"], "name", params["encoder"]))
        record = {"kind": "fine-tuned text classifier", "method": self.method, "params": params,
                  "training": getattr(self, "training_", None),
                  "versions": versions(("frasi", "torch", "transformers", "peft"))}
        if self.method == "setfit":
            return self._save_setfit(path, record, files)
        model, tokenizer = getattr(self, "model_", None), getattr(self, "tokenizer_", None)
        if model is None:
            model, tokenizer = load_torch_model(self.folder_)
        adapter = getattr(self, "adapter_files_", None)
        with atomic_dir(path, what="fine-tuned classifier") as tmp, quiet_loading():
            write_folder(tmp, model, tokenizer, self.classes_, record, max_length=self.max_length, files=files)
            if adapter:  # LoRA: the adapter too, small, to merge into the base model again (frasi.adapters)
                (tmp / ADAPTER_FOLDER).mkdir()
                for name, data in adapter.items():
                    (tmp / ADAPTER_FOLDER / name).write_bytes(data)
        logger.info("saved the fine-tuned classifier to %s", path)
        return Path(path)

    def _save_setfit(self, path: str | os.PathLike[str], record: dict[str, Any],
                     files: Mapping[str, bytes] | None) -> Path:
        extra = {SETFIT_RECORD: (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
                 **(files or {})}
        folder = getattr(self, "folder_", None)
        if folder is None:
            self.predictor_.save(path, files=extra, bundle_encoder=True)
        else:  # loaded from a folder: its files, as they are
            with atomic_dir(path, what="fine-tuned classifier") as tmp:
                shutil.copytree(folder, tmp, dirs_exist_ok=True)
                for name, data in extra.items():
                    (tmp / name).write_bytes(data)
        logger.info("saved the fine-tuned classifier to %s", path)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str | None = None, threads: int | None = None,
             cache_folder: str | os.PathLike[str] | None = None) -> FineTunedClassifier:
        """Load a folder written by :meth:`save` (or any Hugging Face text-classification folder).

        ``backend`` and ``threads`` are as for :meth:`frasi.Encoder.load`: by default the
        classifier is exported once to OpenVINO and runs there.
        """
        folder = Path(path).expanduser()
        if (folder / SETFIT_RECORD).is_file():
            from ..classifier_folder import load_classifier

            record = json.loads((folder / SETFIT_RECORD).read_text(encoding="utf-8"))
            predictor: Any = load_classifier(folder, backend=backend, threads=threads)
        else:
            predictor = TextClassifier.load(path, backend=backend, threads=threads, cache_folder=cache_folder)
            record = predictor.record
        params = {k: v for k, v in (record.get("params") or {}).items() if k in cls._get_param_names()}
        clf = cls(**params, threads=threads)
        clf.max_length = int(record.get("max_length") or clf.max_length)
        clf.classes_ = predictor.classes_
        clf.folder_ = folder.resolve()
        clf.training_ = record.get("training") or {}
        predictor.batch_size = max(32, clf.batch_size)
        clf.predictor_ = predictor
        return clf


def _adapter_files(model: Any) -> dict[str, bytes]:
    """A peft model's adapter as peft saves it (``adapter_config.json``, ``adapter_model.safetensors``)."""
    with tempfile.TemporaryDirectory(prefix="frasi-adapter-") as folder:
        model.save_pretrained(folder)
        return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file() and p.name != "README.md"}
