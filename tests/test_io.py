"""Tests for frasi.io: readers, validation and atomic writers (offline, tmp_path only)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from frasi import io
from frasi._fs import atomic_file
from frasi.errors import InputError, MissingExtraError, OutputError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ACCENTED = ["¿Qué tal, señor Muñoz?", "Perché è già così tardi?", "Ñandú, pingüino, àèìòù"]


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------------------- readers


def test_txt_strips_crlf_skips_blank_lines_and_drops_bom(tmp_path):
    path = write(tmp_path, "a.TXT", b"\xef\xbb\xbfhola\r\n\r\n  \nciao mondo\r\nlast")
    assert io.read_texts(path) == ["hola", "ciao mondo", "last"]


def test_txt_refuses_a_column(tmp_path):
    """A .txt file has no columns: a column name there is a mistake, not something to ignore."""
    path = write(tmp_path, "a.txt", b"hola\nciao")
    with pytest.raises(InputError, match=r"a.txt is a .txt file .*a column \('text'\) applies to .csv"):
        io.read_texts(path, column="text")


def test_csv_quoted_fields_with_commas_and_newlines(tmp_path):
    content = 'id,text\r\n1,"uno, dos"\r\n2,"line one\nline two"\r\n3,"say ""hi"""\r\n\r\n'
    path = write(tmp_path, "a.csv", content)
    assert io.read_texts(path) == ["uno, dos", "line one\nline two", 'say "hi"']
    columns, rows = io.read_table(path)
    assert columns == ["id", "text"]
    assert rows[0] == {"id": "1", "text": "uno, dos"}


def test_csv_with_bom_and_long_field(tmp_path):
    long_text = "x" * 200_000
    path = write(tmp_path, "a.csv", b"\xef\xbb\xbftext\n" + long_text.encode() + b"\n")
    assert io.read_texts(path) == [long_text]


def test_tsv_and_column_rules(tmp_path):
    path = write(tmp_path, "a.tsv", "sentence\tlabel\nhola\t1\nciao\t0\n")
    assert io.read_texts(path, column="sentence") == ["hola", "ciao"]
    assert io.read_texts(path, column="label") == ["1", "0"]  # CSV numbers are strings
    with pytest.raises(InputError, match="none is named 'text'.*--column"):
        io.read_texts(path)
    with pytest.raises(InputError, match="'missing' not found.*'sentence', 'label'.*--column"):
        io.read_texts(path, column="missing")
    single = write(tmp_path, "b.tsv", "frase\nuna\n")
    assert io.read_texts(single) == ["una"]
    prefers_text = write(tmp_path, "c.csv", "id,text,label\n1,hola,a\n")
    assert io.read_texts(prefers_text) == ["hola"]


def test_tsv_has_no_quoting_and_csv_quotes_are_strict(tmp_path):
    path = write(tmp_path, "q.tsv", 'text\tlabel\n"Great movie\t1\nbad film\t0\nok" said I\t1\n')
    assert io.read_texts(path) == ['"Great movie', "bad film", 'ok" said I']  # as STSb and GLUE are written
    with pytest.raises(InputError, match="line 2"):
        io.read_texts(write(tmp_path, "q.csv", 'text\n"abc"def\n'))
    # a TSV written by pandas or Python's csv is quoted: read as such
    quoted = write(tmp_path, "pandas.tsv", 'text\n"Dijo ""hola"" y se fue"\n"linea\nnueva"\nnormal\n')
    assert io.read_texts(quoted) == ['Dijo "hola" y se fue', "linea\nnueva", "normal"]


def test_header_that_does_not_match_the_columns(tmp_path, caplog):
    shifted = write(tmp_path, "test.tsv", "text\tlabel\n0\tgood film\n1\tbad film\n")  # GLUE SST-2 test.tsv
    with pytest.raises(InputError, match="column 'text' holds only whole numbers"):
        io.read_texts(shifted)
    assert io.read_texts(shifted, column="label") == ["good film", "bad film"]
    with caplog.at_level("WARNING", logger="frasi"):
        assert io.read_texts(write(tmp_path, "n.csv", "first text\nsecond text\n")) == ["second text"]
        assert io.read_texts(write(tmp_path, "b.txt", "a\n\nb\n")) == ["a", "b"]
    assert "'first text', is read as the header" in caplog.text and "skipped 1 blank line" in caplog.text


