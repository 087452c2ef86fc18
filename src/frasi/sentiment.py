"""The shipped sentiment model: negative / neutral / positive for Spanish, Italian and English text.

multilingual-e5-small fine-tuned as a sequence classifier with LoRA on the UMSAB tweet
sentiment train splits of the three languages together, the checkpoint chosen on their
validation splits only (``scripts/train_sentiment_model.py``). It ships as its adapter and
head (``models/sentiment``: a few MB, no pickle); the first use merges them into the
packaged e5 with numpy (:mod:`frasi.adapters`) and keeps the result in frasi's cache, a
standard Hugging Face text-classification folder, which then runs on frasi's backends
(OpenVINO by default) like any fine-tuned classifier. How it was trained (data hashes,
seed, settings, validation and test metrics) is :func:`sentiment_card`.

    >>> clf = load_sentiment()
    >>> clf.predict(["¡Me encanta!", "Che schifo di giornata", "It's fine, I guess"])
    >>> clf.predict_proba([...])    # columns in clf.classes_ order

The head fitted on frozen e5 embeddings that shipped before (``heads/sentiment``) stays for
comparison: :func:`load_sentiment_head`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from ._fs import atomic_dir, file_lock, sha256_file
from .adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS, merge_lora
from .classifier_folder import SavedClassifier, load_classifier
from .errors import InputError, ModelLoadError, OutputError
from .finetune.folder import FORMAT_VERSION, RECORD_FILE
from .finetune.predictor import TextClassifier
from .io import write_json
from .sources import DEFAULT_MODEL, cache_dir, packaged_model, resolve

logger = logging.getLogger(__name__)

#: The shipped adapter, head and training record inside the installed package.
SENTIMENT_MODEL_DIR = Path(__file__).parent / "models" / "sentiment"
#: The earlier head on frozen embeddings (logistic regression), kept for comparison.
SENTIMENT_HEAD_DIR = Path(__file__).parent / "heads" / "sentiment"
CARD_NAME = "training.json"
LABELS = ("negative", "neutral", "positive")
BUILD_VERSION = 1  # bump when the way the model is built from its parts changes


def _shipped(name: str, parts: Path = SENTIMENT_MODEL_DIR) -> Path:
    path = parts / name
    if not path.is_file():
        if parts != SENTIMENT_MODEL_DIR:
            raise ModelLoadError(f"{parts} is not a sentiment model's parts: {name} is missing")
        raise ModelLoadError(f"the shipped sentiment model is incomplete: {path} is missing; reinstall frasi")
    return path


def sentiment_card(parts: Path = SENTIMENT_MODEL_DIR) -> dict[str, Any]:
    """How the shipped model was trained: data and their hashes, seed, settings, validation and test metrics."""
    return json.loads(_shipped(CARD_NAME, parts).read_text(encoding="utf-8"))


def sentiment_model_folder(*, cache_folder: Path | None = None, parts: Path = SENTIMENT_MODEL_DIR) -> Path:
    """The shipped model as a full Hugging Face folder in frasi's cache, built once from e5 and the adapter.

    ``parts`` is the folder of the adapter and its ``training.json`` (the shipped ones by
    default; the training script builds its candidates with it).
    """
    cache = cache_folder or cache_dir()
    card = sentiment_card(parts)
    base = resolve(card["model"]["base_model"], cache_folder=cache)
    digest = hashlib.sha256(json.dumps({"build": BUILD_VERSION, "adapter": [
        sha256_file(_shipped(n, parts)) for n in (ADAPTER_CONFIG, ADAPTER_WEIGHTS)],
        "base": (base.path / "frasi_conversion.json").read_text(encoding="utf-8")
        if (base.path / "frasi_conversion.json").is_file() else str(base.path)}).encode("utf-8")).hexdigest()
    target = cache / "models" / f"frasi-sentiment-{digest[:12]}"
    if (target / RECORD_FILE).is_file():
        return target
    try:
        with file_lock(cache / "locks" / "frasi-sentiment.lock"):
            if (target / RECORD_FILE).is_file():  # another process built it meanwhile
                return target
            logger.info("building the sentiment model from %s and its shipped adapter: once, a few seconds; "
                        "cached in %s", base.name, target)
            model = card["model"]
            with atomic_dir(target, what="sentiment model", replace=True) as tmp:
                merge_lora(base.path, parts, tmp, base_prefix=model["base_prefix"],
                           config_updates={"architectures": [model["architecture"]],
                                           "id2label": dict(enumerate(LABELS)),
                                           "label2id": {label: i for i, label in enumerate(LABELS)}})
                tokenizer_config = json.loads((tmp / "tokenizer_config.json").read_text(encoding="utf-8"))
                tokenizer_config["model_max_length"] = model["max_length"]
                write_json(tmp / "tokenizer_config.json", tokenizer_config)
                write_json(tmp / RECORD_FILE, {"format_version": FORMAT_VERSION, "classes": list(LABELS),
                                               "max_length": model["max_length"], "kind": "fine-tuned text classifier",
                                               "method": "lora", "training": card})
            for older in target.parent.glob("frasi-sentiment-*"):
                if older != target and older.is_dir():
                    shutil.rmtree(older, ignore_errors=True)
    except OSError as exc:
        raise OutputError(f"cannot write frasi's cache folder {cache} ({exc}); set FRASI_CACHE to a writable "
                          "folder") from exc
    return target


def load_sentiment(encoder: Any = None, *, backend: str | None = None, threads: int | None = None,
                   cache: Any = None, cache_folder: Path | None = None) -> TextClassifier:
    """The shipped sentiment model on ``backend`` (default: frasi's setting, ``auto``: OpenVINO).

    The model carries its own encoder (e5, fine-tuned): ``encoder`` may only name the default
    model (or be None). ``cache`` (an EmbeddingCache) keeps the logits of texts seen before.
    """
    name = getattr(encoder, "name", encoder)
    if name is not None and packaged_model(str(name)) is not packaged_model(DEFAULT_MODEL):
        raise InputError(f"the sentiment model is multilingual-e5-small fine-tuned, and carries its own encoder; "
                         f"got {name!r}: drop the model option")
    folder = sentiment_model_folder(cache_folder=cache_folder)
    return TextClassifier.load(folder, backend=backend, threads=threads, cache=cache, cache_folder=cache_folder)


def load_sentiment_head(encoder: Any = None, *, backend: str | None = None, threads: int | None = None,
                        cache: Any = None) -> SavedClassifier:
    """The earlier sentiment classifier: a logistic regression on frozen e5 embeddings (for comparison)."""
    if not (SENTIMENT_HEAD_DIR / "classifier.json").is_file():
        raise ModelLoadError(f"the sentiment head is missing from {SENTIMENT_HEAD_DIR}; reinstall frasi")
    return load_classifier(SENTIMENT_HEAD_DIR, encoder=encoder, backend=backend, threads=threads, cache=cache)
