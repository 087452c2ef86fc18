"""frasi eval sts: table, JSON, report file, and data errors before the model loads."""

from __future__ import annotations

import json

import pytest

from frasi.cli import main

PAIRS = [
    ("el gato duerme", "il gatto dorme", 4.6), ("hola mundo", "ciao mondo", 4.2),
    ("the cat sleeps", "the dog sleeps", 2.5), ("buenos días", "buongiorno", 4.8),
    ("el perro sobre el sofá", "hello world", 0.2), ("the house", "la casa", 4.0),
    ("how are you", "come stai", 4.4), ("good morning", "the cat is a dog", 0.4),
]


@pytest.fixture()
def sts_csv(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("".join(f'"{a}","{b}",{s}\r\n' for a, b, s in PAIRS), encoding="utf-8")
    return path


def test_eval_sts_json_has_metrics_intervals_and_protocol(sts_csv, tiny_st_dir, tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(["eval", "sts", str(sts_csv), "--model", str(tiny_st_dir), "--bootstrap", "200", "--seed", "3",
                 "-o", str(report), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["primary_metric"] == "spearman_cosine"
    assert set(result["metrics"]) >= {"spearman_cosine", "pearson_cosine", "spearman_dot", "spearman_euclidean",
                                      "spearman_manhattan"}
    low, high = result["ci"]["spearman_cosine"]
    assert low <= result["metrics"]["spearman_cosine"] <= high
    assert result["n"] == len(PAIRS)
    assert json.loads(report.read_text()) == result


def test_eval_sts_prints_a_table(sts_csv, tiny_st_dir, capsys):
    assert main(["eval", "sts", str(sts_csv), "--model", str(tiny_st_dir), "--bootstrap", "0"]) == 0
    captured = capsys.readouterr()
    assert "Spearman" in captured.out and "cosine *" in captured.out
    assert "primary metric spearman_cosine" in captured.err


@pytest.mark.parametrize("content, message", [
    ('"a","b",1\r\n"c","d",nan\r\n"e","f",2\r\n', "score is nan"),
    ('"a","b",1\r\n', "at least 2"),
    ("sentence1,sentence2,gold\na,b,x\nc,d,2\n", "score"),
])
def test_eval_sts_data_errors_come_before_the_model(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["eval", "sts", str(path), "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.real
def test_eval_sts_on_a_real_model_ranks_paraphrases(minilm, tmp_path, capsys):
    pairs = [
        ("A man is playing a guitar.", "A person plays the guitar.", 4.8),
        ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.6),
        ("A dog runs in the park.", "A dog is running on the grass.", 3.8),
        ("The stock market fell today.", "A cat sleeps on the sofa.", 0.0),
        ("Two kids play football.", "Children are playing soccer.", 4.2),
        ("A plane is taking off.", "A man is eating pasta.", 0.2),
        ("The sun is shining.", "It is a sunny day.", 4.0),
        ("He is reading a book.", "The train is late.", 0.4),
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"sentence1": a, "sentence2": b, "score": s}) + "\n" for a, b, s in pairs),
                    encoding="utf-8")
    assert main(["eval", "sts", str(path), "--model", "all-MiniLM-L6-v2", "--bootstrap", "100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["spearman_cosine"] > 80
