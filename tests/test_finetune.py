"""Fine-tuned text classifiers: full, LoRA and SetFit's method on a tiny model; folders, backends, CLI, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from frasi.errors import InputError, MissingExtraError, ModelLoadError
from frasi.finetune import FineTunedClassifier
from frasi.finetune.predictor import TextClassifier

GREETINGS = ["hola mundo", "ciao mondo", "hello world", "buenos días", "buongiorno", "good morning",
             "hola qué tal", "ciao come stai", "hello how are you", "buenos días mundo"]
ANIMALS = ["el gato duerme", "il cane dorme", "the cat sleeps", "the dog sleeps on the sofa",
           "el perro sobre el sofá", "il gatto sul divano", "the cat is a dog", "la casa del gato",
           "il cane e il gatto", "the dog and the cat"]
TEXTS = GREETINGS + ANIMALS
LABELS = ["greeting"] * len(GREETINGS) + ["animal"] * len(ANIMALS)
FAST = {"epochs": 10, "batch_size": 4, "learning_rate": 5e-3, "max_length": 16, "validation_fraction": 0.0}


@pytest.fixture(scope="module")
def tuned(tiny_encoder_dir):
    return FineTunedClassifier(tiny_encoder_dir, **FAST).fit(TEXTS, LABELS)


def test_full_fine_tuning_learns_the_training_data(tuned):
    history = [h["loss"] for h in tuned.training_["history"] if "loss" in h]
    assert history[-1] < history[0] * 0.7  # the loss falls
    assert (tuned.predict(TEXTS) == np.array(LABELS)).mean() >= 0.9
    assert tuned.classes_.tolist() == ["animal", "greeting"]
    np.testing.assert_allclose(tuned.predict_proba(TEXTS).sum(axis=1), 1.0, rtol=1e-6)
    assert tuned.backend == "torch"


def test_the_folder_is_a_standard_text_classification_folder(tuned, tmp_path):
    from transformers import pipeline

    folder = tuned.save(tmp_path / "clf", files={"report.json": b"{}"})
    assert {"config.json", "model.safetensors", "tokenizer.json", "frasi_classifier.json", "report.json"} <= {
        p.name for p in folder.iterdir()}
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "animal", "1": "greeting"}
    piped = [r["label"] for r in pipeline("text-classification", model=str(folder), device="cpu")(TEXTS)]
    assert piped == tuned.predict(TEXTS).tolist()


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_reloaded_on_any_backend_it_gives_the_same_logits(tuned, tmp_path, backend):
    folder = tuned.save(tmp_path / "clf")
    loaded = FineTunedClassifier.load(folder, backend=backend)
    assert loaded.backend == backend
    np.testing.assert_allclose(loaded.decision_function(TEXTS), tuned.decision_function(TEXTS), atol=1e-4)
    assert loaded.predict(TEXTS).tolist() == tuned.predict(TEXTS).tolist()


def test_load_classifier_gives_a_predictor_without_scikit_learn(tuned, tmp_path):
    from frasi.classifier_folder import load_classifier

    folder = tuned.save(tmp_path / "clf")
    predictor = load_classifier(folder, backend="openvino")
    assert isinstance(predictor, TextClassifier)
    assert predictor.predict(TEXTS).tolist() == tuned.predict(TEXTS).tolist()
    logits = predictor.embed(TEXTS)  # computed once, read by predict and predict_proba alike
    assert predictor.predict(logits).tolist() == tuned.predict(TEXTS).tolist()
    np.testing.assert_allclose(predictor.predict_proba(logits), predictor.predict_proba(TEXTS), atol=1e-6)
    with pytest.raises(InputError, match="2 columns"):
        predictor.predict(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(InputError, match="carries its own encoder"):
        load_classifier(folder, encoder="multilingual-e5-small")


def test_integer_labels_stay_integers(tiny_encoder_dir, tmp_path):
    labels = [2 if label == "greeting" else 0 for label in LABELS]
    clf = FineTunedClassifier(tiny_encoder_dir, **{**FAST, "epochs": 1}).fit(TEXTS, labels)
    loaded = FineTunedClassifier.load(clf.save(tmp_path / "clf"), backend="torch")
    assert loaded.classes_.tolist() == [0, 2] and set(loaded.predict(TEXTS).tolist()) <= {0, 2}


def test_lora_trains_adapters_and_saves_a_merged_plain_model(tiny_encoder_dir, tmp_path):
    clf = FineTunedClassifier(tiny_encoder_dir, method="lora", lora_r=4, **{**FAST, "epochs": 2}).fit(TEXTS, LABELS)
    assert clf.training_["steps"] == 10
    folder = clf.save(tmp_path / "lora")
    assert not any("lora" in key for key in json.loads((folder / "config.json").read_text()))
    loaded = FineTunedClassifier.load(folder, backend="torch")
    np.testing.assert_allclose(loaded.decision_function(TEXTS), clf.decision_function(TEXTS), atol=1e-5)
    # the adapter, kept beside the merged model, merges into the base model again without torch or peft
    from frasi.adapters import merge_lora

    assert sorted(p.name for p in (folder / "adapter").iterdir()) == ["adapter_config.json",
                                                                       "adapter_model.safetensors"]
    again = tmp_path / "again"
    again.mkdir()
    config = json.loads((folder / "config.json").read_text())
    merge_lora(tiny_encoder_dir, folder / "adapter", again, base_prefix="bert.",
               config_updates={k: config[k] for k in ("architectures", "id2label", "label2id")})
    (again / "frasi_classifier.json").write_bytes((folder / "frasi_classifier.json").read_bytes())
    remerged = FineTunedClassifier.load(again, backend="torch")
    np.testing.assert_allclose(remerged.decision_function(TEXTS), clf.decision_function(TEXTS), atol=1e-5)


def test_init_seed_alone_sets_the_initial_weights(tiny_encoder_dir):
    def head(**params):
        clf = FineTunedClassifier(tiny_encoder_dir, method="lora", **params)
        return clf._new_model(np.array(["animal", "greeting"]))[0].classifier.weight.detach().numpy()

    np.testing.assert_array_equal(head(init_seed=3, random_state=0), head(init_seed=3, random_state=1))
    np.testing.assert_array_equal(head(random_state=3), head(init_seed=3, random_state=0))
    assert not np.array_equal(head(random_state=0), head(random_state=1))
    with pytest.raises(InputError, match="init_seed"):
        FineTunedClassifier(tiny_encoder_dir, init_seed=-1).fit(TEXTS, LABELS)


def test_averaged_lora_adapters_merge_into_the_mean_of_their_models(tiny_encoder_dir, tmp_path):
    from safetensors.numpy import load_file

    from frasi.adapters import average_lora, merge_lora

    updates = {"architectures": ["BertForSequenceClassification"]}
    adapters, merged = [], []
    for seed in (0, 1):
        clf = FineTunedClassifier(tiny_encoder_dir, method="lora", lora_r=4, random_state=seed, init_seed=0,
                                  **{**FAST, "epochs": 1}).fit(TEXTS, LABELS)
        adapters.append(clf.save(tmp_path / f"seed-{seed}") / "adapter")
        (tmp_path / f"merged-{seed}").mkdir()
        merge_lora(tiny_encoder_dir, adapters[-1], tmp_path / f"merged-{seed}", base_prefix="bert.",
                   config_updates=updates)
        merged.append(load_file(str(tmp_path / f"merged-{seed}" / "model.safetensors")))
    (tmp_path / "soup").mkdir()
    average_lora(adapters, tmp_path / "soup")
    config = json.loads((tmp_path / "soup" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (8, 16)  # rank 2 x 4, the same alpha / r
    (tmp_path / "merged-soup").mkdir()
    merge_lora(tiny_encoder_dir, tmp_path / "soup", tmp_path / "merged-soup", base_prefix="bert.",
               config_updates=updates)
    soup = load_file(str(tmp_path / "merged-soup" / "model.safetensors"))
    assert soup.keys() == merged[0].keys()
    for name, value in soup.items():
        np.testing.assert_allclose(value, (merged[0][name] + merged[1][name]) / 2, atol=1e-6, err_msg=name)
    (tmp_path / "other").mkdir()
    FineTunedClassifier(tiny_encoder_dir, method="lora", lora_r=2, **{**FAST, "epochs": 1}).fit(
        TEXTS, LABELS).save(tmp_path / "other-rank")
    with pytest.raises(ModelLoadError, match="r, lora_alpha differ"):
        average_lora([adapters[0], tmp_path / "other-rank" / "adapter"], tmp_path / "other")


@pytest.fixture(scope="module")
def setfit(tiny_st_dir):
    return FineTunedClassifier(tiny_st_dir, method="setfit", contrastive_pairs=320, batch_size=8,
                               learning_rate=1e-3, max_length=16).fit(TEXTS, LABELS)


def test_setfit_tunes_the_sentence_embedding_on_pairs_and_fits_a_logistic_head(setfit):
    record = setfit.training_["contrastive"]
    assert record["pairs"] == 320 and record["last_loss"] < record["first_loss"]
    assert (setfit.predict(TEXTS) == np.array(LABELS)).mean() >= 0.9
    np.testing.assert_allclose(setfit.predict_proba(TEXTS).sum(axis=1), 1.0, rtol=1e-6)
    assert setfit.classes_.tolist() == ["animal", "greeting"] and setfit.backend == "torch"


def test_setfit_leaves_a_given_encoder_as_it_was(tiny_st_dir):
    import torch

    from frasi import Encoder

    encoder = Encoder.load(tiny_st_dir)
    before = encoder.encode(TEXTS)
    tuned = FineTunedClassifier(encoder, method="setfit", contrastive_pairs=64, batch_size=8, learning_rate=1e-3,
                                max_length=16).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(encoder.encode(TEXTS), before)
    # the tuned copy trained its layers, not its word-embedding table
    start, end = (dict(e.model[0].auto_model.named_parameters()) for e in (encoder, tuned.predictor_.encoder_))
    table = next(name for name in start if "word_embeddings" in name)
    assert torch.equal(start[table], end[table]) and end[table].requires_grad
    assert any(not torch.equal(start[name], end[name]) for name in start if name != table)


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_a_setfit_folder_carries_its_encoder_and_reloads_on_any_backend(setfit, tmp_path, backend):
    from frasi.classifier_folder import load_classifier

    folder = setfit.save(tmp_path / "clf", files={"report.json": b"{}"})
    assert {"classifier.json", "head.npz", "encoder", "frasi_fine_tuning.json", "report.json"} <= {
        p.name for p in folder.iterdir()}
    assert (folder / "encoder" / "modules.json").is_file()  # a standard sentence-transformers folder
    expected = setfit.predict_proba(TEXTS)
    loaded = FineTunedClassifier.load(folder, backend=backend)
    assert loaded.method == "setfit" and loaded.backend == backend
    assert loaded.predictor_.encoder_.name == setfit.predictor_.encoder_.name
    assert loaded.predictor_.encoder_.name.endswith("(setfit)")
    assert loaded.training_["contrastive"]["pairs"] == 320
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), expected, atol=1e-4)
    np.testing.assert_allclose(load_classifier(folder, backend=backend).predict_proba(TEXTS), expected, atol=1e-4)
    again = loaded.save(tmp_path / "again")  # a loaded one saves its folder as it is
    np.testing.assert_allclose(FineTunedClassifier.load(again, backend="torch").predict_proba(TEXTS), expected,
                               atol=1e-4)


def test_a_dev_set_selects_the_best_checkpoint_and_stops_early(tiny_encoder_dir):
    clf = FineTunedClassifier(tiny_encoder_dir, **{**FAST, "epochs": 6, "early_stopping": 1}).fit(
        TEXTS, LABELS, X_dev=TEXTS[::3], y_dev=LABELS[::3])
    training = clf.training_
    assert training["dev"] == "given" and training["best_dev_macro_f1"] is not None
    assert training["best_step"] <= training["steps"]


def test_balanced_class_weights():
    from frasi.finetune.training import class_weights

    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 1]), 2, "balanced"), [4 / 6, 2.0])
    assert class_weights(np.array([0, 1]), 2, None) is None


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tiny_encoder_dir, tmp_path):
    class Interrupt:
        def on_checkpoint(self, step: int) -> None:
            if step >= 10:
                raise KeyboardInterrupt

    work = tmp_path / "work"
    settings = {**FAST, "epochs": 4, "checkpoint_dir": work}
    with pytest.raises(KeyboardInterrupt):
        FineTunedClassifier(tiny_encoder_dir, **settings).fit(TEXTS, LABELS, callbacks=[Interrupt()])
    assert (work / "checkpoint-10").is_dir()
    with pytest.raises(InputError, match="holds an interrupted run; pass resume=True"):
        FineTunedClassifier(tiny_encoder_dir, **settings).fit(TEXTS, LABELS)
    with pytest.raises(InputError, match="learning_rate changed"):
        FineTunedClassifier(tiny_encoder_dir, **{**settings, "learning_rate": 1e-3}).fit(TEXTS, LABELS, resume=True)
    resumed = FineTunedClassifier(tiny_encoder_dir, **settings).fit(TEXTS, LABELS, resume=True)
    assert resumed.training_["steps"] == 20
    straight = FineTunedClassifier(tiny_encoder_dir, **{**settings, "checkpoint_dir": None}).fit(TEXTS, LABELS)
    np.testing.assert_allclose(resumed.decision_function(TEXTS), straight.decision_function(TEXTS), atol=1e-4)


@pytest.mark.parametrize(("fit", "message"), [
    ({"X": TEXTS, "y": ["a"] * len(TEXTS)}, "only one class"),
    ({"X": TEXTS[:-1], "y": LABELS}, "19 texts and 20 labels"),
    ({"X": [*TEXTS[:-1], "  "], "y": LABELS}, "empty or whitespace-only"),
    ({"X": TEXTS, "y": [*LABELS[:-1], float("nan")]}, "NaN"),
    ({"X": TEXTS, "y": LABELS, "X_dev": ["hola"], "y_dev": ["plant"]}, "'plant' were not in the training data"),
    ({"X": "hola mundo", "y": LABELS}, "not a single string"),
])
def test_bad_data_is_a_clear_error(tiny_encoder_dir, fit, message):
    with pytest.raises(InputError, match=message):
        FineTunedClassifier(tiny_encoder_dir, **FAST).fit(**fit)


@pytest.mark.parametrize(("params", "message"), [
    ({"method": "magic"}, "method must be one of full, lora, setfit"),
    ({"epochs": 0}, "epochs must be a positive number"),
    ({"validation_fraction": 0.9}, "validation_fraction"),
    ({"class_weight": "heavy"}, "class_weight must be"),
])
def test_bad_parameters_are_clear_errors(tiny_encoder_dir, params, message):
    with pytest.raises(InputError, match=message):
        FineTunedClassifier(tiny_encoder_dir, **params).fit(TEXTS, LABELS)


def test_lora_without_peft_names_the_extra(tiny_encoder_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "peft", None)  # import peft raises ImportError
    with pytest.raises(MissingExtraError, match=r"frasi\[finetune\]"):
        FineTunedClassifier(tiny_encoder_dir, method="lora", **FAST).fit(TEXTS, LABELS)


def test_the_scikit_learn_contract(tiny_encoder_dir):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    clf = FineTunedClassifier(tiny_encoder_dir, method="lora", lora_r=4)
    assert clone(clf).get_params() == clf.get_params()
    with pytest.raises(NotFittedError, match="call fit"):
        clf.predict(TEXTS)


# ---------------------------------------------------------------- CLI


@pytest.fixture
def data_files(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in zip(TEXTS, LABELS)),
                     encoding="utf-8")
    return train


def run(capsys, *args: str) -> tuple[int, str, str]:
    from frasi.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_fine_tunes_reports_and_predicts(capsys, data_files, tiny_encoder_dir, tmp_path):
    out = tmp_path / "clf"
    code, stdout, err = run(capsys, "classify", "train", str(data_files), "--fine-tune", "-m", str(tiny_encoder_dir),
                            "-o", str(out), "--test", str(data_files), "--epochs", "10", "--batch-size", "4",
                            "--learning-rate", "5e-3", "--max-length", "16", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["head"] == "fine-tuned (full)" and report["test"]["accuracy"] >= 0.9
    assert report["baseline"]["name"].startswith("TF-IDF")
    assert {"report.json", "config.json"} <= {p.name for p in out.iterdir()}
    assert not out.with_name("clf.partial").exists()
    code, stdout, err = run(capsys, "classify", "predict", str(out), "hola mundo", "il cane dorme", "--json")
    assert code == 0, err
    records = json.loads(stdout)
    assert [r["label"] for r in records] == ["greeting", "animal"]
    assert set(records[0]["probabilities"]) == {"animal", "greeting"}
    code, stdout, err = run(capsys, "classify", "evaluate", str(out), str(data_files), "--json")
    assert code == 0 and json.loads(stdout)["test"]["accuracy"] >= 0.9, err


def test_cli_setfit_saves_a_folder_that_predicts_and_evaluates(capsys, data_files, tiny_st_dir, tmp_path):
    out = tmp_path / "setfit"
    code, stdout, err = run(capsys, "classify", "train", str(data_files), "--fine-tune", "--method", "setfit", "-m",
                            str(tiny_st_dir), "-o", str(out), "--test", str(data_files), "--learning-rate", "1e-3",
                            "--batch-size", "8", "--max-length", "16", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["head"] == "fine-tuned (setfit)" and report["test"]["accuracy"] >= 0.9
    assert {"report.json", "classifier.json", "encoder"} <= {p.name for p in out.iterdir()}
    code, stdout, err = run(capsys, "classify", "predict", str(out), "hola mundo", "il cane dorme", "--json")
    assert code == 0, err
    assert [r["label"] for r in json.loads(stdout)] == ["greeting", "animal"]
    code, stdout, err = run(capsys, "classify", "evaluate", str(out), str(data_files), "--json")
    assert code == 0 and json.loads(stdout)["test"]["accuracy"] >= 0.9, err


def test_cli_fine_tuning_options_need_fine_tune(capsys, data_files, tmp_path):
    code, _, err = run(capsys, "classify", "train", str(data_files), "-o", str(tmp_path / "x"), "--method", "lora")
    assert code == 2 and "--method apply to fine-tuning; add --fine-tune" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.real
@pytest.mark.parametrize("options", [
    {"method": "full", "epochs": 4, "batch_size": 4, "learning_rate": 1e-4, "validation_fraction": 0.0},
    {"method": "setfit", "contrastive_pairs": 160, "batch_size": 16},
], ids=["full", "setfit"])
def test_a_real_encoder_fine_tunes_generalises_and_reloads_on_openvino(tmp_path, options):
    """all-MiniLM-L6-v2 fine-tuned on twenty sentences labels sentences it never saw; its folder gives the same
    scores on OpenVINO."""
    clf = FineTunedClassifier("all-MiniLM-L6-v2", max_length=32, random_state=0, **options).fit(TEXTS, LABELS)
    unseen = ["good evening, how are you", "the cat sleeps on the bed"]
    assert clf.predict(unseen).tolist() == ["greeting", "animal"]
    fast = FineTunedClassifier.load(clf.save(tmp_path / "clf"), backend="openvino")
    assert fast.backend == "openvino"
    np.testing.assert_allclose(fast.decision_function(unseen), clf.decision_function(unseen), atol=1e-4)
    np.testing.assert_allclose(fast.predict_proba(unseen), clf.predict_proba(unseen), atol=1e-4)
