"""Training every architecture offline on the tiny encoder: a few steps on a dozen pairs.

Each run checks what the issue asks: the loss goes down, an interrupted run resumes to
the same state as an uninterrupted one, and the saved model reloads with identical
outputs. Bad data fails with one line before any model loads. torch runs on one thread
here: on a shared 2-core machine that is several times faster for a model this small.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from frasi.errors import InputError, ModelNotFoundError
from frasi.train import TrainConfig, load_scorer, train
from frasi.train import run as run_module

PAIRS = [
    ("hola mundo", "ciao mondo", 5.0), ("el gato", "the cat", 4.5), ("the cat", "el perro", 1.0),
    ("il cane", "the dog", 4.6), ("good morning", "buenos días", 4.8), ("how are you", "come stai", 4.4),
    ("la casa", "the house", 4.2), ("the dog sleeps", "il cane dorme", 4.5), ("buongiorno", "good morning", 4.9),
    ("qué tal", "hello world", 0.5), ("el gato duerme", "the house", 0.2), ("the cat is on the sofa", "la casa", 1.5),
]


def _write(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture(scope="module")
def sts_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sts")
    return {"train": _write(folder / "train.csv", PAIRS), "dev": _write(folder / "dev.csv", PAIRS[:8]),
            "test": _write(folder / "test.csv", PAIRS[4:])}


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _config(model: Path | str, files: dict[str, Path], **changes) -> TrainConfig:
    values: dict = {"model": str(model), "train_files": [str(files["train"])], "dev_files": [str(files["dev"])],
                    "test_files": [str(files["test"])], "epochs": 6, "batch_size": 16, "learning_rate": 1e-3,
                    "eval_steps": 2, "threads": 1, "max_seq_length": 32, "warmup_ratio": 0.0}
    return TrainConfig(**{**values, **changes})


def _losses(result) -> list[float]:
    return [h["loss"] for h in result.history if "loss" in h]


class Interrupt:
    """A training callback that interrupts the run after the checkpoint of ``at_step`` (any step: None)."""

    def __init__(self, at_step: int | None = None) -> None:
        self.at_step = at_step

    def on_checkpoint(self, step: int) -> None:
        if self.at_step is None or step == self.at_step:
            raise KeyboardInterrupt


def _interrupted_then_resumed(config: TrainConfig, output: Path, at_step: int, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        train(config, output, callbacks=[Interrupt(at_step)])
    assert not output.exists() and run_module.work_folder(output).is_dir()
    with pytest.raises(InputError, match="pass resume=True"):
        train(config, output)
    with pytest.raises(InputError, match="config differs in seed"):
        train(config.replace(seed=1), output, resume=True)
    return train(config, output, resume=True)


def _tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {f"{p.relative_to(folder)}:{k}": v for p in sorted(folder.rglob("*.safetensors"))
            for k, v in load_file(str(p)).items()}


def _same_weights(a: Path, b: Path) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys() and ta
    for key in ta:
        np.testing.assert_array_equal(ta[key], tb[key], err_msg=key)


# ---------------------------------------------------------------- data errors, before any model loads


@pytest.mark.parametrize(("rows", "message"), [
    ([("a b", "c d", "nan"), ("e", "f", "1")], "finite"),
    ([("e", "f", "1"), ("a b", "c d", "high")], "expected a numeric score"),
    ([("a b", "c d", "3")], "at least 2"),
    ([("a b", "c d", "3"), ("e", "2")], "expected 3 comma-separated fields"),
])
def test_bad_data_fails_before_the_model_loads(tmp_path, rows, message):
    bad = _write(tmp_path / "bad.csv", rows)
    config = TrainConfig(model=str(tmp_path / "no-such-model"), train_files=[str(bad)])
    with pytest.raises(InputError, match=message) as info:
        train(config, tmp_path / "out")
    assert "bad.csv" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_missing_columns_fail_before_the_model_loads(tmp_path):
    table = tmp_path / "pairs.jsonl"
    table.write_text('{"sentence1": "a", "sentence2": "b"}\n{"sentence1": "c", "sentence2": "d"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="no score column"):
        train(TrainConfig(model=str(tmp_path / "none"), train_files=[str(table)]), tmp_path / "out")


def test_output_must_be_new(tmp_path, sts_files):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with pytest.raises(Exception, match="not an empty folder"):
        train(TrainConfig(model="unused", train_files=[str(sts_files["train"])]), tmp_path / "out")


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing_behind(tiny_st_dir, sts_files, tmp_path,
                                                                            monkeypatch):
    config = TrainConfig(model=str(tmp_path / "no-such-model"), train_files=[str(sts_files["train"])])
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        train(config, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # as if interrupted while training, before any checkpoint

    from frasi.train import pair_models

    monkeypatch.setattr(pair_models, "_save_state", fail)
    config = _config(tiny_st_dir, sts_files, architecture="siamese", max_steps=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "out")
    assert not (tmp_path / "out.partial").exists()  # so the same command can simply run again
    live = tmp_path / "live.partial"  # another run's folder, before its first checkpoint: not ours to remove
    live.mkdir()
    (live / "train_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="holds an interrupted run"):
        train(config, tmp_path / "live")
    assert (live / "train_config.json").is_file()


def test_loss_logged_on_short_runs():
    config = TrainConfig(model="m", train_files=["t.csv"], eval_steps=None)
    assert run_module.log_every(config, 1000) == 50
    assert run_module.log_every(config, 20) == 2
    assert run_module.log_every(config, 5) == 1
    assert run_module.log_every(config.replace(eval_steps=10), 1000) == 10


# ---------------------------------------------------------------- the five architectures


@pytest.mark.parametrize("architecture", ["bi-encoder", "siamese"])
def test_warmup_ratio_one_warms_up_over_every_step(tiny_st_dir, sts_files, tmp_path, architecture):
    config = _config(tiny_st_dir, sts_files, architecture=architecture, max_steps=4, warmup_ratio=1.0,
                     dev_files=[], early_stopping_patience=None, scheduler="linear")
    rates = [h["learning_rate"] for h in train(config, tmp_path / "out").history if "learning_rate" in h]
    assert len(rates) == 4 and rates == sorted(rates) and rates[-1] < config.learning_rate


def test_bi_encoder_trains_resumes_and_reloads(tiny_st_dir, sts_files, tmp_path, monkeypatch):
    config = _config(tiny_st_dir, sts_files, early_stopping_patience=5)
    result = train(config, tmp_path / "full")
    losses = _losses(result)
    assert len(losses) >= 3 and losses[-1] < losses[0]
    record = json.loads((tmp_path / "full" / "frasi_run.json").read_text(encoding="utf-8"))
    assert record["config"] == config.to_dict() and record["data"]["train"][0]["sha256"]
    assert record["training"]["best_step"] is not None and record["versions"]["sentence-transformers"]
    assert not (tmp_path / "full.partial").exists()

    from frasi import Encoder

    assert Encoder.load(tmp_path / "full").max_length == Encoder.load(tiny_st_dir).max_length > config.max_seq_length
    scorer = load_scorer(tmp_path / "full")
    assert scorer.architecture == "bi-encoder"
    test = result.test[0]
    predicted = scorer.predict([p[0] for p in PAIRS[4:]], [p[1] for p in PAIRS[4:]])
    np.testing.assert_allclose(predicted, test["predicted"], atol=1e-5)

    resumed = _interrupted_then_resumed(config, tmp_path / "resumed", 4, monkeypatch)
    assert resumed.record["training"]["resumed_from_step"] == 4
    _same_weights(tmp_path / "full", tmp_path / "resumed")


@pytest.mark.parametrize("prompt", ["", "tema: "])
def test_bi_encoder_selects_scores_and_saves_with_its_training_prompt(tiny_st_dir, sts_files, tmp_path, prompt):
    from frasi import Encoder
    from frasi.similarity import similarity_pairwise as paired_scores

    with_prompts = Encoder.load(tiny_st_dir)
    with_prompts.model.prompts, with_prompts.model.default_prompt_name = {"query": "hola mundo "}, "query"
    with_prompts.save(tmp_path / "prompted")
    config = _config(tmp_path / "prompted", sts_files, epochs=1, prompt=prompt)
    result = train(config, tmp_path / "out")

    saved = Encoder.load(tmp_path / "out")
    assert saved.default_prompt == prompt
    s1, s2 = [p[0] for p in PAIRS[4:]], [p[1] for p in PAIRS[4:]]
    as_trained = paired_scores(saved.encode(s1, prompt=prompt), saved.encode(s2, prompt=prompt), metric="cosine")
    np.testing.assert_allclose(result.test[0]["predicted"], as_trained, atol=1e-5)


def test_bi_encoder_several_train_files_and_mnrl(tiny_st_dir, sts_files, tmp_path):
    positives = tmp_path / "positives.jsonl"
    positives.write_text("".join(json.dumps({"sentence1": a, "sentence2": b}) + "\n" for a, b, s in PAIRS if s > 4),
                         encoding="utf-8")
    config = _config(tiny_st_dir, sts_files, loss="mnrl", train_files=[str(positives), str(sts_files["train"])],
                     batch_size=4, epochs=1, freeze_embeddings=True, freeze_layers=1)
    result = train(config, tmp_path / "mnrl")
    train_data = result.record["data"]["train"]
    assert [Path(t["source"]).name for t in train_data] == ["positives.jsonl", "train.csv"]
    assert result.record["data"]["n_train_pairs"] == 2 * sum(s > 4 for *_, s in PAIRS)  # scored: >= 0.8 * 5
    size = result.record["model_size"]
    assert size["trainable_parameters"] < size["parameters"]


def test_cross_encoder_trains_resumes_and_reloads(tiny_encoder_dir, sts_files, tmp_path, monkeypatch):
    config = _config(tiny_encoder_dir, sts_files, architecture="cross-encoder")
    result = train(config, tmp_path / "full")
    losses = _losses(result)
    assert losses[-1] < losses[0]
    scorer = load_scorer(tmp_path / "full")
    assert scorer.architecture == "cross-encoder"
    predicted = scorer.predict([p[0] for p in PAIRS[4:]], [p[1] for p in PAIRS[4:]])
    np.testing.assert_allclose(predicted, result.test[0]["predicted"], atol=1e-5)
    assert ((predicted > 0) & (predicted < 1)).all()
    _interrupted_then_resumed(config, tmp_path / "resumed", 4, monkeypatch)
    _same_weights(tmp_path / "full", tmp_path / "resumed")


def test_cross_encoder_head_learns_at_the_head_rate(tiny_encoder_dir, sts_files, tmp_path):
    from safetensors.numpy import load_file

    from frasi.train.cross_encoder import load_new_cross_encoder

    config = _config(tiny_encoder_dir, sts_files, architecture="cross-encoder", learning_rate=1e-12,
                     head_learning_rate=1e-2, epochs=1, eval_steps=None, dev_files=[])
    state = load_new_cross_encoder(config)[0].auto_model.state_dict()
    initial = {k: v.detach().numpy().copy() for k, v in state.items()}
    train(config, tmp_path / "ce")
    after = load_file(str(tmp_path / "ce" / "model.safetensors"))
    moved = {k: float(np.abs(after[k] - initial[k]).max()) for k in after}
    head = [k for k in moved if k.startswith("classifier.")]
    assert head and len(head) < len(moved)
    assert all(moved[k] < 1e-6 for k in moved if k not in head)  # the encoder, at lr 1e-12
    assert all(moved[k] > 1e-3 for k in head if k.endswith("weight"))  # the new head, at 1e-2


@pytest.mark.parametrize("architecture", ["regression", "siamese", "cross-attention"])
def test_seed_architectures_train_and_reload(tiny_st_dir, sts_files, tmp_path, architecture):
    config = _config(tiny_st_dir, sts_files, architecture=architecture, epochs=4)
    result = train(config, tmp_path / architecture)
    losses = _losses(result)
    assert losses[-1] < losses[0]
    scorer = load_scorer(tmp_path / architecture)
    assert scorer.architecture == architecture
    s1, s2 = [p[0] for p in PAIRS[4:]], [p[1] for p in PAIRS[4:]]
    np.testing.assert_allclose(scorer.predict(s1, s2), result.test[0]["predicted"], atol=1e-5)
    # the seed's bugs: both sentences reach the model, and each tower gets its own sentence
    first = scorer.predict(["hola mundo", "hola mundo"], ["ciao mondo", "el gato duerme"])
    assert first[0] != first[1]
    swapped = scorer.predict(["hola mundo"], ["hola mundo"])
    assert swapped[0] != first[0]


def test_seed_architecture_resumes_to_the_same_state(tiny_st_dir, sts_files, tmp_path, monkeypatch):
    config = _config(tiny_st_dir, sts_files, architecture="cross-attention")
    train(config, tmp_path / "full")
    resumed = _interrupted_then_resumed(config, tmp_path / "resumed", 4, monkeypatch)
    assert resumed.record["training"]["resumed_from_step"] == 4
    _same_weights(tmp_path / "full", tmp_path / "resumed")


def test_resume_refuses_changed_data(tiny_st_dir, sts_files, tmp_path, monkeypatch):
    train_file = _write(tmp_path / "train.csv", PAIRS)
    config = _config(tiny_st_dir, sts_files, architecture="siamese", train_files=[str(train_file)])

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "out", callbacks=[Interrupt()])
    _write(train_file, PAIRS[:-1])
    with pytest.raises(InputError, match="data files changed.*n_train_pairs"):
        train(config, tmp_path / "out", resume=True)


def test_an_undefined_dev_score_never_becomes_the_best(tiny_st_dir, sts_files, tmp_path, monkeypatch):
    from frasi.train import evaluation

    scores = iter([-0.5, float("nan"), float("nan"), -0.7])
    monkeypatch.setattr(evaluation, "spearman", lambda *a: next(scores))
    config = _config(tiny_st_dir, sts_files, architecture="siamese", max_steps=4, eval_steps=1)
    result = train(config, tmp_path / "out")
    assert result.record["training"]["best_step"] == 1


# ---------------------------------------------------------------- compare and the CLI


def test_compare_writes_the_report(tiny_st_dir, sts_files, tmp_path):
    from frasi.train import compare

    config = _config(tiny_st_dir, sts_files, epochs=1, max_train_pairs=8)
    result = compare(config, tmp_path / "report", architectures=["bi-encoder", "siamese"], seeds=[1, 2])
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"report.md", "report.csv", "report.json", "learning_curves.png", "models",
            "scatter-siamese-seed2.png"} <= names
    assert [r["model"] for r in result.rows] == ["bi-encoder-seed1", "bi-encoder-seed2", "siamese-seed1",
                                                 "siamese-seed2", "baseline"]
    assert "dev files only" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert {s["seeds"] for s in result.summary} == {2, 1}
    again = compare(config, tmp_path / "report", architectures=["bi-encoder", "siamese"], seeds=[1, 2],
                    resume=True, plots=False)  # finished models are reused
    assert [r["spearman"] for r in again.rows] == [r["spearman"] for r in result.rows]
    records = [json.loads((tmp_path / "report" / "models" / f"siamese-seed{seed}" / "frasi_run.json")
                          .read_text(encoding="utf-8")) for seed in (1, 2)]
    assert records[0]["data"]["train_pairs_sha256"] == records[1]["data"]["train_pairs_sha256"]  # same sample
    assert records[0]["config"]["data_seed"] == config.seed
    with pytest.raises(InputError, match="trained with other settings.*epochs"):
        compare(config.replace(epochs=2), tmp_path / "report", architectures=["bi-encoder"], seeds=[1],
                resume=True, plots=False)


def test_cli_train_and_errors(tiny_st_dir, sts_files, tmp_path, capsys):
    from frasi.cli import main

    code = main(["train", "architecture", str(sts_files["train"]), "--arch", "siamese", "-o", str(tmp_path / "m"),
                 "--model", str(tiny_st_dir), "--dev", str(sts_files["dev"]), "--test", str(sts_files["test"]),
                 "--max-steps", "2", "--batch-size", "4", "--threads", "1", "--json", "--quiet"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["architecture"] == "siamese" and payload["training"]["global_step"] == 2
    code = main(["train", "architecture", str(sts_files["train"]), "--arch", "siamese", "-o", str(tmp_path / "n"),
                 "--model", str(tiny_st_dir), "--max-steps", "2", "--batch-size", "4", "--threads", "1"])
    assert code == 0  # no --dev and no --test: nothing to score, said in words rather than an empty table
    err = capsys.readouterr().err
    assert "no --dev or --test file: nothing was scored" in err and "no dev file: the last step is kept" in err
    history = json.loads((tmp_path / "n" / "frasi_run.json").read_text(encoding="utf-8"))["training"]["history"]
    assert [h["step"] for h in history if "loss" in h] == [1, 2]  # a 2-step run logs its loss, not every 50 steps
    assert main(["train", "architecture", str(sts_files["train"]), "--arch", "lstm", "-o", str(tmp_path / "x")]) == 2
    assert "--arch must be one of" in capsys.readouterr().err
    bad = _write(tmp_path / "bad.csv", [("a", "b", "1"), ("c", "d", "x")])
    assert main(["train", "bi-encoder", str(bad), "-o", str(tmp_path / "y"), "--model", str(tiny_st_dir)]) == 2
    assert "bad.csv line 2" in capsys.readouterr().err
    config = tmp_path / "run.toml"
    config.write_text(f'train_files = ["{sts_files["train"]}"]\nepochs = 0\n', encoding="utf-8")
    assert main(["train", "cross-encoder", "--config", str(config), "-o", str(tmp_path / "z")]) == 2
    assert "epochs must be > 0" in capsys.readouterr().err
    config.write_text(f'train_files = ["{sts_files["train"]}"]\narchitecture = "bi-encoder"\n', encoding="utf-8")
    assert main(["train", "architecture", "--config", str(config), "-o", str(tmp_path / "z")]) == 2
    assert "sets architecture = 'bi-encoder'; this command trains regression" in capsys.readouterr().err
    config.write_text(f'train_files = ["{sts_files["train"]}"]\n', encoding="utf-8")
    assert main(["train", "architecture", "--config", str(config), "-o", str(tmp_path / "z")]) == 2
    assert "no architecture was given; this command trains regression" in capsys.readouterr().err


def test_cli_flags_reach_the_config(tiny_st_dir, sts_files, tmp_path, capsys):
    """Every command maps its flags onto TrainConfig fields (--lr -> learning_rate, --dev -> dev_files, ...)."""
    from frasi.cli import main

    common = ["--model", str(tiny_st_dir), "--dev", str(sts_files["dev"]), "--test", str(sts_files["test"]),
              "--max-steps", "1", "--batch-size", "4", "--lr", "3e-5", "--warmup", "0.2", "--threads", "1",
              "--json", "--quiet"]
    for command in (["train", "bi-encoder"], ["train", "cross-encoder"]):
        folder = tmp_path / command[1]
        assert main([*command, str(sts_files["train"]), "-o", str(folder), *common]) == 0
        assert json.loads(capsys.readouterr().out)["training"]["global_step"] == 1
        record = json.loads((folder / "frasi_run.json").read_text(encoding="utf-8"))
        assert any("loss" in h for h in record["training"]["history"])  # even a 1-step run shows its loss
        config = record["config"]
        assert (config["architecture"], config["learning_rate"], config["warmup_ratio"]) == (command[1], 3e-5, 0.2)
        assert config["dev_files"] == [str(sts_files["dev"])] and config["test_files"] == [str(sts_files["test"])]
    report = tmp_path / "report"
    assert main(["compare", str(sts_files["train"]), "-o", str(report), "--arch", "siamese", "--head-lr", "0.01",
                 "--no-plots", *common]) == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["siamese-seed42", "baseline"]
    saved = json.loads((report / "report.json").read_text(encoding="utf-8"))["config"]
    assert (saved["learning_rate"], saved["head_learning_rate"]) == (3e-5, 0.01)


# ---------------------------------------------------------------- real models


@pytest.mark.real
@pytest.mark.parametrize("architecture", ["bi-encoder", "cross-encoder", "regression", "siamese", "cross-attention"])
def test_every_architecture_trains_on_a_real_model(architecture, sts_files, tmp_path):
    """all-MiniLM-L6-v2, as users start from it: a few steps, then the saved model reloads and scores the same."""
    config = _config("all-MiniLM-L6-v2", sts_files, architecture=architecture, epochs=1,
                     max_steps=2, batch_size=6, learning_rate=2e-5, freeze_layers=4, threads=2)
    result = train(config, tmp_path / architecture)
    test = result.record["metrics"]["test"][0]
    assert result.record["training"]["global_step"] == 2 and np.isfinite(test["spearman"])
    again = load_scorer(tmp_path / architecture).predict([p[0] for p in PAIRS[4:]], [p[1] for p in PAIRS[4:]])
    np.testing.assert_allclose(again, test["predicted"], atol=1e-5)


@pytest.mark.real
def test_default_model_fine_tunes_as_a_bi_encoder(e5_dir, sts_files, tmp_path):
    """The packaged multilingual-e5-small (converted folder) as the starting model, prompt included."""
    config = _config(e5_dir, sts_files, epochs=1, max_steps=1, batch_size=12, learning_rate=2e-5, freeze_layers=10,
                     threads=2)
    result = train(config, tmp_path / "e5")
    assert result.record["config"]["model"] == str(e5_dir)
    reloaded = load_scorer(tmp_path / "e5")
    np.testing.assert_allclose(reloaded.predict([p[0] for p in PAIRS[4:]], [p[1] for p in PAIRS[4:]]),
                               result.record["metrics"]["test"][0]["predicted"], atol=1e-5)
    assert reloaded.predict(["hola mundo"], ["ciao mondo"])[0] > reloaded.predict(["hola mundo"], ["la casa"])[0]


def test_train_result_summary_names_each_dev_file_when_there_are_several():
    from frasi.train.result import TrainResult

    def scored(source, spearman):
        return {"source": source, "spearman": spearman}

    one = TrainResult(Path("m"), "bi-encoder", {"metrics": {"dev": [scored("d/es-dev.csv", 81.184)], "test": []}})
    assert one.summary_suffix() == "; dev spearman 81.18"
    several = TrainResult(Path("m"), "bi-encoder", {"metrics": {
        "dev": [scored("d/es-dev.csv", 81.18), scored("d/en-dev.csv", 82.66)],
        "test": [scored("d/en-test.csv", None)]}})
    assert several.summary_suffix() == "; dev spearman es-dev 81.18, en-dev 82.66"
