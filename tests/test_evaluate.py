"""Tests for frasi.evaluate: STS correlations with bootstrap intervals, evaluate_sts, classification metrics."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from scipy import stats

from frasi.bootstrap import Ties, correlations, resample_counts
from frasi.data import STSData
from frasi.errors import InputError
from frasi.evaluate import evaluate_sts, sts_metrics
from frasi.metrics import classification_metrics
from frasi.similarity import PAIR_METRICS
from frasi.similarity import similarity_pairwise as paired_scores

# The first 20 pairs of the STS Benchmark test split (captions), copied from the file.
STSB_TEST_20 = [
    ("A girl is styling her hair.", "A girl is brushing her hair.", 2.5),
    ("A group of men play soccer on the beach.", "A group of boys are playing soccer on the beach.", 3.6),
    ("One woman is measuring another woman's ankle.", "A woman measures another woman's ankle.", 5.0),
    ("A man is cutting up a cucumber.", "A man is slicing a cucumber.", 4.2),
    ("A man is playing a harp.", "A man is playing a keyboard.", 1.5),
    ("A woman is cutting onions.", "A woman is cutting tofu.", 1.8),
    ("A man is riding an electric bicycle.", "A man is riding a bicycle.", 3.5),
    ("A man is playing the drums.", "A man is playing the guitar.", 2.2),
    ("A man is playing guitar.", "A lady is playing the guitar.", 2.2),
    ("A man is playing a guitar.", "A man is playing a trumpet.", 1.714),
    ("A man is playing a guitar.", "A man is playing a trumpet.", 1.714),
    ("A man is cutting an onion.", "A man cuts an onion.", 5.0),
    ("A man is cycling.", "A man is talking.", 0.6),
    ("A man is slicing open a fish.", "A man is cutting up a fish.", 4.4),
    ("A man is slicing a tomato.", "A man is slicing a bun.", 2.0),
    ("A man is playing a guitar.", "A man is playing a keyboard.", 1.8),
    ("A baby panda goes down a slide.", "A panda slides down a slide.", 4.4),
    ("A man is singing and playing a guitar.", "A man is playing a guitar.", 3.6),
    ("A man attacks a woman.", "A man slaps a woman.", 3.6),
    ("A man is driving a car.", "A man is riding a horse.", 1.2),
]


@pytest.fixture
def noisy():
    """Gold scores on a 0-5 grid (many ties) and predictions of decreasing quality."""
    rng = np.random.default_rng(7)
    gold = np.round(rng.uniform(0, 5, 300) * 5) / 5
    predicted = {
        "cosine": np.round(gold + rng.normal(0, 1.0, 300), 1),  # rounded: ties in the predictions too
        "dot": gold + rng.normal(0, 2.0, 300),
        "euclidean": -gold + rng.normal(0, 1.0, 300),  # anti-correlated
    }
    return predicted, gold


def as_json(result):
    return json.loads(json.dumps(result, allow_nan=False))


# ---------------------------------------------------------------------------- sts_metrics


def test_single_array_matches_scipy(noisy):
    predicted, gold = noisy
    result = sts_metrics(predicted["cosine"], gold, n_bootstrap=0)
    assert result["primary_metric"] == "spearman" and result["n"] == 300
    assert result["metrics"]["spearman"] == pytest.approx(stats.spearmanr(predicted["cosine"], gold)[0] * 100)
    assert result["metrics"]["pearson"] == pytest.approx(stats.pearsonr(predicted["cosine"], gold)[0] * 100)
    assert result["ci"] is None and result["by_genre"] is None


def test_mapping_names_follow_sentence_transformers(noisy):
    predicted, gold = noisy
    result = sts_metrics(predicted, gold, n_bootstrap=50)
    assert result["primary_metric"] == "spearman_cosine"
    assert set(result["metrics"]) == {f"{k}_{n}" for k in ("pearson", "spearman") for n in predicted}
    for name, x in predicted.items():
        assert result["metrics"][f"spearman_{name}"] == pytest.approx(stats.spearmanr(x, gold)[0] * 100)
        assert result["metrics"][f"pearson_{name}"] == pytest.approx(stats.pearsonr(x, gold)[0] * 100)
    assert result["metrics"]["spearman_euclidean"] < 0
    assert sts_metrics({"dot": predicted["dot"]}, gold, n_bootstrap=0)["primary_metric"] == "spearman_dot"
    assert as_json(result) == result  # plain JSON types only


def test_bootstrap_resamples_are_exact():
    """Each resample's Pearson and Spearman equal scipy's on the explicitly resampled pairs."""
    rng = np.random.default_rng(3)
    gold = np.round(rng.uniform(0, 5, 60))  # heavy ties
    predicted = {"a": np.round(gold + rng.normal(0, 1, 60)), "b": gold + rng.normal(0, 1, 60)}
    counts = resample_counts(np.random.default_rng(0), 60, 8)
    assert counts.shape == (60, 8) and (counts.sum(axis=0) == 60).all()
    ties = {name: Ties(x) for name, x in predicted.items()}
    result = correlations(predicted, ties, gold, Ties(gold), counts)
    for name, x in predicted.items():
        for j in range(8):
            idx = np.repeat(np.arange(60), counts[:, j].astype(int))
            assert result[name][0][j] == pytest.approx(stats.pearsonr(x[idx], gold[idx])[0], abs=1e-12)
            assert result[name][1][j] == pytest.approx(stats.spearmanr(x[idx], gold[idx])[0], abs=1e-12)


def test_bootstrap_is_seeded_and_contains_the_estimate(noisy):
    predicted, gold = noisy
    a = sts_metrics(predicted, gold, n_bootstrap=300, seed=1)
    b = sts_metrics(predicted, gold, n_bootstrap=300, seed=1)
    c = sts_metrics(predicted, gold, n_bootstrap=300, seed=2)
    assert a == b and a["ci"] != c["ci"]
    assert a["bootstrap"]["n_resamples"] == 300 and a["bootstrap"]["seed"] == 1
    for key, value in a["metrics"].items():
        low, high = a["ci"][key]
        assert low < value < high, key
        assert high - low < 30
    assert a["undefined_resamples"] == {}
    wider = sts_metrics(predicted, gold, n_bootstrap=300, seed=1, confidence=0.99)["ci"]["spearman_cosine"]
    assert wider[0] < a["ci"]["spearman_cosine"][0] and wider[1] > a["ci"]["spearman_cosine"][1]


def test_per_genre_breakdown(noisy):
    predicted, gold = noisy
    genres = np.array(["news", "captions", "forums"])[np.arange(300) % 3]
    result = sts_metrics(predicted, gold, genres=list(genres), n_bootstrap=100)
    assert list(result["by_genre"]) == ["captions", "forums", "news"]
    for name, block in result["by_genre"].items():
        mask = genres == name
        assert block["n"] == 100
        expected = sts_metrics({k: v[mask] for k, v in predicted.items()}, gold[mask], n_bootstrap=0)
        assert block["metrics"] == pytest.approx(expected["metrics"])
        assert set(block["ci"]) == set(block["metrics"])
    assert result == sts_metrics(predicted, gold, genres=list(genres), n_bootstrap=100)  # seeded per genre


def test_undefined_correlations_are_none(caplog):
    gold = np.array([1.0, 2.0, 3.0, 4.0])
    with caplog.at_level(logging.WARNING, logger="frasi.evaluate"):
        result = sts_metrics({"cosine": np.zeros(4), "dot": gold}, gold, genres=["a", "a", "b", "b"],
                             n_bootstrap=20)
    assert result["metrics"]["spearman_cosine"] is None and result["metrics"]["pearson_cosine"] is None
    assert result["ci"]["spearman_cosine"] is None
    assert result["metrics"]["spearman_dot"] == pytest.approx(100.0)
    assert result["undefined_resamples"]["spearman_cosine"] == 20
    assert 0 < result["by_genre"]["a"]["undefined_resamples"]["spearman_dot"] < 20  # 2 pairs: half are constant
    assert result["by_genre"]["a"]["ci"]["spearman_dot"] == [100.0, 100.0]
    assert "constant predictions" in caplog.text
    assert "bootstrap resamples of these 2 pairs have an undefined correlation" in caplog.text  # genre 'a'
    as_json(result)


@pytest.mark.parametrize(
    ("predicted", "gold", "kwargs", "message"),
    [
        ([0.1, np.nan, 0.3], [1, 2, 3], {}, r"predicted contains 1 NaN or infinite value\(s\) out of 3"),
        ({"cosine": [0.1, np.inf, 0.3]}, [1, 2, 3], {}, r"predicted\['cosine'\] contains 1 NaN or infinite"),
        ([0.1, 0.2], [1, 2, 3], {}, "predicted has 2 values but gold has 3"),
        ([0.1, 0.2, 0.3], [2, 2, 2], {}, "all 3 gold scores are 2, so correlation is undefined"),
        ([0.1], [1], {}, "expected at least 2"),
        ([[0.1, 0.2]], [1, 2], {}, "must be 1-D"),
        ({}, [1, 2], {}, "empty mapping"),
        ([0.1, 0.2], [1, 2], {"n_bootstrap": -1}, "n_bootstrap must be an integer >= 0"),
        ([0.1, 0.2], [1, 2], {"confidence": 1.5}, "confidence must be a number strictly between 0 and 1"),
        ([0.1, 0.2], [1, 2], {"seed": "x"}, "seed must be a non-negative integer"),
        ([0.1, 0.2], [1, 2], {"genres": ["a"]}, r"genres must give one genre per pair \(2\), got 1 values"),
        (["a", "b"], [1, 2], {}, "predicted must be numbers"),
    ],
)
def test_sts_metrics_errors(predicted, gold, kwargs, message):
    with pytest.raises(InputError, match=message):
        sts_metrics(predicted, gold, **kwargs)


# ---------------------------------------------------------------------------- similarity_pairwise


def test_similarity_pairwise_matches_references():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 8)).astype(np.float32), rng.normal(size=(6, 8)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = {
        "cosine": (a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1),
        "dot": (a64 * b64).sum(1),
        "euclidean": -np.sqrt(((a64 - b64) ** 2).sum(1)),
        "manhattan": -np.abs(a64 - b64).sum(1),
    }
    for metric in PAIR_METRICS:
        scores = paired_scores(a, b, metric=metric)
        assert scores.dtype == np.float64 and scores.shape == (6,)
        np.testing.assert_allclose(scores, expected[metric], rtol=1e-12)
    zero = np.zeros((1, 8))
    assert paired_scores(zero, b[:1]).tolist() == [0.0]
    assert paired_scores(a[:1], a[:1], metric="euclidean").tolist() == [0.0]
    with pytest.raises(InputError, match="unknown metric 'l3'"):
        paired_scores(a, b, metric="l3")
    with pytest.raises(InputError, match="a has 6 rows but b has 5"):
        paired_scores(a, b[:5])


# ---------------------------------------------------------------------------- evaluate_sts


PAIRS = [
    ("hola mundo", "ciao mondo", 4.0), ("the cat", "il cane", 1.0), ("good morning", "buongiorno", 5.0),
    ("the dog sleeps", "il cane dorme", 4.5), ("la casa", "the house", 4.2), ("el gato", "the dog", 0.5),
    ("how are you", "come stai", 4.8), ("buenos días", "the sofa", 0.2), ("hola mundo", "the house", 0.0),
]


@pytest.fixture
def tiny_sts():
    s1, s2, scores = zip(*PAIRS)
    genres = ["a", "b"] * 4 + ["a"]
    return STSData(list(s1), list(s2), np.array(scores), genres, source="pairs.csv", layout="table")


class SpyEncoder:
    """Wraps an Encoder and records what it is asked to encode."""

    def __init__(self, encoder):
        self.encoder, self.calls = encoder, []
        self.name = encoder.name

    def resolve_prompt(self, prompt_name=None, prompt=None):
        return self.encoder.resolve_prompt(prompt_name, prompt)

    def encode(self, texts, **kwargs):
        self.calls.append((list(texts), kwargs))
        return self.encoder.encode(texts, **kwargs)


def test_evaluate_sts_on_the_tiny_model(tiny_st_dir, tiny_sts):
    from frasi import Encoder

    encoder = Encoder.load(tiny_st_dir)
    spy = SpyEncoder(encoder)
    result = evaluate_sts(spy, tiny_sts, n_bootstrap=200, seed=3, batch_size=4, prompt="")
    (texts, kwargs), = spy.calls  # one call, each distinct sentence once
    assert sorted(texts) == sorted(set(tiny_sts.sentences1) | set(tiny_sts.sentences2)) and len(texts) == 16
    assert kwargs == {"prompt_name": None, "prompt": "", "batch_size": 4, "show_progress": None, "cache": None}

    assert result["primary_metric"] == "spearman_cosine"
    assert set(result["metrics"]) == {f"{k}_{m}" for k in ("pearson", "spearman") for m in PAIR_METRICS}
    vectors = encoder.encode(list(tiny_sts.sentences1) + list(tiny_sts.sentences2), prompt="")
    cosine = paired_scores(vectors[:9], vectors[9:])
    assert result["metrics"]["spearman_cosine"] == pytest.approx(stats.spearmanr(cosine, tiny_sts.scores)[0] * 100)
    assert set(result["by_genre"]) == {"a", "b"} and result["by_genre"]["a"]["n"] == 5

    protocol = result["protocol"]
    assert protocol["model"] == encoder.name and protocol["prompt"] == "" and protocol["n_pairs"] == 9
    assert protocol["n_unique_sentences"] == 16 and protocol["n_truncated"] is None  # the spy cannot count
    assert protocol["seed"] == 3 and protocol["bootstrap"]["n_resamples"] == 200
    assert protocol["score_range"] == [0.0, 5.0] and protocol["normalization"]["range"] == [0.0, 5.0]
    assert protocol["data"]["sha256"] == tiny_sts.sha256 and protocol["data"]["source"] == "pairs.csv"
    assert as_json(result) == result

    direct = evaluate_sts(encoder, tiny_sts, n_bootstrap=200, seed=3, prompt="")
    assert direct["metrics"] == pytest.approx(result["metrics"])
    assert direct["ci"].keys() == result["ci"].keys()
    for key, interval in result["ci"].items():
        assert direct["ci"][key] == pytest.approx(interval)
    assert direct["protocol"]["n_truncated"] == 0


def test_evaluate_sts_rejects_bad_arguments_before_encoding(tiny_st_dir, tiny_sts):
    from frasi import Encoder

    spy = SpyEncoder(Encoder.load(tiny_st_dir))
    with pytest.raises(InputError, match="data must be an STSData"):
        evaluate_sts(spy, {"sentence1": []})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n_bootstrap must be an integer"):
        evaluate_sts(spy, tiny_sts, n_bootstrap=-5)
    with pytest.raises(InputError, match="either prompt or prompt_name"):
        evaluate_sts(spy, tiny_sts, prompt="x", prompt_name="query")
    with pytest.raises(InputError, match=r"encoder must be a frasi.Encoder \(frasi.Encoder.load\('mini'\)"):
        evaluate_sts("mini", tiny_sts)  # type: ignore[arg-type]
    assert spy.calls == []


@pytest.mark.real
def test_minilm_on_real_stsb_pairs(minilm):
    s1, s2, scores = zip(*STSB_TEST_20)
    data = STSData(list(s1), list(s2), np.array(scores), source="stsb-test-first-20")
    result = evaluate_sts(minilm, data, n_bootstrap=200)
    assert result["metrics"]["spearman_cosine"] > 60
    low, high = result["ci"]["spearman_cosine"]
    assert low < result["metrics"]["spearman_cosine"] < high


# ---------------------------------------------------------------------------- classification


def test_classification_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    y_true = ["neg", "neg", "neu", "pos", "pos", "pos"]
    y_pred = ["neg", "neu", "neu", "pos", "neg", "pos"]
    result = classification_metrics(y_true, y_pred)
    assert result["labels"] == ["neg", "neu", "pos"] and result["n"] == 6
    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert result["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]  # rows true, columns predicted
    assert result["per_class"]["pos"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                                          "f1": pytest.approx(0.8), "support": 3}
    assert as_json(result) == result


def test_classification_metrics_label_order_and_absent_classes():
    result = classification_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), labels=[2, 1, 0])
    assert result["labels"] == [2, 1, 0] and list(result["per_class"]) == ["2", "1", "0"]
    assert result["per_class"]["2"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["confusion_matrix"] == [[0, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert result["macro_f1"] == pytest.approx(np.mean([0.0, 2 / 3, 2 / 3]))
    assert isinstance(result["labels"][0], int)
    json.dumps(result)


def test_classification_metrics_errors():
    with pytest.raises(InputError, match="got 2 true labels and 1 predictions"):
        classification_metrics(["a", "b"], ["a"])
    with pytest.raises(InputError, match="y_true is empty"):
        classification_metrics([], [])
    with pytest.raises(InputError, match="labels has duplicates"):
        classification_metrics(["a"], ["a"], labels=["a", "a"])
    with pytest.raises(InputError, match="use one label type"):
        classification_metrics(["a", 1], ["a", 1])
