"""The ``frasi`` command line, run as a user runs it.

Most tests call ``frasi.cli.main([...])`` in-process (it returns the exit code) with the
tiny BERT model of conftest; a few run the real executable in a subprocess to prove exit
codes and "no traceback" end to end, and a few use the real packaged all-MiniLM-L6-v2
(marked ``real``). Conventions checked everywhere: exit 0 on success, exit 2 with exactly
one ``error: ...`` line on bad input (usage errors too), never a traceback, and no
output file left behind by a failed command.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from frasi.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY = re.compile(
    r"^embedded (\d+) texts, dim (\d+) \((\w+)\), ([\d.]+) s, ([\d.]+) texts/s(, \d+ truncated)? -> (.+); "
    r"backend: (\S+)( \(.*\))?$"
)


# ---------------------------------------------------------------- helpers and fixtures


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _restore_frasi_logging():
    """main() installs a handler on the "frasi" logger and stops propagation: undo it after
    each test so that caplog-based tests in other files still see frasi's records."""
    root = logging.getLogger("frasi")
    saved = (root.handlers[:], root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved


@pytest.fixture
def cli(capsys):
    """Run ``frasi ARGS...`` in-process; return its exit code, stdout and stderr."""

    def run(*args) -> Result:
        capsys.readouterr()  # drop anything printed by fixtures
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def tiny(tiny_st_dir) -> str:
    """The tiny sentence-transformers folder (dim 32, max_length 64, mean pooling, not normalised)."""
    return str(tiny_st_dir)


@pytest.fixture
def outdir(tmp_path) -> Path:
    """An empty folder for outputs: a failed command must leave it empty."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def assert_ok(result: Result) -> Result:
    assert result.code == 0, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    return result


def assert_bad_input(result: Result) -> str:
    """Exit 2, no traceback, and on stderr exactly one "error:" line (usage errors included)."""
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    lines = result.err_lines
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), result.err
    return result.err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


TEXTS = ["hola mundo", "ciao mondo", "el gato duerme sobre el sofá", "il cane dorme sul divano"]


# ---------------------------------------------------------------- models


def test_models_lists_both_packaged_models(cli):
    result = assert_ok(cli("models"))
    assert "multilingual-e5-small (default)" in result.out
    assert "all-MiniLM-L6-v2" in result.out
    assert result.err == ""


def test_models_json(cli, _private_frasi_cache):
    payload = assert_ok(cli("models", "--json")).json
    assert payload["default"] == "multilingual-e5-small"
    assert payload["cache"] == str(_private_frasi_cache)
    by_name = {m["name"]: m for m in payload["models"]}
    assert set(by_name) == {"multilingual-e5-small", "all-MiniLM-L6-v2"}
    assert by_name["all-MiniLM-L6-v2"]["status"] == "ready"
    assert Path(by_name["all-MiniLM-L6-v2"]["location"], "modules.json").is_file()
    # listing converts nothing: the private cache is empty
    assert by_name["multilingual-e5-small"]["status"] == "converts on first use"
    assert not any(_private_frasi_cache.iterdir())
    for model in payload["models"]:
        assert set(model) == {"name", "source", "status", "location", "description"}


# ---------------------------------------------------------------- tokenize


def test_tokenize_prints_tokens_ids_decoded_count(cli, tiny):
    result = assert_ok(cli("tokenize", "hola mundo", "-m", tiny))
    lines = result.out.splitlines()
    assert lines[0] == "hola mundo"
    assert "tokens:    ['[CLS]', 'hola', 'mundo', '[SEP]']" in result.out
    assert re.search(r"ids:\s+\[2, \d+, \d+, 3\]", result.out)
    assert "decoded:   hola mundo" in result.out
    assert "count:     4 tokens; token embeddings 4 x 32" in result.out
    assert "prompt:" not in result.out  # the tiny model has no prompt


def test_tokenize_json(cli, tiny):
    long_text = " ".join(["gato"] * 100)
    payload = assert_ok(cli("tokenize", "hola mundo", long_text, "-m", tiny, "--json")).json
    assert isinstance(payload, list) and len(payload) == 2
    short, long_ = payload
    assert set(short) == {"text", "prompt", "tokens", "ids", "decoded", "n_tokens", "max_length",
                          "truncated", "embedding_shape"}
    assert short["text"] == "hola mundo"
    assert short["prompt"] == ""
    assert short["tokens"] == ["[CLS]", "hola", "mundo", "[SEP]"]
    assert len(short["ids"]) == 4 and short["ids"][0] == 2 and short["ids"][-1] == 3
    assert short["decoded"] == "hola mundo"
    assert short["n_tokens"] == 4 and short["max_length"] == 64 and short["truncated"] is False
    assert short["embedding_shape"] == [4, 32]
    assert long_["n_tokens"] == 102 and long_["truncated"] is True
    assert len(long_["tokens"]) == 64 and long_["tokens"][-1] == "[SEP]"
    assert long_["embedding_shape"] == [64, 32]


def test_tokenize_explicit_prompt_and_file(cli, tiny, tmp_path):
    texts = write(tmp_path / "t.txt", "hola\n\nmundo\n")
    payload = assert_ok(cli("tokenize", "-f", texts, "-m", tiny, "--prompt", "hola ", "--json")).json
    assert [p["text"] for p in payload] == ["hola", "mundo"]  # blank lines skipped
    assert payload[1]["prompt"] == "hola "
    assert payload[1]["tokens"] == ["[CLS]", "hola", "mundo", "[SEP]"]


# ---------------------------------------------------------------- embed


def test_embed_npy_with_summary_on_stderr(cli, tiny, outdir):
    target = outdir / "emb.npy"
    result = assert_ok(cli("embed", *TEXTS, "-m", tiny, "-o", target))
    assert result.out == ""
    vectors = np.load(target)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert len(result.err_lines) == 1
    match = SUMMARY.match(result.err_lines[0])
    assert match, result.err
    count, dim, dtype, seconds, rate, truncated, output, backend, note = match.groups()
    assert (int(count), int(dim), dtype, output, backend, note) == (4, 32, "float32", str(target), "torch", None)
    assert float(seconds) >= 0 and float(rate) > 0 and truncated is None
    assert sorted(os.listdir(outdir)) == ["emb.npy"]  # no temp file left


def test_embed_matches_the_library(cli, tiny, outdir):
    import frasi

    target = outdir / "emb.npy"
    assert_ok(cli("embed", *TEXTS, "-m", tiny, "-o", target, "-q"))
    expected = frasi.Encoder.load(tiny).encode(TEXTS)
    np.testing.assert_allclose(np.load(target), expected, atol=1e-5)


def test_embed_parquet(cli, tiny, outdir):
    pq = pytest.importorskip("pyarrow.parquet")
    target = outdir / "emb.parquet"
    assert_ok(cli("embed", *TEXTS, "-m", tiny, "-o", target, "-q"))
    table = pq.read_table(target)
    assert table.column_names == ["text", "embedding"]
    assert table.column("text").to_pylist() == TEXTS
    vectors = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert vectors.shape == (4, 32)


def test_embed_jsonl_from_csv_column(cli, tiny, tmp_path, outdir):
    source = tmp_path / "in.csv"
    with open(source, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "body"])
        writer.writerows([[i, t] for i, t in enumerate(TEXTS)])
    target = outdir / "emb.jsonl"
    assert_ok(cli("embed", "-f", source, "-c", "body", "-m", tiny, "-o", target))
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == TEXTS
    assert all(set(r) == {"text", "embedding"} and len(r["embedding"]) == 32 for r in records)


def test_embed_json_prints_vectors(cli, tiny):
    result = assert_ok(cli("embed", "hola mundo", "[1] ciao", "-m", tiny, "--json"))
    payload = result.json
    assert payload["count"] == 2 and payload["dim"] == 32 and payload["dtype"] == "float32"
    assert payload["output"] is None and payload["model"] == Path(tiny).name
    assert payload["truncated"] == 0
    assert payload["seconds"] >= 0 and payload["texts_per_second"] > 0
    assert [e["text"] for e in payload["embeddings"]] == ["hola mundo", "[1] ciao"]
    assert all(len(e["embedding"]) == 32 for e in payload["embeddings"])
    assert result.err == ""  # --json replaces the summary line


def test_embed_json_with_output_prints_summary_only(cli, tiny, outdir):
    target = outdir / "emb.npy"
    payload = assert_ok(cli("embed", *TEXTS, "-m", tiny, "-o", target, "--json")).json
    assert payload["output"] == str(target) and "embeddings" not in payload
    assert np.load(target).shape == (4, 32)


def test_embed_quiet_prints_nothing(cli, tiny, outdir):
    result = assert_ok(cli("embed", *TEXTS, "-m", tiny, "-o", outdir / "e.npy", "--quiet"))
    assert result.out == "" and result.err == ""


@pytest.mark.parametrize("precision, dtype, dim", [("int8", np.int8, 32), ("uint8", np.uint8, 32),
                                                   ("binary", np.int8, 4), ("ubinary", np.uint8, 4)])
def test_embed_precision(cli, tiny, outdir, precision, dtype, dim):
    target = outdir / "emb.npy"
    assert_ok(cli("embed", *TEXTS, "-m", tiny, "-o", target, "--precision", precision, "-q"))
    vectors = np.load(target)
    assert vectors.dtype == dtype and vectors.shape == (4, dim)


def test_embed_normalize_and_batch_size(cli, tiny, tiny_encoder_dir, outdir):
    # the plain HF folder does not normalise by itself
    target = outdir / "emb.npy"
    assert_ok(cli("embed", *TEXTS, "-m", tiny_encoder_dir, "-o", target, "--normalize", "--batch-size", "1",
                  "-q"))
    assert np.allclose(np.linalg.norm(np.load(target), axis=1), 1, atol=1e-5)


def test_embed_reports_truncation(cli, tiny, outdir):
    long_text = " ".join(["gato"] * 100)
    result = assert_ok(cli("embed", "hola", long_text, "-m", tiny, "-o", outdir / "e.npy"))
    assert SUMMARY.match(result.err_lines[-1]).group(6) == ", 1 truncated"
    assert "--long-texts chunk" in " ".join(result.err.split())  # the warning names the fix


def test_embed_long_texts_chunk_tiny(cli, tiny, outdir):
    """The default chunk overlap fits a model with a short maximum length (64 here)."""
    long_text = " ".join(["gato", "perro", "casa"] * 40)
    truncated, chunked = outdir / "t.npy", outdir / "c.npy"
    assert_ok(cli("embed", "hola", long_text, "-m", tiny, "-o", truncated, "-q"))
    result = assert_ok(cli("embed", "hola", long_text, "-m", tiny, "-o", chunked, "--long-texts", "chunk"))
    assert "truncated" not in result.err
    a, b = np.load(truncated), np.load(chunked)
    assert a.shape == b.shape == (2, 32)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    assert not np.allclose(a[1], b[1], atol=1e-4)


def test_embed_int8_single_text_is_bad_input(cli, tiny, outdir):
    err = assert_bad_input(cli("embed", "hola", "-m", tiny, "-o", outdir / "e.npy", "--precision", "int8"))
    assert "at least 2 texts" in err
    assert not any(outdir.iterdir())


@pytest.mark.real
def test_embed_long_texts_chunk_minilm(cli, outdir):
    long_text = "The cat sleeps on the warm sofa in the afternoon. " * 60  # ~700 tokens > 256
    truncated, chunked = outdir / "t.npy", outdir / "c.npy"
    result = assert_ok(cli("embed", "short text", long_text, "-m", "all-MiniLM-L6-v2", "-o", truncated))
    assert ", 1 truncated" in result.err
    result = assert_ok(cli("embed", "short text", long_text, "-m", "all-MiniLM-L6-v2", "-o", chunked,
                           "--long-texts", "chunk"))
    assert "truncated" not in result.err
    a, b = np.load(truncated), np.load(chunked)
    assert a.shape == b.shape == (2, 384)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)  # a short text is one chunk
    assert not np.allclose(a[1], b[1], atol=1e-4)
    assert np.isclose(np.linalg.norm(b[1]), 1, atol=1e-5)  # MiniLM normalises; so does the average


@pytest.mark.real
def test_embed_default_model_is_e5(cli, e5_dir, frasi_cache, monkeypatch, outdir):
    """No --model: the default multilingual-e5-small, found already converted in the cache."""
    monkeypatch.setenv("FRASI_CACHE", str(frasi_cache))
    target = outdir / "e.npy"
    payload = assert_ok(cli("embed", "Hola, ¿qué tal?", "Ciao, come stai?", "-o", target, "--json")).json
    assert payload["model"] == "multilingual-e5-small" and payload["dim"] == 384
    assert np.load(target).shape == (2, 384)
    info = assert_ok(cli("tokenize", "Hola", "--json")).json[0]
    assert info["prompt"] == "query: " and info["max_length"] == 512


# ---------------------------------------------------------------- similarity


def test_similarity_ranks_query_against_texts(cli, tiny):
    payload = assert_ok(cli("similarity", "hola mundo", "ciao mondo", "el gato", "hola mundo", "la casa",
                            "-m", tiny, "--json")).json
    assert payload["query"] == "hola mundo" and payload["metric"] == "cosine"
    results = payload["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert results[0]["text"] == "hola mundo" and results[0]["score"] == pytest.approx(1, abs=1e-5)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert sorted(r["text"] for r in results) == ["ciao mondo", "el gato", "hola mundo", "la casa"]


def test_similarity_table(cli, tiny):
    result = assert_ok(cli("similarity", "hola", "[1] hola", "mundo", "-m", tiny))
    assert "cosine similarity to: hola" in result.out
    assert "[1] hola" in result.out  # no rich markup on user texts
    assert result.err == ""


def test_similarity_batch_size_reaches_encode_and_changes_nothing_else(cli, tiny, monkeypatch):
    import frasi

    seen, encode = [], frasi.Encoder.encode

    def spy(self, texts, **options):
        seen.append(options.get("batch_size"))
        return encode(self, texts, **options)

    monkeypatch.setattr(frasi.Encoder, "encode", spy)
    texts = ["hola mundo", "ciao mondo", "el gato duerme", "the cat", "la casa"]
    one = assert_ok(cli("similarity", *texts, "-m", tiny, "--batch-size", "1", "--no-cache", "--json")).json
    many = assert_ok(cli("similarity", *texts, "-m", tiny, "--batch-size", "64", "--no-cache", "--json")).json
    assert seen == [1, 64]
    assert [r["text"] for r in one["results"]] == [r["text"] for r in many["results"]]
    np.testing.assert_allclose([r["score"] for r in one["results"]], [r["score"] for r in many["results"]], atol=1e-5)


def test_similarity_top_k(cli, tiny):
    payload = assert_ok(cli("similarity", "hola", "mundo", "gato", "casa", "hola", "-m", tiny, "-k", "2",
                            "--json")).json
    assert len(payload["results"]) == 2 and payload["results"][0]["text"] == "hola"


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_similarity_metrics(cli, tiny, metric):
    import frasi

    candidates = ["el gato", "hola mundo", "la casa"]
    payload = assert_ok(cli("similarity", "hola mundo", *candidates, "-m", tiny, "--metric", metric,
                            "--json")).json
    assert payload["metric"] == metric
    results = payload["results"]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    vectors = frasi.Encoder.load(tiny).encode(["hola mundo", *candidates])
    if metric == "dot":
        expected = vectors[1:] @ vectors[0]
    else:  # negative distances: 0 for the identical text, which ranks first
        expected = -np.linalg.norm(vectors[1:] - vectors[0], axis=1)
        assert results[0]["text"] == "hola mundo" and scores[0] == pytest.approx(0, abs=1e-3)
        assert all(s <= 1e-6 for s in scores)
    by_text = {r["text"]: r["score"] for r in results}
    np.testing.assert_allclose([by_text[t] for t in candidates], expected, rtol=1e-4, atol=1e-4)


def test_similarity_file_with_query(cli, tiny, tmp_path):
    texts = write(tmp_path / "t.txt", "ciao mondo\nhola mundo\nla casa\n")
    payload = assert_ok(cli("similarity", "-f", texts, "--query", "hola mundo", "-m", tiny, "--json")).json
    assert payload["query"] == "hola mundo" and payload["results"][0]["text"] == "hola mundo"


def test_similarity_ranking_output_says_where_it_wrote(cli, tiny, outdir):
    table, png = outdir / "rank.csv", outdir / "rank.png"
    result = assert_ok(cli("similarity", "hola", "mundo", "hola", "-m", tiny, "-o", table))
    with open(table, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["rank"] for r in rows] == ["1", "2"] and rows[0]["text"] == "hola"
    assert result.err_lines[-1] == f"wrote {table}"
    again = assert_ok(cli("similarity", "hola", "mundo", "-m", tiny, "-o", table))
    assert again.err_lines[-1] == f"wrote {table} (replaced the existing file)"
    err = assert_bad_input(cli("similarity", "hola", "mundo", "-m", tiny, "--heatmap", png))
    assert "--heatmap draws the similarity matrix" in err and "--matrix" in err and not png.exists()


def test_similarity_matrix_json(cli, tiny):
    payload = assert_ok(cli("similarity", *TEXTS, "--matrix", "-m", tiny, "--json")).json
    assert payload["texts"] == TEXTS and payload["metric"] == "cosine"
    scores = np.array(payload["scores"])
    assert scores.shape == (4, 4)
    np.testing.assert_allclose(scores, scores.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(scores), 1, atol=1e-5)


def test_an_output_never_replaces_its_input(cli, tiny, tmp_path):
    source = write(tmp_path / "in.jsonl", '{"text": "hola"}\n{"text": "mundo"}\n')
    before = source.read_bytes()
    err = assert_bad_input(cli("embed", "--file", source, "-o", source, "-m", tiny, "--no-cache"))
    assert "is the input file" in err and source.read_bytes() == before
    err = assert_bad_input(cli("search", "hola", "--corpus", source, "-o", source, "-m", tiny, "--no-cache"))
    assert "is the input file" in err and source.read_bytes() == before


def test_similarity_matrix_json_keeps_repeated_texts(cli, tiny, outdir):
    records = outdir / "m.json"
    assert_ok(cli("similarity", "text", "uno", "uno", "--matrix", "-m", tiny, "-o", records, "-q"))
    data = json.loads(records.read_text(encoding="utf-8"))
    assert [d["text"] for d in data] == ["text", "uno", "uno"] and all(len(d["scores"]) == 3 for d in data)


def test_tsv_outputs_round_trip_quotes_and_refuse_tabs(cli, tiny, outdir):
    ranked = outdir / "r.tsv"
    assert_ok(cli("similarity", "hola", 'el "gato"', "b", "-m", tiny, "-o", ranked, "-q", "--no-cache"))
    from frasi.io import read_table

    assert {r["text"] for r in read_table(ranked)[1]} == {'el "gato"', "b"}
    err = assert_bad_input(cli("similarity", "hola", "a\tb", "c", "-m", tiny, "-o", outdir / "t.tsv", "-q"))
    assert "holds a tab or a line break" in err and not (outdir / "t.tsv").exists()


def test_sigterm_exits_143_and_cleans_up(cli, tiny, outdir, monkeypatch):
    import os
    import signal
    import time

    real_save = np.save

    def killed_while_writing(file, array, **kwargs):
        real_save(file, array, **kwargs)  # the temporary file now holds the vectors
        assert list(outdir.iterdir())
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this

    monkeypatch.setattr(np, "save", killed_while_writing)
    result = cli("embed", "hola", "-m", tiny, "-o", outdir / "e.npy", "--no-cache")
    assert result.code == 143 and "terminated" in result.err and not list(outdir.iterdir())
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the command


def test_similarity_matrix_table(cli, tiny):
    result = assert_ok(cli("similarity", *TEXTS, "--matrix", "-m", tiny))
    assert "cosine similarity" in result.out and "1.000" in result.out


def test_similarity_matrix_outputs(cli, tiny, outdir):
    npy, table, records, png = outdir / "m.npy", outdir / "m.csv", outdir / "m.json", outdir / "m.png"
    assert_ok(cli("similarity", *TEXTS, "--matrix", "-m", tiny, "-o", npy, "--heatmap", png, "-q"))
    assert_ok(cli("similarity", *TEXTS, "--matrix", "-m", tiny, "-o", table, "-q"))
    assert_ok(cli("similarity", *TEXTS, "--matrix", "-m", tiny, "-o", records, "-q"))
    matrix = np.load(npy)
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(np.diag(matrix), 1, atol=1e-5)
    with open(table, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["text", *TEXTS] and [r[0] for r in rows[1:]] == TEXTS
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], dtype=float), matrix, atol=1e-5)
    data = json.loads(records.read_text(encoding="utf-8"))
    assert [d["text"] for d in data] == TEXTS
    np.testing.assert_allclose([d["scores"] for d in data], matrix, atol=1e-5)
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000
    assert sorted(os.listdir(outdir)) == ["m.csv", "m.json", "m.npy", "m.png"]


@pytest.mark.real
def test_similarity_ranks_by_meaning_minilm(cli):
    payload = assert_ok(cli("similarity", "A cat is sleeping on the couch.",
                            "The stock market fell sharply today.",
                            "The kitten naps on the sofa.",
                            "I like to play football on Sundays.",
                            "-m", "all-MiniLM-L6-v2", "--json")).json
    results = payload["results"]
    assert results[0]["text"] == "The kitten naps on the sofa."
    assert results[0]["score"] > results[1]["score"] + 0.2


# ---------------------------------------------------------------- search


@pytest.fixture
def corpus_csv(tmp_path) -> Path:
    path = tmp_path / "corpus.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "body"])
        writer.writerows([[i, t] for i, t in enumerate(["hola mundo", "el gato duerme", "la casa", "ciao mondo",
                                                          "il cane", "buenos días"])])
    return path


def test_search_txt_corpus(cli, tiny, tmp_path):
    corpus = write(tmp_path / "c.txt", "el gato\nhola mundo\nla casa\nciao mondo\n")
    payload = assert_ok(cli("search", "hola mundo", "la casa", "--corpus", corpus, "-m", tiny, "--json")).json
    assert [p["query"] for p in payload] == ["hola mundo", "la casa"]
    for entry in payload:
        assert len(entry["results"]) == 4  # k = 10 capped at the corpus size
        assert entry["results"][0]["text"] == entry["query"]
        assert [r["rank"] for r in entry["results"]] == [1, 2, 3, 4]
        scores = [r["score"] for r in entry["results"]]
        assert scores == sorted(scores, reverse=True)


def test_search_table(cli, tiny, corpus_csv):
    result = assert_ok(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny, "-k", "2"))
    assert "query: la casa" in result.out and "1.0000" in result.out


def test_search_csv_column_top_k_and_jsonl_output(cli, tiny, corpus_csv, outdir):
    target = outdir / "hits.jsonl"
    assert_ok(cli("search", "la casa", "il cane", "--corpus", corpus_csv, "--column", "body", "-k", "3",
                  "-m", tiny, "-o", target, "-q"))
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 6
    assert all(set(r) == {"query", "rank", "text", "score"} for r in records)
    assert [(r["query"], r["rank"]) for r in records] == [("la casa", 1), ("la casa", 2), ("la casa", 3),
                                                          ("il cane", 1), ("il cane", 2), ("il cane", 3)]
    assert records[0]["text"] == "la casa" and records[3]["text"] == "il cane"


def test_search_queries_file(cli, tiny, corpus_csv, tmp_path):
    queries = write(tmp_path / "q.txt", "la casa\nciao mondo\n")
    payload = assert_ok(cli("search", "--queries-file", queries, "--corpus", corpus_csv, "-c", "body", "-k", "1",
                            "-m", tiny, "--json")).json
    assert [(p["query"], p["results"][0]["text"]) for p in payload] == [("la casa", "la casa"),
                                                                        ("ciao mondo", "ciao mondo")]


@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_search_save_index_then_reuse(cli, tiny, corpus_csv, tmp_path, kind):
    if kind == "faiss":
        pytest.importorskip("faiss")
    index = tmp_path / "index"
    args = ("search", "la casa", "hola mundo", "--corpus", corpus_csv, "-c", "body", "-k", "3", "-m", tiny, "--json")
    first = assert_ok(cli(*args, "--index-kind", kind, "--save-index", index)).json
    meta = json.loads((index / "index.json").read_text(encoding="utf-8"))
    assert meta["kind"] == kind and meta["count"] == 6 and meta["dim"] == 32
    second = assert_ok(cli(*args, "--index", index)).json
    assert [[r["text"] for r in p["results"]] for p in second] == [[r["text"] for r in p["results"]] for p in first]
    for p1, p2 in zip(first, second):
        for r1, r2 in zip(p1["results"], p2["results"]):
            assert r1["score"] == pytest.approx(r2["score"], abs=1e-5)
    assert first[0]["results"][0]["text"] == "la casa"


def test_search_index_of_another_corpus_is_bad_input(cli, tiny, corpus_csv, tmp_path):
    index = tmp_path / "index"
    assert_ok(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny, "--save-index", index,
                  "-q"))
    other = write(tmp_path / "other.txt", "hola\nmundo\n")
    err = assert_bad_input(cli("search", "la casa", "--corpus", other, "-m", tiny, "--index", index))
    assert "rebuild it with --save-index" in err
    err = assert_bad_input(cli("search", "la casa", "-m", tiny, "--index", index))  # the texts live in the corpus
    assert "pass the corpus with --corpus FILE (with --index too: the index holds the vectors" in err


def test_search_index_keeps_its_metric(cli, tiny, corpus_csv, tmp_path):
    """A saved index scores with its own metric; asking for another one is refused."""
    index = tmp_path / "index"
    args = ("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny, "--json")
    first = assert_ok(cli(*args, "--metric", "euclidean", "--save-index", index)).json
    assert json.loads((index / "index.json").read_text(encoding="utf-8"))["metric"] == "euclidean"
    again = assert_ok(cli(*args, "--index", index)).json  # no --metric: the index's own
    assert again == first and all(r["score"] <= 0 for r in again[0]["results"])
    err = assert_bad_input(cli(*args, "--index", index, "--metric", "cosine"))
    assert "euclidean" in err


def test_search_missing_index_is_bad_input(cli, tiny, corpus_csv, tmp_path):
    assert_bad_input(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny,
                         "--index", tmp_path / "nope"))


@pytest.mark.real
def test_search_by_meaning_minilm(cli, tmp_path):
    corpus = write(tmp_path / "c.txt", "Paris is the capital of France.\nThe recipe needs two eggs and flour.\n"
                                       "Python is a programming language.\nThe football match ended in a draw.\n")
    payload = assert_ok(cli("search", "How do I bake a cake?", "Which city is France's capital?", "--corpus",
                            corpus, "-k", "1", "-m", "all-MiniLM-L6-v2", "--json")).json
    assert [p["results"][0]["text"] for p in payload] == ["The recipe needs two eggs and flour.",
                                                          "Paris is the capital of France."]


# ---------------------------------------------------------------- paraphrases


def test_paraphrases_finds_planted_duplicate_first(cli, tiny):
    texts = ["el gato duerme", "il cane", "hola mundo", "la casa", "buenos días", "el gato duerme"]
    payload = assert_ok(cli("paraphrases", *texts, "-m", tiny, "--json")).json
    assert payload[0]["text1"] == payload[0]["text2"] == "el gato duerme"
    assert payload[0]["score"] == pytest.approx(1, abs=1e-5)
    scores = [p["score"] for p in payload]
    assert scores == sorted(scores, reverse=True)
    assert all(set(p) == {"score", "text1", "text2"} for p in payload)


def test_paraphrases_max_pairs_threshold_and_output(cli, tiny, tmp_path, outdir):
    texts = write(tmp_path / "t.txt", "\n".join(["el gato", "il cane", "hola mundo", "la casa", "el gato"]) + "\n")
    all_pairs = assert_ok(cli("paraphrases", "-f", texts, "-m", tiny, "--json")).json
    assert len(all_pairs) > 2
    two = assert_ok(cli("paraphrases", "-f", texts, "-m", tiny, "--max-pairs", "2", "--json")).json
    assert two == all_pairs[:2]
    cut = all_pairs[2]["score"]
    above = assert_ok(cli("paraphrases", "-f", texts, "-m", tiny, "--threshold", cut, "--json")).json
    assert above and all(p["score"] >= cut - 1e-6 for p in above)
    assert len(above) < len(all_pairs)
    none = assert_ok(cli("paraphrases", "-f", texts, "-m", tiny, "--threshold", "1.5", "--json")).json
    assert none == []
    empty = assert_ok(cli("paraphrases", "-f", texts, "-m", tiny, "--threshold", "1.5"))
    assert empty.err_lines == ["no pair scores 1.5 or more; lower --threshold"]
    target = outdir / "pairs.tsv"
    assert_ok(cli("paraphrases", "-f", texts, "-m", tiny, "--max-pairs", "2", "-o", target, "-q"))
    with open(target, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["score", "text1", "text2"] and rows[1][1:] == ["el gato", "el gato"] and len(rows) == 3


def test_paraphrases_table(cli, tiny):
    result = assert_ok(cli("paraphrases", "hola", "mundo", "hola", "-m", tiny))
    assert "most similar pairs" in result.out and "1.0000" in result.out


@pytest.mark.real
def test_paraphrases_planted_pair_minilm(cli):
    texts = ["The weather is lovely today.", "He drove his car to the airport.",
             "A cat is sleeping on the couch.", "Stocks dropped after the announcement.",
             "The kitten naps on the sofa.", "She is reading a novel in the library."]
    payload = assert_ok(cli("paraphrases", *texts, "-m", "all-MiniLM-L6-v2", "--max-pairs", "3", "--json")).json
    assert len(payload) == 3
    assert {payload[0]["text1"], payload[0]["text2"]} == {"A cat is sleeping on the couch.",
                                                         "The kitten naps on the sofa."}


# ---------------------------------------------------------------- compose


def test_compose_writes_a_folder_embed_can_use(cli, tiny_encoder_dir, tmp_path, outdir):
    folder = tmp_path / "composed"
    summary = assert_ok(cli("compose", tiny_encoder_dir, "-o", folder, "--pooling", "cls", "--dense", "16",
                            "--activation", "relu", "--max-length", "32", "--json")).json
    assert summary == {"output": str(folder), "dimension": 16, "max_length": 32,
                       "modules": ["Transformer", "Pooling", "Dense", "Normalize"]}
    assert (folder / "modules.json").is_file()
    target = outdir / "e.npy"
    payload = assert_ok(cli("embed", *TEXTS, "-m", folder, "-o", target, "--json")).json
    assert payload["dim"] == 16 and payload["model"] == "composed"
    vectors = np.load(target)
    assert vectors.shape == (4, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_compose_summary_and_no_normalize(cli, tiny_encoder_dir, tmp_path):
    folder = tmp_path / "composed"
    result = assert_ok(cli("compose", tiny_encoder_dir, "-o", folder, "--no-normalize"))
    assert result.err_lines[-1] == f"saved Transformer -> Pooling (dim 32) to {folder}"
    assert result.out == ""


def test_compose_into_an_empty_existing_folder(cli, tiny_encoder_dir, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    assert_ok(cli("compose", tiny_encoder_dir, "-o", folder, "-q"))
    assert (folder / "modules.json").is_file()


def test_compose_quiet_prints_nothing(cli, tiny_encoder_dir, tmp_path):
    result = assert_ok(cli("compose", tiny_encoder_dir, "-o", tmp_path / "composed", "--quiet"))
    assert result.err == ""


def test_compose_existing_output_is_bad_input(cli, tiny_encoder_dir, tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    write(folder / "keep.txt", "precious")
    err = assert_bad_input(cli("compose", tiny_encoder_dir, "-o", folder))
    assert "it exists and is not an empty folder" in err
    assert os.listdir(folder) == ["keep.txt"] and (folder / "keep.txt").read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["taken"]  # no temp folder left


@pytest.mark.parametrize("extra, needle", [(["--pooling", "median"], "pooling"),
                                           (["--dense", "8", "--activation", "swish"], "activation")])
def test_compose_bad_options(cli, tiny_encoder_dir, tmp_path, extra, needle):
    err = assert_bad_input(cli("compose", tiny_encoder_dir, "-o", tmp_path / "c", *extra))
    assert needle in err
    assert not (tmp_path / "c").exists()


def test_compose_not_a_model_and_missing_parent(cli, tiny_encoder_dir, tmp_path):
    (tmp_path / "junk").mkdir()
    assert_bad_input(cli("compose", tmp_path / "junk", "-o", tmp_path / "c"))
    assert_bad_input(cli("compose", tiny_encoder_dir, "-o", tmp_path / "missing" / "c"))
    assert_bad_input(cli("compose", tmp_path / "no" / "such" / "encoder", "-o", tmp_path / "c"))
    start = time.perf_counter()
    assert_bad_input(cli("compose", "no-such-org-frasi/no-such-encoder", "-o", tmp_path / "c"))
    assert time.perf_counter() - start < 30
    assert sorted(os.listdir(tmp_path)) == ["junk"]


# ---------------------------------------------------------------- error paths


def _corrupt_models(root: Path, tiny: str) -> dict[str, Path]:
    """Folders that look like models but cannot be loaded."""
    garbage = root / "garbage-modules"
    garbage.mkdir()
    write(garbage / "modules.json", "this is not json {")
    no_weights = root / "no-weights"
    shutil.copytree(tiny, no_weights)
    (no_weights / "model.safetensors").unlink()
    bad_weights = root / "bad-weights"
    shutil.copytree(tiny, bad_weights)
    (bad_weights / "model.safetensors").write_bytes(b"not safetensors at all")
    return {"garbage-modules": garbage, "no-weights": no_weights, "bad-weights": bad_weights}


ERROR_CASES = {
    # name: (argv after "frasi", with {tiny}, {in}, {out} placeholders; a fragment of the message or None)
    "empty text": (["embed", "", "-m", "{tiny}", "-o", "{out}/e.npy"], "empty"),
    "whitespace text": (["embed", "hola", "   ", "-m", "{tiny}", "-o", "{out}/e.npy"], "index 1"),
    "empty file": (["embed", "-f", "{in}/empty.txt", "-m", "{tiny}", "-o", "{out}/e.npy"], "no texts"),
    "blank-lines file": (["embed", "-f", "{in}/blank.txt", "-m", "{tiny}", "-o", "{out}/e.npy"], "no texts"),
    "non-utf8 file": (["embed", "-f", "{in}/latin1.txt", "-m", "{tiny}", "-o", "{out}/e.npy"], "UTF-8"),
    "missing file": (["embed", "-f", "{in}/nope.txt", "-m", "{tiny}", "-o", "{out}/e.npy"], "does not exist"),
    "unknown input extension": (["embed", "-f", "{in}/t.docx", "-m", "{tiny}", "-o", "{out}/e.npy"], ".docx"),
    "missing column": (["embed", "-f", "{in}/t.csv", "-c", "nope", "-m", "{tiny}", "-o", "{out}/e.npy"],
                       "'nope' not found"),
    "ambiguous columns": (["embed", "-f", "{in}/t.csv", "-m", "{tiny}", "-o", "{out}/e.npy"], "--column"),
    "column without file": (["embed", "hola", "-c", "body", "-m", "{tiny}", "-o", "{out}/e.npy"], "--column"),
    "texts and file": (["embed", "hola", "-f", "{in}/t.csv", "-m", "{tiny}", "-o", "{out}/e.npy"], "not both"),
    "unknown output extension": (["embed", "hola", "-m", "{tiny}", "-o", "{out}/e.xyz"], "'.xyz'"),
    "output without extension": (["embed", "hola", "-m", "{tiny}", "-o", "{out}/embeddings"], "no extension"),
    "output in missing folder": (["embed", "hola", "-m", "{tiny}", "-o", "{out}/missing/e.npy"], "does not exist"),
    "output is a folder": (["embed", "hola", "-m", "{tiny}", "-o", "{in}/folder.npy"], "is a folder"),
    "no output and no json": (["embed", "hola", "-m", "{tiny}"], "--output"),
    "unknown model name": (["embed", "hola", "-m", "no-such-model-frasi-test", "-o", "{out}/e.npy"],
                           "unknown model"),
    "unknown hub id": (["embed", "hola", "-m", "no-such-org-frasi/no-such-model", "-o", "{out}/e.npy"],
                       "unknown model"),
    "missing model path": (["embed", "hola", "-m", "./no/such/model", "-o", "{out}/e.npy"], "does not exist"),
    "missing absolute model path": (["embed", "hola", "-m", "{in}/nope/model/", "-o", "{out}/e.npy"],
                                    "does not exist"),
    "folder that is not a model": (["embed", "hola", "-m", "{in}", "-o", "{out}/e.npy"], "not a model folder"),
    "file as model": (["embed", "hola", "-m", "{in}/t.csv", "-o", "{out}/e.npy"], "not a folder"),
    "corrupt model: garbage modules.json": (["embed", "hola", "-m", "{in}/garbage-modules", "-o", "{out}/e.npy"],
                                            "garbage-modules"),
    "corrupt model: no weights": (["embed", "hola", "-m", "{in}/no-weights", "-o", "{out}/e.npy"],
                                  "no-weights"),
    "corrupt model: bad weights": (["embed", "hola", "-m", "{in}/bad-weights", "-o", "{out}/e.npy"],
                                   "bad-weights"),
    "batch size 0": (["embed", "hola", "-m", "{tiny}", "--batch-size", "0", "-o", "{out}/e.npy"], "--batch-size"),
    "batch size not a number": (["embed", "hola", "-m", "{tiny}", "--batch-size", "many", "-o", "{out}/e.npy"],
                                "--batch-size"),
    "unknown precision": (["embed", "hola", "mundo", "-m", "{tiny}", "--precision", "int4", "-o", "{out}/e.npy"],
                          "precision"),
    "unknown long-texts policy": (["embed", "hola", "-m", "{tiny}", "--long-texts", "drop", "-o", "{out}/e.npy"],
                                  "--long-texts must be one of truncate, chunk"),
    "no texts at all": (["embed", "-m", "{tiny}", "-o", "{out}/e.npy"], "no texts"),
    "tokenize no texts": (["tokenize", "-m", "{tiny}"], "no texts"),
    "tokenize empty text": (["tokenize", " ", "-m", "{tiny}"], "empty"),
    "similarity one text": (["similarity", "hola", "-m", "{tiny}"], "at least one text"),
    "similarity empty query": (["similarity", " ", "hola", "-m", "{tiny}"], "empty"),
    "similarity file without query": (["similarity", "-f", "{in}/two.txt", "-m", "{tiny}"], "--query"),
    "similarity matrix of one": (["similarity", "hola", "--matrix", "-m", "{tiny}"], "two texts"),
    "similarity query and matrix": (["similarity", "-f", "{in}/two.txt", "--query", "x", "--matrix", "-m",
                                     "{tiny}"], "exclude"),
    "similarity unknown metric": (["similarity", "a", "b", "--metric", "manhattan", "-m", "{tiny}"], "manhattan"),
    "similarity top-k 0": (["similarity", "a", "b", "-k", "0", "-m", "{tiny}"], "--top-k"),
    "similarity heatmap not png": (["similarity", "a", "b", "--matrix", "--heatmap", "{out}/h.jpg", "-m", "{tiny}"],
                                   ".jpg"),
    "similarity npy without matrix": (["similarity", "a", "b", "-o", "{out}/r.npy", "-m", "{tiny}"], ".npy"),
    "search no corpus": (["search", "hola", "-m", "{tiny}"], "--corpus"),
    "search no queries": (["search", "--corpus", "{in}/two.txt", "-m", "{tiny}"], "no queries"),
    "search empty corpus": (["search", "hola", "--corpus", "{in}/empty.txt", "-m", "{tiny}"], "no texts"),
    "search missing column": (["search", "hola", "--corpus", "{in}/t.csv", "-c", "nope", "-m", "{tiny}"],
                              "'nope' not found"),
    "search unknown index kind": (["search", "hola", "--corpus", "{in}/two.txt", "--index-kind", "annoy", "-m",
                                   "{tiny}"], "annoy"),
    "search index and save-index": (["search", "hola", "--corpus", "{in}/two.txt", "--index", "{in}/i",
                                     "--save-index", "{out}/i", "-m", "{tiny}"], "exclude"),
    "search bad output": (["search", "hola", "--corpus", "{in}/two.txt", "-o", "{out}/r.npy", "-m", "{tiny}"],
                          ".npy"),
    "paraphrases one text": (["paraphrases", "hola", "-m", "{tiny}"], "at least two"),
    "paraphrases no texts": (["paraphrases", "-m", "{tiny}"], "no texts"),
    "paraphrases max-pairs 0": (["paraphrases", "a", "b", "--max-pairs", "0", "-m", "{tiny}"], "--max-pairs"),
    "paraphrases bad output": (["paraphrases", "a", "b", "-o", "{out}/p.parquet", "-m", "{tiny}"], ".parquet"),
    "unknown command": (["frobnicate"], "No such command"),
    "unknown option": (["embed", "hola", "--colour", "-o", "{out}/e.npy"], "--colour"),
    "compose without output": (["compose", "{in}"], "--output"),
}


@pytest.fixture
def inputs(tmp_path, tiny) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "empty.txt", "")
    write(folder / "blank.txt", "\n   \n\t\n")
    (folder / "latin1.txt").write_bytes("café con leche\n".encode("latin-1"))
    write(folder / "t.csv", "id,body\n1,hola mundo\n2,ciao mondo\n")
    write(folder / "t.docx", "hola\n")
    write(folder / "two.txt", "hola\nmundo\n")
    (folder / "folder.npy").mkdir()
    _corrupt_models(folder, tiny)
    return folder


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_paths(cli, tiny, inputs, outdir, case):
    argv, needle = ERROR_CASES[case]
    args = [a.format(tiny=tiny, out=outdir, **{"in": inputs}) for a in argv]
    before = sorted(p.name for p in inputs.iterdir())
    start = time.perf_counter()
    err = assert_bad_input(cli(*args))
    assert time.perf_counter() - start < 30  # offline failures are fast (no long Hub retries)
    if needle:
        assert needle in err
    assert not any(outdir.iterdir()), "a failed command left an output file"
    assert sorted(p.name for p in inputs.iterdir()) == before


def test_model_without_tokenizer_is_bad_input(cli, tiny, tmp_path, outdir):
    """Without this check transformers builds an empty vocabulary: every word [UNK], exit 0."""
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny, folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    err = assert_bad_input(cli("embed", "hola mundo", "-m", folder, "-o", outdir / "e.npy"))
    assert "tokenizer" in err
    assert not any(outdir.iterdir())


def test_model_with_partial_weights_is_bad_input(cli, tiny, tmp_path, outdir):
    """Without this check transformers initialises the missing tensors at random, exit 0."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "partial"
    shutil.copytree(tiny, folder)
    tensors = load_file(folder / "model.safetensors")
    kept = {k: v for k, v in tensors.items() if "layer.1." not in k and "word_embeddings" not in k}
    save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})
    err = assert_bad_input(cli("embed", "hola mundo", "-m", folder, "-o", outdir / "e.npy"))
    assert "partial" in err
    assert not any(outdir.iterdir())


