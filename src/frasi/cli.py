"""The ``frasi`` command line: a thin layer over the public API.

Every command parses its arguments, checks its output path before any slow work, calls
the library, writes its output atomically and prints a summary. Conventions shared by
every command: positional inputs, ``--model``, ``--output`` (format from the extension),
``--json`` (machine-readable stdout), ``--quiet``. Exit codes: 0 ok, 2 bad input or
usage, 1 internal error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

import frasi
from frasi.encoder import LONG_TEXT_POLICIES, PRECISIONS, check_choice
from frasi.errors import FrasiError, InputError, require
from frasi.io import EMBEDDING_SUFFIXES, check_output_path, read_texts, validate_texts, write_embeddings, write_json
from frasi.plots import short_label
from frasi.sources import DEFAULT_MODEL

app = typer.Typer(
    name="frasi",
    help="Sentence embeddings for Spanish, Italian and English: encode, compare, search. Offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# markup off: user texts such as "[1]" must print as they are
out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
logger = logging.getLogger("frasi.cli")

# ---------------------------------------------------------------- shared options

Model = Annotated[str, typer.Option("--model", "-m", help="Model folder, packaged name or Hub id.")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file; format from its extension.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress bar.")]
File = Annotated[Optional[Path], typer.Option("--file", "-f", help="Read texts from a .txt/.csv/.tsv/.jsonl/.parquet file.")]
Column = Annotated[Optional[str], typer.Option("--column", "-c", help="Column holding the texts in a table file.")]
Prompt = Annotated[Optional[str], typer.Option("--prompt", help='Prompt text to prepend; "" disables the model\'s prompt.')]
Metric = Annotated[str, typer.Option("--metric", help="cosine, dot or euclidean (negative distance).")]
SearchMetric = Annotated[Optional[str], typer.Option(
    "--metric", help="cosine (default), dot or euclidean (negative distance); a saved index keeps its own.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")]
LongTexts = Annotated[str, typer.Option("--long-texts", help="Texts over the model's maximum: truncate (default) or chunk.")]


def _setup_logging(quiet: bool) -> None:
    """frasi's messages go to stderr: through rich on a terminal, one plain line each otherwise."""
    root = logging.getLogger("frasi")
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


def _texts(texts: list[str] | None, file: Path | None, column: str | None, *, what: str = "texts") -> list[str]:
    if file is not None and texts:
        raise InputError(f"give {what} either as arguments or with --file, not both")
    if file is not None:
        return read_texts(file, column=column)
    if column is not None:
        raise InputError("--column only applies with --file")
    if not texts:
        raise InputError(f"no {what}: pass them as arguments or with --file PATH")
    return validate_texts(texts)


def _load(model: str) -> frasi.Encoder:
    return frasi.Encoder.load(model)


