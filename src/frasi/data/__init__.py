"""Readers for evaluation and training data: STS pairs and labelled texts.

Every reader checks the whole file before any model work and raises InputError with one
line naming the file, the line or row, what was found, what was expected and the fix.

STS pairs (:func:`read_sts`) come in three layouts, detected from the file itself:

    stsbenchmark  the original STS Benchmark: tab-separated, unquoted (read with
                  csv.QUOTE_NONE), no header; fields genre, filename, year, id, score,
                  sentence1, sentence2 and, on some rows, two source fields (ignored).
                  Detected by 7+ tab-separated fields with a number in the 5th.
    headerless    sentence1, sentence2, score with no header (stsb_multi_mt): a .csv
                  is comma-separated and quoted, a .tsv / .txt tab-separated. Detected
                  by exactly 3 fields with a number in the 3rd.
    table         CSV/TSV/JSONL/parquet with named columns; the columns are guessed
                  from common names (sentence1/sentence_a/text1, sentence2/..., score/
                  label/similarity/relatedness_score, genre/domain) or given by name.

Scores are kept raw. ``STSData.normalization_range`` is the range used to map them to
[0, 1] when asked (``normalized_scores()``): (0, 5) for the STS Benchmark layout and for
scores that all lie in [0, 5] with some above 1; (0, 1) for scores already in [0, 1];
otherwise the observed (min, max). Rank and linear correlations do not depend on it.

Labelled texts (:func:`read_classification`) come as a table with a text and a label
column, or as the two-file layout ``<split>_text.txt`` + ``<split>_labels.txt`` (one text
/ one label a line, as in UMSAB tweet sentiment). Labels follow the one rule of
:mod:`frasi.labels`: strings or integers, never both (a CSV's "0" stays "0", a JSONL's 0
stays 0, and a JSONL mixing 1 and "1" is refused); ``label_names`` renames them, e.g.
``label_names=UMSAB_LABELS``. Texts are kept as
they are: the English UMSAB train/val tweets hold literal escapes such as ``i\\u2019m``
while the test tweets hold the real character; ``decode_escapes=True`` turns ``\\uXXXX``
sequences into the characters they name.

``sha256`` on both data classes hashes the parsed content (canonical JSON of
``to_dict()``), not the file bytes: the same pairs from a CSV or a JSONL hash the same.
"""

from .labelled import (
    UMSAB_LABELS,
    UMSAB_LANGUAGES,
    LabelledTexts,
    concatenate,
    read_classification,
    read_umsab,
    umsab_files,
)
from .sts import STSData, read_pairs, read_sts

__all__ = [
    "UMSAB_LABELS",
    "UMSAB_LANGUAGES",
    "LabelledTexts",
    "STSData",
    "concatenate",
    "read_classification",
    "read_umsab",
    "umsab_files",
    "read_pairs",
    "read_sts",
]
