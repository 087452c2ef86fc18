"""What frasi did wrong when it was tried as a new user would, each pinned by a test.

1. a cross-encoder folder given as an embedding model; 2. text that is not valid Unicode;
3. openvino-int8 vectors that depended on the batch (tests/test_backends.py); 4. a damaged
cache reported as healthy; 5. an interrupted training that did not say how to resume;
6. labels ``1`` and ``"1"`` (tests/test_data.py); 7. a ``;``-separated CSV; 8. terminal
escape sequences, silent overwrites and a folder error for a file (here and in test_io.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frasi import Encoder, InputError
from frasi.cli import main
from frasi.io import read_texts
from test_cli import Result, assert_bad_input, assert_ok


@pytest.fixture
def cli(capsys):
    def run(*args) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def cross_encoder_dir(tiny_encoder_dir, tmp_path_factory) -> Path:
    """A cross-encoder folder as frasi train cross-encoder writes it (a sequence-classification head)."""
    from sentence_transformers import CrossEncoder

    from frasi._hf import quiet_loading

    folder = tmp_path_factory.mktemp("ce") / "cross-encoder"
    with quiet_loading():
        CrossEncoder(str(tiny_encoder_dir), num_labels=1, device="cpu").save(str(folder))
    return folder


# ---------------------------------------------------------------- 1. a cross-encoder is not an embedder


@pytest.mark.parametrize("command", [["embed", "hola", "--json"], ["similarity", "hola", "mundo"],
                                     ["paraphrases", "hola", "mundo"]])
def test_a_cross_encoder_folder_is_refused_as_an_embedding_model(cli, cross_encoder_dir, command):
    err = assert_bad_input(cli(*command, "-m", cross_encoder_dir))
    assert "is a cross-encoder" in err and "frasi eval sts --model" in err


def test_a_cross_encoder_is_refused_in_python_and_loads_as_a_scorer(cross_encoder_dir):
    with pytest.raises(InputError, match="is a cross-encoder: it scores sentence pairs"):
        Encoder.load(cross_encoder_dir)
    from frasi.train import load_scorer

    assert load_scorer(cross_encoder_dir).architecture == "cross-encoder"


def test_eval_sts_scores_a_cross_encoder_by_its_own_score(cli, cross_encoder_dir, tmp_path):
    pairs = tmp_path / "sts.csv"
    pairs.write_text("sentence1,sentence2,score\nhola mundo,ciao mondo,4.0\nel gato,the dog,1.0\n"
                     "la casa,la casa,5.0\nbuenos días,the cat,0.5\n", encoding="utf-8")
    result = assert_ok(cli("eval", "sts", pairs, "-m", cross_encoder_dir, "--json", "--bootstrap", "0"))
    assert result.json["primary_metric"] == "spearman_score"
    assert result.json["protocol"]["architecture"] == "cross-encoder"
    err = assert_bad_input(cli("eval", "sts", pairs, "-m", cross_encoder_dir, "--prompt", "query: "))
    assert "drop --prompt" in err


def test_a_classifier_folder_is_refused_as_an_embedding_model(cli, tmp_path):
    folder = tmp_path / "clf"
    folder.mkdir()
    (folder / "classifier.json").write_text("{}", encoding="utf-8")
    err = assert_bad_input(cli("embed", "hola", "--json", "-m", folder))
    assert "is a frasi classifier folder" in err and "frasi classify predict" in err


# ---------------------------------------------------------------- 2. text that cannot be UTF-8


def test_a_lone_surrogate_is_bad_input_in_python(tiny_st_dir):
    encoder = Encoder.load(tiny_st_dir)
    with pytest.raises(InputError, match=r"text at index 1 is not valid Unicode text: it holds '\\ud800'"):
        encoder.encode(["hola", "mundo \ud800"])
    with pytest.raises(InputError, match="not valid Unicode"):
        encoder.encode("\udcff")


def test_a_lone_surrogate_in_jsonl_names_the_row(cli, tiny_st_dir, tmp_path):
    data = tmp_path / "t.jsonl"
    data.write_text('{"text": "hola"}\n{"text": "\\ud800 mundo"}\n', encoding="utf-8")
    err = assert_bad_input(cli("embed", "-f", data, "-m", tiny_st_dir, "-o", tmp_path / "e.npy"))
    assert f"{data} row 2: column 'text' is not valid Unicode text" in err
    assert not (tmp_path / "e.npy").exists()


def test_a_non_utf8_argument_is_bad_input_end_to_end(tiny_st_dir, tmp_path):
    script = "import sys; from frasi.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", script, "embed", b"caf\xe9", "-m", str(tiny_st_dir), "--json"],
                          capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120,
                          check=False)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr
    assert stderr.splitlines() == [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert "not valid Unicode text" in stderr and "Traceback" not in stderr


# ---------------------------------------------------------------- 4. a damaged cache


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = len(data) - 2 * 16384  # a page of vectors, past the schema and the counters
    data[start : start + 8000] = b"Z" * 8000
    path.write_bytes(bytes(data))


def test_cache_info_reports_a_damaged_database_and_clear_says_it_deleted_it(cli, tiny_st_dir, tmp_path,
                                                                             _private_frasi_cache):
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(f"hola mundo {i}" for i in range(200)) + "\n", encoding="utf-8")
    assert_ok(cli("embed", "-f", texts, "-m", tiny_st_dir, "-o", tmp_path / "e.npy", "-q"))
    database = _private_frasi_cache / "embeddings" / "embeddings.sqlite"
    _damage(database)
    info = assert_ok(cli("cache", "info", "--json")).json
    assert info["healthy"] is False and "malformed" in info["problem"]
    shown = assert_ok(cli("cache", "info"))
    assert "DAMAGED (database disk image is malformed)" in shown.out and "'frasi cache clear'" in shown.out
    cleared = assert_ok(cli("cache", "clear"))
    assert cleared.err_lines == [f"deleted the damaged embedding cache {database} (database disk image is "
                                 "malformed); the next command starts a new one"]
    assert not database.exists()
    assert assert_ok(cli("cache", "info", "--json")).json["healthy"] is True


# ---------------------------------------------------------------- 5. an interrupted training


def test_an_interrupted_training_says_how_to_resume(cli, tiny_st_dir, tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    from frasi.train import run as run_module

    data = tmp_path / "train.csv"
    rows = ["sentence1,sentence2,score"] + [f"hola {i},ciao {i},{i % 5}" for i in range(12)]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")

    def interrupted(*args, **kwargs):  # Ctrl-C after the checkpoints were written
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_result", interrupted)
    out = tmp_path / "model"
    monkeypatch.setattr(sys, "argv", ["frasi", "train", "architecture", str(data), "--arch", "siamese", "-o",
                                      str(out), "-m", str(tiny_st_dir), "--max-steps", "2", "--threads", "1"])
    result = cli(*sys.argv[1:])
    assert result.code == 130
    assert result.err_lines[-2:] == [
        f"kept the checkpoints in {out}.partial; to continue from the last one, run: frasi train architecture "
        f"{data} --arch siamese -o {out} -m {tiny_st_dir} --max-steps 2 --threads 1 --resume", "interrupted"]


# ---------------------------------------------------------------- 7. Excel's ;-separated CSV


def test_a_semicolon_separated_csv_is_read_by_its_header(tmp_path, cli, tiny_st_dir):
    table = tmp_path / "frasi.csv"
    table.write_text("testo;etichetta\nciao, mondo;1\nbuongiorno;0\n", encoding="utf-8")
    assert read_texts(table, column="testo") == ["ciao, mondo", "buongiorno"]
    result = assert_ok(cli("embed", "-f", table, "-c", "testo", "-m", tiny_st_dir, "--json", "--no-cache"))
    assert [e["text"] for e in result.json["embeddings"]] == ["ciao, mondo", "buongiorno"]
    plain = tmp_path / "plain.csv"
    plain.write_text("text\nuno; dos\ntres\n", encoding="utf-8")  # one column whose texts hold semicolons
    assert read_texts(plain) == ["uno; dos", "tres"]


# ---------------------------------------------------------------- 8. what reaches the terminal


def test_escape_sequences_in_texts_do_not_reach_the_terminal(cli, tiny_st_dir):
    result = assert_ok(cli("similarity", "hola \x1b[31mrojo", "mundo \x1b]0;title\x07", "-m", tiny_st_dir))
    assert "\x1b" not in result.out and "\x07" not in result.out
    assert "\\x1b[31m" in result.out and "\\x07" in result.out
    as_json = assert_ok(cli("similarity", "hola \x1b[31mrojo", "mundo", "-m", tiny_st_dir, "--json")).json
    assert as_json["query"] == "hola \x1b[31mrojo"  # JSON keeps the text as it is (escaped by JSON itself)


def test_embed_says_when_it_replaced_an_existing_file(cli, tiny_st_dir, tmp_path):
    target = tmp_path / "e.npy"
    first = assert_ok(cli("embed", "hola", "-m", tiny_st_dir, "-o", target))
    assert "(replaced the existing file)" not in first.err_lines[-1]
    second = assert_ok(cli("embed", "hola", "-m", tiny_st_dir, "-o", target))
    assert f"-> {target} (replaced the existing file); backend: torch" in second.err_lines[-1]
    assert np.load(target).shape == (1, 32)


def test_int8_without_calibration_does_not_suggest_a_missing_flag(cli, tiny_st_dir, tmp_path):
    err = assert_bad_input(cli("embed", "hola", "--precision", "int8", "-m", tiny_st_dir, "-o", tmp_path / "e.npy"))
    assert "at least 2 texts" in err and "--calibration" not in err


def test_parquet_and_heatmap_examples_name_their_extras():
    page = (Path(__file__).resolve().parents[1] / "docs" / "commands.md").read_text(encoding="utf-8")
    assert "frasi[parquet]" in page and "frasi[plot]" in page
