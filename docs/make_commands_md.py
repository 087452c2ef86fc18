"""Regenerate docs/commands.md by running every worked example for real.

    python docs/make_commands_md.py

Each example runs in docs/examples/ with the installed ``frasi``; its stdout and stderr
are pasted under the command, so the page always shows what the command really prints.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"

SECTIONS: list[tuple[str, str, list[list[str]]]] = [
    ("frasi models", "The packaged models, whether they are ready, and where they live.", [
        ["frasi", "models"],
    ]),
    ("frasi tokenize", "Tokens, ids, decoded text, token count and the token-embedding matrix shape, "
     "as the model sees the text (prompt and special tokens included).", [
        ["frasi", "tokenize", "¿Dónde está la biblioteca municipal?"],
        ["frasi", "tokenize", "Dov'è la biblioteca comunale?", "--model", "all-MiniLM-L6-v2"],
        ["frasi", "tokenize", "Where is the public library?", "--prompt", "", "--json"],
    ]),
    ("frasi embed", "Embeddings to .npy, .parquet (text + vector) or .jsonl, with a summary line "
     "(count, dimension, seconds, texts per second, truncated texts).", [
        ["frasi", "embed", "--file", "noticias_es.txt", "--output", "{tmp}/noticias.npy"],
        ["frasi", "embed", "--file", "frasi_it.csv", "--column", "testo", "--output", "{tmp}/frasi.parquet"],
        ["frasi", "embed", "The cat sleeps.", "Il gatto dorme.", "--precision", "ubinary", "--output", "{tmp}/cats.jsonl"],
    ]),
    ("frasi similarity", "One query ranked against many texts, or the full matrix of a set "
     "(with an optional heatmap PNG).", [
        ["frasi", "similarity", "--file", "noticias_es.txt", "--query",
         "¿Sube el salario mínimo?", "--top-k", "4"],
        ["frasi", "similarity", "Il treno è in ritardo", "Il Frecciarossa delle 8 è in ritardo di venti minuti.",
         "Il treno per Milano parte dal binario 4.", "Domani è prevista pioggia su tutto il nord Italia."],
        ["frasi", "similarity", "--matrix", "How do I reset my password?", "I forgot my password.",
         "Shipping is free over 50 euros.", "--heatmap", "{tmp}/matrix.png"],
    ]),
    ("frasi search", "Top-k semantic search of queries over a corpus: queries get the model's "
     "\"query: \" prompt, the corpus \"passage: \". Exact search below 50,000 texts, a faiss HNSW "
     "index above (or with --index-kind faiss); --save-index keeps the index for later runs.", [
        ["frasi", "search", "I can't log in", "When will I get my money back?", "--corpus", "faq_en.jsonl",
         "--top-k", "2"],
        ["frasi", "search", "ola de calor", "--corpus", "noticias_es.txt", "--top-k", "2",
         "--save-index", "{tmp}/noticias-index"],
        ["frasi", "search", "quando parte il treno?", "--corpus", "frasi_it.csv", "--column", "testo",
         "--top-k", "2", "--json"],
    ]),
    ("frasi paraphrases", "The most similar pairs in a corpus.", [
        ["frasi", "paraphrases", "--file", "noticias_es.txt", "--max-pairs", "4"],
        ["frasi", "paraphrases", "--file", "frasi_it.csv", "--column", "testo", "--max-pairs", "2"],
        ["frasi", "paraphrases", "--file", "faq_en.jsonl", "--max-pairs", "2", "--model", "all-MiniLM-L6-v2"],
    ]),
    ("frasi compose", "Build Transformer -> Pooling -> [Dense] -> [Normalize] from a plain encoder "
     "folder and save it as a sentence-transformers folder (here over the converted e5 folder, "
     "whose transformer files sit at its root).", [
        ["frasi", "compose", "{e5}", "--pooling", "cls", "--dense", "128", "--activation", "tanh",
         "--output", "{tmp}/e5-cls-dense"],
        ["frasi", "similarity", "Buongiorno", "Buenos días", "Good night", "--model", "{tmp}/e5-cls-dense"],
    ]),
    ("frasi sentiment", "Negative / neutral / positive with probabilities, from the head that ships "
     "with frasi (trained on UMSAB tweets in es/it/en over the default model's embeddings).", [
        ["frasi", "sentiment", "¡Me encanta este sitio!", "Che schifo di giornata.", "The meeting is at five."],
        ["frasi", "sentiment", "--file", "resenas_es.csv", "--column", "texto", "--output", "{tmp}/sentimiento.csv"],
    ]),
    ("frasi classify", "Train a classifier on embeddings (here a tiny set of Spanish reviews, with a "
     "held-out test split, C chosen by 3-fold cross-validation), then use the saved folder and score "
     "it (scored here on the whole file, training rows included, only to show the output: score "
     "on held-out data).", [
        ["frasi", "classify", "train", "resenas_es.csv", "--text-col", "texto", "--label-col", "etiqueta",
         "--head", "logistic", "--C", "0.1,1,10", "--cv", "3", "--test-size", "0.25", "--output", "{tmp}/resenas"],
        ["frasi", "classify", "predict", "{tmp}/resenas", "Un servicio excelente.", "La comida llegó fría."],
        ["frasi", "classify", "evaluate", "{tmp}/resenas", "resenas_es.csv", "--text-col", "texto",
         "--label-col", "etiqueta", "--json"],
    ]),
    ("frasi eval sts", "Spearman and Pearson (x100) of each similarity against gold scores, with "
     "bootstrap 95% intervals and the protocol (here 12 Italian pairs with a 0-5 score).", [
        ["frasi", "eval", "sts", "sts_it.csv", "--sentence1-col", "frase1", "--sentence2-col", "frase2",
         "--score-col", "punteggio"],
    ]),
    ("Errors", "Bad input gives one line on stderr and exit code 2; nothing is written.", [
        ["frasi", "embed", "", "--output", "{tmp}/x.npy"],
        ["frasi", "embed", "--file", "frasi_it.csv", "--column", "text", "--output", "{tmp}/x.npy"],
        ["frasi", "embed", "hola", "--model", "bert-base-spanish", "--output", "{tmp}/x.npy"],
    ]),
]


def main() -> int:
    import frasi

    e5 = str(frasi.sources.resolve("multilingual-e5-small").path)
    lines = ["# frasi commands, with worked examples",
             "",
             "Generated by `python docs/make_commands_md.py`, which runs every example in `docs/examples/`;",
             "the output below is what the commands printed (stdout and stderr). Cache paths are abbreviated.",
             ""]
    env = dict(os.environ, COLUMNS="100", TERM="dumb")
    with tempfile.TemporaryDirectory() as tmp:
        for title, text, commands in SECTIONS:
            lines += [f"## {title}", "", text, ""]
            for command in commands:
                argv = [a.format(tmp=tmp, e5=e5) for a in command]
                result = subprocess.run(argv, cwd=EXAMPLES, env=env, capture_output=True, text=True)
                shown = " ".join(shlex.quote(a) for a in command).replace("{tmp}", "out").replace("{e5}", "$E5_FOLDER")
                output = (result.stdout + result.stderr).replace(tmp, "out").replace(e5, "$E5_FOLDER").rstrip()
                lines += ["```console", f"$ {shown}", output]
                if result.returncode:
                    lines.append(f"# exit code {result.returncode}")
                lines += ["```", ""]
                print(f"ran: {shown} -> {result.returncode}", file=sys.stderr)
    lines += ["`$E5_FOLDER` is the converted default model: "
              "`python -c \"import frasi; print(frasi.sources.resolve('multilingual-e5-small').path)\"`.", ""]
    (HERE / "commands.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
