"""Commands for corpora on Dask: corpus embed, corpus index, corpus verify (thin over frasi.corpus)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import frasi.corpus
from frasi.errors import InputError

from ._shared import Display, EncodeOptions, ModelOptions, app, command, emit_json, err

corpus_app = typer.Typer(help="Embed, index and verify corpora on Dask (frasi[dask]): resumable, each row once.",
                         no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

Folder = Annotated[Path, typer.Argument(help="The output folder of frasi corpus embed.")]


def _count(n: int) -> str:
    return f"{n:,}"


def _noun(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


@command(corpus_app, "embed")
def embed(
    *, inputs: Annotated[list[str], typer.Argument(help="Files (.txt, .csv, .jsonl, .parquet), folders or globs.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder: created, or resumed when it holds "
                                         "a corpus of the same settings.")],
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Worker processes of the local cluster (default: CPUs / --threads).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Use an existing Dask cluster instead: its scheduler's address, tcp://HOST:PORT.")] = None,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", min=0.1, help="Seconds to reach --scheduler before giving up.")] = 10.0,
    shard_size: Annotated[int, typer.Option(
        "--shard-size", min=1, help="Rows per shard (one task, one part file).")] = frasi.corpus.DEFAULT_SHARD_SIZE,
    text_col: Annotated[str | None, typer.Option(
        "--text-col", "--column", "-c", help="Column of the texts in .csv/.jsonl/.parquet (default: text, or the only "
        "column).")] = None,
    id_col: Annotated[str | None, typer.Option(
        "--id-col", help="Column of the row ids (default: FILE:ROW, the row's 0-based number in its file).")] = None,
    store_text: Annotated[bool, typer.Option("--store-text", help="Keep each text in the parts too.")] = False,
    normalize: Annotated[bool, typer.Option("--normalize", help="L2-normalise the embeddings.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Start again when the output holds a corpus of other settings or inputs.")] = False,
    model: ModelOptions, encoding: EncodeOptions, display: Display,
) -> None:
    """Embed every row of large inputs once, on Dask, into parquet parts (resumable: rerun to finish).

    The texts get the model's "passage" prompt by default (as search encodes a corpus); --threads is per
    worker process. With no --scheduler, a local cluster runs on 127.0.0.1."""
    encoding.check()
    result = frasi.corpus.embed(
        inputs, output, model=model.model, backend=model.backend, threads=model.threads, fallback=model.fallback,
        workers=workers, scheduler=scheduler, shard_size=shard_size, text_col=text_col, id_col=id_col,
        prompt=encoding.prompt, normalize=normalize, long_texts=encoding.long_texts, batch_size=encoding.batch_size,
        store_text=store_text, overwrite=overwrite, connect_timeout=connect_timeout,
        show_progress=None if not display.quiet else False)
    if display.as_json:
        emit_json(result.to_dict())
    elif not display.quiet:
        threads = "/".join(map(str, result.threads)) or "-"
        ran = (f"{result.computed} embedded now with {_noun(result.workers, 'worker')} x {threads} "
               f"thread{'' if threads == '1' else 's'}, "
               f"{_count(result.rows_computed)} texts at {result.texts_per_second:.1f} texts/s"
               if result.computed else "nothing left to embed")
        truncated = f", {_count(result.truncated)} truncated" if result.truncated else ""
        note = f" ({result.backend_note})" if result.backend_note else ""
        err.print(f"{_count(result.rows)} texts in {_noun(result.shards, 'shard')}: {result.kept} kept, {ran}"
                  f"{truncated}, {result.seconds:.1f} s -> {result.output}; dim {result.dimension}; "
                  f"backend: {result.backend}{note}")


@command(corpus_app, "index")
def index(
    *, folder: Folder,
    kind: Annotated[str, typer.Option(
        "--kind", help="auto (HNSW below 250,000 rows, else IVF-PQ), hnsw, ivf-pq or exact.")] = "auto",
    queries: Annotated[int, typer.Option(
        "--queries", min=1, help="Corpus vectors searched to measure recall@10 against exact search.")] = 500,
    ivf_lists: Annotated[int | None, typer.Option("--ivf-lists", min=1, help="IVF-PQ: inverted lists.")] = None,
    pq_m: Annotated[int | None, typer.Option("--pq-m", min=1, help="IVF-PQ: bytes per vector.")] = None,
    nprobe: Annotated[int | None, typer.Option(
        "--nprobe", min=1, help="IVF-PQ: lists searched per query (default: chosen by recall).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the training sample and the recall queries.")] = 0,
    display: Display,
) -> None:
    """Build a faiss index of a corpus folder (streamed from its parts) into FOLDER/index; frasi search --index
    FOLDER searches it."""
    result = frasi.corpus.index(folder, kind=kind, queries=queries, ivf_lists=ivf_lists, pq_m=pq_m, nprobe=nprobe,
                                seed=seed, show_progress=None if not display.quiet else False)
    if display.as_json:
        emit_json(result.to_dict())
    elif not display.quiet:
        probe = f", nprobe {result.params['nprobe']}" if "nprobe" in result.params else ""
        err.print(f"indexed {_count(result.rows)} vectors ({result.kind}{probe}): recall@10 {result.recall_at_10:.3f} "
                  f"against exact search on {result.queries} queries, {result.seconds:.1f} s -> {result.folder} "
                  f"({result.size_bytes / 1e6:.1f} MB)")


@command(corpus_app, "verify")
def verify(
    *, folder: Folder,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Check sizes, hashes, ids and rows, not the vectors' values.")] = False,
    display: Display,
) -> None:
    """Check that every input row is in the output once: each part against the manifest (exit 2 if not)."""
    report = frasi.corpus.verify(folder, vectors=not quick)
    if display.as_json:
        emit_json(report.to_dict())
    if report.problems:
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise InputError(f"{report.folder}: {report.problems[0]}{more}; rerun frasi corpus embed with the same "
                         "settings to redo those shards")
    if not report.complete:
        raise InputError(f"{report.folder} is not complete: {report.finished} of {_noun(report.shards, 'shard')} "
                         f"({_count(report.verified_rows)} of {_count(report.rows)} rows); rerun frasi corpus embed "
                         "with the same settings to finish it")
    if not display.as_json and not display.quiet:
        err.print(f"{report.folder}: {_noun(report.shards, 'shard')}, {_noun(report.rows, 'row')}, every input "
                  "row once; every part matches the manifest")
