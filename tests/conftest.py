"""Shared fixtures: a tiny BERT encoder built offline in code, a private cache per test,
and the two real packaged models (marked ``real``).

The real e5 model is converted once per session into a session temporary directory
(about a minute). Set ``FRASI_TEST_CACHE`` to a folder to keep that conversion between
sessions while working on the tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """
hola mundo ciao mondo hello world el gato perro la casa il cane the cat dog house
es un una de que en y e and is a of to qué tal come stai how are you buenos días
buongiorno good morning sofá divano sofa dorme duerme sleeps sul sobre on
""".split()
PIECES = ["##s", "##a", "##o", "##e", "##i", "##n", "##r", "##t", "##l", "##to", "##ta",
          "##mente", "##ción", "##zione", "##ing", "##ed"]
CHARACTERS = list("abcdefghijklmnopqrstuvwxyz") + list(",.?!¿¡:")
TINY_MAX_LENGTH = 64
MIXED_TEXTS = [  # es / en / it, one word to a dozen, all within the tiny vocabulary
    "hola mundo",
    "the cat sleeps on the sofa and the dog sleeps in the house",
    "ciao",
    "il gatto dorme sul divano, il cane dorme in casa",
    "buenos días, ¿qué tal?",
]


def tiny_vocab() -> dict[str, int]:
    vocab: dict[str, int] = {}
    for token in SPECIAL_TOKENS + WORDS + PIECES + CHARACTERS:
        vocab.setdefault(token, len(vocab))
    return vocab


def build_tiny_encoder(folder: Path) -> Path:
    """Write a plain Hugging Face BERT folder (config, safetensors, fast tokenizer), no modules.json."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers.utils import logging as hf_logging

    vocab = tiny_vocab()
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    backend.decoder = decoders.WordPiece()
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=TINY_MAX_LENGTH,
    )
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=TINY_MAX_LENGTH,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertModel(config)
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    return folder


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A plain HF encoder folder: config.json + model.safetensors + tokenizer files."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_st_dir(tiny_encoder_dir, tmp_path_factory) -> Path:
    """The tiny encoder saved as a sentence-transformers folder (mean pooling, modules.json)."""
    from frasi import Encoder

    return Encoder.load(tiny_encoder_dir).save(tmp_path_factory.mktemp("tiny-st") / "tiny-st")


@pytest.fixture(scope="session")
def frasi_cache(tmp_path_factory) -> Path:
    """A session-wide frasi cache; the real e5 model is converted into it once."""
    kept = os.environ.get("FRASI_TEST_CACHE")
    if kept:
        return Path(kept)
    return tmp_path_factory.mktemp("frasi-cache")


@pytest.fixture(autouse=True)
def _private_frasi_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty cache and no user config, so no test reads or writes ~/.cache/frasi or
    ~/.config/frasi.

    Tests run on the torch backend unless they ask for another (FRASI_BACKEND=torch): with a private cache per
    test, the default backend ``auto`` would export every model again in every test. The tests of ``auto``
    (tests/test_fast_default.py) remove the variable."""
    cache = tmp_path_factory.mktemp("cache")
    isolate_frasi(monkeypatch, cache)
    return cache


def isolate_frasi(patch: pytest.MonkeyPatch, cache: Path) -> None:
    """The environment every test runs in: frasi's cache in ``cache``, no user config, the torch backend, no model
    or thread setting. Also for module-scoped fixtures that load models before the per-test fixture runs."""
    patch.setenv("FRASI_CACHE", str(cache))
    patch.setenv("FRASI_CONFIG", str(cache / "no-config.toml"))
    patch.setenv("FRASI_BACKEND", "torch")
    for name in ("FRASI_MODEL", "FRASI_THREADS"):
        patch.delenv(name, raising=False)


# ---------------------------------------------------------------- real models


@pytest.fixture(scope="session")
def minilm():
    from frasi import Encoder

    return Encoder.load("all-MiniLM-L6-v2", backend="torch")


@pytest.fixture(scope="session")
def e5_dir(frasi_cache) -> Path:
    """The converted multilingual-e5-small folder (converted once per session)."""
    from frasi.sources import resolve

    return resolve("multilingual-e5-small", cache_folder=frasi_cache).path


@pytest.fixture(scope="session")
def e5(e5_dir):
    from frasi import Encoder

    return Encoder.load(e5_dir, backend="torch")