def _emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def _write_table(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t" if path.suffix.lower() == ".tsv" else ",", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    frasi.io.write_text(path, buffer.getvalue())


def _write_records(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write result rows as .json, .jsonl, .csv or .tsv (checked up front by the command)."""
    suffix = path.suffix.lower()
    records = [dict(zip(header, row)) for row in rows]
    if suffix == ".json":
        write_json(path, records)
    elif suffix == ".jsonl":
        frasi.io.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        _write_table(path, header, rows)


RECORD_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv")

# ---------------------------------------------------------------- commands


@app.command()
def models(as_json: Json = False, quiet: Quiet = False) -> None:
    """List the models available offline and where they live."""
    _setup_logging(quiet)
    rows = frasi.list_models()
    if as_json:
        _emit_json({"default": DEFAULT_MODEL, "cache": str(frasi.cache_dir()),
                    "models": [vars(r) for r in rows]})
        return
    table = Table(title=f"packaged models (cache: {frasi.cache_dir()})")
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("location", overflow="fold")
    for r in rows:
        table.add_row(r.name + (" (default)" if r.name == DEFAULT_MODEL else ""), r.status, r.location)
    out.print(table)
    out.print("Any local sentence-transformers or Hugging Face encoder folder, or a Hub id when online, works too.")


@app.command()
def tokenize(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to tokenize.")] = None,
    file: File = None, column: Column = None, model: Model = DEFAULT_MODEL, prompt: Prompt = None,
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Show tokens, ids, decoded text, counts and the token-embedding shape of texts."""
    _setup_logging(quiet)
    items = _texts(texts, file, column)
    encoder = _load(model)
    infos = [encoder.tokenize(t, prompt=prompt) for t in items]
    if as_json:
        _emit_json([i.to_dict() for i in infos])
        return
    for info in infos:
        out.print(info.text, style="bold")
        if info.prompt:
            out.print(f"  prompt:    {info.prompt!r}")
        out.print(f"  tokens:    {info.tokens}")
        out.print(f"  ids:       {info.ids}")
        out.print(f"  decoded:   {info.decoded}")
        cut = f" (truncated to {info.max_length})" if info.truncated else ""
        out.print(f"  count:     {info.n_tokens} tokens{cut}; token embeddings {info.embedding_shape[0]} x "
                  f"{info.embedding_shape[1]}")


@app.command()
def embed(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to embed.")] = None,
    file: File = None, column: Column = None, output: Output = None, model: Model = DEFAULT_MODEL,
    prompt: Prompt = None,
    normalize: Annotated[bool, typer.Option("--normalize", help="L2-normalise the embeddings.")] = False,
    precision: Annotated[str, typer.Option("--precision", help="float32, int8, uint8, binary or ubinary.")] = "float32",
    long_texts: LongTexts = "truncate",
    batch_size: BatchSize = 32, as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Embed texts and write them to .npy, .parquet (text + vector) or .jsonl."""
    _setup_logging(quiet)
    if output is None and not as_json:
        raise InputError("pass --output FILE (.npy, .parquet or .jsonl) or --json to print the vectors")
    if output is not None:
        check_output_path(output, EMBEDDING_SUFFIXES)
        if output.suffix.lower() == ".parquet":
            require("pyarrow.parquet", extra="parquet", purpose="writing parquet files")
    check_choice("precision", precision, PRECISIONS)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    items = _texts(texts, file, column)
    encoder = _load(model)
    start = time.perf_counter()
    vectors = encoder.encode(items, prompt=prompt, normalize=normalize, precision=precision,  # type: ignore[arg-type]
                             long_texts=long_texts, batch_size=batch_size)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    truncated = encoder.count_truncated(items, prompt=prompt) if long_texts == "truncate" else 0
    summary = {"count": len(items), "dim": int(vectors.shape[1]), "dtype": str(vectors.dtype),
               "seconds": round(seconds, 3), "texts_per_second": round(len(items) / max(seconds, 1e-9), 1),
               "truncated": truncated, "model": encoder.name, "output": str(output) if output else None}
    if output is not None:
        write_embeddings(output, vectors, items)
    if as_json:
        if output is None:
            summary["embeddings"] = [{"text": t, "embedding": v.tolist()} for t, v in zip(items, vectors)]
        _emit_json(summary)
    elif not quiet:
        err.print(f"embedded {summary['count']} texts, dim {summary['dim']} ({summary['dtype']}), "
                  f"{summary['seconds']:.2f} s, {summary['texts_per_second']} texts/s"
                  + (f", {truncated} truncated" if truncated else "") + f" -> {output}")


@app.command()
def similarity(
    texts: Annotated[Optional[list[str]], typer.Argument(help="QUERY then the texts to rank (or, with --matrix, the set).")] = None,
    file: File = None, column: Column = None,
    query: Annotated[Optional[str], typer.Option("--query", help="The query, when the texts come from --file.")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="Score every pair of the texts (full matrix).")] = False,
    metric: Metric = "cosine",
    top_k: Annotated[Optional[int], typer.Option("--top-k", "-k", min=1, help="Show only the best K.")] = None,
    heatmap: Annotated[Optional[Path], typer.Option("--heatmap", help="Write a heatmap PNG.")] = None,
    output: Output = None, model: Model = DEFAULT_MODEL, prompt: Prompt = None, long_texts: LongTexts = "truncate",
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Rank texts by similarity to a query, or print the similarity matrix of a set."""
    _setup_logging(quiet)
    frasi.similarity.check_metric(metric)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if heatmap is not None:
        check_output_path(heatmap, (".png",))
        require("matplotlib", extra="plot", purpose="drawing a heatmap")
    if matrix and top_k is not None:
        raise InputError("--top-k applies to a ranking, not to --matrix")
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES + ((".npy",) if matrix else ()))
    items = list(texts or [])
    if not matrix and file is None and query is None:
        if len(items) < 2:
            raise InputError("give a query and at least one text to compare: frasi similarity QUERY TEXT...")
        query, items = items[0], items[1:]
    candidates = _texts(items or None, file, column)
    if not matrix and query is None:
        raise InputError("pass --query TEXT to rank the texts of --file (or --matrix for all pairs)")
    if matrix and query is not None:
        raise InputError("--query and --matrix exclude each other")
    if matrix and len(candidates) < 2:
        raise InputError("--matrix needs at least two texts")
    if query is not None:
        validate_texts([query], what="query")
    encoder = _load(model)

    if matrix:
        vectors = encoder.encode(candidates, prompt=prompt, long_texts=long_texts)  # type: ignore[arg-type]
        scores = frasi.pairwise_scores(vectors, metric=metric)
        if heatmap is not None:
            from frasi.plots import heatmap_png

            heatmap_png(heatmap, scores, candidates, metric=metric, title=f"{metric} similarity, {encoder.name}")
        if output is not None:
            if output.suffix.lower() == ".npy":
                write_embeddings(output, scores)
            else:
                _write_records(output, ["text", *candidates],
                               [[t, *map(_round, row)] for t, row in zip(candidates, scores)])
        if as_json:
            _emit_json({"texts": candidates, "metric": metric, "scores": scores.round(6).tolist()})
        else:
            table = Table(title=f"{metric} similarity ({encoder.name})")
            table.add_column("", max_width=28, no_wrap=True)
            for i in range(len(candidates)):
                table.add_column(str(i + 1), justify="right", min_width=5, no_wrap=True)
            for i, (text, row) in enumerate(zip(candidates, scores)):
                table.add_row(f"{i + 1} {short_label(text)}", *(f"{s:.3f}" for s in row))
            out.print(table)
        return

    assert query is not None
    vectors = encoder.encode([query, *candidates], prompt=prompt, long_texts=long_texts)  # type: ignore[arg-type]
    scores, order = frasi.rank(vectors[0], vectors[1:], metric=metric, top_k=top_k)
    rows = [[int(rank + 1), candidates[i], _round(s)] for rank, (i, s) in enumerate(zip(order, scores))]
    if heatmap is not None:
        from frasi.plots import heatmap_png

        heatmap_png(heatmap, scores[None, :], [query], [candidates[i] for i in order], metric=metric,
                    title=f"{metric} similarity to the query, {encoder.name}")
    if output is not None:
        _write_records(output, ["rank", "text", "score"], rows)
    if as_json:
        _emit_json({"query": query, "metric": metric, "results": [dict(zip(["rank", "text", "score"], r)) for r in rows]})
    else:
        out.print(_ranking_table(f"{metric} similarity to: {query}", rows))


@app.command()
def search(
    queries: Annotated[Optional[list[str]], typer.Argument(help="Queries.")] = None,
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Corpus file (.txt/.csv/.tsv/.jsonl/.parquet).")] = None,
    column: Column = None,
    queries_file: Annotated[Optional[Path], typer.Option("--queries-file", help="Read the queries from a file.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Results per query.")] = 10,
    metric: SearchMetric = None,
    index_kind: Annotated[str, typer.Option("--index-kind", help="auto, exact or faiss (approximate, HNSW).")] = "auto",
    index: Annotated[Optional[Path], typer.Option("--index", help="Load a saved index instead of encoding the corpus.")] = None,
    save_index: Annotated[Optional[Path], typer.Option("--save-index", help="Save the corpus index to this folder.")] = None,
    query_prompt: Annotated[Optional[str], typer.Option(
        "--query-prompt", help='Prompt for the queries (default: the model\'s "query" prompt); "" disables it.')] = None,
    corpus_prompt: Annotated[Optional[str], typer.Option(
        "--corpus-prompt", help='Prompt for the corpus (default: the model\'s "passage" prompt); "" disables it.')] = None,
    output: Output = None, model: Model = DEFAULT_MODEL, batch_size: BatchSize = 32, long_texts: LongTexts = "truncate",
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Semantic search: the top-K corpus texts for each query (queries use the model's
    "query" prompt, the corpus its "passage" prompt)."""
    _setup_logging(quiet)
    if metric is not None:
        frasi.similarity.check_metric(metric)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if index_kind not in ("auto", "exact", "faiss"):
        raise InputError(f"--index-kind must be auto, exact or faiss; got {index_kind!r}")
    if corpus is None:
        raise InputError("pass the corpus with --corpus FILE")
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES)
    if save_index is not None and index is not None:
        raise InputError("--index and --save-index exclude each other")
    if index is not None and index_kind != "auto":
        raise InputError("--index-kind applies when building an index, not with --index")
    if save_index is not None and save_index.exists() and not (save_index / "index.json").is_file() and (
            save_index.is_file() or any(save_index.iterdir())):
        raise InputError(f"--save-index {save_index} exists and is not an index folder; choose a new folder")
    query_texts = _texts(queries, queries_file, None, what="queries")
    docs = read_texts(corpus, column=column)
    fingerprint = {"corpus_sha256": _texts_sha256(docs), "corpus_prompt": corpus_prompt}
    encoder = _load(model)
    fingerprint["model"] = encoder.name
    if index is not None:
        built = frasi.load_index(index)
        labels = {"model": "model", "corpus_sha256": "corpus", "corpus_prompt": "--corpus-prompt"}
        for key, value in fingerprint.items():
            if built.metadata.get(key, value) != value:
                raise InputError(f"the index in {index} was built with another {labels[key]} "
                                 f"({built.metadata[key]!r}); rebuild it with --save-index")
        if metric is not None and metric != built.metric:
            raise InputError(f"the index in {index} was built for {built.metric} scores, not {metric}; "
                             "drop --metric or rebuild the index with --save-index")
        if len(built) != len(docs) or built.dim != encoder.dimension:
            raise InputError(f"the index in {index} holds {len(built)} vectors of dim {built.dim}, but the corpus "
                             f"has {len(docs)} texts and the model dim {encoder.dimension}; rebuild it with --save-index")
    else:
        vectors = encoder.encode(docs, **_prompt_args(corpus_prompt, "passage"), batch_size=batch_size,
                                 long_texts=long_texts)  # type: ignore[arg-type]
        built = frasi.build_index(vectors, kind=index_kind, metric=metric or "cosine")
        built.metadata.update(fingerprint)
    query_vectors = encoder.encode(query_texts, **_prompt_args(query_prompt, "query"), batch_size=batch_size,
                                   long_texts=long_texts)  # type: ignore[arg-type]
    scores, ids = built.search(query_vectors, top_k=top_k)
    # one list of (rank, text, score) per query, in query order (queries may repeat)
    results = [[(r + 1, docs[i], _round(s)) for r, (s, i) in enumerate(zip(srow, irow)) if i >= 0]
               for srow, irow in zip(scores, ids)]
    if save_index is not None:
        built.save(save_index)
    if output is not None:
        _write_records(output, ["query", "rank", "text", "score"],
                       [[q, *hit] for q, hits in zip(query_texts, results) for hit in hits])
    if as_json:
        _emit_json([{"query": q, "results": [dict(zip(("rank", "text", "score"), hit)) for hit in hits]}
                    for q, hits in zip(query_texts, results)])
        return
    for q, hits in zip(query_texts, results):
        out.print(_ranking_table(f"query: {q}", hits))


@app.command()
def paraphrases(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts (or use --file).")] = None,
    file: File = None, column: Column = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Neighbours considered per text.")] = 5,
    max_pairs: Annotated[int, typer.Option("--max-pairs", min=1, help="Pairs to report.")] = 20,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Drop pairs scoring below this.")] = None,
    metric: Metric = "cosine", output: Output = None, model: Model = DEFAULT_MODEL, prompt: Prompt = None,
    batch_size: BatchSize = 32, long_texts: LongTexts = "truncate", as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Mine the most similar pairs of texts in a corpus."""
    _setup_logging(quiet)
    frasi.similarity.check_metric(metric)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES)
    items = _texts(texts, file, column)
    if len(items) < 2:
        raise InputError("paraphrase mining needs at least two texts")
    encoder = _load(model)
    vectors = encoder.encode(items, prompt=prompt, batch_size=batch_size, long_texts=long_texts)  # type: ignore[arg-type]
    pairs, scores = frasi.mine_paraphrases(vectors, top_k=top_k, metric=metric, max_pairs=max_pairs,
                                           threshold=threshold)
    rows = [[_round(s), items[i], items[j]] for (i, j), s in zip(pairs.tolist(), scores)]
    if output is not None:
        _write_records(output, ["score", "text1", "text2"], rows)
    if as_json:
        _emit_json([{"score": s, "text1": a, "text2": b} for s, a, b in rows])
        return
    table = Table(title=f"most similar pairs ({metric}, {encoder.name})")
    table.add_column("score", justify="right")
    table.add_column("text 1", overflow="fold")
    table.add_column("text 2", overflow="fold")
    for score, a, b in rows:
        table.add_row(f"{score:.4f}", a, b)
    out.print(table)


@app.command()
def compose(
    encoder: Annotated[str, typer.Argument(help="A Hugging Face encoder folder (or Hub id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to save the composed model in.")],
    pooling: Annotated[str, typer.Option("--pooling", help="cls, mean, max or weightedmean.")] = "mean",
    dense: Annotated[Optional[int], typer.Option("--dense", min=1, help="Add a Dense layer of this size.")] = None,
    activation: Annotated[str, typer.Option("--activation", help="Dense activation: tanh, relu, gelu, identity, sigmoid.")] = "tanh",
    normalize: Annotated[bool, typer.Option("--normalize/--no-normalize", help="End with L2 normalisation.")] = True,
    max_length: Annotated[Optional[int], typer.Option("--max-length", min=4, help="Maximum tokens per input.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the Dense initialisation.")] = 0,
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Compose Transformer -> Pooling -> [Dense] -> [Normalize] and save it as a sentence-transformers folder."""
    _setup_logging(quiet)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output} already exists and is not an empty folder; choose a new --output")
    if not output.parent.is_dir():
        raise InputError(f"cannot write {output}: folder {output.parent} does not exist")
    model = frasi.compose(encoder, pooling=pooling, dense_dim=dense, dense_activation=activation,
                          normalize=normalize, max_length=max_length, seed=seed)
    model.save(output)
    summary = {"output": str(output), "dimension": model.dimension, "max_length": model.max_length,
               "modules": [type(m).__name__ for m in model.model]}
    if as_json:
        _emit_json(summary)
    elif not quiet:
        err.print(f"saved {' -> '.join(summary['modules'])} (dim {summary['dimension']}) to {output}")


# ---------------------------------------------------------------- helpers and entry point


def _ranking_table(title: str, hits) -> Table:
    """A table of (rank, text, score) rows, best first."""
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("text", overflow="fold")
    for rank_, text, score in hits:
        table.add_row(str(rank_), f"{score:.4f}", text)
    return table


def _prompt_args(prompt: str | None, name: str) -> dict[str, str]:
    """An explicit prompt wins; otherwise the model's named prompt for this use."""
    return {"prompt": prompt} if prompt is not None else {"prompt_name": name}


def _texts_sha256(texts: list[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _round(value: float) -> float:
    return round(float(value), 6)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map errors to one line on stderr and a stable exit code.

    Usage errors are click's (exit 2); a FrasiError is bad input (exit 2); anything
    else is a bug (exit 1, traceback with FRASI_DEBUG=1).
    """
    root = logging.getLogger("frasi")
    saved = root.handlers[:], root.level, root.propagate
    try:
        app(args=argv, prog_name="frasi", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except FrasiError as exc:
        err.print(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in frasi or a dependency
        if os.environ.get("FRASI_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (set FRASI_DEBUG=1 for the traceback)")
        return 1
    finally:
        root.handlers[:], root.level, root.propagate = saved
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