def test_internal_error_is_exit_1_with_one_line(cli, tiny, outdir, monkeypatch):
    import frasi

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.delenv("FRASI_DEBUG", raising=False)
    monkeypatch.setattr(frasi.Encoder, "load", boom)
    result = cli("embed", "hola", "-m", tiny, "-o", outdir / "e.npy")
    assert result.code == 1
    assert result.err_lines == ["internal error: RuntimeError: simulated bug (set FRASI_DEBUG=1 for the traceback)"]
    assert not any(outdir.iterdir())
    monkeypatch.setenv("FRASI_DEBUG", "1")
    with pytest.raises(RuntimeError, match="simulated bug"):
        main(["embed", "hola", "-m", tiny, "-o", str(outdir / "e.npy")])


def test_help_exits_0(cli):
    result = assert_ok(cli("--help"))
    for command in ("models", "tokenize", "embed", "similarity", "search", "paraphrases", "compose"):
        assert command in result.out
    assert "--precision" in assert_ok(cli("embed", "--help")).out


def test_no_arguments_prints_help(cli):
    result = cli()
    assert result.code == 2  # click's no_args_is_help
    assert "Commands" in result.out + result.err and "Traceback" not in result.out + result.err


# ---------------------------------------------------------------- atomicity


OLD = b"old content that must survive"


