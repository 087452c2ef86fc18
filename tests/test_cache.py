"""The on-disk embedding cache: identical vectors back, concurrent writers, damaged entries and files."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from frasi import Encoder
from frasi.cache import CacheInfo, EmbeddingCache
from frasi.errors import InputError, OutputError
from frasi.fingerprint import VectorKey, model_fingerprint, weights_fingerprint

TEXTS = ["hola mundo", "ciao mondo", "hello world", "el gato duerme", "il cane dorme sul divano"]


@pytest.fixture(scope="module")
def tiny(tiny_st_dir):
    return Encoder.load(tiny_st_dir, backend="torch")


@pytest.fixture
def store(tmp_path):
    with EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite") as cache:
        yield cache


def _ns(name: str = "model-a") -> VectorKey:
    return VectorKey.from_fields({"model": name, "prompt": ""}, label=name)


def _counting(monkeypatch, encoder) -> list[list[str]]:
    """Record the texts that ``encoder`` actually computes vectors for (the cache's misses)."""
    calls: list[list[str]] = []
    original = encoder._encode_float

    def spy(texts, *args):
        calls.append(list(texts))
        return original(texts, *args)

    monkeypatch.setattr(encoder, "_encode_float", spy)
    return calls


# ---------------------------------------------------------------- the store


def test_put_then_get_returns_identical_vectors(store):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(TEXTS), 384)).astype(np.float32)
    store.put_many(_ns(), TEXTS, vectors)
    found = store.get_many(_ns(), [*TEXTS, "never stored"])
    assert found[-1] is None
    for got, want in zip(found, vectors):
        assert got.dtype == np.float32 and got.flags.writeable
        assert got.tobytes() == want.tobytes()
    assert store.get_many(_ns("model-b"), TEXTS) == [None] * len(TEXTS)  # namespaces do not mix


def test_integer_vectors_keep_their_dtype(store):
    vectors = np.arange(12, dtype=np.int8).reshape(3, 4)
    store.put_many(_ns(), TEXTS[:3], vectors)
    assert np.array_equal(np.stack(store.get_many(_ns(), TEXTS[:3])), vectors)
    assert store.get_many(_ns(), TEXTS[:1])[0].dtype == np.int8


def test_put_many_checks_its_arguments(store):
    with pytest.raises(InputError, match="one row per text"):
        store.put_many(_ns(), TEXTS, np.zeros((2, 4), np.float32))
    with pytest.raises(InputError, match="one row per text"):
        store.put_many(_ns(), "hola", np.zeros((1, 4), np.float32))
    with pytest.raises(InputError, match="max_bytes"):
        EmbeddingCache(max_bytes=0)


def test_default_path_follows_frasi_cache(_private_frasi_cache):
    assert EmbeddingCache().path == _private_frasi_cache / "embeddings" / "embeddings.sqlite"


def test_info_and_clear(store):
    info = store.info()
    assert isinstance(info, CacheInfo) and not info.exists and info.entries == 0
    assert not store.path.exists()  # info does not create the file
    store.put_many(_ns("a"), TEXTS, np.ones((5, 8), np.float32))
    store.put_many(_ns("b"), TEXTS[:2], np.ones((2, 8), np.float32))
    store.put_many(_ns("b"), TEXTS[:2], np.zeros((2, 8), np.float32))  # replacing does not double count
    info = store.info()
    assert info.exists and info.entries == 7 and info.data_bytes == 7 * 8 * 4
    assert {(n.label, n.entries) for n in info.keys} == {("a", 5), ("b", 2)}
    assert info.to_dict()["keys"][0]["description"]["model"] in ("a", "b")
    assert store.clear() == 7
    assert store.info().entries == 0 and store.get_many(_ns("a"), TEXTS) == [None] * 5
    assert store.info().file_bytes < 200_000  # pages are given back


