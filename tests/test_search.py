import json
import logging
import sys

import numpy as np
import pytest

from frasi.errors import InputError, MissingExtraError, OutputError
from frasi.search import ExactIndex, FaissIndex, build_index, load_index, mine_paraphrases, semantic_search
from frasi.similarity import METRICS, similarity_matrix


def random(n, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def clustered(n=2000, d=32, clusters=20, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d)) * 3
    return (centers[rng.integers(clusters, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def brute_top_k(queries, corpus, k, metric):
    scores = similarity_matrix(queries, corpus, metric=metric)
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, idx, 1), idx


def recall(found, truth):
    return np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)])


# semantic_search


@pytest.mark.parametrize("metric", METRICS)
def test_semantic_search_matches_brute_force(metric):
    queries, corpus = random(9, seed=1), random(50, seed=2)
    scores, indices = semantic_search(queries, corpus, top_k=5, metric=metric)
    ref_scores, ref_indices = brute_top_k(queries, corpus, 5, metric)
    assert scores.dtype == np.float32 and indices.dtype == np.int64 and scores.shape == (9, 5)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
def test_chunked_search_equals_unchunked(metric, chunk_size):
    queries, corpus = random(20, seed=3), random(45, seed=4)
    s1, i1 = semantic_search(queries, corpus, top_k=8, metric=metric, chunk_size=chunk_size)
    s2, i2 = semantic_search(queries, corpus, top_k=8, metric=metric, chunk_size=10_000)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_chunked_search_resolves_many_ties_by_lower_index(metric, chunk_size):
    # Small integers (one non-zero per row for cosine) keep scores exact: ties are real ties.
    rng = np.random.default_rng(10)
    if metric == "cosine":
        one_hot = np.eye(4, dtype=np.float32)[rng.integers(4, size=60)]
        corpus = one_hot * rng.integers(1, 4, size=(60, 1))
    else:
        corpus = rng.integers(0, 3, size=(60, 4)).astype(np.float32)
    queries = rng.integers(0, 3, size=(10, 4)).astype(np.float32)
    scores, indices = semantic_search(
        queries, corpus, top_k=12, metric=metric, chunk_size=chunk_size
    )
    ref_scores, ref_indices = brute_top_k(queries, corpus, 12, metric)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_array_equal(scores, ref_scores)


def test_search_ties_keep_lower_index_first():
    corpus = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [1, 0]], np.float32)
    for chunk_size in (1, 2, 100):
        _, indices = semantic_search([[1.0, 0.0]], corpus, top_k=2, chunk_size=chunk_size)
        assert indices.tolist() == [[1, 2]]


def test_top_k_is_capped_at_corpus_size_and_1d_query_gives_1d_results():
    scores, indices = semantic_search(random(1)[0], random(3, seed=1), top_k=10)
    assert scores.shape == indices.shape == (3,)
    assert sorted(indices.tolist()) == [0, 1, 2]
    all_scores, all_indices = semantic_search(random(1)[0], random(3, seed=1), top_k=None)
    np.testing.assert_array_equal(all_indices, indices)
    rows, _ = semantic_search(random(1), random(3, seed=1))  # a (1, d) matrix keeps its rows
    assert rows.shape == (1, 3)


def test_semantic_search_rejects_bad_input():
    with pytest.raises(InputError, match="dimension"):
        semantic_search(random(2, d=4), random(3, d=5))
    with pytest.raises(InputError, match="top_k"):
        semantic_search(random(2), random(3), top_k=0)
    with pytest.raises(InputError, match="chunk_size"):
        semantic_search(random(2), random(3), chunk_size=0)
    with pytest.raises(InputError, match="empty"):
        semantic_search(random(2), np.empty((0, 16)))
    with pytest.raises(InputError, match="unknown metric"):
        semantic_search(random(2), random(3), metric="hamming")


# mine_paraphrases