def test_parquet_reads_only_the_text_column(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": ["hola", "ciao"], "embedding": [[0.1] * 4, [0.2] * 4]}), path)
    read = pq.read_table
    asked = []
    monkeypatch.setattr(pq, "read_table", lambda p, columns=None: asked.append(columns) or read(p, columns=columns))
    assert io.read_texts(path) == ["hola", "ciao"] and asked == [["text"]]


def test_jsonl(tmp_path):
    lines = [json.dumps({"text": t, "n": i}, ensure_ascii=False) for i, t in enumerate(ACCENTED)]
    path = write(tmp_path, "a.jsonl", "\n".join(lines[:2]) + "\n\n" + lines[2] + "\r\n")
    assert io.read_texts(path) == ACCENTED
    columns, rows = io.read_table(path)
    assert columns == ["text", "n"] and rows[2]["n"] == 2


def test_parquet(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ACCENTED}), path)
    assert io.read_texts(path) == ACCENTED
    assert io.read_table(path)[0] == ["id", "text"]


def test_accented_texts_round_trip_every_format(tmp_path):
    write(tmp_path, "a.txt", "\n".join(ACCENTED))
    write(tmp_path, "a.csv", "text\n" + "".join(f'"{t}"\n' for t in ACCENTED))
    write(tmp_path, "a.tsv", "text\n" + "\n".join(ACCENTED))
    for name in ("a.txt", "a.csv", "a.tsv"):
        assert io.read_texts(tmp_path / name) == ACCENTED


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [
        ("a.csv", "text,label\nhola,1\n,2\n", "row 2: column 'text' is empty"),
        ("a.csv", "text,label\nhola,1\n   ,2\n", "row 2: column 'text' is empty"),
        ("a.jsonl", '{"text": "hola"}\n{"text": 5}\n', "row 2: column 'text' holds 5 of type int"),
        ("a.jsonl", '{"text": "hola"}\n{"text": null}\n', "row 2: column 'text' is missing"),
        ("a.jsonl", '{"text": "hola"}\n{"other": "x"}\n', "row 2: column 'text' is missing"),
        ("a.jsonl", '{"text": "hola"}\n[1, 2]\n', "line 2 holds a JSON list"),
        ("a.jsonl", '{"text": "hola"}\n{"text": \n', "line 2 is not valid JSON"),
        ("a.csv", "id,text\n1,hola\n2,uno,dos\n", "line 3: expected 2 fields"),
        ("a.csv", "text,text\nhola,ciao\n", "duplicate column names"),
        ("a.csv", "", "contains no texts"),
        ("a.csv", "text\n", "contains no texts"),
        ("a.txt", "\n  \r\n\n", "contains no texts"),
        ("a.jsonl", "\n\n", "contains no texts"),
        ("a.xlsx", "text\n", "supported text formats are .txt, .csv, .tsv, .jsonl, .parquet"),
        ("noext", "text\n", "has no extension"),
        ("a.txt", b"ok\ncaf\xe9", "not valid UTF-8 (invalid byte 0xe9 at offset 6); re-save it"),
        ("a.csv", b"\xef\xbb\xbftext\n\xff\n", "invalid byte 0xff at offset 8"),
    ],
)
def test_read_errors(tmp_path, name, content, phrase):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as info:
        io.read_texts(path)
    assert phrase in str(info.value)
    assert "\n" not in str(info.value)


def test_parquet_value_errors(tmp_path):
    numbers = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": [1.5, 2.0]}), numbers)
    with pytest.raises(InputError, match="row 1: column 'text' holds 1.5 of type float"):
        io.read_texts(numbers)
    nulls = tmp_path / "null.parquet"
    pq.write_table(pa.table({"text": ["hola", None]}), nulls)
    with pytest.raises(InputError, match="row 2: column 'text' is missing"):
        io.read_texts(nulls)
    broken = write(tmp_path, "broken.parquet", b"not parquet at all")
    with pytest.raises(InputError, match="not a readable parquet file"):
        io.read_texts(broken)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        io.read_texts(tmp_path / "nope.txt")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        io.read_texts(tmp_path / "dir.csv")
    with pytest.raises(InputError, match="supported table formats are .csv"):
        io.read_table(write(tmp_path, "a.txt", "hola\n"))


def test_validate_texts():
    assert io.validate_texts("hola") == ["hola"]
    assert io.validate_texts(("a", "b")) == ["a", "b"]
    with pytest.raises(InputError, match="empty list of texts"):
        io.validate_texts([])
    with pytest.raises(InputError, match="sentence at index 1 has type int"):
        io.validate_texts(["a", 3], what="sentence")
    with pytest.raises(InputError, match="index 2 is empty or whitespace-only"):
        io.validate_texts(["a", "b", " \t"])
    with pytest.raises(InputError, match="empty or whitespace-only text"):
        io.validate_texts("")
    for bad in (None, 5, b"bytes", {"a": 1}):
        with pytest.raises(InputError, match="expected a str or a list of str"):
            io.validate_texts(bad)


# ---------------------------------------------------------------------------- writers