def test_eviction_drops_least_recently_used_entries(tmp_path):
    cache = EmbeddingCache(tmp_path / "small.sqlite", max_bytes=300_000)
    cache.touch_after_s = 0
    batches = [[f"batch {b} text {i}" for i in range(40)] for b in range(12)]  # ~62 KB of vectors each
    for b, texts in enumerate(batches):
        cache.put_many(_ns(), texts, np.full((40, 384), b, np.float32))
        if b == 0:
            keep = batches[0][:5]
        time.sleep(0.003)
        assert all(v is not None for v in cache.get_many(_ns(), keep))  # read recently: stays
    info = cache.info()
    assert 250_000 < info.data_bytes <= 300_000  # evicted down to 90 %, then refilled
    assert all(v is not None for v in cache.get_many(_ns(), batches[-1]))
    assert all(v is None for v in cache.get_many(_ns(), batches[1]))
    connection = sqlite3.connect(cache.path)
    assert connection.execute("SELECT COUNT(*), SUM(length(data)) FROM vectors").fetchone() == (
        info.entries, info.data_bytes)  # the counters match the rows
    connection.close()
    cache.close()


def test_eviction_ends_when_the_counters_run_ahead_of_the_rows(tmp_path):
    cache = EmbeddingCache(tmp_path / "small.sqlite", max_bytes=100_000)
    cache.put_many(_ns(), ["a", "b"], np.ones((2, 384), np.float32))
    connection = sqlite3.connect(cache.path)
    with connection:
        connection.execute("UPDATE namespaces SET bytes = bytes + 10000000")  # counters wrong, rows few
    connection.close()
    cache.put_many(_ns(), ["c"], np.ones((1, 384), np.float32))  # evicts every row, then recounts
    assert cache.get_many(_ns(), ["a", "b", "c"]) == [None, None, None]
    cache.put_many(_ns(), ["d"], np.ones((1, 384), np.float32))  # counted right again: it stays
    assert cache.get_many(_ns(), ["d"])[0] is not None
    assert cache.info().entries == 1
    cache.close()


# ---------------------------------------------------------------- damage


def test_corrupted_entry_is_rejected_not_returned(store, caplog):
    vectors = np.arange(len(TEXTS) * 6, dtype=np.float32).reshape(len(TEXTS), 6)
    store.put_many(_ns(), TEXTS, vectors)
    raw = sqlite3.connect(store.path)
    (row_id, data), *_ = raw.execute("SELECT id, data FROM vectors").fetchall()
    flipped = bytes([data[0] ^ 0xFF]) + data[1:]
    raw.execute("UPDATE vectors SET data = ? WHERE id = ?", (flipped, row_id))
    (other,) = raw.execute("SELECT id FROM vectors WHERE id != ? LIMIT 1", (row_id,)).fetchone()
    raw.execute("UPDATE vectors SET data = substr(data, 1, 8) WHERE id = ?", (other,))  # wrong length
    raw.commit()
    raw.close()
    with caplog.at_level(logging.WARNING, logger="frasi.cache"):
        found = store.get_many(_ns(), TEXTS)
    assert sum(v is None for v in found) == 2
    for got, want in zip(found, vectors):
        assert got is None or np.array_equal(got, want)
    assert "2 damaged entries" in caplog.text
    assert store.info().entries == len(TEXTS) - 2  # the bad rows are gone


def test_cached_encode_recomputes_a_corrupted_entry(tiny, store, monkeypatch):
    first = tiny.encode(TEXTS, cache=store)
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE vectors SET data = zeroblob(length(data)) WHERE id = (SELECT MIN(id) FROM vectors)")
    raw.commit()
    raw.close()
    calls = _counting(monkeypatch, tiny)
    again = tiny.encode(TEXTS, cache=store)
    assert [len(c) for c in calls] == [1]  # only the damaged text is encoded again
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert not np.any(np.all(again == 0, axis=1))


def test_garbage_file_is_moved_aside_and_recreated(tmp_path, caplog):
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"this is not a database\n" * 200)
    with caplog.at_level(logging.WARNING, logger="frasi.cache"), EmbeddingCache(path) as cache:
        assert cache.get_many(_ns(), TEXTS) == [None] * len(TEXTS)
        cache.put_many(_ns(), TEXTS[:1], np.ones((1, 4), np.float32))
        assert cache.get_many(_ns(), TEXTS[:1])[0] is not None
    assert "moved it to" in caplog.text and "started an empty cache" in caplog.text
    assert (tmp_path / "embeddings.sqlite.corrupt").read_bytes().startswith(b"this is not")


