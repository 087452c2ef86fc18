"""Tests for frasi.Encoder over the tiny offline BERT (real models marked ``real``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from conftest import MIXED_TEXTS as TEXTS
from frasi import Encoder, compose
from frasi.encoder import TokenInfo
from frasi.errors import InputError, ModelLoadError, OutputError

# Whole-word tokens only, so a window re-tokenizes to exactly its slice of the text's ids.
WORDS = "hola mundo ciao mondo hello world el gato perro la casa il cane the cat dog house".split()


def word_text(n_words: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, size=n_words))


@pytest.fixture(scope="module")
def tiny(tiny_encoder_dir) -> Encoder:
    return Encoder.load(tiny_encoder_dir, backend="torch")


@pytest.fixture(scope="module")
def prompted(tiny_encoder_dir) -> Encoder:
    return compose(tiny_encoder_dir, pooling="mean", normalize=False,
                   prompts={"query": "hola: ", "passage": "ciao: "}, default_prompt_name="query")


def ids(encoder: Encoder, text: str) -> list[int]:
    return encoder.tokenizer(text, add_special_tokens=False)["input_ids"]


# ---------------------------------------------------------------- loading


def test_load_plain_folder_adds_mean_pooling(tiny, tiny_encoder_dir):
    assert [type(m).__name__ for m in tiny.model] == ["Transformer", "Pooling"]
    assert tiny.model[1].get_config_dict()["pooling_mode"] == "mean"
    assert (tiny.name, tiny.source) == (tiny_encoder_dir.name, "local")
    assert (tiny.dimension, tiny.max_length) == (32, 64)
    assert not tiny.normalizes and tiny.prompts == {} and tiny.default_prompt == ""
    assert repr(tiny) == "Encoder(name='tiny-bert', dimension=32, max_length=64, backend='torch')"


def test_mean_pooling_matches_transformers(tiny, tiny_encoder_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model = AutoModel.from_pretrained(tiny_encoder_dir).eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(tiny.encode(TEXTS), expected, atol=1e-5)


def test_load_corrupt_folder(tmp_path):
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="has no weights"):
        Encoder.load(tmp_path)


def test_load_refuses_weights_that_lack_tensors(tiny_encoder_dir, tmp_path):
    """A checkpoint missing a layer's tensors would load with random weights: refused instead."""
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "partial"
    shutil.copytree(tiny_encoder_dir, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    kept = {name: value for name, value in tensors.items() if ".layer.0." not in name}
    assert len(kept) < len(tensors)
    save_file(kept, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match="lack tensors the model needs"):
        Encoder.load(folder)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_load_refuses_a_static_embedding_model_in_one_line(tiny_encoder_dir, tmp_path, backend):
    """Static embeddings (model2vec's kind) have no token limit, which frasi counts and reports by."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_encoder_dir / "tokenizer.json"))
    folder = tmp_path / "static"
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=8)]).save(str(folder))
    with pytest.raises(ModelLoadError, match="starts with StaticEmbedding, which has no token limit"):
        Encoder.load(folder, backend=backend)


# ---------------------------------------------------------------- encoding


def test_str_gives_1d_and_list_gives_2d(tiny):
    one = tiny.encode("hola mundo")
    many = tiny.encode(["hola mundo", "ciao mondo"])
    assert (one.shape, one.dtype) == ((32,), np.float32)
    assert (many.shape, many.dtype) == ((2, 32), np.float32)
    np.testing.assert_allclose(one, many[0], atol=1e-5)
    assert tiny.encode(("hola",)).shape == (1, 32)  # any sequence of str


def test_order_is_kept_despite_length_sorting(tiny):
    batch = tiny.encode(TEXTS, batch_size=2)
    single = np.stack([tiny.encode(t) for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("texts", [[], "", "   ", ["hola", ""], ["hola", 3], [None], b"hola", {"a": "b"}])
def test_bad_texts(tiny, texts):
    with pytest.raises(InputError):
        tiny.encode(texts)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"precision": "float16"}, "precision must be one of"),
        ({"long_texts": "drop"}, "long_texts must be one of"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -3}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": "8"}, "batch_size"),
        ({"prompt": "x", "prompt_name": "query"}, "not both"),
        ({"prompt": 123}, "prompt must be a string"),
        ({"normalize": "yes"}, "normalize must be True or False"),
        ({"show_progress": "no"}, "show_progress must be True or False"),
        ({"cache": "/tmp/cache.sqlite"}, "cache must be a frasi.EmbeddingCache"),
        ({"precision": "int8", "calibration": np.zeros(32, np.float32)}, "2-D float array"),
        ({"precision": "int8", "calibration": np.ones((4, 7), np.float32)}, "dimension 7"),
    ],
)
def test_bad_arguments(tiny, kwargs, match):
    with pytest.raises(InputError, match=match):
        tiny.encode(["hola"], **kwargs)


def test_unknown_keyword_raises(tiny):
    with pytest.raises(TypeError):
        tiny.encode("hola", normalize_embeddings=True)


@pytest.mark.parametrize(
    ("precision", "dtype", "dim"),
    [("int8", np.int8, 32), ("uint8", np.uint8, 32), ("binary", np.int8, 4), ("ubinary", np.uint8, 4)],
)
def test_quantized_precisions(tiny, precision, dtype, dim):
    out = tiny.encode(TEXTS, precision=precision)
    assert (out.shape, out.dtype) == ((len(TEXTS), dim), dtype)


def test_binary_bits_are_the_signs(tiny):
    floats = tiny.encode(TEXTS)
    bits = tiny.encode(TEXTS, precision="ubinary")
    np.testing.assert_array_equal(np.unpackbits(bits, axis=1).astype(bool), floats > 0)


@pytest.mark.parametrize("precision", ["binary", "ubinary"])
def test_binary_single_text(tiny, precision):
    assert tiny.encode("hola", precision=precision).shape == (4,)



def test_int8_single_text_raises_input_error(tiny):
    with pytest.raises(InputError):
        tiny.encode("hola", precision="int8")


def test_int8_without_a_range_to_scale_is_an_error(tiny):
    """Duplicate texts or a one-row calibration would quantize every value to the same level."""
    with pytest.raises(InputError, match="no dimension varies across the 2 rows of the texts encoded together"):
        tiny.encode(["hola", "hola"], precision="int8")
    with pytest.raises(InputError, match="across the 1 row of the calibration embeddings"):
        tiny.encode(["hola", "mundo"], precision="uint8", calibration=tiny.encode(["hola"]))
    calibration = tiny.encode(TEXTS)
    calibration[:, 0] = 0.5  # one dead dimension (a ReLU unit) is fine
    assert tiny.encode(TEXTS, precision="int8", calibration=calibration).shape == calibration.shape


def test_load_checks_the_model_and_device_arguments(tiny_st_dir):
    with pytest.raises(InputError, match="model must be a non-empty string, got 123"):
        Encoder.load(123)  # None means the default model (frasi.settings)
    with pytest.raises(InputError, match="device must be 'cpu', 'cuda'"):
        Encoder.load(tiny_st_dir, device="gpu")


def test_normalize_gives_unit_norms(tiny):
    out = tiny.encode(TEXTS, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    raw = tiny.encode(TEXTS)
    np.testing.assert_allclose(out, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)


# ---------------------------------------------------------------- prompts


def test_resolve_prompt_without_model_prompts(tiny):
    assert tiny.resolve_prompt() == ""
    assert tiny.resolve_prompt("query") == ""  # a named prompt the model lacks means none
    assert tiny.resolve_prompt(prompt="hola: ") == "hola: "


def test_resolve_prompt_rules(prompted):
    assert prompted.prompts == {"query": "hola: ", "passage": "ciao: "}
    assert prompted.default_prompt == "hola: "
    assert prompted.resolve_prompt() == "hola: "
    assert prompted.resolve_prompt("passage") == "ciao: "
    assert prompted.resolve_prompt(prompt="") == ""
    assert prompted.resolve_prompt(prompt="mundo ") == "mundo "
    with pytest.raises(InputError, match="no prompt named 'missing'"):
        prompted.resolve_prompt("missing")  # a typo must not silently drop the model's prompt
    with pytest.raises(InputError, match="not both"):
        prompted.resolve_prompt("query", "hola: ")


def test_model_without_prompts_encodes_every_use_alike(tiny):
    assert tiny.resolve_prompt("passage") == tiny.resolve_prompt("query") == ""


def test_default_prompt_is_used(prompted):
    default = prompted.encode(["gato", "il cane"])
    explicit = prompted.encode(["hola: gato", "hola: il cane"], prompt="")
    named = prompted.encode(["gato", "il cane"], prompt_name="query")
    np.testing.assert_allclose(default, explicit, atol=1e-5)
    np.testing.assert_allclose(default, named, atol=1e-5)
    assert not np.allclose(default, prompted.encode(["gato", "il cane"], prompt=""), atol=1e-3)
    passage = prompted.encode("gato", prompt_name="passage")
    np.testing.assert_allclose(passage, prompted.encode("ciao: gato", prompt=""), atol=1e-5)


def test_prompts_survive_save(prompted, tmp_path):
    reloaded = Encoder.load(prompted.save(tmp_path / "prompted"))
    assert reloaded.prompts == prompted.prompts and reloaded.default_prompt == "hola: "
    np.testing.assert_allclose(reloaded.encode(TEXTS), prompted.encode(TEXTS), atol=1e-6)


# ---------------------------------------------------------------- long texts


def test_count_truncated(tiny):
    budget = tiny.max_length - 2  # [CLS] ... [SEP]
    fits = word_text(budget)
    assert len(ids(tiny, fits)) == budget
    too_long = word_text(budget + 1)
    assert tiny.count_truncated([fits, too_long, "hola", word_text(200)]) == 2
    assert tiny.count_truncated(fits) == 0
    assert tiny.count_truncated(fits, prompt="hola ") == 1  # the prompt counts too


def test_count_tokens(tiny, prompted):
    budget = tiny.max_length - 2
    assert tiny.count_tokens([word_text(budget), "hola", word_text(200)]) == [budget + 2, 3, 202]
    assert tiny.count_tokens("hola mundo") == [4]
    assert prompted.count_tokens("hola mundo") == [6]  # "hola: " is two tokens more
    assert prompted.count_tokens("hola mundo", prompt="") == [4]
    with pytest.raises(InputError, match="empty"):
        tiny.count_tokens([""])


def test_truncation_is_logged(tiny, caplog):
    texts = ["hola", word_text(100), word_text(200, seed=1)]
    with caplog.at_level(logging.WARNING, logger="frasi"):
        tiny.encode(texts)
    assert "2 of 3 texts are longer than 64 tokens" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="frasi"):
        tiny.encode(["hola", "ciao"])
    assert caplog.text == ""


def test_split_long_text_windows_cover_the_text(tiny):
    text = word_text(3 * tiny.max_length)
    full = ids(tiny, text)
    budget, overlap = tiny.max_length - 2, 10
    windows = tiny.split_long_text(text, overlap=overlap)
    assert len(windows) == 4  # 192 tokens, windows of 62 stepping by 52
    assert text.startswith(windows[0][0]) and text.endswith(windows[-1][0])
    step = budget - overlap
    for i, (piece, n_tokens) in enumerate(windows):
        assert piece in text
        assert ids(tiny, piece) == full[i * step : i * step + budget]
        assert n_tokens == len(ids(tiny, piece)) <= budget
    for (a, _), (b, _) in zip(windows, windows[1:]):
        assert ids(tiny, a)[-overlap:] == ids(tiny, b)[:overlap]


@pytest.mark.real
def test_split_long_text_cuts_at_words_so_no_token_is_lost(minilm):
    """A window that began inside a word re-tokenized differently, went over the maximum and was cut."""
    text = "hello " * 247 + "antidisestablishmentarianism" + " world" * 300 + " finale"
    windows = minilm.split_long_text(text, overlap=0)
    for piece, n_tokens in windows:
        assert len(minilm.tokenizer(piece)["input_ids"]) <= minilm.max_length
        assert n_tokens == len(minilm.tokenizer(piece, add_special_tokens=False)["input_ids"])
    assert windows[1][0].startswith("antidisestablishmentarianism")
    assert sum(n for _, n in windows) == len(minilm.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_split_long_text_respects_the_prompt(tiny):
    text = word_text(150)
    for _piece, n_tokens in tiny.split_long_text(text, prompt="hola mundo ", overlap=0):
        assert n_tokens + 2 + 2 <= tiny.max_length


def test_split_short_text_is_whole(tiny):
    assert tiny.split_long_text("hola mundo", overlap=8) == [("hola mundo", 2)]


@pytest.mark.parametrize("overlap", [-1, 31, 100, 2.0])
def test_split_bad_overlap(tiny, overlap):
    with pytest.raises(InputError, match="chunk_overlap"):
        tiny.split_long_text(word_text(100), overlap=overlap)


def test_prompt_too_long_for_chunks(tiny):
    with pytest.raises(InputError, match="leaves no room"):
        tiny.split_long_text(word_text(100), prompt=word_text(60))


def test_chunk_is_the_weighted_mean_of_windows(tiny, caplog):
    text = word_text(3 * tiny.max_length)
    windows = tiny.split_long_text(text, overlap=8)
    weights = np.array([n for _, n in windows], dtype=np.float64)
    expected = (tiny.encode([w for w, _ in windows]) * weights[:, None]).sum(0) / weights.sum()
    with caplog.at_level(logging.WARNING, logger="frasi"):
        vector = tiny.encode(text, long_texts="chunk", chunk_overlap=8)
    assert caplog.text == ""  # nothing was truncated
    assert (vector.shape, vector.dtype) == ((32,), np.float32)
    np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_chunk_normalized(tiny):
    texts = [word_text(3 * tiny.max_length), "hola mundo"]
    out = tiny.encode(texts, long_texts="chunk", chunk_overlap=8, normalize=True)
    assert out.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[1], tiny.encode("hola mundo", normalize=True), atol=1e-5)


def test_chunk_quantized(tiny):
    out = tiny.encode([word_text(150), "hola"], long_texts="chunk", chunk_overlap=0, precision="ubinary")
    assert (out.shape, out.dtype) == ((2, 4), np.uint8)


# ---------------------------------------------------------------- tokens


def test_tokenize_short_text(tiny):
    info = tiny.tokenize("Hola mundo gatos")
    assert isinstance(info, TokenInfo)
    assert info.tokens == ["[CLS]", "hola", "mundo", "gato", "##s", "[SEP]"]
    assert info.tokens == tiny.tokenizer.convert_ids_to_tokens(info.ids)
    assert info.n_tokens == len(info.ids) == 6
    assert info.decoded == "hola mundo gatos"
    assert (info.prompt, info.max_length, info.truncated) == ("", 64, False)
    assert info.embedding_shape == (6, 32)
    data = info.to_dict()
    assert data["embedding_shape"] == [6, 32] and data["ids"] == info.ids
    assert set(data) == {"text", "prompt", "tokens", "ids", "decoded", "n_tokens", "max_length",
                         "truncated", "embedding_shape"}


def test_tokenize_long_text_matches_the_model_input(tiny):
    text = word_text(100)
    info = tiny.tokenize(text)
    assert (info.n_tokens, info.truncated, len(info.ids), info.embedding_shape) == (102, True, 64, (64, 32))
    assert info.tokens[0] == "[CLS]" and info.tokens[-1] == "[SEP]"
    seen = tiny.tokenizer(text, truncation=True, max_length=tiny.max_length)["input_ids"]
    assert info.ids == seen


def test_tokenize_with_prompt(prompted):
    info = prompted.tokenize("gato")
    assert info.prompt == "hola: "
    assert info.tokens == ["[CLS]", "hola", ":", "gato", "[SEP]"]
    assert prompted.tokenize("gato", prompt="").tokens == ["[CLS]", "gato", "[SEP]"]


@pytest.mark.parametrize("text", ["", "  ", 5])
def test_tokenize_bad_text(tiny, text):
    with pytest.raises(InputError):
        tiny.tokenize(text)


# ---------------------------------------------------------------- saving


def test_save_and_reload_identically(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    target = tiny.save(tmp_path / "saved")
    assert target == tmp_path / "saved"
    assert (target / "modules.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]  # no temp folder left behind
    expected = tiny.encode(TEXTS)
    assert np.abs(Encoder.load(target).encode(TEXTS) - expected).max() < 1e-6
    plain = SentenceTransformer(str(target), device="cpu", local_files_only=True)
    assert np.abs(plain.encode(TEXTS, convert_to_numpy=True) - expected).max() < 1e-6


def test_save_into_empty_folder(tiny, tmp_path):
    (tmp_path / "empty").mkdir()
    assert (tiny.save(tmp_path / "empty") / "modules.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_save_refuses_non_empty_folder(tiny, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match="not an empty folder"):
        tiny.save(tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_save_refuses_a_file(tiny, tmp_path):
    (tmp_path / "model").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError):
        tiny.save(tmp_path / "model")


def test_save_needs_an_existing_parent(tiny, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        tiny.save(tmp_path / "missing" / "model")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_nothing(tiny, tmp_path, monkeypatch):
    def broken_save(path, *args, **kwargs):
        (Path(path) / "partial.bin").write_bytes(b"\0")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tiny.model, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        tiny.save(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- real models


@pytest.mark.real
def test_minilm_hello_world(minilm):
    vector = minilm.encode("hello world")
    assert (vector.shape, vector.dtype) == ((384,), np.float32)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert minilm.normalizes and minilm.default_prompt == ""
    assert (minilm.name, minilm.source) == ("all-MiniLM-L6-v2", "packaged")


@pytest.mark.real
def test_e5_default_prompt_and_tokens(e5):
    assert e5.default_prompt == "query: "
    assert e5.prompts == {"query": "query: ", "passage": "passage: "}
    assert (e5.dimension, e5.max_length) == (384, 512)
    info = e5.tokenize("hola mundo")
    assert info.prompt == "query: "
    assert info.tokens == ["<s>", "▁que", "ry", ":", "▁ho", "la", "▁mundo", "</s>"]
    assert info.decoded == "query: hola mundo"
    assert e5.tokenize("hola mundo", prompt_name="passage").decoded == "passage: hola mundo"
    assert e5.tokenize("hola mundo", prompt="").tokens == ["<s>", "▁ho", "la", "▁mundo", "</s>"]


def test_int8_calibration_gives_one_scale_across_calls(tiny):
    texts = ["hola mundo", "ciao mondo", "el gato", "il cane", "la casa", "the cat"]
    calibration = tiny.encode(texts)
    together = tiny.encode(texts[:2], precision="int8", calibration=calibration)
    apart = np.vstack([tiny.encode([t], precision="int8", calibration=calibration) for t in texts[:2]])
    assert together.dtype == np.int8
    np.testing.assert_array_equal(together, apart)
    with pytest.raises(InputError, match="calibration only applies"):
        tiny.encode(texts, precision="binary", calibration=calibration)