def brute_paraphrases(emb, top_k, metric):
    scores = similarity_matrix(emb, metric=metric).astype(np.float64)
    np.fill_diagonal(scores, -np.inf)
    best = {}
    for i, row in enumerate(scores):
        for j in np.argsort(-row, kind="stable")[:top_k]:
            best[(min(i, j), max(i, j))] = row[j]
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("chunk_size", [4, 1000])
def test_mine_paraphrases_equals_brute_force(metric, chunk_size):
    emb = random(30, d=8, seed=5)
    pairs, scores = mine_paraphrases(emb, top_k=3, metric=metric, chunk_size=chunk_size)
    expected = brute_paraphrases(emb, 3, metric)
    assert pairs.dtype == np.int64 and scores.dtype == np.float32
    assert pairs.shape == (len(expected), 2)
    assert [tuple(p) for p in pairs.tolist()] == [pair for pair, _ in expected]
    np.testing.assert_allclose(scores, [s for _, s in expected], rtol=1e-5, atol=1e-5)
    assert np.all(pairs[:, 0] < pairs[:, 1])  # no i == j, each pair once as i < j
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)
    assert np.all(np.diff(scores) <= 0)


def test_mine_paraphrases_max_pairs_and_threshold():
    emb = random(40, d=8, seed=6)
    pairs, scores = mine_paraphrases(emb, top_k=4)
    top_pairs, top_scores = mine_paraphrases(emb, top_k=4, max_pairs=5)
    np.testing.assert_array_equal(top_pairs, pairs[:5])
    np.testing.assert_array_equal(top_scores, scores[:5])
    kept_pairs, kept_scores = mine_paraphrases(emb, top_k=4, threshold=0.5)
    np.testing.assert_array_equal(kept_pairs, pairs[scores >= 0.5])
    assert np.all(kept_scores >= 0.5)
    with pytest.raises(InputError, match="threshold must be a number, got '0.5'"):
        mine_paraphrases(emb, threshold="0.5")


def test_mine_paraphrases_finds_duplicates_and_handles_tiny_sets():
    emb = random(10, d=8, seed=7)
    emb[7] = emb[2]
    pairs, scores = mine_paraphrases(emb, top_k=1, max_pairs=1)
    assert pairs.tolist() == [[2, 7]] and scores[0] == pytest.approx(1.0)
    pairs, scores = mine_paraphrases(emb[:1])
    assert pairs.shape == (0, 2) and scores.shape == (0,)
    assert mine_paraphrases(emb[:2], top_k=5)[0].tolist() == [[0, 1]]


# indexes


@pytest.mark.parametrize("metric", METRICS)
def test_exact_index_equals_semantic_search(metric):
    corpus, queries = random(60, seed=8), random(5, seed=9)
    index = ExactIndex.build(corpus[:25], metric=metric).add(corpus[25:])
    assert len(index) == 60 and index.dim == 16 and index.metric == metric
    scores, indices = index.search(queries, top_k=7)
    ref_scores, ref_indices = semantic_search(queries, corpus, top_k=7, metric=metric)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_exact_index_save_load_round_trip(tmp_path, metric):
    index = ExactIndex.build(random(40), metric=metric)
    index.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert meta == {"kind": "exact", "metric": metric, "dim": 16, "count": 40,
                    "params": {"chunk_size": 2048}, "format_version": 1, "metadata": {}}  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["index.json", "vectors.npy"]
    for loaded in (ExactIndex.load(tmp_path / "idx"), load_index(str(tmp_path / "idx"))):
        assert isinstance(loaded, ExactIndex)
        assert (len(loaded), loaded.dim, loaded.metric) == (40, 16, metric)
        queries = random(4, seed=1)
        for got, want in zip(loaded.search(queries, 5), index.search(queries, 5)):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("metric", METRICS)
def test_faiss_index_recall_vs_exact(metric):
    corpus, queries = clustered(), clustered(n=100, seed=1)
    index = FaissIndex.build(corpus, metric=metric)
    assert len(index) == 2000 and index.dim == 32 and index.metric == metric
    scores, indices = index.search(queries, top_k=10)
    ref_scores, ref_indices = semantic_search(queries, corpus, top_k=10, metric=metric)
    assert scores.dtype == np.float32 and indices.dtype == np.int64 and scores.shape == (100, 10)
    assert recall(indices, ref_indices) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-5)  # best first, same convention as exact search
    np.testing.assert_allclose(scores[:, 0], ref_scores[:, 0], rtol=1e-3, atol=1e-3)