def test_foreign_sqlite_database_is_left_alone(tmp_path):
    path = tmp_path / "mine.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE users (name TEXT)")
    other.commit()
    other.close()
    with pytest.raises(InputError, match="not a frasi embedding cache.*users"):
        EmbeddingCache(path).get_many(_ns(), TEXTS)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]


def test_other_format_degrades_encoding_and_clear_deletes_it(tiny, store, caplog):
    store.put_many(_ns(), TEXTS[:1], np.ones((1, 4), np.float32))
    store.close()
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE frasi_meta SET value = '99' WHERE name = 'format'")
    raw.commit()
    raw.close()
    with pytest.raises(OutputError, match="format '99'.*frasi cache clear"):
        store.get_many(_ns(), TEXTS)
    with caplog.at_level(logging.WARNING, logger="frasi.cache"):
        vectors = tiny.encode(TEXTS, cache=store)
    assert vectors.shape == (len(TEXTS), tiny.dimension) and "encoding without the cache" in caplog.text
    assert store.clear() == 0
    store.put_many(_ns(), TEXTS[:1], np.ones((1, 4), np.float32))
    assert store.info().entries == 1


def test_unwritable_cache_folder_only_costs_speed(tiny, tmp_path, caplog):
    (tmp_path / "file").write_text("x")
    cache = EmbeddingCache(tmp_path / "file" / "embeddings.sqlite")
    with pytest.raises(OutputError, match="cannot create the embedding cache folder"):
        cache.get_many(_ns(), TEXTS)
    with caplog.at_level(logging.WARNING, logger="frasi.cache"):
        vectors = tiny.encode(TEXTS, cache=cache)
    np.testing.assert_allclose(vectors, tiny.encode(TEXTS), atol=1e-6)
    assert "encoding without the cache" in caplog.text


# ---------------------------------------------------------------- concurrency

WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from frasi.cache import EmbeddingCache
    from frasi.fingerprint import VectorKey

    path, start, stop, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    namespace = VectorKey.from_fields({"model": "shared"}, label="shared")
    cache = EmbeddingCache(path, timeout=60)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.002)
    for first in range(start, stop, 10):
        ids = range(first, min(first + 10, stop))
        texts = [f"shared text {i}" for i in ids]
        cache.put_many(namespace, texts, np.stack([np.full(16, i, np.float32) for i in ids]))
        assert all(v is not None for v in cache.get_many(namespace, texts))
    cache.close()
