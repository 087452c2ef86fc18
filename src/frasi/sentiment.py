"""The shipped sentiment classifier: negative / neutral / positive for es, it and en text.

A logistic-regression head over the default model's embeddings (multilingual-e5-small,
"query: " prompt), trained on the UMSAB tweet-sentiment train splits of Spanish, Italian
and English together by ``scripts/train_sentiment_head.py``. How it was trained (data
hashes, seed, C search, metrics on the validation and test splits) is in
:func:`sentiment_card`. It predicts with numpy alone (a
:class:`~frasi.classifier_folder.SavedClassifier`): no scikit-learn import on this path.

    >>> clf = load_sentiment()
    >>> clf.predict(["¡Me encanta!", "Che schifo di giornata", "It's fine, I guess"])
    >>> clf.predict_proba([...])    # columns in clf.classes_ order
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .classifier_folder import CONFIG_NAME, SavedClassifier, load_classifier
from .encoder import Encoder
from .errors import ModelLoadError

#: The folder holding the shipped head inside the installed package.
SENTIMENT_HEAD_DIR = Path(__file__).parent / "heads" / "sentiment"
CARD_NAME = "training.json"
LABELS = ("negative", "neutral", "positive")


def load_sentiment(encoder: Encoder | str | None = None, *, backend: str | None = None, threads: int | None = None,
                   cache: Any = None) -> SavedClassifier:
    """The shipped sentiment classifier, on its encoder (loaded unless ``encoder`` is given).

    ``encoder`` may be an already loaded default model (saves loading it twice); any other
    encoder is refused because the head only makes sense on the embeddings it learned from.
    ``backend``, ``threads`` and ``cache`` are as for :meth:`frasi.EmbeddingClassifier.load`.
    """
    if not (SENTIMENT_HEAD_DIR / CONFIG_NAME).is_file():
        raise ModelLoadError(f"the shipped sentiment head is missing from {SENTIMENT_HEAD_DIR}; reinstall frasi")
    return load_classifier(SENTIMENT_HEAD_DIR, encoder=encoder, backend=backend, threads=threads, cache=cache)


def sentiment_card() -> dict[str, Any]:
    """How the shipped head was trained: data, hashes, seed, C search and metrics."""
    path = SENTIMENT_HEAD_DIR / CARD_NAME
    if not path.is_file():
        raise ModelLoadError(f"the sentiment training record {path} is missing; reinstall frasi")
    return json.loads(path.read_text(encoding="utf-8"))
