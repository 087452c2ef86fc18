"""Commands that compare texts: similarity (ranking, matrix, heatmap), search, paraphrases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import frasi
import frasi.corpus
from frasi.errors import InputError, require
from frasi.io import RECORD_SUFFIXES, check_output_path, read_texts, validate_texts, write_embeddings, write_records
from frasi.plots import short_label
from frasi.search import check_provenance, index_provenance
from frasi.similarity import check_metric

from ._shared import (
    CacheOptions,
    Column,
    Display,
    EncodeOptions,
    File,
    Metric,
    ModelOptions,
    Output,
    command,
    emit_json,
    err,
    out,
    ranking_table,
    read_input_texts,
    replaced,
    round6,
    shown,
)


@command()
def similarity(
    *, texts: Annotated[list[str] | None, typer.Argument(
        help="QUERY then the texts to rank (or, with --matrix, the set).")] = None,
    file: File = None, column: Column = None,
    query: Annotated[str | None, typer.Option("--query", help="The query, when the texts come from --file.")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="Score every pair of the texts (full matrix).")] = False,
    metric: Metric = "cosine",
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Show only the best K.")] = None,
    heatmap: Annotated[Path | None, typer.Option(
        "--heatmap", help="With --matrix: also draw the matrix as a PNG (needs frasi[plot]).")] = None,
    output: Output = None, model: ModelOptions, encoding: EncodeOptions, cache: CacheOptions, display: Display,
) -> None:
    """Rank texts by similarity to a query, or print the similarity matrix of a set."""
    check_metric(metric)
    encoding.check()
    if heatmap is not None:
        if not matrix:
            raise InputError("--heatmap draws the similarity matrix of a set of texts: add --matrix")
        check_output_path(heatmap, (".png",))
        require("matplotlib", extra="plot", purpose="drawing a heatmap")
    if matrix and top_k is not None:
        raise InputError("--top-k applies to a ranking, not to --matrix")
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES + ((".npy",) if matrix else ()), inputs=[file])
    items = list(texts or [])
    if not matrix and file is None and query is None:
        if len(items) < 2:
            raise InputError("give a query and at least one text to compare: frasi similarity QUERY TEXT...")
        query, items = items[0], items[1:]
    candidates = read_input_texts(items or None, file, column)
    if not matrix and query is None:
        raise InputError("pass --query TEXT to rank the texts of --file (or --matrix for all pairs)")
    if matrix and query is not None:
        raise InputError("--query and --matrix exclude each other")
    if matrix and len(candidates) < 2:
        raise InputError("--matrix needs at least two texts")
    if query is not None:
        validate_texts([query], what="query")
    encoder = model.load()
    notes = [f"{output}{replaced(output)}"] if output is not None else []
    with cache.store() as store:
        vectors = encoder.encode(candidates if matrix else [query, *candidates], prompt=encoding.prompt,
                                 batch_size=encoding.batch_size, long_texts=encoding.long_texts,  # type: ignore[arg-type]
                                 cache=store)
    if matrix:
        scores = frasi.similarity_matrix(vectors, metric=metric)
        if heatmap is not None:
            from frasi.plots import heatmap_png

            notes.append(f"heatmap {heatmap}{replaced(heatmap)}")
            heatmap_png(heatmap, scores, candidates, metric=metric, title=f"{metric} similarity, {encoder.name}")
        if output is not None:
            if output.suffix.lower() == ".npy":
                write_embeddings(output, scores)
            elif output.suffix.lower() in (".json", ".jsonl"):  # a list per row: texts may repeat or be "text"
                write_records(output, ["text", "scores"],
                              [[t, [round6(x) for x in row]] for t, row in zip(candidates, scores)])
            else:
                write_records(output, ["text", *candidates],
                              [[t, *map(round6, row)] for t, row in zip(candidates, scores)])
        if display.as_json:
            emit_json({"texts": candidates, "metric": metric, "scores": scores.round(6).tolist()})
        else:
            table = Table(title=f"{metric} similarity ({encoder.name})")
            table.add_column("", max_width=28, no_wrap=True)
            for i in range(len(candidates)):
                table.add_column(str(i + 1), justify="right", min_width=5, no_wrap=True)
            for i, (text, row) in enumerate(zip(candidates, scores)):
                table.add_row(f"{i + 1} {shown(short_label(text))}", *(f"{s:.3f}" for s in row))
            out.print(table)
    else:
        assert query is not None
        scores, order = frasi.semantic_search(vectors[0], vectors[1:], metric=metric, top_k=top_k)
        rows = [[int(rank + 1), candidates[i], round6(s)] for rank, (i, s) in enumerate(zip(order, scores))]
        if output is not None:
            write_records(output, ["rank", "text", "score"], rows)
        if display.as_json:
            emit_json({"query": query, "metric": metric,
                       "results": [dict(zip(["rank", "text", "score"], r)) for r in rows]})
        else:
            out.print(ranking_table(f"{metric} similarity to: {query}", rows))
    if notes and not display.quiet:
        err.print("wrote " + " and ".join(notes))


@command()
def search(
    *, queries: Annotated[list[str] | None, typer.Argument(help="Queries.")] = None,
    corpus: Annotated[Path | None, typer.Option(
        "--corpus", help="Corpus file (.txt/.csv/.tsv/.jsonl/.parquet).")] = None,
    column: Column = None,
    queries_file: Annotated[Path | None, typer.Option("--queries-file", help="Read the queries from a file.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Results per query.")] = 10,
    metric: Annotated[str | None, typer.Option(
        "--metric",
        help="cosine (default), dot or euclidean (negative distance); a saved index keeps its own.")] = None,
    index_kind: Annotated[str, typer.Option("--index-kind", help="auto, exact or faiss (approximate, HNSW).")] = "auto",
    index: Annotated[Path | None, typer.Option("--index", help="Load a saved index of --corpus instead of encoding "
                                               "it (the index holds the vectors, the corpus file the texts); or a "
                                               "frasi corpus folder, indexed by frasi corpus index.")] = None,
    save_index: Annotated[Path | None, typer.Option(
        "--save-index", help="Save the corpus index to this folder.")] = None,
    query_prompt: Annotated[str | None, typer.Option(
        "--query-prompt",
        help='Prompt for the queries (default: the model\'s "query" prompt); "" disables it.')] = None,
    corpus_prompt: Annotated[str | None, typer.Option(
        "--corpus-prompt",
        help='Prompt for the corpus (default: the model\'s "passage" prompt); "" disables it.')] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32,
    long_texts: Annotated[str, typer.Option(
        "--long-texts", help="Texts over the model's maximum: truncate (default) or chunk.")] = "truncate",
    output: Output = None, model: ModelOptions, cache: CacheOptions, display: Display,
) -> None:
    """Semantic search: the top-K corpus texts for each query (queries use the model's
    "query" prompt, the corpus its "passage" prompt)."""
    if metric is not None:
        check_metric(metric)
    EncodeOptions(long_texts=long_texts).check()
    if index_kind not in ("auto", "exact", "faiss"):
        raise InputError(f"--index-kind must be auto, exact or faiss; got {index_kind!r}")
    if index is not None and frasi.corpus.corpus_folder(index) is not None:
        if corpus is not None or column is not None:
            raise InputError(f"{index} is a corpus folder: its parts hold the ids and its inputs the texts; drop "
                             "--corpus and --column")
        _search_corpus(queries, queries_file, index, top_k=top_k, metric=metric, query_prompt=query_prompt,
                       batch_size=batch_size, long_texts=long_texts, output=output, model=model, cache=cache,
                       display=display, unused={"--save-index": save_index, "--corpus-prompt": corpus_prompt,
                                                "--index-kind": None if index_kind == "auto" else index_kind})
        return
    if corpus is None:
        raise InputError("pass the corpus with --corpus FILE" + (
            " (with --index too: the index holds the vectors, the corpus file the texts)" if index else ""))
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES, inputs=[corpus, queries_file])
    if save_index is not None and index is not None:
        raise InputError("--index and --save-index exclude each other")
    if index is not None and index_kind != "auto":
        raise InputError("--index-kind applies when building an index, not with --index")
    if save_index is not None and save_index.exists() and not (save_index / "index.json").is_file() and (
            save_index.is_file() or any(save_index.iterdir())):
        raise InputError(f"--save-index {save_index} exists and is not an index folder; choose a new folder")
    query_texts = read_input_texts(queries, queries_file, None, what="queries", file_option="--queries-file")
    docs = read_texts(corpus, column=column)
    encoder = model.load()
    corpus_args = {"prompt": corpus_prompt} if corpus_prompt is not None else {"prompt_name": "passage"}
    query_args = {"prompt": query_prompt} if query_prompt is not None else {"prompt_name": "query"}
    with cache.store() as store:
        if index is not None or save_index is not None:  # hashing the model's files is for saved indexes only
            provenance = index_provenance(model_fingerprint=encoder.fingerprint(store), corpus=docs,
                                          corpus_prompt=encoder.resolve_prompt(**corpus_args), long_texts=long_texts)
        if index is not None:
            built = frasi.load_index(index)
            check_provenance(built, provenance, where=str(index), dimension=encoder.dimension, size=len(docs),
                             model_name=encoder.name)
            if metric is not None and metric != built.metric:
                raise InputError(f"the index in {index} was built for {built.metric} scores, not {metric}; "
                                 "drop --metric or rebuild the index with --save-index")
        else:
            vectors = encoder.encode(docs, **corpus_args, batch_size=batch_size, long_texts=long_texts,  # type: ignore[arg-type]
                                     cache=store)
            built = frasi.build_index(vectors, kind=index_kind, metric=metric or "cosine")
            if save_index is not None:
                built.metadata.update(provenance, model=encoder.name)
        query_vectors = encoder.encode(query_texts, **query_args, batch_size=batch_size,  # type: ignore[arg-type]
                                       long_texts=long_texts, cache=store)  # type: ignore[arg-type]
    scores, ids = built.search(query_vectors, top_k=top_k)
    # one list of (rank, text, score) per query, in query order (queries may repeat)
    results = [[(r + 1, docs[i], round6(s)) for r, (s, i) in enumerate(zip(srow, irow)) if i >= 0]
               for srow, irow in zip(scores, ids)]
    notes = []
    if save_index is not None:
        notes.append(f"index {save_index}{' (replaced the existing index)' if save_index.exists() else ''}")
        built.save(save_index)
    if output is not None:
        notes.append(f"{output}{replaced(output)}")
        write_records(output, ["query", "rank", "text", "score"],
                      [[q, *hit] for q, hits in zip(query_texts, results) for hit in hits])
    if display.as_json:
        emit_json([{"query": q, "results": [dict(zip(("rank", "text", "score"), hit)) for hit in hits]}
                   for q, hits in zip(query_texts, results)])
    else:
        for q, hits in zip(query_texts, results):
            out.print(ranking_table(f"query: {q}", hits))
    if notes and not display.quiet:
        err.print("wrote " + " and ".join(notes))


def _search_corpus(queries: list[str] | None, queries_file: Path | None, folder: Path, *, top_k: int,
                   metric: str | None, query_prompt: str | None, batch_size: int, long_texts: str, output: Path | None,
                   model: ModelOptions, cache: CacheOptions, display: Display, unused: dict) -> None:
    """``frasi search --index FOLDER``: the index of a ``frasi corpus`` output, its ids and texts."""
    given = [name for name, value in unused.items() if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} do(es) not apply to the index of a corpus folder (frasi corpus index "
                         "builds it)")
    if metric not in (None, "cosine"):
        raise InputError("a corpus index scores by cosine; drop --metric")
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES, inputs=[queries_file])
    query_texts = read_input_texts(queries, queries_file, None, what="queries", file_option="--queries-file")
    corpus_index = frasi.corpus.CorpusIndex(folder)
    encoder = frasi.Encoder.load(model.model or corpus_index.model, backend=model.backend, threads=model.threads,
                                 fallback=model.fallback)
    query_args = {"prompt": query_prompt} if query_prompt is not None else {"prompt_name": "query"}
    with cache.store() as store:
        corpus_index.check_encoder(encoder, store)
        vectors = encoder.encode(query_texts, **query_args, batch_size=batch_size, long_texts=long_texts,  # type: ignore[arg-type]
                                 cache=store)
    hits = corpus_index.search(vectors, top_k=top_k)
    note = replaced(output)
    if output is not None:
        rows = [[q, h.rank, h.id, h.text, round6(h.score)] for q, found in zip(query_texts, hits) for h in found]
        write_records(output, ["query", "rank", "id", "text", "score"], rows)
    if display.as_json:
        emit_json([{"query": q, "results": [{"rank": h.rank, "id": h.id, "text": h.text, "score": round6(h.score)}
                                            for h in found]} for q, found in zip(query_texts, hits)])
    else:
        for q, found in zip(query_texts, hits):
            out.print(ranking_table(f"query: {q}", [(h.rank, h.text if h.text is not None else f"[{h.id}]",
                                                     round6(h.score)) for h in found]))
    if output is not None and not display.quiet:
        err.print(f"wrote {output}{note}")


@command()
def paraphrases(
    *, texts: Annotated[list[str] | None, typer.Argument(help="Texts (or use --file).")] = None,
    file: File = None, column: Column = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Neighbours considered per text.")] = 5,
    max_pairs: Annotated[int, typer.Option("--max-pairs", min=1, help="Pairs to report.")] = 20,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Drop pairs scoring below this.")] = None,
    metric: Metric = "cosine", output: Output = None, model: ModelOptions, encoding: EncodeOptions,
    cache: CacheOptions, display: Display,
) -> None:
    """Mine the most similar pairs of texts in a corpus."""
    check_metric(metric)
    encoding.check()
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES, inputs=[file])
    items = read_input_texts(texts, file, column)
    if len(items) < 2:
        raise InputError("paraphrase mining needs at least two texts")
    encoder = model.load()
    with cache.store() as store:
        vectors = encoder.encode(items, prompt=encoding.prompt, batch_size=encoding.batch_size,
                                 long_texts=encoding.long_texts, cache=store)  # type: ignore[arg-type]
    pairs, scores = frasi.mine_paraphrases(vectors, top_k=top_k, metric=metric, max_pairs=max_pairs,
                                           threshold=threshold)
    rows = [[round6(s), items[i], items[j]] for (i, j), s in zip(pairs.tolist(), scores)]
    note = replaced(output)
    if output is not None:
        write_records(output, ["score", "text1", "text2"], rows)
    if display.as_json:
        emit_json([{"score": s, "text1": a, "text2": b} for s, a, b in rows])
    else:
        table = Table(title=f"most similar pairs ({metric}, {encoder.name})")
        table.add_column("score", justify="right")
        table.add_column("text 1", overflow="fold")
        table.add_column("text 2", overflow="fold")
        for score, a, b in rows:
            table.add_row(f"{score:.4f}", shown(a), shown(b))
        out.print(table)
        if not rows and threshold is not None:
            err.print(f"no pair scores {threshold} or more; lower --threshold")
    if output is not None and not display.quiet:
        err.print(f"wrote {output}{note}")
