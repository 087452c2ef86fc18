"""Fast by default: backend ``auto``, defaults set once, and cached answers without loading a model."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import MIXED_TEXTS as TEXTS
from frasi import Encoder, InputError
from frasi.cli import main
from frasi.settings import settings
from test_cli import Result, assert_bad_input, assert_ok

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def auto(monkeypatch):
    """Undo conftest's FRASI_BACKEND=torch: the built-in default applies."""
    monkeypatch.delenv("FRASI_BACKEND", raising=False)


@pytest.fixture
def cli(capsys):
    def run(*args) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


# ---------------------------------------------------------------- backend auto


def test_auto_runs_openvino_with_torch_vectors(auto, tiny_st_dir):
    encoder = Encoder.load(tiny_st_dir)
    reference = Encoder.load(tiny_st_dir, backend="torch")
    assert encoder.backend == "openvino" and encoder.backend_note is None
    assert np.abs(encoder.encode(TEXTS) - reference.encode(TEXTS)).max() < 1e-4


def test_auto_falls_back_to_torch_and_says_why(auto, tiny_st_dir, monkeypatch, caplog, cli, tmp_path):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with caplog.at_level(logging.WARNING, logger="frasi"):
        encoder = Encoder.load(tiny_st_dir)
    assert encoder.backend == "torch" and "aten::frobnicate" in encoder.backend_note
    assert "running tiny-st on torch (openvino unavailable: cannot export tiny-st to ONNX" in caplog.text
    np.testing.assert_allclose(encoder.encode(TEXTS), Encoder.load(tiny_st_dir, backend="torch").encode(TEXTS))
    result = assert_ok(cli("embed", *TEXTS, "-m", tiny_st_dir, "-o", tmp_path / "e.npy"))
    assert result.err_lines[-1].endswith("; backend: torch (openvino unavailable: cannot export tiny-st to ONNX: "
                                         "unsupported operator aten::frobnicate; use backend='torch')")
    with pytest.raises(Exception, match="frobnicate"):  # an explicit backend still fails loudly
        Encoder.load(tiny_st_dir, backend="openvino")


def test_auto_means_torch_on_a_gpu_device(auto, tiny_st_dir):
    with pytest.raises(InputError, match="device='cuda' is not available here"):
        Encoder.load(tiny_st_dir, device="cuda")  # torch's check, not "runs on the CPU"


def test_the_first_use_says_it_exports_once(auto, cli, tiny_st_dir, tmp_path):
    first = assert_ok(cli("embed", "hola", "-m", tiny_st_dir, "-o", tmp_path / "a.npy"))
    assert any("exporting tiny-st for the openvino backend: once, about half a minute" in line
               for line in first.err_lines)
    again = assert_ok(cli("embed", "mundo", "-m", tiny_st_dir, "-o", tmp_path / "b.npy"))
    assert not any("exporting" in line for line in again.err_lines)
    assert again.err_lines[-1].endswith("; backend: openvino")


# ---------------------------------------------------------------- cache before model


