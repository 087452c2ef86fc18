"""The shipped sentiment model: packaged files, its training record, the build on first use, real predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

import frasi
from frasi.sentiment import LABELS, SENTIMENT_HEAD_DIR, SENTIMENT_MODEL_DIR, sentiment_card

# Clear cases in the three languages. Not every clear case is right: the issue's example "Qué asco de
# servicio, nunca más vuelvo." still comes out positive (0.74); the README says so.
CLEAR = {
    "¡Me encanta este lugar, todo estuvo perfecto!": "positive",
    "El servicio fue horrible, nunca más vuelvo.": "negative",
    "Che bella giornata, sono felicissimo!": "positive",
    "Che schifo, il peggior film che abbia mai visto.": "negative",
    "I absolutely love this, best day ever!": "positive",
    "This is terrible, I hate it so much.": "negative",
}


def test_the_model_ships_as_a_small_adapter_without_pickle():
    names = sorted(p.name for p in SENTIMENT_MODEL_DIR.iterdir())
    assert names == ["adapter_config.json", "adapter_model.safetensors", "training.json"]
    assert sum(p.stat().st_size for p in SENTIMENT_MODEL_DIR.iterdir()) < 10 * 2**20
    config = json.loads((SENTIMENT_MODEL_DIR / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and not config.get("use_dora")


def test_the_training_record_says_how_it_was_made():
    card = sentiment_card()
    assert card["model"]["base_model"] == "multilingual-e5-small" and card["model"]["method"] == "lora"
    assert "val" in card["data"]["selection"] and card["settings"]["init_seed"] == 0
    assert set(card["metrics"]) == {"val", "test"}
    assert set(card["metrics"]["test"]) == {"es", "it", "en"}
    assert all(len(digest) == 64 for digest in card["data"]["files"].values())
    assert card["merge_check"]["max_abs_logit_difference"] < 1e-3
    runs = card["training"]["runs"]  # every run, each with its own val and test scores, and the soup's steps
    assert card["training"]["seconds"] == pytest.approx(sum(run["seconds"] for run in runs))
    assert all(run["seconds"] > 0 for run in runs)
    shipped = card["seed"] if isinstance(card["seed"], list) else [card["seed"]]
    assert set(shipped) <= {run["seed"] for run in runs}
    assert all(set(run["metrics"]) == {"val", "test"} for run in runs)
    assert len(card["training"]["soup"]) == len(runs) - 1


def test_the_frozen_head_still_ships_as_plain_arrays():
    assert sorted(p.name for p in SENTIMENT_HEAD_DIR.iterdir()) == ["classifier.json", "head.npz", "training.json"]


def test_parts_without_an_adapter_are_refused(tmp_path):
    from frasi.sentiment import sentiment_model_folder

    with pytest.raises(frasi.ModelLoadError, match="not a sentiment model's parts: training.json is missing"):
        sentiment_model_folder(cache_folder=tmp_path, parts=tmp_path)


def test_another_encoder_is_refused():
    with pytest.raises(frasi.InputError, match="carries its own encoder"):
        frasi.load_sentiment("all-MiniLM-L6-v2")


@pytest.mark.real
def test_the_shipped_model_builds_once_and_labels_clear_sentences(frasi_cache, e5_dir):
    from frasi.sentiment import sentiment_model_folder

    folder = sentiment_model_folder(cache_folder=frasi_cache)
    assert sentiment_model_folder(cache_folder=frasi_cache) == folder  # built once
    clf = frasi.load_sentiment(backend="openvino", cache_folder=frasi_cache)
    assert clf.classes_.tolist() == list(LABELS) and clf.backend == "openvino"
    assert clf.predict(list(CLEAR)).tolist() == list(CLEAR.values())
    np.testing.assert_allclose(clf.predict_proba(list(CLEAR)).sum(axis=1), 1.0, rtol=1e-6)
    on_torch = frasi.load_sentiment(backend="torch", cache_folder=frasi_cache)
    np.testing.assert_allclose(clf.decision_function(list(CLEAR)), on_torch.decision_function(list(CLEAR)),
                               atol=1e-4)


@pytest.mark.real
def test_the_built_model_gives_the_same_labels_in_a_transformers_pipeline(frasi_cache, e5_dir):
    from transformers import pipeline

    from frasi.sentiment import sentiment_model_folder

    folder = sentiment_model_folder(cache_folder=frasi_cache)
    piped = pipeline("text-classification", model=str(folder), device="cpu")(list(CLEAR))
    assert [r["label"] for r in piped] == list(CLEAR.values())
