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
    ("frasi embed", "Embeddings to .npy, .parquet (text + vector; needs `pip install 'frasi[parquet]'`) or .jsonl, "
     "with a summary line (count, dimension, seconds, texts per second, truncated texts).", [
        ["frasi", "embed", "--file", "noticias_es.txt", "--output", "{tmp}/noticias.npy"],
        ["frasi", "embed", "--file", "frasi_it.csv", "--column", "testo", "--output", "{tmp}/frasi.parquet"],
        ["frasi", "embed", "The cat sleeps.", "Il gatto dorme.", "--precision", "ubinary", "--output",
         "{tmp}/cats.jsonl"],
    ]),
    ("frasi similarity", "One query ranked against many texts, or the full matrix of a set "
     "(with an optional heatmap PNG; needs `pip install 'frasi[plot]'`).", [
        ["frasi", "similarity", "--file", "noticias_es.txt", "--query",
         "¿Sube el salario mínimo?", "--top-k", "4"],
        ["frasi", "similarity", "Il treno è in ritardo", "Il Frecciarossa delle 8 è in ritardo di venti minuti.",
         "Il treno per Milano parte dal binario 4.", "Domani è prevista pioggia su tutto il nord Italia."],
        ["frasi", "similarity", "--matrix", "How do I reset my password?", "I forgot my password.",
         "Shipping is free over 50 euros.", "--heatmap", "{tmp}/matrix.png"],
    ]),
    ("frasi search", "Top-k semantic search of queries over a corpus: queries get the model's "
     "\"query: \" prompt, the corpus \"passage: \". Exact search below 50,000 texts, a faiss HNSW "
     "index above (or with --index-kind faiss); --save-index keeps the index for later runs, and "
     "--index reuses it with the same --corpus (the index holds the vectors, the corpus file the texts).", [
        ["frasi", "search", "I can't log in", "When will I get my money back?", "--corpus", "faq_en.jsonl",
         "--top-k", "2"],
        ["frasi", "search", "ola de calor", "--corpus", "noticias_es.txt", "--top-k", "2",
         "--save-index", "{tmp}/noticias-index"],
        ["frasi", "search", "temperaturas", "--corpus", "noticias_es.txt", "--top-k", "2",
         "--index", "{tmp}/noticias-index"],
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
    ("frasi sentiment", "Negative / neutral / positive with probabilities, from the model that ships "
     "with frasi (multilingual-e5-small fine-tuned with LoRA on UMSAB tweets in es/it/en; built from the "
     "packaged e5 and its adapter on first use).", [
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
    ("frasi classify train --fine-tune", "Fine-tune the encoder itself as a classifier (`frasi[finetune]`): here "
     "SetFit's method, made for few labels, on all-MiniLM-L6-v2 and the same 18 training reviews, only to show the "
     "output (`--method full` or `lora` for real data sets). A setfit folder holds the logistic head and the "
     "tuned encoder (`encoder/`); `full` and `lora` save a Hugging Face text-classification folder. "
     "`classify predict` runs either on the default backend.", [
        ["frasi", "classify", "train", "resenas_es.csv", "--text-col", "texto", "--label-col", "etiqueta",
         "--fine-tune", "--method", "setfit", "--model", "all-MiniLM-L6-v2", "--test-size", "0.25",
         "--output", "{tmp}/resenas-setfit"],
        ["frasi", "classify", "predict", "{tmp}/resenas-setfit", "Un servicio excelente.", "La comida llegó fría."],
    ]),
    ("frasi eval sts", "Spearman and Pearson (x100) of each similarity against gold scores, with "
     "bootstrap 95% intervals and the protocol (here 12 Italian pairs with a 0-5 score).", [
        ["frasi", "eval", "sts", "sts_it.csv", "--sentence1-col", "frase1", "--sentence2-col", "frase2",
         "--score-col", "punteggio"],
    ]),
    ("frasi train", "Fine-tune on scored pairs, select on dev, score test once, and reload the model "
     "anywhere a model name goes. Here a toy run (20 Italian training pairs, two epochs of all-MiniLM-L6-v2) only "
     "to show the commands and their output. With 6 dev and 6 test pairs the scores are noise (see the "
     "intervals): real runs use thousands of pairs, as in benchmarks/train_sts.py and the README's results.", [
        ["frasi", "train", "bi-encoder", "sts_it_train.csv", "--dev", "sts_it_dev.csv", "--test", "sts_it_test.csv",
         "--model", "all-MiniLM-L6-v2", "--epochs", "2", "--batch-size", "4", "--output", "{tmp}/minilm-sts-it"],
        ["frasi", "similarity", "Il treno è in ritardo", "Il Frecciarossa viaggia con mezz'ora di ritardo.",
         "Il museo apre alle nove.", "--model", "{tmp}/minilm-sts-it"],
        ["frasi", "train", "architecture", "sts_it_train.csv", "--arch", "siamese", "--dev", "sts_it_dev.csv",
         "--test", "sts_it_test.csv", "--model", "all-MiniLM-L6-v2", "--epochs", "2", "--batch-size", "4",
         "--output", "{tmp}/minilm-siamese"],
    ]),
    ("frasi compare", "Train several architectures on one split with the same seeds and write a report "
     "(report.md / .csv / .json, learning curves and predicted-vs-gold PNGs). Same toy data as above, so "
     "the scores are noise; benchmarks/results/compare_sts-all-MiniLM-L6-v2-en/report.md is a real report.", [
        ["frasi", "compare", "sts_it_train.csv", "--dev", "sts_it_dev.csv", "--test", "sts_it_test.csv",
         "--model", "all-MiniLM-L6-v2", "--arch", "bi-encoder", "--arch", "cross-encoder", "--arch", "siamese",
         "--epochs", "2", "--batch-size", "4", "--output", "{tmp}/compare"],
    ]),
    ("frasi backends", "The runtimes behind the same Encoder (torch, onnx, onnx-int8, openvino, openvino-int8), their "
     "agreement with torch float32, and a faster run of a command. An export is made once per model and "
     "backend and cached.", [
        ["frasi", "backends", "list"],
        ["frasi", "backends", "check", "--model", "all-MiniLM-L6-v2", "--stsb", "sts_it_train.csv"],
        ["frasi", "embed", "--file", "noticias_es.txt", "--backend", "onnx", "--output", "{tmp}/noticias-onnx.npy"],
        ["frasi", "embed", "--file", "noticias_es.txt", "--backend", "openvino-int8", "--output",
         "{tmp}/noticias-openvino-int8.npy"],
    ]),
    ("frasi cache", "Embeddings are cached on disk by the CLI (off with --no-cache): encoding the same "
     "texts again reads them back.", [
        ["frasi", "embed", "--file", "noticias_es.txt", "--output", "{tmp}/noticias-again.npy"],
        ["frasi", "cache", "info"],
    ]),
    ("frasi corpus", "Embed a corpus on Dask (`frasi[dask]`): here one file on a local cluster of one worker "
     "process on 127.0.0.1; a rerun keeps the finished parts; verify checks every part against the manifest.", [
        ["frasi", "corpus", "embed", "noticias_es.txt", "--output", "{tmp}/noticias-corpus", "--workers", "1",
         "--model", "all-MiniLM-L6-v2"],
        ["frasi", "corpus", "embed", "noticias_es.txt", "--output", "{tmp}/noticias-corpus", "--workers", "1",
         "--model", "all-MiniLM-L6-v2"],
        ["frasi", "corpus", "verify", "{tmp}/noticias-corpus"],
    ]),
    ("frasi config", "The model, backend and threads every command uses when not told, and where each comes from.", [
        ["frasi", "config"],
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
    shared = frasi.sources.cache_dir()
    lines = ["# frasi commands, with worked examples",
             "",
             "Generated by `python docs/make_commands_md.py`, which runs every example in `docs/examples/`;",
             "the output below is what the commands printed (stdout and stderr). Cache paths are abbreviated.",
             ""]
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache:
        # a fresh cache folder, so the embedding cache starts empty; the converted model and
        # the backend exports are linked from the user's cache rather than built again
        for name in ("models", "backends"):
            (shared / name).mkdir(parents=True, exist_ok=True)
            os.symlink(shared / name, Path(cache) / name)
        env = dict(os.environ, COLUMNS="100", TERM="dumb", FRASI_CACHE=cache)
        for title, text, commands in SECTIONS:
            lines += [f"## {title}", "", text, ""]
            for command in commands:
                argv = [a.format(tmp=tmp, e5=e5) for a in command]
                result = subprocess.run(argv, cwd=EXAMPLES, env=env, capture_output=True, text=True)
                shown = " ".join(_shell_word(a.replace("{tmp}", "out").replace("{e5}", "$E5_FOLDER")) for a in command)
                output = (result.stdout + result.stderr).replace(tmp, "out").replace(e5, "$E5_FOLDER")
                output = output.replace(cache, "$FRASI_CACHE").rstrip()
                lines += ["```console", f"$ {shown}", output]
                if result.returncode:
                    lines.append(f"# exit code {result.returncode}")
                lines += ["```", ""]
                print(f"ran: {shown} -> {result.returncode}", file=sys.stderr)
    lines += ["`$E5_FOLDER` is the converted default model: "
              "`python -c \"import frasi; print(frasi.sources.resolve('multilingual-e5-small').path)\"`; "
              "`$FRASI_CACHE` is frasi's cache folder (`frasi.sources.cache_dir()`).", ""]
    (HERE / "commands.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


def _shell_word(arg: str) -> str:
    """``arg`` quoted for a POSIX shell; ``$E5_FOLDER`` in double quotes so that the shell expands it."""
    return f'"{arg}"' if arg.startswith("$E5_FOLDER") else shlex.quote(arg)


if __name__ == "__main__":
    sys.exit(main())
