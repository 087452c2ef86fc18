"""The shipped sentiment head: packaged files, its training record, and real predictions."""

from __future__ import annotations

import numpy as np
import pytest

import frasi
from frasi.sentiment import LABELS, SENTIMENT_HEAD_DIR, sentiment_card


def test_the_head_ships_as_plain_arrays_and_json():
    assert sorted(p.name for p in SENTIMENT_HEAD_DIR.iterdir()) == ["classifier.json", "head.npz", "training.json"]
    with np.load(SENTIMENT_HEAD_DIR / "head.npz", allow_pickle=False) as arrays:
        assert arrays["coef"].shape == (3, 384)


def test_the_training_record_says_how_it_was_made():
    card = sentiment_card()
    assert card["encoder"]["name"] == "multilingual-e5-small"
    assert card["head"]["seed"] == 0 and card["head"]["C"] in card["head"]["C_grid"]
    assert set(card["metrics"]) == {"val", "test"}
    assert set(card["metrics"]["test"]) == {"es", "it", "en"}
    assert all(len(digest) == 64 for digest in card["data"]["files"].values())


@pytest.mark.real
def test_shipped_head_labels_clear_sentences_batched(e5):
    clf = frasi.load_sentiment(encoder=e5)
    assert clf.classes_.tolist() == list(LABELS)
    texts = ["Me encanta, es genial.", "El peor servicio que he tenido nunca.", "Sono molto triste e arrabbiato.",
             "Questo ristorante è fantastico!", "What a wonderful surprise!", "I hate waiting in this line."]
    assert clf.predict(texts).tolist() == ["positive", "negative", "negative", "positive", "positive", "negative"]
    proba = clf.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.real
def test_shipped_head_refuses_another_encoder(minilm):
    with pytest.raises(frasi.ModelLoadError, match="trained on"):
        frasi.load_sentiment(encoder=minilm)
