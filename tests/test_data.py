"""Tests for frasi.data: STS and classification readers (offline, fixtures written to tmp_path).

The fixture lines are copied from the real files (STS Benchmark test, stsb_multi_mt es/en
test, UMSAB tweet sentiment val), so the layouts match without reading /work/shared/data.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from frasi.data import (
    UMSAB_LABELS,
    LabelledTexts,
    STSData,
    concatenate,
    read_classification,
    read_sts,
    read_umsab,
    umsab_files,
)
from frasi.errors import InputError

# STS Benchmark original: tab-separated, unquoted, 7 fields, 9 on forum rows; a '"' inside a sentence.
STSB = (
    "main-captions\tMSRvid\t2012test\t0024\t2.500\tA girl is styling her hair.\tA girl is brushing her hair.\n"
    "main-captions\tMSRvid\t2012test\t0033\t3.600\tA group of men play soccer on the beach.\t"
    "A group of boys are playing soccer on the beach.\n"
    "main-captions\timages\t2015\t0356\t3.20\tA young boy jumping into a pool that says \"no diving\".\t"
    "A boy jumps into a pool while lifeguards watch.\n"
    "main-forums\tanswer-answer\t2016\t0142\t4\tThe rule - When in doubt throw it out!\t"
    "I always go by the rule \"When in doubt, throw it out!\tStackExchange Network: "
    "http://cooking.stackexchange.com/questions/34086 Author: user36870\tStackExchange Network: "
    "http://cooking.stackexchange.com/questions/28293 Author: Elizabeth Rall\n"
    "main-news\tMSRpar\t2012test\t0004\t1.400\tVivendi shares closed 1.9 percent at 15.80 euros in Paris after "
    "falling 3.6 percent on Monday.\tIn New York, Vivendi shares were 1.4 percent down at $18.29.\n"
)

# stsb_multi_mt: comma CSV, no header, CRLF, fields with commas quoted.
MULTI_MT = (
    "Una chica se está arreglando el pelo.,Una chica se está cepillando el pelo.,2.5\r\n"
    "\"Tres jóvenes corren, saltan y se lanzan de una máquina de Coca-Cola.\","
    "Tres hombres están saltando de una pared.,1.5\r\n"
    "Se pone una mesa con vino y platos para dos personas.,"
    "\"Una mesa de madera con velas, vino y un tazón de plástico púrpura.\",2.6\r\n"
)

# UMSAB: one tweet / one label a line, no final newline; English train/val keep \u escapes.
UMSAB_TEXT = (
    "Disappointed the Knicks vs Nets game got canceled tonight\\u002c but I\\u2019m even more hyped for Knicks "
    "vs Heat on Friday! \n"
    "@user La prensa cada vez más desacreditada  Dejé de ver televisión y pronto dejaré tb de leer periódicos.\n"
    "intensità di vita  http"
)
UMSAB_LABELS_TXT = "0\n1\n2"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def write_jsonl(tmp_path, name, rows):
    return write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in rows))


def write_parquet(tmp_path, name, columns):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / name
    pq.write_table(pa.table(columns), str(path))
    return path


# ---------------------------------------------------------------------------- STS layouts


def test_stsbenchmark_layout_keeps_genres_and_quotes(tmp_path):
    data = read_sts(write(tmp_path, "sts-test.csv", STSB))
    assert data.layout == "stsbenchmark" and len(data) == 5
    assert data.genres == ["main-captions"] * 3 + ["main-forums", "main-news"]
    assert data.scores.dtype == np.float64
    np.testing.assert_array_equal(data.scores, [2.5, 3.6, 3.2, 4.0, 1.4])
    assert data.sentences1[2] == 'A young boy jumping into a pool that says "no diving".'  # QUOTE_NONE
    assert data.sentences2[3] == 'I always go by the rule "When in doubt, throw it out!'  # unbalanced quote
    assert data.score_range == (1.4, 4.0)
    assert data.normalization_range == (0.0, 5.0)  # the STS Benchmark's nominal range
    np.testing.assert_allclose(data.normalized_scores(), data.scores / 5.0)
    assert data.summary()["genres"] == {"main-captions": 3, "main-forums": 1, "main-news": 1}


def test_stsbenchmark_with_crlf_and_tsv_suffix(tmp_path):
    data = read_sts(write(tmp_path, "sts.tsv", STSB.replace("\n", "\r\n")))
    assert data.layout == "stsbenchmark" and data.sentences2[0] == "A girl is brushing her hair."


def test_stsbenchmark_short_row_names_the_line(tmp_path):
    broken = STSB + "main-news\tMSRpar\t2012test\t0005\t2.0\tonly one sentence\n"
    with pytest.raises(InputError, match=r"line 6: expected at least 7 tab-separated fields.*got 6"):
        read_sts(write(tmp_path, "sts.csv", broken))


def test_a_malformed_first_line_is_an_input_error(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('"a" ,b,3\nc,d,4\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        read_sts(path)


def test_a_score_too_large_for_a_float_is_an_input_error(tmp_path):
    path = tmp_path / "big.jsonl"
    rows = [{"sentence1": "a", "sentence2": "b", "score": 1}, {"sentence1": "c", "sentence2": "d", "score": 10**400}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match="too large for a score"):
        read_sts(path)


def test_stsbenchmark_bad_score_names_the_line(tmp_path):
    broken = STSB.replace("\t1.400\t", "\tn/a\t")
    with pytest.raises(InputError, match=r"line 5: the score \(field 5\) is 'n/a'; expected a numeric score"):
        read_sts(write(tmp_path, "sts.csv", broken))


def test_headerless_csv_crlf_quoted_commas(tmp_path):
    data = read_sts(write(tmp_path, "stsb-es-test.csv", MULTI_MT))
    assert data.layout == "headerless" and data.genres is None and len(data) == 3
    assert data.sentences1[1] == "Tres jóvenes corren, saltan y se lanzan de una máquina de Coca-Cola."
    assert data.sentences2[2].endswith("plástico púrpura.")
    np.testing.assert_array_equal(data.scores, [2.5, 1.5, 2.6])
    assert data.normalization_range == (0.0, 5.0)


def test_headerless_tsv_and_txt(tmp_path):
    content = "uno\tdos\t0.1\ntres\tcuatro\t0.9\n"
    for name in ("pairs.tsv", "pairs.txt"):
        data = read_sts(write(tmp_path, name, content))
        assert data.layout == "headerless" and data.sentences2 == ["dos", "cuatro"]
        assert data.normalization_range == (0.0, 1.0)


def test_headerless_wrong_field_count_names_the_line(tmp_path):
    broken = MULTI_MT + "una frase, sin comillas,y otra,3.0\r\n"
    with pytest.raises(InputError, match=r"line 4: expected 3 comma-separated fields.*got 4; quote fields"):
        read_sts(write(tmp_path, "stsb.csv", broken))


def test_unrecognised_txt(tmp_path):
    with pytest.raises(InputError, match="neither the STS Benchmark layout"):
        read_sts(write(tmp_path, "notes.txt", "just some text\nand more\n"))


# ---------------------------------------------------------------------------- STS tables


def test_named_csv_with_default_columns(tmp_path):
    path = write(tmp_path, "pairs.csv", "id,sentence1,sentence2,score\n1,a b,c d,0\n2,e f,g h,4.5\n")
    data = read_sts(path)
    assert data.layout == "table" and data.sentences1 == ["a b", "e f"] and data.scores.tolist() == [0.0, 4.5]


@pytest.mark.parametrize(
    ("s1", "s2", "score"),
    [("sentence_A", "sentence_B", "relatedness_score"), ("text1", "text2", "similarity"),
     ("Sentence A", "Sentence B", "label"), ("sentence_1", "sentence_2", "gold_score")],
)
def test_column_aliases(tmp_path, s1, s2, score):
    rows = [{s1: "x y", s2: "z", score: 1}, {s1: "p", s2: "q r", score: 3.5}]
    data = read_sts(write_jsonl(tmp_path, "pairs.jsonl", rows))
    assert data.sentences2 == ["z", "q r"] and data.scores.tolist() == [1.0, 3.5]


def test_tsv_table_with_genre_and_explicit_columns(tmp_path):
    content = "left\tright\tgold\tdomain\nhola\tciao\t0.5\tnews\nperro\tcane\t-0.5\tcaptions\n"
    path = write(tmp_path, "pairs.tsv", content)
    data = read_sts(path, sentence1_column="left", sentence2_column="right", score_column="gold")
    assert data.genres == ["news", "captions"]  # 'domain' found as the genre column
    assert data.normalization_range == (-0.5, 0.5)  # outside [0, 1] and [0, 5]: the observed range


def test_parquet_table(tmp_path):
    path = write_parquet(tmp_path, "pairs.parquet",
                         {"sentence1": ["a", "b", "c"], "sentence2": ["d", "e", "f"], "score": [0.0, 2.0, 5.0]})
    data = read_sts(path)
    assert len(data) == 3 and data.scores.tolist() == [0.0, 2.0, 5.0]


def test_guessing_fails_lists_the_columns(tmp_path):
    path = write(tmp_path, "pairs.csv", "first,second,value\na,b,1\nc,d,2\n")
    with pytest.raises(InputError, match=r"no sentence1 column \(looked for sentence1, .*available columns: "
                                         r"'first', 'second', 'value'; pass sentence1_column=NAME"):
        read_sts(path)


def test_explicit_column_not_found(tmp_path):
    path = write(tmp_path, "pairs.csv", "sentence1,sentence2,score\na,b,1\nc,d,2\n")
    with pytest.raises(InputError, match=r"column 'sim' \(score_column\) not found.*'sentence1', 'sentence2'"):
        read_sts(path, score_column="sim")


def test_ambiguous_columns(tmp_path):
    path = write_jsonl(tmp_path, "pairs.jsonl", [{"sentence1": "a", "sentence2": "b", "Score": 1, "score": 2}] * 2)
    with pytest.raises(InputError, match="'Score', 'score' could all be the score column; pass score_column"):
        read_sts(path)


def test_same_column_twice(tmp_path):
    path = write(tmp_path, "pairs.csv", "sentence1,sentence2,score\na,b,1\nc,d,2\n")
    with pytest.raises(InputError, match="same column serves two roles"):
        read_sts(path, sentence2_column="sentence1")


# ---------------------------------------------------------------------------- STS errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty; expected STS pairs"),
        ("  \n\n", "is empty; expected STS pairs"),
        ("sentence1,sentence2,score\n", "has no rows"),
        ("sentence1,sentence2,score\na,b,1\n", "has 1 row; expected at least 2"),
        ("a,b,1\n", "has 1 pair; expected at least 2"),
        ("sentence1,sentence2,score\na,b,1\nc,d,nan\n", r"row 2: column 'score' is nan; expected a finite"),
        ("sentence1,sentence2,score\na,b,1\nc,d,inf\n", r"row 2: column 'score' is inf; expected a finite"),
        ("sentence1,sentence2,score\na,b,1\nc,d,high\n", r"row 2: column 'score' is 'high'; expected a numeric"),
        ("sentence1,sentence2,score\na,b,1\nc,d,\n", r"row 2: column 'score' is empty; expected a numeric"),
        ("sentence1,sentence2,score\na,b,1\n  ,d,2\n", r"row 2: column 'sentence1' is empty; expected a non-empty"),
        ("a,b,1\nc,,2\n", r"line 2: sentence2 is empty"),
        ("a,b,2\nc,d,2\ne,f,2.0\n", "all 3 scores are 2, so correlation with them is undefined"),
        ("sentence1,sentence2,score\na,b\n", r"line 2: expected 3 fields"),
    ],
)
def test_sts_errors(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        read_sts(write(tmp_path, "pairs.csv", content))


def test_sts_not_utf8(tmp_path):
    path = write(tmp_path, "pairs.csv", b"a,b,1\n" + "caf\xe9,d,2\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"not valid UTF-8 \(invalid byte 0xe9.*re-save it as UTF-8"):
        read_sts(path)


def test_sts_jsonl_missing_key_and_wrong_types(tmp_path):
    rows = [{"sentence1": "a", "sentence2": "b", "score": 1}, {"sentence1": "c", "sentence2": "d"}]
    with pytest.raises(InputError, match=r"row 2: column 'score' is missing"):
        read_sts(write_jsonl(tmp_path, "a.jsonl", rows))
    rows[1]["score"] = True
    with pytest.raises(InputError, match=r"row 2: column 'score' is a boolean"):
        read_sts(write_jsonl(tmp_path, "b.jsonl", rows))
    rows[1] = {"sentence1": 7, "sentence2": "d", "score": 2}
    with pytest.raises(InputError, match=r"row 2: column 'sentence1' holds 7 of type int; expected a string"):
        read_sts(write_jsonl(tmp_path, "c.jsonl", rows))
    write(tmp_path, "d.jsonl", "")
    with pytest.raises(InputError, match="has no rows"):
        read_sts(tmp_path / "d.jsonl")


def test_sts_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_sts(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="supported table formats"):
        read_sts(write(tmp_path, "pairs.xlsx", "x"))


# ---------------------------------------------------------------------------- STSData


def test_stsdata_validates_and_is_read_only():
    data = STSData(["a", "b"], ["c", "d"], [0.0, 1.0])
    assert len(data) == 2 and data.layout == "memory" and data.normalization_range == (0.0, 1.0)
    with pytest.raises(ValueError, match="read-only"):
        data.scores[0] = 3.0
    with pytest.raises(InputError, match="expected one score per pair"):
        STSData(["a", "b"], ["c"], [0.0, 1.0])
    with pytest.raises(InputError, match="expected at least 2"):
        STSData(["a"], ["c"], [0.0])
    with pytest.raises(InputError, match=r"score\[1\] is nan"):
        STSData(["a", "b"], ["c", "d"], [0.0, float("nan")])
    with pytest.raises(InputError, match=r"sentences2\[1\] is an empty text"):
        STSData(["a", "b"], ["c", " "], [0.0, 1.0])
    with pytest.raises(InputError, match="genres must be one string per pair"):
        STSData(["a", "b"], ["c", "d"], [0.0, 1.0], genres=["x"])


def test_normalization_rules():
    def norm(scores):
        return STSData(["a"] * len(scores), ["b"] * len(scores), scores).normalization_range

    assert norm([0.0, 4.0]) == (0.0, 5.0)
    assert norm([0.2, 0.9]) == (0.0, 1.0)
    assert norm([1.0, 10.0]) == (1.0, 10.0)
    data = STSData(["a", "b", "c"], ["d", "e", "f"], [1.0, 10.0, 5.5])
    np.testing.assert_allclose(data.normalized_scores(), [0.0, 1.0, 0.5])


def test_sha256_hashes_content_not_format(tmp_path):
    csv_data = read_sts(write(tmp_path, "a.csv", "sentence1,sentence2,score\nuno,dos,1\ntres,cuatro,2.5\n"))
    jsonl_data = read_sts(write_jsonl(tmp_path, "b.jsonl", [{"text1": "uno", "text2": "dos", "label": 1},
                                                            {"text1": "tres", "text2": "cuatro", "label": 2.5}]))
    assert csv_data.sha256 == jsonl_data.sha256 and len(csv_data.sha256) == 64
    other = read_sts(write(tmp_path, "c.csv", "sentence1,sentence2,score\nuno,dos,1\ntres,cuatro,2.4\n"))
    assert other.sha256 != csv_data.sha256
    assert csv_data.to_dict() == {"sentence1": ["uno", "tres"], "sentence2": ["dos", "cuatro"], "score": [1.0, 2.5]}
    json.dumps(csv_data.summary())


# ---------------------------------------------------------------------------- classification: two files


def umsab_folder(tmp_path, text=UMSAB_TEXT, labels=UMSAB_LABELS_TXT, split="val"):
    write(tmp_path, f"{split}_text.txt", text)
    write(tmp_path, f"{split}_labels.txt", labels)
    return tmp_path


def test_umsab_folder_and_text_file(tmp_path):
    folder = umsab_folder(tmp_path)
    data = read_classification(folder, split="val")
    assert isinstance(data, LabelledTexts) and len(data) == 3
    assert data.labels == ["0", "1", "2"] and data.classes == ["0", "1", "2"]
    assert data.texts[0].endswith("on Friday! ")  # kept as is, trailing space included
    assert "I\\u2019m" in data.texts[0]  # literal escapes kept unless decode_escapes=True
    same = read_classification(folder / "val_text.txt")
    assert same.texts == data.texts and same.sha256 == data.sha256
    named = read_classification(folder, split="val", label_names=UMSAB_LABELS)
    assert named.labels == ["negative", "neutral", "positive"]
    assert named.label_counts() == {"negative": 1, "neutral": 1, "positive": 1}


def test_umsab_decode_escapes(tmp_path):
    data = read_classification(umsab_folder(tmp_path), split="val", decode_escapes=True)
    assert data.texts[0].startswith("Disappointed the Knicks vs Nets game got canceled tonight, but I\u2019m even")
    from frasi.data.labelled import decode_unicode_escapes

    assert decode_unicode_escapes("a\\ud83d\\ude00b \\ud800 \\u00e9") == "a\U0001f600b \\ud800 \u00e9"


def test_read_umsab_reads_each_language_and_split_as_laid_out(tmp_path):
    for language in ("english", "spanish"):
        (tmp_path / language).mkdir()
    umsab_folder(tmp_path / "english")
    umsab_folder(tmp_path / "spanish", text="¡Qué día!\nNo sé\nOdio esto", labels="2\n1\n0")
    splits = read_umsab(tmp_path, ["en", "es"], splits=["val"])
    assert list(splits) == [("en", "val"), ("es", "val")]
    assert splits[("en", "val")].texts[0].startswith("Disappointed") and "\u2019" in splits[("en", "val")].texts[0]
    assert splits[("es", "val")].labels == ["positive", "neutral", "negative"]
    both = concatenate(list(splits.values()), source="UMSAB val en + es")
    assert len(both) == 6 and both.source == "UMSAB val en + es"
    assert sorted(umsab_files(tmp_path, ["es"], splits=["val"])) == ["spanish/val_labels.txt", "spanish/val_text.txt"]
    with pytest.raises(InputError, match="UMSAB has no language 'xx'"):
        read_umsab(tmp_path, ["xx"])


def test_two_files_crlf_and_trailing_newlines(tmp_path):
    folder = umsab_folder(tmp_path, text="uno\r\ndos\r\n\r\n", labels="a\r\nb\r\n")
    assert read_classification(folder, split="val").to_dict() == {"text": ["uno", "dos"], "label": ["a", "b"]}


@pytest.mark.parametrize(
    ("text", "labels", "message"),
    [
        ("uno\ndos\ntres", "0\n1", r"val_text.txt has 3 lines but .*val_labels.txt has 2; expected one label"),
        ("uno\n\ntres", "0\n1\n2", r"val_text.txt line 2 is empty"),
        ("uno\ndos", "0\n ", r"val_labels.txt line 2 is empty, not a label"),
        ("uno\ndos", "0\n1.5", r"val_labels.txt line 2 is '1.5', a non-integer number; labels must be strings or"),
        ("uno", "0", r"val_text.txt has 1 text; expected at least 2"),
        ("", "", "val_text.txt is empty"),
    ],
)
def test_two_file_errors(tmp_path, text, labels, message):
    with pytest.raises(InputError, match=message):
        read_classification(umsab_folder(tmp_path, text=text, labels=labels), split="val")


def test_two_file_usage_errors(tmp_path):
    folder = umsab_folder(tmp_path)
    umsab_folder(tmp_path, split="train")
    with pytest.raises(InputError, match=r"is a folder; expected split=.*one of 'train', 'val'"):
        read_classification(folder)
    with pytest.raises(InputError, match=r"test_text.txt does not exist"):
        read_classification(folder, split="test")
    with pytest.raises(InputError, match=r"holds the labels; pass the texts file val_text.txt"):
        read_classification(folder / "val_labels.txt")
    with pytest.raises(InputError, match="only applies to a folder"):
        read_classification(folder / "val_text.txt", split="val")
    with pytest.raises(InputError, match="apply to tables"):
        read_classification(folder, split="val", text_column="text")
    (tmp_path / "val_labels.txt").unlink()
    with pytest.raises(InputError, match=r"val_labels.txt does not exist; the two-file layout needs"):
        read_classification(folder / "val_text.txt")


def test_label_names_errors(tmp_path):
    folder = umsab_folder(tmp_path)
    with pytest.raises(InputError, match=r"val_labels.txt line 3: label '2' has no entry in label_names "
                                         r"\(keys: '0', '1'\); add it"):
        read_classification(folder, split="val", label_names={"0": "neg", "1": "neu"})
    data = read_classification(folder, split="val", label_names={0: "neg", 1: "neu", 2: "pos"})  # int keys
    assert data.labels == ["neg", "neu", "pos"]
    with pytest.raises(InputError, match="label_names must be a mapping"):
        read_classification(folder, split="val", label_names=["neg"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- classification: tables


def test_csv_table_labels_stay_strings(tmp_path):
    path = write(tmp_path, "train.csv", "text,label\n\"hola, mundo\",1\nciao,0\nhello,2\n")
    data = read_classification(path)
    assert data.texts == ["hola, mundo", "ciao", "hello"] and data.labels == ["1", "0", "2"]


def test_jsonl_aliases_and_integer_labels(tmp_path):
    rows = [{"tweet": "buenos días", "sentiment": 2}, {"tweet": "ciao", "sentiment": 0}]
    data = read_classification(write_jsonl(tmp_path, "t.jsonl", rows), label_names=UMSAB_LABELS)
    assert data.labels == ["positive", "negative"]


def test_tsv_sentence_label_and_explicit_columns(tmp_path):
    path = write(tmp_path, "dev.tsv", "sentence\tlabel\tother\nit 's a charming journey . \t1\tx\nbad\t0\ty\n")
    assert read_classification(path).labels == ["1", "0"]
    data = read_classification(path, text_column="sentence", label_column="other")
    assert data.labels == ["x", "y"]


def test_parquet_classification(tmp_path):
    path = write_parquet(tmp_path, "t.parquet", {"text": ["a", "b"], "label": [0, 1]})
    assert read_classification(path).labels == [0, 1]  # integers stay integers, as in Python
    path = write_parquet(tmp_path, "w.parquet", {"text": ["a", "b"], "label": [0.0, 1.0]})  # pandas' ints with gaps
    assert read_classification(path).labels == [0, 1]
    path = write_parquet(tmp_path, "f.parquet", {"text": ["a", "b"], "label": [0.0, 1.5]})
    with pytest.raises(InputError, match="row 2: column 'label' is the number 1.5; labels must be strings or integers"):
        read_classification(path)


def test_one_label_rule_for_files_and_python(tmp_path):
    """A JSONL label column mixing 1 and "1" is refused, as EmbeddingClassifier.fit refuses it."""
    from frasi.labels import check_labels

    rows = [{"text": "uno", "label": "1"}, {"text": "dos", "label": 1}, {"text": "tres", "label": 2}]
    with pytest.raises(InputError, match=r"mix strings and integers \(.*row 1: column 'label' is the string '1', "
                                         r".*row 2: column 'label' the integer 1\)"):
        read_classification(write_jsonl(tmp_path, "mixed.jsonl", rows))
    with pytest.raises(InputError, match=r"mix strings and integers \(labels\[0\] is the string '1'"):
        check_labels(["1", 1, 2])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "is the number 1.5; labels must be strings or integers"),
        (None, "is None, not a label"),
        ("", "is empty, not a label"),
        ("NaN", "is 'NaN', a missing value, not a label"),
        (float("nan"), "is NaN, not a label"),
        (True, "is a boolean"),
        ("2.0", "is '2.0', a non-integer number; labels must be strings or integers"),
        ([1], "holds a list; labels must be strings or integers"),
    ],
)
def test_bad_labels(tmp_path, value, message):
    rows = [{"text": "uno", "label": "a"}, {"text": "dos", "label": value}]
    with pytest.raises(InputError, match=rf"row 2: column 'label' {message}"):
        read_classification(write_jsonl(tmp_path, "t.jsonl", rows))


def test_classification_table_errors(tmp_path):
    with pytest.raises(InputError, match=r"no label column \(looked for label, .*available columns: 'text', 'y'"):
        read_classification(write(tmp_path, "a.csv", "text,y\nuno,1\ndos,2\n"))
    with pytest.raises(InputError, match=r"row 2: column 'text' is empty"):
        read_classification(write(tmp_path, "b.csv", "text,label\nuno,1\n ,2\n"))
    with pytest.raises(InputError, match="has 1 row; expected at least 2"):
        read_classification(write(tmp_path, "c.csv", "text,label\nuno,1\n"))
    with pytest.raises(InputError, match="has no rows"):
        read_classification(write(tmp_path, "d.csv", ""))
    with pytest.raises(InputError, match="only applies to a folder"):
        read_classification(tmp_path / "b.csv", split="train")
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_classification(write(tmp_path, "e.csv", b"text,label\n\xff\xfe,1\n"))


def test_labelled_texts_direct():
    data = LabelledTexts(["a", "b"], ["x", "y"])
    assert data.classes == ["x", "y"] and data.summary()["n"] == 2
    with pytest.raises(InputError, match="expected one label per text"):
        LabelledTexts(["a", "b"], ["x"])
    with pytest.raises(InputError, match=r"labels mix strings and integers"):
        LabelledTexts(["a", "b"], ["x", 1])  # type: ignore[list-item]