""")


def test_two_concurrent_writers_both_succeed(tmp_path):
    path, go = tmp_path / "shared.sqlite", tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(a), str(b), str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for a, b in ((0, 400), (200, 600))]  # overlapping keys 200-399, on a file neither has created
    time.sleep(0.5)
    go.touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
    with EmbeddingCache(path) as cache:
        namespace = VectorKey.from_fields({"model": "shared"}, label="shared")
        found = cache.get_many(namespace, [f"shared text {i}" for i in range(600)])
        assert all(v is not None and np.array_equal(v, np.full(16, i, np.float32)) for i, v in enumerate(found))
        assert cache.info().entries == 600
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM vectors").fetchone() == (600,)
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()


# ---------------------------------------------------------------- encode(cache=...)


def test_cached_encode_matches_encode_and_returns_identical_vectors(tiny, store, monkeypatch):
    plain = tiny.encode(TEXTS)
    first = tiny.encode(TEXTS, cache=store)
    assert first.dtype == np.float32 and first.shape == plain.shape
    np.testing.assert_allclose(first, plain, atol=1e-6)
    calls = _counting(monkeypatch, tiny)
    second = tiny.encode(list(reversed(TEXTS)), cache=store, batch_size=2, show_progress=False)
    assert calls == []  # batch_size and show_progress do not change the namespace
    assert second[::-1].tobytes() == first.tobytes()
    assert store.hits == len(TEXTS) and store.misses == len(TEXTS)


def test_misses_are_encoded_once_in_one_call(tiny, store, monkeypatch):
    tiny.encode(TEXTS[:2], cache=store)
    calls = _counting(monkeypatch, tiny)
    texts = [TEXTS[0], TEXTS[3], TEXTS[3], TEXTS[4], TEXTS[1], TEXTS[4]]
    vectors = tiny.encode(texts, cache=store)
    assert calls == [[TEXTS[3], TEXTS[4]]]
    assert np.array_equal(vectors[1], vectors[2]) and np.array_equal(vectors[3], vectors[5])
    np.testing.assert_allclose(vectors, tiny.encode(texts), atol=1e-6)


def test_a_single_string_gives_a_vector(tiny, store):
    vector = tiny.encode("hola mundo", cache=store)
    assert vector.shape == (tiny.dimension,)
    assert np.array_equal(tiny.encode("hola mundo", cache=store), vector)


def test_options_that_change_vectors_change_the_namespace(tiny, store, monkeypatch):
    base = tiny.encode(TEXTS, cache=store)
    calls = _counting(monkeypatch, tiny)
    prompted = tiny.encode(TEXTS, cache=store, prompt="hola ")
    normalized = tiny.encode(TEXTS, cache=store, normalize=True)
    chunked = tiny.encode(TEXTS, cache=store, long_texts="chunk")
    assert len(calls) == 3
    assert not np.allclose(prompted, base)
    np.testing.assert_allclose(normalized, base / np.linalg.norm(base, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(chunked, base, atol=1e-6)  # short texts: one window each
    assert store.info().entries == 4 * len(TEXTS)
    assert tiny.vector_key(prompt="") != tiny.vector_key(prompt="a ")
    assert tiny.vector_key(prompt="") == tiny.vector_key()  # the tiny model has no default prompt
    with pytest.raises(TypeError, match="normalise"):
        tiny.vector_key(normalise=True)


@pytest.mark.parametrize("precision", ["ubinary", "int8"])
def test_quantized_precisions_match_encode(tiny, store, precision):
    want = tiny.encode(TEXTS, precision=precision)
    assert np.array_equal(tiny.encode(TEXTS, cache=store, precision=precision), want)
    assert np.array_equal(tiny.encode(TEXTS, cache=store, precision=precision), want)
    assert store.info().entries == len(TEXTS)  # stored once, as float32
    namespace = tiny.vector_key(memo=store)  # precision is not part of it
    assert namespace == tiny.vector_key()
    assert store.get_many(namespace, TEXTS[:1])[0].dtype == np.float32


def test_options_are_checked_even_when_everything_is_cached(tiny, store):
    tiny.encode(TEXTS, cache=store)
    with pytest.raises(TypeError, match="normalise"):  # as Encoder.encode itself
        tiny.encode(TEXTS, cache=store, normalise=True)
    with pytest.raises(InputError, match="precision must be one of"):
        tiny.encode(TEXTS, cache=store, precision="float16")
    with pytest.raises(InputError, match="at least 2 texts"):
        tiny.encode(TEXTS[:1], cache=store, precision="int8")
    with pytest.raises(InputError, match="either prompt or prompt_name"):
        tiny.encode(TEXTS, cache=store, prompt="a", prompt_name="query")
    with pytest.raises(InputError):
        tiny.encode([], cache=store)


def test_default_cache_lives_in_frasi_cache_dir(tiny, _private_frasi_cache):
    with EmbeddingCache() as cache:
        tiny.encode(TEXTS, cache=cache)
    assert EmbeddingCache().info().entries == len(TEXTS)
    assert (_private_frasi_cache / "embeddings" / "embeddings.sqlite").is_file()


# ---------------------------------------------------------------- fingerprints


def test_model_fingerprint_is_content_addressed_and_memoised(tiny_st_dir, tmp_path, store, monkeypatch):
    import frasi._fs as fs_module
    import frasi.fingerprint as fingerprint_module

    first = model_fingerprint(tiny_st_dir, store)
    assert len(first) == 64 and model_fingerprint(tiny_st_dir) == first
    copy = shutil.copytree(tiny_st_dir, tmp_path / "copy")
    (copy / "README.md").write_text("docs do not count")
    assert model_fingerprint(copy, store) == first  # same files elsewhere: same model

    monkeypatch.setattr(fingerprint_module, "_MEMORY", {})
    monkeypatch.setattr(fs_module.hashlib, "file_digest", None)  # any read would fail now
    assert model_fingerprint(copy, store) == first  # memoised in the cache file by (path, size, mtime)
    monkeypatch.undo()

    config = next(copy.rglob("config.json"))
    config.write_text(config.read_text() + " ")
    assert model_fingerprint(copy, store) != first
    with pytest.raises(InputError, match="not a folder"):
        model_fingerprint(tmp_path / "missing")


def test_encoder_with_a_folder_is_keyed_by_its_files(tiny_st_dir, store):
    encoder = Encoder.load(tiny_st_dir)
    namespace = encoder.vector_key(memo=store)
    assert namespace.description["model"] == "files:" + model_fingerprint(tiny_st_dir)
    wrapped = Encoder(encoder.model, name=encoder.name)  # no folder: keyed by the weights in memory
    assert wrapped.vector_key().description["model"] == "weights:" + weights_fingerprint(encoder.model)
    assert namespace.label == encoder.name and namespace.description["max_length"] == encoder.max_length
    backend = namespace.description["backend"]
    assert backend["backend"] == "torch" and "Pooling" in backend["modules"]
    assert set(backend["versions"]) == {"torch", "transformers", "sentence-transformers", "tokenizers"}


def test_weights_fingerprint_follows_changes_in_memory(tiny_st_dir):
    import torch

    encoder = Encoder.load(tiny_st_dir)
    before = weights_fingerprint(encoder.model)
    assert weights_fingerprint(encoder.model) == before
    assert weights_fingerprint(Encoder.load(tiny_st_dir).model) == before  # same weights, new object
    with torch.no_grad():
        next(encoder.model.parameters()).add_(1e-3)
    assert weights_fingerprint(encoder.model) != before


def test_runtime_backends_have_their_own_namespace_without_loading_torch(tiny_st_dir, store, tmp_path):
    runtime = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path / "exports")
    namespace = runtime.vector_key(memo=store)
    assert not runtime.runtime.compiled  # keyed by its export's manifest: nothing is compiled or loaded
    torch_one = Encoder.load(tiny_st_dir).vector_key(memo=store)
    assert namespace.description["model"] == torch_one.description["model"]  # the same files
    assert namespace.description["backend"]["backend"] == "onnx"
    assert namespace.description["backend"]["variant"] == "fp32"
    assert namespace.id != torch_one.id


def test_a_folder_changed_after_loading_is_keyed_by_the_weights_in_memory(tiny_st_dir, tmp_path, store, caplog):
    import shutil

    model = shutil.copytree(tiny_st_dir, tmp_path / "model")
    encoder = Encoder.load(model)
    assert encoder.vector_key(memo=store).description["model"].startswith("files:")
    config = model / "config_sentence_transformers.json"  # the folder changes under the loaded encoder
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="frasi"):
        key = encoder.vector_key(memo=store).description["model"]
    assert key == "weights:" + weights_fingerprint(encoder.model)
    assert "changed on disk after it was loaded" in caplog.text
    assert Encoder.load(model).vector_key(memo=store).description["model"].startswith("files:")
    encoder.model = Encoder.load(model).model  # a replaced model no longer comes from the folder
    assert encoder.path is None


def test_vectors_with_nan_are_not_stored(store, caplog):
    vectors = np.array([[np.nan, 1.0], [1.0, 2.0]], dtype=np.float32)
    with caplog.at_level(logging.WARNING, logger="frasi"):
        store.put_many(_ns(), ["bad", "good"], vectors)
    bad, good = store.get_many(_ns(), ["bad", "good"])
    assert bad is None and good.tolist() == [1.0, 2.0]
    assert "not caching 1 vector(s) with NaN" in caplog.text


# ---------------------------------------------------------------- real model


@pytest.mark.real
def test_real_model_cached_vectors_match_encode(minilm, store):
    texts = ["A man is playing a guitar.", "Un hombre toca la guitarra.", "The cat sleeps on the sofa."]
    plain = minilm.encode(texts)
    first = minilm.encode(texts, cache=store)
    second = minilm.encode(texts, cache=store)
    np.testing.assert_allclose(first, plain, atol=1e-6)
    assert second.tobytes() == first.tobytes()
    assert store.hits == len(texts) and store.misses == len(texts)
