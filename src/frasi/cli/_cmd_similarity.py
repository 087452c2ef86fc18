"""Commands that compare texts: similarity (ranking, matrix, heatmap), search, paraphrases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import frasi
from frasi.encoder import LONG_TEXT_POLICIES, check_choice
from frasi.errors import InputError, require
from frasi.io import (
    check_output_path,
    read_texts,
    validate_texts,
    write_embeddings,
)
from frasi.plots import short_label
from frasi.sources import DEFAULT_MODEL

from ._shared import (
    RECORD_SUFFIXES,
    Backend,
    BatchSize,
    Column,
    Fallback,
    File,
    Json,
    LongTexts,
    Metric,
    Model,
    Output,
    Prompt,
    Quiet,
    SearchMetric,
    Threads,
    UseCache,
    app,
    emit_json,
    encode_texts,
    err,
    load_encoder,
    logger,
    out,
    prompt_args,
    ranking_table,
    read_input_texts,
    round6,
    setup_logging,
    texts_sha256,
    write_records,
)


@app.command()
def similarity(
    texts: Annotated[list[str] | None, typer.Argument(help="QUERY then the texts to rank (or, with --matrix, the set).")] = None,
    file: File = None, column: Column = None,
    query: Annotated[str | None, typer.Option("--query", help="The query, when the texts come from --file.")] = None,
    matrix: Annotated[bool, typer.Option("--matrix", help="Score every pair of the texts (full matrix).")] = False,
    metric: Metric = "cosine",
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Show only the best K.")] = None,
    heatmap: Annotated[Path | None, typer.Option("--heatmap", help="Write a heatmap PNG.")] = None,
    output: Output = None, model: Model = DEFAULT_MODEL, prompt: Prompt = None, batch_size: BatchSize = 32,
    long_texts: LongTexts = "truncate", use_cache: UseCache = True, backend: Backend = "torch", threads: Threads = None,
    fallback: Fallback = None, as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Rank texts by similarity to a query, or print the similarity matrix of a set."""
    setup_logging(quiet)
    frasi.similarity.check_metric(metric)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if heatmap is not None:
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
    encoder = load_encoder(model, backend, threads, fallback)

    if matrix:
        vectors = encode_texts(encoder, candidates, use_cache=use_cache, prompt=prompt, batch_size=batch_size, long_texts=long_texts)  # type: ignore[arg-type]
        scores = frasi.pairwise_scores(vectors, metric=metric)
        if heatmap is not None:
            from frasi.plots import heatmap_png

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
        if as_json:
            emit_json({"texts": candidates, "metric": metric, "scores": scores.round(6).tolist()})
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
    vectors = encode_texts(encoder, [query, *candidates], use_cache=use_cache, prompt=prompt, batch_size=batch_size, long_texts=long_texts)  # type: ignore[arg-type]
    scores, order = frasi.rank(vectors[0], vectors[1:], metric=metric, top_k=top_k)
    rows = [[int(rank + 1), candidates[i], round6(s)] for rank, (i, s) in enumerate(zip(order, scores))]
    if heatmap is not None:
        from frasi.plots import heatmap_png

        heatmap_png(heatmap, scores[None, :], [query], [candidates[i] for i in order], metric=metric,
                    title=f"{metric} similarity to the query, {encoder.name}")
    if output is not None:
        write_records(output, ["rank", "text", "score"], rows)
    if as_json:
        emit_json({"query": query, "metric": metric, "results": [dict(zip(["rank", "text", "score"], r)) for r in rows]})
    else:
        out.print(ranking_table(f"{metric} similarity to: {query}", rows))