def test_write_embeddings_npy_jsonl_parquet(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    io.write_embeddings(tmp_path / "e.npy", vectors)
    loaded = np.load(tmp_path / "e.npy")
    assert loaded.dtype == np.float32 and np.array_equal(loaded, vectors)

    io.write_embeddings(tmp_path / "e.jsonl", vectors, ACCENTED)
    records = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text("utf-8").splitlines()]
    assert [r["text"] for r in records] == ACCENTED
    assert np.array_equal(np.array([r["embedding"] for r in records], dtype=np.float32), vectors)
    assert "señor" in (tmp_path / "e.jsonl").read_text("utf-8")  # not \u-escaped

    io.write_embeddings(tmp_path / "e.PARQUET", vectors, ACCENTED)
    table = pq.read_table(tmp_path / "e.PARQUET")
    assert table.column("text").to_pylist() == ACCENTED
    assert pa.types.is_fixed_size_list(table.schema.field("embedding").type)
    stored = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert np.array_equal(stored, vectors)


def test_write_embeddings_int8_jsonl_has_ints(tmp_path):
    vectors = np.array([[1, -2], [127, -128]], dtype=np.int8)
    io.write_embeddings(tmp_path / "q.jsonl", vectors, ["a", "b"])
    first = json.loads((tmp_path / "q.jsonl").read_text().splitlines()[0])
    assert first == {"text": "a", "embedding": [1, -2]}


def test_write_embeddings_errors(tmp_path):
    vectors = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(InputError, match="supported embeddings formats are .npy, .parquet, .jsonl"):
        io.write_embeddings(tmp_path / "e.csv", vectors, ["a", "b"])
    with pytest.raises(InputError, match="got 1 texts but 2 vectors"):
        io.write_embeddings(tmp_path / "e.npy", vectors, ["a"])
    for name in ("e.jsonl", "e.parquet"):
        with pytest.raises(InputError, match="needs the texts"):
            io.write_embeddings(tmp_path / name, vectors)
    with pytest.raises(InputError, match="NaN or infinity"):
        io.write_embeddings(tmp_path / "e.jsonl", np.full((2, 3), np.nan), ["a", "b"])
    assert list(tmp_path.iterdir()) == []


def test_write_json_text_bytes(tmp_path):
    io.write_json(tmp_path / "r.json", {"frase": "però", "score": 0.5})
    content = (tmp_path / "r.json").read_text("utf-8")
    assert content.endswith("}\n") and "però" in content and '\n  "score"' in content
    assert json.loads(content) == {"frase": "però", "score": 0.5}
    with pytest.raises(InputError, match="cannot write .* as JSON"):
        io.write_json(tmp_path / "bad.json", {"x": object()})
    io.write_text(tmp_path / "t.txt", "añadir\n")
    assert (tmp_path / "t.txt").read_bytes() == "añadir\n".encode()
    io.write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == []


def test_atomic_file_failure_leaves_target_untouched(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(target) as tmp:
            assert tmp.parent == tmp_path
            tmp.write_text("half-writ")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_atomic_file_wraps_os_errors(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(OutputError, match="cannot write .*No space left"):
        with atomic_file(target) as tmp:
            tmp.write_bytes(b"x")
            raise OSError(28, "No space left on device")
    assert not target.exists() and leftovers(tmp_path) == []


def test_unwritable_or_missing_output_dir(tmp_path, monkeypatch):
    missing = tmp_path / "no" / "out.npy"
    with pytest.raises(OutputError, match=r"/no does not exist; create the folder"):
        io.write_embeddings(missing, np.zeros((1, 2)))
    with pytest.raises(OutputError, match="does not exist"):
        io.check_output_path(missing, [".npy"])
    (tmp_path / "out.npy").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        io.write_bytes(tmp_path / "out.npy", b"")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="file/out.npy: .*file is a file, not a folder"):
        io.check_output_path(tmp_path / "file" / "out.npy", [".npy"])
    # running as root ignores chmod, so simulate a read-only directory
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="permission denied"):
        io.write_json(tmp_path / "r.json", {})
    with pytest.raises(OutputError, match="permission denied"):
        io.check_output_path(tmp_path / "r.json", [".json"])


def test_missing_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = write(tmp_path, "a.parquet", b"PAR1")
    with pytest.raises(MissingExtraError, match=r"pip install 'frasi\[parquet\]'"):
        io.read_texts(path)
    with pytest.raises(MissingExtraError, match="writing parquet files"):
        io.write_embeddings(tmp_path / "e.parquet", np.zeros((1, 2)), ["a"])


def test_check_output_path(tmp_path):
    assert io.check_output_path(tmp_path / "e.NPY", io.EMBEDDING_SUFFIXES) == tmp_path / "e.NPY"
    with pytest.raises(InputError, match="'.txt'; supported output formats are .npy, .jsonl"):
        io.check_output_path(tmp_path / "e.txt", [".npy", ".jsonl"])