@pytest.mark.parametrize("name, argv", [
    ("e.npy", ["embed", "hola", "-m", "{in}/bad-weights", "-o", "{target}"]),
    ("e.jsonl", ["embed", "-f", "{in}/latin1.txt", "-m", "{tiny}", "-o", "{target}"]),
    ("m.csv", ["similarity", "a", "b", "--matrix", "-m", "{in}/garbage-modules", "-o", "{target}"]),
    ("h.png", ["similarity", "a", "b", "--heatmap", "{target}", "-m", "no-such-model-frasi-test"]),
    ("r.jsonl", ["search", "hola", "--corpus", "{in}/empty.txt", "-m", "{tiny}", "-o", "{target}"]),
    ("p.json", ["paraphrases", "a", "b", "-m", "{in}/no-weights", "-o", "{target}"]),
])
def test_failed_command_keeps_existing_output(cli, tiny, inputs, outdir, name, argv):
    target = outdir / name
    target.write_bytes(OLD)
    args = [a.format(tiny=tiny, target=target, **{"in": inputs}) for a in argv]
    assert_bad_input(cli(*args))
    assert target.read_bytes() == OLD
    assert os.listdir(outdir) == [name]  # no temp file left


def test_failed_write_keeps_existing_output(cli, tiny, outdir, monkeypatch):
    """A write that fails half-way (disk full) leaves the old file and no temp file."""
    target = outdir / "e.npy"
    target.write_bytes(OLD)

    def disk_full(file, *args, **kwargs):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    err = assert_bad_input(cli("embed", "hola", "-m", tiny, "-o", target))
    assert "No space left on device" in err
    assert target.read_bytes() == OLD
    assert os.listdir(outdir) == ["e.npy"]


