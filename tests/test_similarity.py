import numpy as np
import pytest
from scipy.spatial.distance import cdist

from frasi.errors import InputError
from frasi.search import semantic_search
from frasi.similarity import METRICS, similarity_matrix


@pytest.fixture
def ab():
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 16)).astype(np.float32), rng.normal(size=(5, 16)).astype(np.float32)


def reference(a, b, metric):
    a, b = a.astype(np.float64), b.astype(np.float64)
    if metric == "cosine":
        return 1.0 - cdist(a, b, "cosine")
    if metric == "dot":
        return a @ b.T
    return -cdist(a, b, "euclidean")


@pytest.mark.parametrize("metric", METRICS)
def test_scores_match_scipy(ab, metric):
    a, b = ab
    scores = similarity_matrix(a, b, metric=metric)
    assert scores.dtype == np.float32 and scores.shape == (7, 5)
    np.testing.assert_allclose(scores, reference(a, b, metric), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
def test_b_none_scores_a_against_itself(ab, metric):
    a, _ = ab
    np.testing.assert_allclose(
        similarity_matrix(a, metric=metric), similarity_matrix(a, a, metric=metric)
    )


def test_higher_means_more_similar():
    x = np.array([[1.0, 0.0]], np.float32)
    near, far = [0.9, 0.1], [-1.0, 0.0]
    for metric in METRICS:
        s = similarity_matrix(x, [near, far], metric=metric)[0]
        assert s[0] > s[1], metric
    assert similarity_matrix(x, x, metric="cosine")[0, 0] == pytest.approx(1.0)
    assert similarity_matrix(x, x, metric="euclidean")[0, 0] == 0.0
    assert np.all(similarity_matrix(x, [near, far], metric="euclidean") <= 0)  # negative distances
    distance = similarity_matrix(x, [[3.0, 4.0]], metric="euclidean")
    np.testing.assert_allclose(distance, [[-np.sqrt(20)]], rtol=1e-6)


def test_euclidean_self_distance_is_near_zero_for_large_norms():
    a = np.random.default_rng(1).normal(size=(50, 384)).astype(np.float32) * 10  # |a|^2 ~ 4e4
    assert np.abs(np.diag(similarity_matrix(a, metric="euclidean"))).max() < 1e-4


def test_cosine_zero_vector_scores_zero_without_nan():
    a = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    scores = similarity_matrix(a, metric="cosine")
    assert not np.isnan(scores).any()
    np.testing.assert_allclose(scores, [[0.0, 0.0], [0.0, 1.0]], atol=1e-6)


def test_one_dimensional_inputs_are_one_row(ab):
    a, b = ab
    assert similarity_matrix(a[0], b).shape == (1, 5)
    assert similarity_matrix(a, b[0]).shape == (7, 1)
    assert similarity_matrix(a[0], b[0]).shape == (1, 1)
    np.testing.assert_allclose(similarity_matrix(a[0], b), similarity_matrix(a[:1], b))


def test_lists_are_accepted():
    assert similarity_matrix([[1, 0]], [[0, 1]], metric="dot").tolist() == [[0.0]]


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.ones((2, 3)), np.ones((2, 4)), "dimension 3 .* dimension 4"),
        (np.ones((0, 3)), np.ones((2, 3)), "empty"),
        (np.ones((2, 0)), None, "empty"),
        ([[1.0, np.nan]], None, "NaN"),
        (np.ones((2, 3)), [[np.inf, 0, 0]], "NaN or infinite"),
        (np.ones((2, 2, 2)), None, "shape"),
        ([["a", "b"]], None, "numeric"),
        (None, np.ones((2, 3)), "a is None"),
    ],
)
def test_bad_inputs_raise_input_error(a, b, match):
    with pytest.raises(InputError, match=match):
        similarity_matrix(a, b)


def test_unknown_metric_raises_input_error(ab):
    with pytest.raises(InputError, match="unknown metric 'manhattan'.*cosine, dot, euclidean"):
        similarity_matrix(*ab, metric="manhattan")
    with pytest.raises(InputError, match="unknown metric"):
        semantic_search(ab[0][0], ab[1], metric="l2")


@pytest.mark.parametrize("metric", METRICS)
def test_one_query_ranks_by_descending_score(ab, metric):
    a, b = ab
    scores, indices = semantic_search(a[0], b, metric=metric, top_k=None)
    assert indices.dtype == np.int64 and scores.dtype == np.float32
    assert sorted(indices.tolist()) == list(range(5))
    assert np.all(np.diff(scores) <= 0)
    np.testing.assert_allclose(scores, similarity_matrix(a[0], b, metric=metric)[0][indices])


def test_one_query_ties_keep_lower_index_first():
    corpus = np.array([[0, 1], [1, 0], [0, 2], [1, 0], [1, 0]], np.float32)
    scores, indices = semantic_search(np.array([1.0, 0.0]), corpus, metric="cosine", top_k=None)
    assert indices.tolist() == [1, 3, 4, 0, 2]
    np.testing.assert_allclose(scores, [1, 1, 1, 0, 0], atol=1e-6)


def test_one_query_top_k(ab):
    a, b = ab
    full_s, full_i = semantic_search(a[0], b, top_k=None)
    top_s, top_i = semantic_search(a[0], b, top_k=2)
    assert top_i.tolist() == full_i[:2].tolist() and top_s.tolist() == full_s[:2].tolist()
    assert len(semantic_search(a[0], b, top_k=100)[0]) == 5


def test_one_query_rejects_bad_input(ab):
    a, b = ab
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="top_k"):
            semantic_search(a[0], b, top_k=bad)
    with pytest.raises(InputError, match="corpus is empty"):
        semantic_search(a[0], [])
    with pytest.raises(InputError, match="queries has dimension .* but corpus has dimension 1"):
        semantic_search(a[0], b[:, :1])