@app.command()
def search(
    queries: Annotated[list[str] | None, typer.Argument(help="Queries.")] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="Corpus file (.txt/.csv/.tsv/.jsonl/.parquet).")] = None,
    column: Column = None,
    queries_file: Annotated[Path | None, typer.Option("--queries-file", help="Read the queries from a file.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Results per query.")] = 10,
    metric: SearchMetric = None,
    index_kind: Annotated[str, typer.Option("--index-kind", help="auto, exact or faiss (approximate, HNSW).")] = "auto",
    index: Annotated[Path | None, typer.Option("--index", help="Load a saved index of --corpus instead of encoding it (the index holds the vectors, the corpus file the texts).")] = None,
    save_index: Annotated[Path | None, typer.Option("--save-index", help="Save the corpus index to this folder.")] = None,
    query_prompt: Annotated[str | None, typer.Option(
        "--query-prompt", help='Prompt for the queries (default: the model\'s "query" prompt); "" disables it.')] = None,
    corpus_prompt: Annotated[str | None, typer.Option(
        "--corpus-prompt", help='Prompt for the corpus (default: the model\'s "passage" prompt); "" disables it.')] = None,
    output: Output = None, model: Model = DEFAULT_MODEL, batch_size: BatchSize = 32, long_texts: LongTexts = "truncate",
    use_cache: UseCache = True, backend: Backend = "torch", threads: Threads = None,
    fallback: Fallback = None, as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Semantic search: the top-K corpus texts for each query (queries use the model's
    "query" prompt, the corpus its "passage" prompt)."""
    setup_logging(quiet)
    if metric is not None:
        frasi.similarity.check_metric(metric)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if index_kind not in ("auto", "exact", "faiss"):
        raise InputError(f"--index-kind must be auto, exact or faiss; got {index_kind!r}")
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
    encoder = load_encoder(model, backend, threads, fallback)
    corpus_prompt_args = prompt_args(corpus_prompt, "passage")
    saved = index is not None or save_index is not None  # hashing the model's files is for saved indexes only
    fingerprint = {**({"model_files": _model_files_id(encoder, use_cache)} if saved else {}),
                   "corpus_sha256": texts_sha256(docs),
                   "corpus_prompt_text": encoder.resolve_prompt(**corpus_prompt_args), "long_texts": long_texts}
    if index is not None:
        built = frasi.load_index(index)
        if "model_files" not in built.metadata and "model" in built.metadata:  # saved by an earlier frasi: a name
            fingerprint["model"] = encoder.name
            if "corpus_prompt" in built.metadata:
                fingerprint["corpus_prompt"] = corpus_prompt
        labels = {"model_files": "model", "model": "model", "corpus_sha256": "corpus",
                  "corpus_prompt_text": "corpus prompt", "corpus_prompt": "--corpus-prompt",
                  "long_texts": "--long-texts"}
        recorded = set(built.metadata) | ({"model_files"} if "model" in built.metadata else set()) | (
            {"corpus_prompt_text"} if "corpus_prompt" in built.metadata else set())
        for key, value in fingerprint.items():
            if built.metadata.get(key, value) != value:
                shown = built.metadata.get("model", built.metadata[key]) if key == "model_files" else built.metadata[key]
                raise InputError(f"the index in {index} was built with another {labels[key]} ({shown!r}); rebuild "
                                 "it with --save-index")
        unknown = list(dict.fromkeys(labels[key] for key in fingerprint if key not in recorded))
        if unknown:
            logger.warning("the index in %s does not record its %s, so frasi cannot check that they match; "
                           "rebuild it with --save-index to be sure", index, ", ".join(unknown))
        if metric is not None and metric != built.metric:
            raise InputError(f"the index in {index} was built for {built.metric} scores, not {metric}; "
                             "drop --metric or rebuild the index with --save-index")
        if len(built) != len(docs) or built.dim != encoder.dimension:
            raise InputError(f"the index in {index} holds {len(built)} vectors of dim {built.dim}, but the corpus "
                             f"has {len(docs)} texts and the model dim {encoder.dimension}; rebuild it with --save-index")
    else:
        vectors = encode_texts(encoder, docs, use_cache=use_cache, **corpus_prompt_args, batch_size=batch_size,
                               long_texts=long_texts)  # type: ignore[arg-type]
        built = frasi.build_index(vectors, kind=index_kind, metric=metric or "cosine")
        built.metadata.update(fingerprint, model=encoder.name)
    query_vectors = encode_texts(encoder, query_texts, use_cache=use_cache, **prompt_args(query_prompt, "query"), batch_size=batch_size,
                                   long_texts=long_texts)  # type: ignore[arg-type]
    scores, ids = built.search(query_vectors, top_k=top_k)
    # one list of (rank, text, score) per query, in query order (queries may repeat)
    results = [[(r + 1, docs[i], round6(s)) for r, (s, i) in enumerate(zip(srow, irow)) if i >= 0]
               for srow, irow in zip(scores, ids)]
    if save_index is not None:
        built.save(save_index)
    if output is not None:
        write_records(output, ["query", "rank", "text", "score"],
                       [[q, *hit] for q, hits in zip(query_texts, results) for hit in hits])
    if as_json:
        emit_json([{"query": q, "results": [dict(zip(("rank", "text", "score"), hit)) for hit in hits]}
                    for q, hits in zip(query_texts, results)])
        return
    for q, hits in zip(query_texts, results):
        out.print(ranking_table(f"query: {q}", hits))


@app.command()
def paraphrases(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts (or use --file).")] = None,
    file: File = None, column: Column = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Neighbours considered per text.")] = 5,
    max_pairs: Annotated[int, typer.Option("--max-pairs", min=1, help="Pairs to report.")] = 20,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Drop pairs scoring below this.")] = None,
    metric: Metric = "cosine", output: Output = None, model: Model = DEFAULT_MODEL, prompt: Prompt = None,
    batch_size: BatchSize = 32, long_texts: LongTexts = "truncate", use_cache: UseCache = True, backend: Backend = "torch", threads: Threads = None,
    fallback: Fallback = None,
    as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Mine the most similar pairs of texts in a corpus."""
    setup_logging(quiet)
    frasi.similarity.check_metric(metric)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES, inputs=[file])
    items = read_input_texts(texts, file, column)
    if len(items) < 2:
        raise InputError("paraphrase mining needs at least two texts")
    encoder = load_encoder(model, backend, threads, fallback)
    vectors = encode_texts(encoder, items, use_cache=use_cache, prompt=prompt, batch_size=batch_size, long_texts=long_texts)  # type: ignore[arg-type]
    pairs, scores = frasi.mine_paraphrases(vectors, top_k=top_k, metric=metric, max_pairs=max_pairs,
                                           threshold=threshold)
    rows = [[round6(s), items[i], items[j]] for (i, j), s in zip(pairs.tolist(), scores)]
    if output is not None:
        write_records(output, ["score", "text1", "text2"], rows)
    if as_json:
        emit_json([{"score": s, "text1": a, "text2": b} for s, a, b in rows])
        return
    table = Table(title=f"most similar pairs ({metric}, {encoder.name})")
    table.add_column("score", justify="right")
    table.add_column("text 1", overflow="fold")
    table.add_column("text 2", overflow="fold")
    for score, a, b in rows:
        table.add_row(f"{score:.4f}", a, b)
    out.print(table)
    if not rows and threshold is not None:
        err.print(f"no pair scores {threshold} or more; lower --threshold")


def _model_files_id(encoder: frasi.Encoder, use_cache: bool) -> str:
    """The model's files (the same for every backend of one model), hashed once and remembered in the
    embedding cache; the weights in memory for a model without a folder."""
    from frasi.cache import EmbeddingCache, model_fingerprint, weights_fingerprint

    if encoder.path is None:
        return "weights:" + weights_fingerprint(encoder.model)
    if not use_cache:
        return "files:" + model_fingerprint(encoder.path)
    with EmbeddingCache() as store:
        return "files:" + model_fingerprint(encoder.path, cache=store)
