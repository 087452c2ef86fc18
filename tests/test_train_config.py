"""TrainConfig: validation, dict round-trip, TOML / YAML / JSON files, the run record (no model)."""

from __future__ import annotations

import json

import pytest

from frasi.errors import InputError
from frasi.train import ARCHITECTURES, TrainConfig
from frasi.train.config import LIBRARIES, run_record
from frasi.versions import versions


def test_defaults_and_loss_per_architecture():
    assert TrainConfig(train_files=["a.csv"]).loss == "cosent"
    assert TrainConfig(architecture="cross-encoder").loss == "bce"
    for arch in ("regression", "siamese", "cross-attention"):
        assert TrainConfig(architecture=arch).loss == "mse"
    assert set(ARCHITECTURES) == {"bi-encoder", "cross-encoder", "regression", "siamese", "cross-attention"}


def test_a_single_path_becomes_a_list():
    assert TrainConfig(train_files="a.csv").train_files == ["a.csv"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"architecture": "lstm"}, "architecture must be one of"),
    ({"loss": "bce"}, "does not apply to the bi-encoder"),
    ({"epochs": 0}, "epochs must be > 0"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"batch_size": True}, "batch_size must be an integer"),
    ({"learning_rate": "fast"}, "learning_rate must be a number"),
    ({"warmup_ratio": 1.5}, "warmup_ratio must be >= 0 and <= 1"),
    ({"scheduler": "step"}, "scheduler must be one of"),
    ({"max_seq_length": 2}, "max_seq_length must be an integer >= 8"),
    ({"early_stopping_patience": 2}, "needs dev_files"),
    ({"loss": "mnrl", "batch_size": 1}, "batch_size must be an integer >= 2"),
    ({"train_files": 3}, "train_files must be a list"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"epochs": float("inf")}, "epochs must be a finite number"),
    ({"mnrl_min_score": float("nan")}, "mnrl_min_score must be a finite number"),
    ({"seed": 2**32}, "seed must be an integer between 0 and 4294967295"),
    ({"freeze_embeddings": "false"}, "freeze_embeddings must be true or false"),
])
def test_bad_values_raise_one_line(changes, message):
    with pytest.raises(InputError, match=message) as info:
        TrainConfig(**changes)
    assert "\n" not in str(info.value)


def test_dict_round_trip_and_unknown_keys():
    config = TrainConfig(train_files=["t.csv"], dev_files=["d.csv"], epochs=2, freeze_embeddings=True, seed=7)
    values = config.to_dict()
    json.dumps(values)  # plain JSON
    assert TrainConfig.from_dict(values) == config
    with pytest.raises(InputError, match="unknown training setting.*'epoch'"):
        TrainConfig.from_dict({**values, "epoch": 3})


def test_from_toml_yaml_and_json(tmp_path):
    (tmp_path / "run.toml").write_text('[train]\ntrain_files = ["data/t.csv"]\nepochs = 2\nfreeze_embeddings = true\n',
                                       encoding="utf-8")
    (tmp_path / "run.yaml").write_text("train_files: [data/t.csv]\nepochs: 2\nfreeze_embeddings: true\n",
                                       encoding="utf-8")
    (tmp_path / "run.json").write_text('{"train_files": ["data/t.csv"], "epochs": 2, "freeze_embeddings": true}',
                                       encoding="utf-8")
    configs = [TrainConfig.from_file(tmp_path / name) for name in ("run.toml", "run.yaml", "run.json")]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0].train_files == [str(tmp_path / "data" / "t.csv")]  # relative to the file
    assert configs[0].epochs == 2.0 and configs[0].freeze_embeddings
    overridden = TrainConfig.from_file(tmp_path / "run.toml", epochs=3, seed=None)
    assert overridden.epochs == 3.0 and overridden.seed == 42


def test_numbers_written_without_a_dot_in_yaml_and_a_path_as_model(tmp_path):
    (tmp_path / "run.yaml").write_text("learning_rate: 2e-5\nprompt: '1e5'\n", encoding="utf-8")
    config = TrainConfig.from_file(tmp_path / "run.yaml")  # YAML 1.1 reads 2e-5 as a string
    assert config.learning_rate == 2e-5 and config.prompt == "1e5"
    assert TrainConfig(model=tmp_path).model == str(tmp_path)


def test_bad_config_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not valid TOML"):
        TrainConfig.from_file(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a mapping of settings"):
        TrainConfig.from_file(listed)
    with pytest.raises(InputError, match="a training config is .toml"):
        TrainConfig.from_file(tmp_path / "run.ini")


def test_run_record_holds_what_reproduces_a_result():
    config = TrainConfig(train_files=["t.csv"], seed=3)
    record = run_record(config, data={"train": [{"sha256": "ab"}]}, metrics={"test": []})
    assert record["config"] == config.to_dict() and record["seed"] == 3
    assert record["data"]["train"][0]["sha256"] == "ab"
    assert record["versions"]["torch"] and record["versions"]["sentence-transformers"]
    assert "dev" in record["selection"] and "test" in record["selection"]
    assert set(versions(LIBRARIES, python=True)) >= {"python", "torch", "transformers", "datasets", "accelerate"}
