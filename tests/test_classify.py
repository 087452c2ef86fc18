"""EmbeddingClassifier: the scikit-learn contract, C by cross-validation, safe save/load, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from frasi import EmbeddingClassifier, Encoder, InputError, ModelLoadError
from frasi.classify import HEADS
from frasi.experiment import fit_tfidf_baseline
from frasi.labels import check_labels

GREETINGS = ["hola mundo", "ciao mondo", "hello world", "buenos días", "buongiorno", "good morning",
             "hola qué tal", "ciao come stai", "hello how are you", "buenos días mundo"]
ANIMALS = ["el gato duerme", "il cane dorme", "the cat sleeps", "the dog sleeps on the sofa",
           "el perro sobre el sofá", "il gatto sul divano", "the cat is a dog", "la casa del gato",
           "il cane e il gatto", "the dog and the cat"]
TEXTS = GREETINGS + ANIMALS
LABELS = ["greeting"] * len(GREETINGS) + ["animal"] * len(ANIMALS)


@pytest.fixture(scope="module")
def tiny(tiny_st_dir):
    return Encoder.load(tiny_st_dir, backend="torch")


@pytest.fixture(scope="module")
def fitted(tiny):
    return EmbeddingClassifier(tiny, head="logistic", C=10.0).fit(TEXTS, LABELS)


def test_fit_returns_self_and_learns_the_training_data(tiny):
    clf = EmbeddingClassifier(tiny, head="logistic", C=10.0)
    assert clf.fit(TEXTS, LABELS) is clf
    assert clf.classes_.tolist() == ["animal", "greeting"]
    assert clf.n_features_in_ == tiny.dimension
    assert clf.predict(TEXTS).tolist() == LABELS
    assert clf.score(TEXTS, LABELS) == 1.0
    proba = clf.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_init_only_stores_parameters_and_clone_works(tiny):
    clf = EmbeddingClassifier("some-model-name", head="knn", C=1.0)
    assert not hasattr(clf, "encoder_")  # nothing loaded in __init__
    params = clf.get_params()
    assert params["encoder"] == "some-model-name" and params["head"] == "knn"
    assert clone(clf).get_params() == params


def test_embeddings_in_give_the_same_predictions_as_texts(fitted):
    vectors = fitted.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), fitted.n_features_in_)
    assert fitted.predict(vectors).tolist() == fitted.predict(TEXTS).tolist()
    refit = EmbeddingClassifier(fitted.encoder_, head="logistic", C=10.0).fit(vectors, LABELS)
    np.testing.assert_allclose(refit.predict_proba(vectors), fitted.predict_proba(TEXTS), rtol=1e-6)


def test_a_list_of_C_is_chosen_by_cross_validation(tiny):
    clf = EmbeddingClassifier(tiny, head="linear-svc", C=[0.01, 1.0, 100.0], cv=2).fit(TEXTS, LABELS)
    assert clf.C_ in (0.01, 1.0, 100.0)
    results = clf.cv_results_
    assert results["C"] == [0.01, 1.0, 100.0] and len(results["mean_macro_f1"]) == 3
    assert clf.C_ == results["C"][int(np.argmax(results["mean_macro_f1"]))]


def test_linear_svc_has_margins_but_no_probabilities(tiny):
    clf = EmbeddingClassifier(tiny, head="linear-svc").fit(TEXTS, LABELS)
    assert not hasattr(clf, "predict_proba")
    assert clf.decision_function(TEXTS).shape == (len(TEXTS),)


def test_integer_labels_stay_integers(tiny):
    clf = EmbeddingClassifier(tiny, head="logistic", C=10.0).fit(TEXTS, [0 if y == "animal" else 2 for y in LABELS])
    assert clf.classes_.tolist() == [0, 2]
    assert set(clf.predict(TEXTS).tolist()) <= {0, 2}


@pytest.mark.parametrize("head", ["logistic", "linear-svc"])
def test_save_and_load_give_identical_outputs_without_pickle(fitted, tiny, tmp_path, head):
    clf = fitted if head == "logistic" else EmbeddingClassifier(tiny, head=head).fit(TEXTS, LABELS)
    folder = clf.save(tmp_path / "clf", files={"report.json": b"{}"})
    assert sorted(p.name for p in folder.iterdir()) == ["classifier.json", "head.npz", "report.json"]
    np.load(folder / "head.npz", allow_pickle=False)  # plain arrays
    loaded = EmbeddingClassifier.load(folder, encoder=tiny)
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    assert loaded.predict(TEXTS).tolist() == clf.predict(TEXTS).tolist()
    np.testing.assert_allclose(loaded.decision_function(TEXTS), clf.decision_function(TEXTS), rtol=1e-5, atol=1e-6)
    if head == "logistic":
        np.testing.assert_allclose(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS), rtol=1e-5, atol=1e-7)


def test_load_resolves_the_recorded_encoder(fitted, tmp_path):
    folder = fitted.save(tmp_path / "clf")
    config = json.loads((folder / "classifier.json").read_text())
    assert config["encoder"]["name"] == fitted.encoder_.name
    loaded = EmbeddingClassifier.load(folder)  # loads the encoder by its recorded name (a folder here)
    assert loaded.predict(TEXTS[:3]).tolist() == fitted.predict(TEXTS[:3]).tolist()


def test_loading_with_another_encoder_is_refused(fitted, tiny_encoder_dir, tmp_path):
    import frasi

    folder = fitted.save(tmp_path / "clf")
    other = frasi.compose(tiny_encoder_dir, pooling="cls")  # same dimension, different embeddings
    with pytest.raises(ModelLoadError, match="embeds differently"):
        EmbeddingClassifier.load(folder, encoder=other)
    wider = frasi.compose(tiny_encoder_dir, pooling="mean", dense_dim=8)
    with pytest.raises(ModelLoadError, match="8"):
        EmbeddingClassifier.load(folder, encoder=wider)


def test_pickled_heads_load_only_when_trusted(tiny, tmp_path):
    clf = EmbeddingClassifier(tiny, head="knn", head_params={"n_neighbors": 3}).fit(TEXTS, LABELS)
    folder = clf.save(tmp_path / "knn")
    assert (folder / "head.joblib").is_file()
    with pytest.raises(ModelLoadError, match="trust_pickle"):
        EmbeddingClassifier.load(folder, encoder=tiny)
    loaded = EmbeddingClassifier.load(folder, encoder=tiny, trust_pickle=True)
    assert loaded.predict(TEXTS).tolist() == clf.predict(TEXTS).tolist()


def test_save_refuses_a_non_empty_folder_and_leaves_nothing_half_written(fitted, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "x").write_text("keep")
    with pytest.raises(frasi_output_error()):
        fitted.save(target)
    assert [p.name for p in target.iterdir()] == ["x"]
    with pytest.raises(InputError):
        fitted.save(tmp_path / "bad", files={"../escape.txt": b""})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def frasi_output_error():
    from frasi import OutputError

    return OutputError


@pytest.mark.parametrize("folder_state, message", [
    ("missing", "does not exist"), ("empty", "classifier.json is missing"), ("bad-json", "not valid JSON"),
    ("bad-version", "format_version"), ("no-head", "head.npz is missing"),
])
def test_broken_classifier_folders_are_clear_errors(fitted, tmp_path, folder_state, message):
    folder = tmp_path / "clf"
    if folder_state != "missing":
        fitted.save(folder)
        config = folder / "classifier.json"
        if folder_state == "empty":
            config.unlink()
        elif folder_state == "bad-json":
            config.write_text("{nope")
        elif folder_state == "bad-version":
            config.write_text(json.dumps({**json.loads(config.read_text()), "format_version": 99}))
        elif folder_state == "no-head":
            (folder / "head.npz").unlink()
    with pytest.raises(ModelLoadError, match=message):
        EmbeddingClassifier.load(folder, encoder=fitted.encoder_)


@pytest.mark.parametrize("labels, message", [
    (["a"] * 20, "only one class"),
    ([float("nan")] + [1] * 19, "NaN"),
    ([1.5] * 10 + [2.0] * 10, "strings or integers"),
    (["a"] * 10 + [1] * 10, "mix strings and integers"),
    (["a"] * 10 + [""] + ["b"] * 9, "empty"),
    ([None] * 20, "None"),
    (["a", "b"], "one label per text"),
    ("ab" * 10, "list of class labels"),
])
def test_bad_labels_are_clear_errors(tiny, labels, message):
    with pytest.raises(InputError, match=message):
        EmbeddingClassifier(tiny).fit(TEXTS, labels)


def test_whole_number_float_labels_are_integers():
    assert check_labels([0.0, 1.0, 2.0]).tolist() == [0, 1, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"head": "xgboost"}, "unknown head"),
    ({"head": "knn", "C": [0.1, 1.0]}, "no C parameter"),
    ({"C": -1.0}, "positive number"),
    ({"C": []}, "empty list"),
    ({"C": ["a"]}, "positive number or a list of them, got 'a'"),
    ({"C": [0.1, None]}, "positive number or a list of them, got None"),
    ({"C": [1.0, 2.0], "cv": 1}, "cv must be"),
    ({"C": [1.0, 2.0], "cv": 11}, "smallest class"),
    ({"head": "logistic", "head_params": {"bogus": 1}}, "does not accept"),
    ({"head": "knn", "head_params": {"n_neighbors": 500}},
     r"head 'knn' looks at 500 neighbours but got \d+ training texts"),
])
def test_bad_parameters_are_clear_errors(tiny, kwargs, message):
    with pytest.raises(InputError, match=message):
        EmbeddingClassifier(tiny, **kwargs).fit(TEXTS, LABELS)


def test_unseen_labels_and_unfitted_use_are_clear_errors(fitted, tiny):
    with pytest.raises(InputError, match="'bird' were not in the training data"):
        fitted.score(TEXTS[:2], ["greeting", "bird"])
    with pytest.raises(InputError, match=r"'a', 'b', 'c', 'd', 'e' and 2 more were not") as info:
        fitted.check_known_labels(np.array(list("abcdefg")))
    assert len(str(info.value)) < 200
    with pytest.raises(NotFittedError, match="call fit"):
        EmbeddingClassifier(tiny).predict(TEXTS)
    with pytest.raises(InputError, match="empty"):
        fitted.predict(["hola", "  "])
    with pytest.raises(InputError, match="single string"):
        fitted.predict("hola mundo")
    with pytest.raises(InputError, match="dimension"):
        fitted.predict(np.zeros((2, 3), dtype=np.float32))


def test_pandas_labels_numpy_parameters_and_mismatched_lengths(tiny, tmp_path):
    pd = pytest.importorskip("pandas")
    clf = EmbeddingClassifier(tiny, head="logistic", C=np.array([1.0, 10.0]), cv=2,
                              head_params={"max_iter": np.int64(500)})
    clf.fit(pd.Series(TEXTS), pd.Series(LABELS, dtype="category"))
    assert clf.score(TEXTS, pd.Series(LABELS)) > 0.5
    clf.save(tmp_path / "clf")  # numpy parameters are saved as plain numbers
    saved = json.loads((tmp_path / "clf" / "classifier.json").read_text(encoding="utf-8"))["params"]
    assert saved["C"] == [1.0, 10.0] and saved["head_params"] == {"max_iter": 500}
    with pytest.raises(InputError, match="got 2 texts and 1 labels"):
        clf.score(TEXTS[:2], LABELS[:1])
    with pytest.raises(InputError, match="single string"):
        EmbeddingClassifier(tiny).fit("hola", ["greeting"])
    with pytest.raises(InputError, match="floating point"):
        EmbeddingClassifier(tiny).fit(np.ones((len(LABELS), 4), dtype=np.int64), LABELS)


def test_tfidf_baseline_fits_the_same_data():
    pipeline = fit_tfidf_baseline(TEXTS, LABELS, C=[0.1, 1.0], cv=2)
    assert pipeline.predict(TEXTS).tolist() == LABELS
    assert pipeline.get_params()["linearsvc__C"] in (0.1, 1.0)


def test_every_named_head_fits(tiny):
    vectors = EmbeddingClassifier(tiny).fit(TEXTS, LABELS).embed(TEXTS)
    for head in HEADS:
        params = {"n_neighbors": 3} if head == "knn" else None
        clf = EmbeddingClassifier(tiny, head=head, head_params=params).fit(vectors, LABELS)
        assert clf.predict(vectors).shape == (len(TEXTS),)


@pytest.mark.real
def test_classifier_on_a_real_model_separates_topics(minilm, tmp_path):
    sports = ["The striker scored twice in the final.", "El equipo ganó el partido de fútbol.",
              "La squadra ha vinto la partita.", "The match went to penalties.",
              "El portero paró el penalti.", "Il calciatore ha segnato un gol."]
    food = ["This pasta recipe needs fresh basil.", "La paella lleva arroz y azafrán.",
            "La pizza margherita è buonissima.", "Add salt to the boiling water.",
            "El gazpacho se sirve frío.", "Il tiramisù si fa con il mascarpone."]
    clf = EmbeddingClassifier(minilm, head="logistic").fit(sports + food, ["sport"] * 6 + ["food"] * 6)
    assert clf.predict(["The goalkeeper saved the shot.", "Bake the bread for forty minutes."]).tolist() == \
        ["sport", "food"]
    loaded = EmbeddingClassifier.load(clf.save(tmp_path / "topic"), encoder=minilm)
    np.testing.assert_allclose(loaded.predict_proba(food), clf.predict_proba(food), rtol=1e-5)


THREE_LABELS = ["greeting"] * 7 + ["animal"] * 7 + ["other"] * 6


@pytest.mark.parametrize("head", ["logistic", "linear-svc"])
@pytest.mark.parametrize("labels", [LABELS, THREE_LABELS], ids=["two-classes", "three-classes"])
def test_the_numpy_predictor_matches_the_scikit_learn_head(tiny, tmp_path, head, labels):
    from frasi.classifier_folder import LinearHead, load_classifier

    clf = EmbeddingClassifier(tiny, head=head, C=10.0).fit(TEXTS, labels)
    loaded = load_classifier(clf.save(tmp_path / "clf"), encoder=tiny)
    assert isinstance(loaded.head_, LinearHead)
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    assert loaded.predict(TEXTS).tolist() == clf.predict(TEXTS).tolist()
    np.testing.assert_allclose(loaded.decision_function(TEXTS), clf.decision_function(TEXTS), rtol=1e-5, atol=1e-6)
    if head == "logistic":
        np.testing.assert_allclose(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS), rtol=1e-5, atol=1e-7)
    else:
        assert not hasattr(loaded, "predict_proba")
    with pytest.raises(InputError, match="not in the training data"):
        loaded.check_known_labels(np.array(["greeting", "plant"]))


def test_load_classifier_opens_pickled_heads_only_when_trusted(tiny, tmp_path):
    from frasi.classifier_folder import load_classifier

    folder = EmbeddingClassifier(tiny, head="knn", head_params={"n_neighbors": 3}).fit(TEXTS, LABELS).save(
        tmp_path / "knn")
    with pytest.raises(ModelLoadError, match="trust_pickle"):
        load_classifier(folder, encoder=tiny)
    loaded = load_classifier(folder, encoder=tiny, trust_pickle=True)
    assert loaded.predict(TEXTS).tolist() == EmbeddingClassifier.load(folder, encoder=tiny, trust_pickle=True).predict(
        TEXTS).tolist()
    assert hasattr(loaded, "predict_proba") and not hasattr(load_classifier(
        EmbeddingClassifier(tiny, head="linear-svc").fit(TEXTS, LABELS).save(tmp_path / "svc"), encoder=tiny),
        "predict_proba")