def test_successful_command_replaces_existing_output(cli, tiny, outdir):
    target = outdir / "e.npy"
    target.write_bytes(OLD)
    assert_ok(cli("embed", "hola", "mundo", "-m", tiny, "-o", target, "-q"))
    assert np.load(target).shape == (2, 32)
    assert os.listdir(outdir) == ["e.npy"]


# ---------------------------------------------------------------- the real executable


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FRASI_DEBUG"}  # FRASI_CACHE: this test's cache
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _frasi() -> list[str]:
    script = shutil.which("frasi")
    return [script] if script else [sys.executable, "-m", "frasi.cli"]


def test_executable_bad_input_exit_2(tmp_path):
    proc = _run([sys.executable, "-m", "frasi.cli", "embed", "", "-o", "e.npy"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: text at index 0 is empty or whitespace-only; remove it or fill it in"]
    assert not (tmp_path / "e.npy").exists()


def test_ctrl_c_says_interrupted_and_exits_130(cli, tiny, monkeypatch):
    from frasi.cli import _cmd_encode

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cmd_encode.ModelOptions, "load", interrupted)
    result = cli("embed", "hola", "-m", tiny, "--json")
    assert result.code == 130 and result.err_lines == ["interrupted"] and "Traceback" not in result.err


def test_executable_usage_error_and_models(tmp_path):
    proc = _run([*_frasi(), "frobnicate"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: No such command 'frobnicate'. (see frasi --help)"]
    proc = _run([*_frasi(), "embed", "hola", "--batch-size", "0"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: Invalid value for '--batch-size': Input should be greater than or "
                                        "equal to 1 (see frasi embed --help)"]
    proc = _run([*_frasi()], tmp_path)  # no command: the help, on stderr
    assert proc.returncode == 2 and proc.stderr.startswith("Usage: frasi") and proc.stdout == ""
    proc = _run([*_frasi(), "models", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {m["name"] for m in json.loads(proc.stdout)["models"]} == {"multilingual-e5-small", "all-MiniLM-L6-v2"}


def test_executable_embed_and_corrupt_model(tiny, inputs, tmp_path):
    """End to end with the heavy imports: success exits 0, a corrupt model exits 2, neither
    prints a traceback or anything but its one line on stderr."""
    proc = _run([*_frasi(), "embed", "hola mundo", "ciao mondo", "-m", tiny, "-o", "e.npy"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and SUMMARY.match(lines[0]), proc.stderr
    assert np.load(tmp_path / "e.npy").shape == (2, 32)

    proc = _run([*_frasi(), "embed", "hola", "-m", str(inputs / "bad-weights"), "-o", "f.npy"], tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad-weights" in lines[0], proc.stderr
    assert not (tmp_path / "f.npy").exists()


def test_search_repeated_queries_keep_their_own_results(cli, tiny, corpus_csv):
    result = assert_ok(cli("search", "la casa", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny,
                           "-k", "2", "--json"))
    assert [len(q["results"]) for q in result.json] == [2, 2]
    assert result.json[0] == result.json[1]


def test_search_index_from_another_corpus_or_model_is_refused(cli, tiny, tiny_encoder_dir, corpus_csv, tmp_path):
    index = tmp_path / "index"
    assert_ok(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny, "--save-index", index,
                  "-q"))
    err = assert_bad_input(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny_encoder_dir,
                               "--index", index, "-q"))
    assert "another model" in err
    edited = tmp_path / "edited.csv"
    edited.write_text(corpus_csv.read_text(encoding="utf-8").replace("casa", "cosa"), encoding="utf-8")
    err = assert_bad_input(cli("search", "la casa", "--corpus", edited, "-c", "body", "-m", tiny, "--index", index))
    assert "another corpus" in err


def test_search_index_is_tied_to_the_model_files_and_long_text_policy(cli, tiny, tiny_encoder_dir, corpus_csv,
                                                                        tmp_path):
    import shutil

    from frasi import compose

    first = shutil.copytree(tiny, tmp_path / "a" / "model")
    (tmp_path / "b").mkdir()
    other = compose(tiny_encoder_dir, pooling="cls").save(tmp_path / "b" / "model")  # same folder name, same dim
    index = tmp_path / "index"
    assert_ok(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", first, "--save-index", index, "-q"))
    err = assert_bad_input(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", other, "--index",
                               index, "-q"))
    assert "another model" in err
    err = assert_bad_input(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", first, "--index",
                               index, "--long-texts", "chunk", "-q"))
    assert "another long-text policy" in err
    metadata_file = index / "index.json"
    saved = json.loads(metadata_file.read_text(encoding="utf-8"))
    old = {"corpus_sha256": saved["metadata"]["corpus_sha256"], "corpus_prompt": None, "model": "model"}
    metadata_file.write_text(json.dumps({**saved, "metadata": old}), encoding="utf-8")  # as frasi wrote it before
    err = assert_bad_input(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", tiny, "--index",
                               index, "-q"))
    assert "another model ('model')" in err  # the folder name is all such an index recorded
    saved["metadata"] = {}  # as an index saved from Python
    metadata_file.write_text(json.dumps(saved), encoding="utf-8")
    result = assert_ok(cli("search", "la casa", "--corpus", corpus_csv, "-c", "body", "-m", first, "--index", index))
    assert "does not record its model, corpus" in result.err


@pytest.mark.real
def test_search_prompts_can_be_set_or_disabled(cli, e5_dir, tmp_path, monkeypatch):
    corpus = write(tmp_path / "c.txt", "El gato duerme.\nLa bolsa cayó.\n")
    default = assert_ok(cli("search", "gatos", "--corpus", corpus, "-m", e5_dir, "--json", "-q")).json
    plain = assert_ok(cli("search", "gatos", "--corpus", corpus, "-m", e5_dir, "--json", "-q",
                          "--query-prompt", "", "--corpus-prompt", "")).json
    assert default[0]["results"][0]["text"] == plain[0]["results"][0]["text"] == "El gato duerme."
    assert default[0]["results"][0]["score"] != plain[0]["results"][0]["score"]


@pytest.mark.parametrize("command", ["similarity", "paraphrases"])
def test_long_texts_option_on_comparison_commands(cli, tiny, command):
    long_text = " ".join(["hola mundo"] * 80)
    args = [command, "hola", long_text, "la casa", "-m", tiny, "--long-texts", "chunk", "--json", "-q"]
    assert_ok(cli(*args))
    assert_bad_input(cli(*args[:-4], "--long-texts", "drop"))