def _run(args: list[str], env: dict[str, str]) -> tuple[int, list[str], str]:
    """Run the CLI in a fresh process; return its exit code, the heavy modules it imported, and stderr."""
    code = ("import sys; from frasi.cli import main; code = main(sys.argv[1:]); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'openvino', 'sklearn') "
            "if m in sys.modules)); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(SRC)}, check=False)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')), done.stderr


def test_a_fully_cached_command_loads_no_model_and_no_torch(auto, tiny_st_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FRASI_BACKEND"}
    args = ["similarity", "hola mundo", "ciao mondo", "the cat", "-m", str(tiny_st_dir), "--json", "-q"]
    code, heavy, err = _run(args, env)  # the first run exports (torch) and fills the cache
    assert code == 0, err
    code, heavy, err = _run(args, env)
    assert code == 0, err
    assert heavy == []  # no torch, and not even the runtime: the model was never compiled
    code, heavy, err = _run([*args[:4], "a text not cached yet", *args[4:]], env)
    assert code == 0 and heavy == ["openvino"], err  # a new text: the runtime compiles, torch is still not needed



def test_predicting_with_a_linear_head_imports_neither_torch_nor_scikit_learn(auto, tiny_st_dir, tmp_path):
    from frasi import EmbeddingClassifier

    texts, labels = ["hola mundo", "ciao mondo", "el gato", "il cane"], ["greeting", "greeting", "animal", "animal"]
    folder = EmbeddingClassifier(Encoder.load(tiny_st_dir), head="logistic").fit(texts, labels).save(tmp_path / "c")
    env = {k: v for k, v in os.environ.items() if k != "FRASI_BACKEND"}
    args = ["classify", "predict", str(folder), "buenos días", "the dog", "--json", "-q"]
    code, heavy, err = _run(args, env)  # exports the encoder once (torch) and fills the cache
    assert code == 0, err
    code, heavy, err = _run([*args[:3], "a text not cached yet", *args[3:]], env)
    assert code == 0 and heavy == ["openvino"], err  # the head predicts with numpy

# ---------------------------------------------------------------- defaults set once


def test_settings_precedence_flag_env_file_builtin(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    monkeypatch.setenv("FRASI_CONFIG", str(config))
    monkeypatch.delenv("FRASI_BACKEND")
    assert {n: (s.value, s.source) for n, s in settings().items()} == {
        "model": ("multilingual-e5-small", "built-in"), "backend": ("auto", "built-in"), "threads": (None, "built-in")}
    config.write_text('model = "all-MiniLM-L6-v2"\nbackend = "openvino-int8"\nthreads = 3\n', encoding="utf-8")
    assert {n: (s.value, s.source) for n, s in settings().items()} == {
        "model": ("all-MiniLM-L6-v2", str(config)), "backend": ("openvino-int8", str(config)),
        "threads": (3, str(config))}
    monkeypatch.setenv("FRASI_BACKEND", "torch")
    monkeypatch.setenv("FRASI_THREADS", "2")
    found = settings(threads=1)
    assert (found["backend"].value, found["backend"].source) == ("torch", "FRASI_BACKEND")
    assert (found["threads"].value, found["threads"].source) == (1, "flag")
    assert (found["model"].value, found["model"].source) == ("all-MiniLM-L6-v2", str(config))


def test_xdg_config_home_is_where_the_file_lives(tmp_path, monkeypatch):
    monkeypatch.delenv("FRASI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    from frasi.settings import config_path

    assert config_path() == tmp_path / "frasi" / "config.toml"


@pytest.mark.parametrize(("content", "env", "message"), [
    ("threads = 0\n", {}, "threads from .*config.toml must be a positive integer, got 0"),
    ("colour = 'red'\n", {}, "unknown setting\\(s\\) 'colour'; known settings: model, backend, threads"),
    ("model = \n", {}, "is not valid TOML"),
    ("", {"FRASI_THREADS": "many"}, "threads from FRASI_THREADS must be a positive integer, got 'many'"),
    ("", {"FRASI_BACKEND": "tensorrt"}, "backend must be one of auto, torch.* got 'tensorrt' \\(from FRASI_BACKEND\\)"),
])
def test_bad_settings_name_their_source(cli, tiny_st_dir, tmp_path, monkeypatch, content, env, message):
    config = tmp_path / "config.toml"
    config.write_text(content, encoding="utf-8")
    monkeypatch.setenv("FRASI_CONFIG", str(config))
    monkeypatch.delenv("FRASI_BACKEND")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    err = assert_bad_input(cli("embed", "hola", "-m", tiny_st_dir, "--json"))
    assert __import__("re").search(message, err), err


def test_defaults_reach_every_command(cli, tiny_st_dir, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'model = "{tiny_st_dir}"\nthreads = 1\n', encoding="utf-8")
    monkeypatch.setenv("FRASI_CONFIG", str(config))
    result = assert_ok(cli("embed", "hola", "--json", "--no-cache")).json
    assert (result["model"], result["dim"], result["backend"]) == ("tiny-st", 32, "torch")
    shown = assert_ok(cli("config", "--json")).json
    assert shown["settings"]["model"] == {"value": str(tiny_st_dir), "source": str(config)}
    assert shown["settings"]["backend"] == {"value": "torch", "source": "FRASI_BACKEND"}
    assert shown["settings"]["threads"] == {"value": 1, "source": str(config)}
    table = assert_ok(cli("config")).out
    assert "flag > environment > config file > built-in" in table and str(config) in table


ENCODING_COMMANDS = [["embed"], ["similarity"], ["search"], ["paraphrases"], ["sentiment"], ["classify", "train"],
                     ["classify", "predict"], ["classify", "evaluate"], ["eval", "sts"], ["tokenize"]]


@pytest.mark.parametrize("command", ENCODING_COMMANDS, ids=" ".join)
def test_every_encoding_command_takes_the_shared_options(cli, command):
    page = assert_ok(cli(*command, "--help")).out
    for option in ("--model", "--backend", "--threads"):
        assert option in page, (command, option)
    if command != ["tokenize"]:
        assert "--cache / --no-cache" in page, command


# ---------------------------------------------------------------- real model


@pytest.mark.real
def test_auto_on_the_default_model_gives_torch_vectors(monkeypatch, e5, frasi_cache):
    monkeypatch.delenv("FRASI_BACKEND")
    encoder = Encoder.load(e5.path, cache_folder=frasi_cache)
    texts = ["¿Dónde está la estación de tren?", "Il gatto dorme sul divano.", "The stock market fell today.",
             "yupiiiiiiiiiiiii!!! 😀😀", "café ﬁn l’été…"]
    assert encoder.backend == "openvino" and encoder.runtime.settings["sentencepiece"] is not None
    assert np.abs(encoder.encode(texts) - e5.encode(texts)).max() < 1e-4


@pytest.mark.real
def test_the_default_models_small_inputs_tokenize_with_a_model_of_their_own_pieces(e5, frasi_cache):
    from frasi.backends.tokenizer import FastTokenizer

    runtime = Encoder.load(e5.path, backend="openvino", cache_folder=frasi_cache).runtime
    folder, settings = runtime.artefact.folder, runtime.settings
    texts = ["query: ¿Dónde está la estación de tren?", "Il gatto dorme sul divano.", "The stock market fell today.",
             "yupiiiiiiiiiiiii!!! 😀😀 #felicidad @amigo", "café ﬁn l’été… ＡＢＣ１２３", "  espacios  raros\t",
             "Ünïcödé ñandú 東京 Москва", "<s> literal", "a" * 700]
    args = {"max_length": settings["max_length"], "sentencepiece": settings["sentencepiece"]}
    exact = FastTokenizer(folder / "tokenizer.json", max_length=settings["max_length"]).ids(texts)
    small = FastTokenizer(folder / "tokenizer.json", **args)
    assert small.ids(texts) == exact
    assert small._sentencepiece._full is None  # the whole vocabulary was never loaded
    assert FastTokenizer(folder / "tokenizer.json", subset={"subset_max_chars": 0}, **args).ids(texts) == exact
