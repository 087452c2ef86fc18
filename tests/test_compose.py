"""Tests for frasi.compose over the tiny offline BERT (one real test over the converted e5)."""

from __future__ import annotations

import numpy as np
import pytest

from frasi import Encoder, compose
from frasi.errors import InputError, ModelLoadError
from frasi.loading import POOLING_MODES

TEXTS = ["hola mundo", "il gatto dorme sul divano", "the dog", "buenos días, ¿qué tal?"]


@pytest.fixture(scope="module")
def hidden_states(tiny_encoder_dir):
    """Token embeddings of TEXTS[1] from plain transformers (one text: no padding)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model = AutoModel.from_pretrained(tiny_encoder_dir).eval()
    with torch.no_grad():
        return model(**tokenizer(TEXTS[1], return_tensors="pt")).last_hidden_state[0].numpy()


def expected_pooling(hidden: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[0]
    if mode == "mean":
        return hidden.mean(0)
    if mode == "max":
        return hidden.max(0)
    weights = np.arange(1, len(hidden) + 1, dtype=np.float32)[:, None]  # weightedmean: by position
    return (hidden * weights).sum(0) / weights.sum()


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_pooling_modes(tiny_encoder_dir, hidden_states, mode):
    encoder = compose(tiny_encoder_dir, pooling=mode, normalize=False)
    assert [type(m).__name__ for m in encoder.model] == ["Transformer", "Pooling"]
    assert encoder.model[1].get_config_dict()["pooling_mode"] == mode
    assert (encoder.dimension, encoder.source, encoder.name) == (32, "local", "tiny-bert")
    np.testing.assert_allclose(encoder.encode(TEXTS[1]), expected_pooling(hidden_states, mode), atol=1e-5)
    assert encoder.encode(TEXTS).shape == (len(TEXTS), 32)


def test_default_is_mean_and_normalized(tiny_encoder_dir):
    encoder = compose(tiny_encoder_dir)
    assert [type(m).__name__ for m in encoder.model] == ["Transformer", "Pooling", "Normalize"]
    assert encoder.normalizes
    np.testing.assert_allclose(np.linalg.norm(encoder.encode(TEXTS), axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS), Encoder.load(tiny_encoder_dir).encode(TEXTS, normalize=True),
                               atol=1e-5)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_dense_normalize_save_and_reload(tiny_encoder_dir, tmp_path, mode):
    from sentence_transformers import SentenceTransformer

    encoder = compose(tiny_encoder_dir, pooling=mode, dense_dim=16, dense_activation="tanh", normalize=True)
    assert [type(m).__name__ for m in encoder.model] == ["Transformer", "Pooling", "Dense", "Normalize"]
    expected = encoder.encode(TEXTS)
    assert (expected.shape, encoder.dimension) == ((len(TEXTS), 16), 16)
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, atol=1e-5)

    path = encoder.save(tmp_path / f"composed-{mode}")
    reloaded = Encoder.load(path)
    assert [type(m).__name__ for m in reloaded.model] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert np.abs(reloaded.encode(TEXTS) - expected).max() < 1e-6
    plain = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    assert np.abs(plain.encode(TEXTS, convert_to_numpy=True) - expected).max() < 1e-6


def test_dense_activation_is_applied(tiny_encoder_dir):
    raw = compose(tiny_encoder_dir, pooling="cls", dense_dim=16, dense_activation="identity", normalize=False)
    tanh = compose(tiny_encoder_dir, pooling="cls", dense_dim=16, dense_activation="tanh", normalize=False)
    relu = compose(tiny_encoder_dir, pooling="cls", dense_dim=16, dense_activation="relu", normalize=False)
    linear = raw.encode(TEXTS)
    np.testing.assert_allclose(tanh.encode(TEXTS), np.tanh(linear), atol=1e-5)
    np.testing.assert_allclose(relu.encode(TEXTS), np.maximum(linear, 0), atol=1e-5)


def test_same_seed_same_embeddings(tiny_encoder_dir):
    import torch

    first = compose(tiny_encoder_dir, dense_dim=16, seed=7).encode(TEXTS)
    torch.manual_seed(123)  # the global RNG state does not matter
    second = compose(tiny_encoder_dir, dense_dim=16, seed=7).encode(TEXTS)
    other = compose(tiny_encoder_dir, dense_dim=16, seed=8).encode(TEXTS)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other, atol=1e-3)


def test_compose_leaves_the_global_rng_alone(tiny_encoder_dir):
    import torch

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    compose(tiny_encoder_dir, dense_dim=16)
    assert torch.equal(torch.rand(3), expected)


def test_max_length(tiny_encoder_dir):
    encoder = compose(tiny_encoder_dir, max_length=16)
    assert encoder.max_length == 16
    assert encoder.count_truncated(["hola " * 20, "hola"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pooling": "sum"}, "pooling must be one of"),
        ({"pooling": "CLS"}, "pooling must be one of"),
        ({"dense_dim": 16, "dense_activation": "swish"}, "activation must be one of"),
        ({"dense_dim": 0}, "dense size"),
        ({"dense_dim": -4}, "dense size"),
        ({"dense_dim": 8.0}, "dense size"),
        ({"max_length": 2}, "max_length"),
        ({"prompts": {"query": "q: "}, "default_prompt_name": "qeury"}, "'qeury' is not one of the prompts"),
        ({"default_prompt_name": "query"}, "none given"),
        ({"prompts": ["q: "]}, "prompts must map names"),
    ],
)
def test_bad_arguments(tiny_encoder_dir, kwargs, match):
    with pytest.raises(InputError, match=match):
        compose(tiny_encoder_dir, **kwargs)


def test_unknown_keyword_raises(tiny_encoder_dir):
    with pytest.raises(TypeError):
        compose(tiny_encoder_dir, pooling_mode="cls")


def test_non_model_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no model here", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a model folder"):
        compose(tmp_path)


def test_corrupt_model_folder(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ModelLoadError, match="has no weights"):
        compose(tmp_path)


@pytest.mark.real
def test_compose_over_converted_e5(e5_dir, e5):
    encoder = compose(e5_dir, pooling="cls", dense_dim=64, dense_activation="tanh")
    assert [type(m).__name__ for m in encoder.model] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert (encoder.dimension, encoder.max_length) == (64, 512)
    vectors = encoder.encode(["query: hola mundo", "query: ciao mondo"])
    assert vectors.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # same transformer underneath: the composed model's tokens are e5's
    assert encoder.tokenize("hola mundo").ids == e5.tokenize("hola mundo", prompt="").ids
