"""frasi classify train / predict / evaluate and frasi sentiment, in-process through main()."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from frasi.cli import main
from test_classify import LABELS, TEXTS


def write_csv(path: Path, rows: list[tuple[str, object]], header=("text", "label")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def data(tmp_path) -> Path:
    return write_csv(tmp_path / "train.csv", list(zip(TEXTS, LABELS)) * 2)


def run_json(capsys, args: list[str]) -> object:
    code = main(args + ["--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_train_writes_classifier_report_and_confusion_plot(data, tiny_st_dir, tmp_path, capsys):
    out = tmp_path / "clf"
    report = run_json(capsys, ["classify", "train", str(data), "-o", str(out), "--model", str(tiny_st_dir),
                               "--head", "logistic", "--C", "0.1,10", "--cv", "2", "--test-size", "0.25"])
    assert sorted(p.name for p in out.iterdir()) == ["classifier.json", "confusion.png", "head.npz", "report.json"]
    assert report["n_train"] == 30 and report["n_test"] == 10 and report["C"] in (0.1, 10.0)
    assert report["classes"] == ["animal", "greeting"]
    assert 0 <= report["test"]["macro_f1"] <= 1 and set(report["test"]["per_class"]) == {"animal", "greeting"}
    assert report["baseline"]["name"].startswith("TF-IDF")
    saved = json.loads((out / "report.json").read_text())
    assert saved["test"] == report["test"]
    assert (out / "confusion.png").read_bytes().startswith(b"\x89PNG")


def test_predict_and_evaluate_load_the_saved_folder(data, tiny_st_dir, tmp_path, capsys):
    out = tmp_path / "clf"
    test_file = write_csv(tmp_path / "test.csv", list(zip(TEXTS, LABELS)))
    run_json(capsys, ["classify", "train", str(data), "-o", str(out), "--model", str(tiny_st_dir),
                      "--head", "logistic", "--C", "10", "--test", str(test_file), "--no-baseline"])
    records = run_json(capsys, ["classify", "predict", str(out), "hola mundo", "the cat sleeps"])
    assert [r["label"] for r in records] == ["greeting", "animal"]
    assert set(records[0]["probabilities"]) == {"animal", "greeting"}
    preds = tmp_path / "preds.csv"
    assert main(["classify", "predict", str(out), "--file", str(test_file), "--column", "text", "-o", str(preds)]) == 0
    with preds.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(TEXTS) and set(rows[0]) == {"text", "label", "p_animal", "p_greeting"}
    scored = run_json(capsys, ["classify", "evaluate", str(out), str(test_file)])
    assert scored["n"] == len(TEXTS) and scored["test"]["accuracy"] == 1.0
    renamed = write_csv(tmp_path / "renamed.csv", list(zip(TEXTS, LABELS)), header=("testo", "label"))
    for option in ("--text-col", "--column"):  # --column, as in embed and predict, names the same option
        again = run_json(capsys, ["classify", "evaluate", str(out), str(renamed), option, "testo"])
        assert again["test"] == scored["test"]


def test_train_reads_the_two_file_layout_with_label_names(tiny_st_dir, tmp_path, capsys):
    folder = tmp_path / "umsab"
    folder.mkdir()
    numeric = ["0" if y == "animal" else "2" for y in LABELS]
    for split in ("train", "test"):
        (folder / f"{split}_text.txt").write_text("\n".join(TEXTS * 2) + "\n", encoding="utf-8")
        (folder / f"{split}_labels.txt").write_text("\n".join(numeric * 2) + "\n", encoding="utf-8")
    report = run_json(capsys, ["classify", "train", str(folder), "--test", str(folder), "-o", str(tmp_path / "c"),
                               "--model", str(tiny_st_dir), "--label-names", "0=negative,2=positive",
                               "--no-baseline"])
    assert report["classes"] == ["negative", "positive"] and report["n_test"] == 40


@pytest.mark.parametrize("make, args, message", [
    (lambda p: write_csv(p / "d.csv", [(t, "a") for t in TEXTS]), [], "only one class"),
    (lambda p: write_csv(p / "d.csv", [(t, y) for t, y in zip(TEXTS, LABELS)], header=("text", "y")), [],
     "label"),
    (lambda p: write_csv(p / "d.csv", [(t, 1.5) for t in TEXTS]), [], "strings or integers"),
    (lambda p: write_csv(p / "d.csv", list(zip(TEXTS, LABELS))), ["--C", "x"], "--C expects"),
    (lambda p: write_csv(p / "d.csv", list(zip(TEXTS, LABELS))), ["--head", "nope"], "unknown head"),
    (lambda p: write_csv(p / "d.csv", list(zip(TEXTS, LABELS))), ["--label-names", "0"], "--label-names"),
])
def test_train_errors_are_one_line_and_write_nothing(tiny_st_dir, tmp_path, capsys, make, args, message):
    data = make(tmp_path)
    out = tmp_path / "clf"
    code = main(["classify", "train", str(data), "-o", str(out), "--model", str(tiny_st_dir)] + args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_train_refuses_an_existing_output_before_loading_anything(data, tmp_path, capsys):
    out = tmp_path / "clf"
    out.mkdir()
    (out / "keep").write_text("x")
    assert main(["classify", "train", str(data), "-o", str(out), "--model", "no-such-model"]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_evaluate_rejects_unseen_labels(data, tiny_st_dir, tmp_path, capsys):
    out = tmp_path / "clf"
    run_json(capsys, ["classify", "train", str(data), "-o", str(out), "--model", str(tiny_st_dir), "--no-baseline"])
    other = write_csv(tmp_path / "other.csv", [(t, "bird") for t in TEXTS[:3]] + [(TEXTS[3], "animal")])
    assert main(["classify", "evaluate", str(out), str(other)]) == 2
    assert "'bird' were not in the training data" in capsys.readouterr().err


def test_predict_on_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["classify", "predict", str(tmp_path / "nope"), "hola"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.real
def test_sentiment_labels_clear_sentences_in_three_languages(capsys, e5_dir, monkeypatch):
    monkeypatch.setenv("FRASI_CACHE", str(e5_dir.parent.parent))
    texts = {
        "¡Me encanta este lugar, todo estuvo perfecto!": "positive",
        "Odio este lugar, es horrible.": "negative",
        "Che bella giornata, sono felicissimo!": "positive",
        "Che schifo, il peggior film che abbia mai visto.": "negative",
        "I absolutely love this, best day ever!": "positive",
        "This is terrible, I hate it so much.": "negative",
    }
    records = run_json(capsys, ["sentiment", *texts])
    assert [r["label"] for r in records] == list(texts.values())
    for record in records:
        assert set(record["probabilities"]) == {"negative", "neutral", "positive"}
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-4