def test_faiss_flat_index_is_exact():
    corpus, queries = random(300), random(5, seed=1)
    scores, indices = FaissIndex.build(corpus, metric="euclidean", hnsw=False).search(queries, 10)
    ref_scores, ref_indices = semantic_search(queries, corpus, top_k=10, metric="euclidean")
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-4)


def test_faiss_index_save_load_gives_same_results(tmp_path):
    corpus, queries = clustered(n=500), clustered(n=20, seed=1)
    index = FaissIndex.build(corpus, m=16, ef_search=64)
    index.save(tmp_path / "idx")
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["index.faiss", "index.json"]
    loaded = load_index(tmp_path / "idx")
    assert isinstance(loaded, FaissIndex) and loaded.params() == index.params()
    assert (len(loaded), loaded.dim, loaded.metric) == (500, 32, "cosine")
    for got, want in zip(loaded.search(queries, 10), index.search(queries, 10)):
        np.testing.assert_array_equal(got, want)


def test_build_index_auto(monkeypatch, caplog):
    vectors = random(30)
    assert isinstance(build_index(vectors), ExactIndex)
    assert isinstance(build_index(vectors, exact_threshold=10), FaissIndex)
    assert isinstance(build_index(vectors, kind="faiss", metric="dot"), FaissIndex)

    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` fail
    with caplog.at_level(logging.WARNING, logger="frasi.search"):
        assert isinstance(build_index(vectors, exact_threshold=10), ExactIndex)
    assert "frasi[faiss]" in caplog.text
    with pytest.raises(MissingExtraError, match=r"pip install 'frasi\[faiss\]'"):
        build_index(vectors, kind="faiss")
    with pytest.raises(InputError, match="unknown index kind"):
        build_index(vectors, kind="annoy")


def test_index_input_errors(tmp_path):
    index = ExactIndex(16)
    with pytest.raises(InputError, match="empty"):
        index.search(random(1))
    index.add(random(5))
    with pytest.raises(InputError, match="dimension 8"):
        index.add(random(2, d=8))
    with pytest.raises(InputError, match="dimension 8"):
        index.search(random(2, d=8))
    with pytest.raises(InputError, match="unknown metric"):
        ExactIndex(16, metric="jaccard")
    with pytest.raises(TypeError):
        ExactIndex.build(random(5), m=16)  # unknown parameters are never ignored


def test_load_missing_or_corrupt_folder_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="no index found"):
        load_index(tmp_path / "nowhere")
    folder = ExactIndex.build(random(10)).save(tmp_path / "idx")
    (folder / "index.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid index metadata"):
        load_index(folder)
    (folder / "index.json").write_text(json.dumps({"kind": "exact"}))
    with pytest.raises(InputError, match="lacks the keys"):
        load_index(folder)

    folder = ExactIndex.build(random(10)).save(tmp_path / "idx2")
    (folder / "vectors.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable exact index"):
        load_index(folder)
    np.save(folder / "vectors.npy", random(3))
    with pytest.raises(InputError, match="should hold 10 vectors"):
        load_index(folder)
    with pytest.raises(InputError, match="use load_index"):
        FaissIndex.load(folder)

    folder = FaissIndex.build(random(10)).save(tmp_path / "idx3")
    (folder / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable faiss index"):
        load_index(folder)


def test_atomic_save_overwrites_and_leaves_no_temp_folder(tmp_path, monkeypatch):
    ExactIndex.build(random(10)).save(tmp_path / "idx")
    ExactIndex.build(random(20)).save(tmp_path / "idx")  # overwrite an existing index
    assert len(load_index(tmp_path / "idx")) == 20
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", fail)
    with pytest.raises(OutputError, match="disk full"):
        ExactIndex.build(random(30)).save(tmp_path / "idx")
    with pytest.raises(OutputError):
        ExactIndex.build(random(30)).save(tmp_path / "new")
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temp folder, no half-written index
    assert len(load_index(tmp_path / "idx")) == 20  # the previous index is untouched


def test_save_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an index folder"):
        ExactIndex.build(random(3)).save(tmp_path / "docs")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"


def test_index_metadata_round_trips(tmp_path):
    index = ExactIndex.build(random(5))
    index.metadata.update({"model": "m", "corpus_sha256": "abc"})
    index.save(tmp_path / "idx")
    assert load_index(tmp_path / "idx").metadata == {"model": "m", "corpus_sha256": "abc"}
