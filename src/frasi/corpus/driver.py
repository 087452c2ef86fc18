"""The driver of ``frasi corpus embed``: plan the shards, keep what is done, run the rest on Dask.

The driver holds the plan, never the texts: each task reads its own rows from the input
files and writes its own part (so the output folder and the inputs must be at the same
path for the driver and every worker: one machine, or a shared file system). A run

1. checks its arguments, expands the inputs and loads the model's description (the
   vector key) before it writes anything;
2. takes the output folder's lock (one driver at a time);
3. with a manifest there: refuses to mix other vectors (another model, backend, prompt,
   option, shard size, or changed inputs; ``overwrite`` starts again); else plans the
   shards (one streaming pass over the inputs, every row checked) and writes the manifest;
4. keeps the parts that match the manifest (a part written but not yet recorded when
   an earlier driver died is checked row by row and recorded), and removes the rest;
5. submits the missing shards to Dask under keys made from the output's run id and the
   shard's number, so a retried task replaces its part, never adds one; records each part
   as it finishes, after checking it on the driver; a progress bar counts shards.

With no ``scheduler`` it starts a ``LocalCluster`` of worker processes on 127.0.0.1 (its
dashboard on a free loopback port, logged); ``scheduler="tcp://HOST:PORT"`` (or a
``distributed.Client``) uses an existing cluster. Worker processes x threads never exceed the CPUs of a local cluster.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .._fs import StrPath, check_parent, sha256_file
from ..backends import default_threads
from ..encoder import LONG_TEXT_POLICIES, Encoder
from ..errors import FrasiError, InputError, OutputError, check_choice, first_line, require
from ..progress import show_progress_default
from .manifest import (
    INDEX,
    LOCK,
    Manifest,
    difference,
    manifest_path,
    now,
    output_lock,
    read_manifest,
    write_manifest,
)
from .parts import PARTS, check_part, part_path, part_record, require_dask
from .shards import DEFAULT_SHARD_SIZE, InputFile, Shard, expand_inputs, plan

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up
SAVE_EVERY = 1.0  # seconds between manifest writes while shards finish


@dataclass(frozen=True)
class EmbedResult:
    """What a run did: ``computed`` shards embedded now, ``kept`` found done and verified."""

    output: Path
    rows: int
    shards: int
    computed: int
    kept: int
    rows_computed: int
    seconds: float
    workers: int
    threads: list[int]
    model: str
    backend: str
    backend_note: str | None
    dimension: int
    prompt: str
    truncated: int
    tasks: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def texts_per_second(self) -> float:
        return self.rows_computed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["output"] = str(self.output)
        out["texts_per_second"] = round(self.texts_per_second, 1)
        out.pop("tasks")
        return out


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")


def embed(
    inputs: StrPath | Sequence[StrPath],
    output: StrPath,
    *,
    model: str | None = None,
    backend: str | None = None,
    threads: int | None = None,
    fallback: str | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    text_col: str | None = None,
    id_col: str | None = None,
    prompt: str | None = None,
    prompt_name: str = "passage",
    normalize: bool = False,
    long_texts: str = "truncate",
    chunk_overlap: int | None = None,
    batch_size: int = 32,
    store_text: bool = False,
    overwrite: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT,
    show_progress: bool | None = None,
) -> EmbedResult:
    """Embed every row of ``inputs`` once into parquet parts in the folder ``output``, on Dask.

    Args:
        inputs: files (.txt, .csv, .jsonl, .parquet), folders (searched recursively) or globs.
        output: the output folder (created; or an earlier output of the same settings, resumed).
        model, backend, fallback: as :meth:`frasi.Encoder.load`.
        threads: CPU threads per worker process (default: the worker machine's CPUs shared
            by its worker processes).
        workers: worker processes of the local cluster (default: the CPUs // threads);
            not with ``scheduler``.
        scheduler: an existing cluster: its address (``tcp://HOST:PORT``) or a ``distributed.Client``.
        shard_size: rows per shard (and per part).
        text_col, id_col: the columns of the texts (default ``text``, or the only column) and of
            the ids (default ``NAME:ROW``).
        prompt, prompt_name: the prompt text, or the model's prompt by name (default ``passage``,
            as search encodes a corpus); ``prompt=""`` disables it.
        normalize, long_texts, chunk_overlap, batch_size: as :meth:`frasi.Encoder.encode`.
        store_text: keep each text in its part too.
        overwrite: start again when ``output`` holds a corpus of other settings or inputs.
        connect_timeout: seconds to reach ``scheduler``.
        show_progress: a progress bar over shards (default: on a terminal, at log level INFO).

    Must run under ``if __name__ == "__main__":`` in a script: the local cluster starts processes.
    """
    require_dask()
    started = time.perf_counter()
    _positive("shard_size", shard_size)
    _positive("batch_size", batch_size)
    if threads is not None:
        _positive("threads", threads)
    check_choice("long_texts", long_texts, LONG_TEXT_POLICIES)
    if chunk_overlap is not None and long_texts != "chunk":
        raise InputError("chunk_overlap only applies with long_texts='chunk'")
    if workers is not None:
        _positive("workers", workers)
        if scheduler is not None:
            raise InputError("workers (--workers) starts a local cluster; with scheduler (--scheduler) the cluster "
                             "has its own workers: pass one or the other")
    local_workers, local_threads = _local_shape(workers, threads) if scheduler is None else (0, threads)
    folder = _check_folder(output)
    files = expand_inputs(inputs, exclude=folder)
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(_remote(scheduler, connect_timeout)) if scheduler is not None else None
        return _embed(files, folder, client, started=started, model=model, backend=backend, fallback=fallback,
                      workers=local_workers, threads=local_threads, shard_size=shard_size, text_col=text_col,
                      id_col=id_col, prompt=prompt, prompt_name=prompt_name, normalize=normalize,
                      long_texts=long_texts, chunk_overlap=chunk_overlap, batch_size=batch_size, store_text=store_text,
                      overwrite=overwrite, show_progress=show_progress)


def _embed(files: list[Path], folder: Path, client: Any, *, started: float, model: str | None, backend: str | None,
           fallback: str | None, workers: int, threads: int | None, shard_size: int, text_col: str | None,
           id_col: str | None, prompt: str | None, prompt_name: str, normalize: bool, long_texts: str,
           chunk_overlap: int | None, batch_size: int, store_text: bool, overwrite: bool,
           show_progress: bool | None) -> EmbedResult:
    encoder = Encoder.load(model, backend=backend, threads=1, fallback=fallback)
    prompt_text = encoder.resolve_prompt(None if prompt is not None else prompt_name, prompt)
    options = {"prompt": prompt_text, "normalize": bool(normalize), "long_texts": long_texts,
               "chunk_overlap": chunk_overlap}
    key = encoder.vector_key(**options)
    config = {"key": key.id, "vectors": key.description, "shard_size": shard_size, "text_col": text_col,
              "id_col": id_col, "store_text": bool(store_text)}
    model_info = {"name": encoder.name, "reference": _reference(encoder), "backend": encoder.backend,
                  "backend_note": encoder.backend_note, "dimension": encoder.dimension, "options": options}
    del encoder  # the workers load their own

    show = show_progress_default() if show_progress is None else show_progress
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    try:
        with output_lock(folder):
            manifest = _manifest(folder, files, config, model_info, overwrite=overwrite, shard_size=shard_size,
                                 text_col=text_col, id_col=id_col, show=show)
            created = False  # the folder holds a manifest now
            todo = _settle(folder, manifest)
            kept = len(manifest.shards) - len(todo)
            write_manifest(folder, manifest)
            results: list[dict[str, Any]] = []
            workers_seen = 0
            if todo:
                with contextlib.ExitStack() as stack:
                    cluster = client if client is not None else stack.enter_context(_local(workers))
                    workers_seen = _run(folder, manifest, todo, results, cluster, threads=threads,
                                        batch_size=batch_size, show=show)
            _remove_temporaries(folder / PARTS)
            write_manifest(folder, manifest)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)  # nothing but the lock was written
        raise
    seconds = time.perf_counter() - started
    result = EmbedResult(
        output=folder, rows=manifest.rows, shards=len(manifest.shards), computed=len(results), kept=kept,
        rows_computed=sum(r["rows"] for r in results), seconds=seconds, workers=workers_seen,
        threads=sorted({r["threads"] for r in results}), model=model_info["name"], backend=model_info["backend"],
        backend_note=model_info["backend_note"], dimension=model_info["dimension"], prompt=prompt_text,
        truncated=sum(r["truncated"] for r in results), tasks=results)
    logger.info("embedded %d of %d shards (%d kept) in %.1f s", result.computed, result.shards, kept, seconds)
    return result


# ---------------------------------------------------------------- the output folder


def _check_folder(output: StrPath) -> Path:
    folder = Path(output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write the corpus to {folder}: it is a file; expected a folder")
    check_parent(folder, what="corpus")
    if folder.is_dir() and not manifest_path(folder).is_file() and any(
            p.name != LOCK for p in folder.iterdir()):
        raise OutputError(f"{folder} is not empty and holds no frasi corpus (no manifest.json); choose a new or "
                          "empty folder")
    return folder


def _reference(encoder: Encoder) -> str:
    """How a worker loads the model: a local folder by its absolute path, a packaged or Hub model by name."""
    if encoder.source == "local" and encoder.path is not None:
        return str(Path(encoder.path).resolve())
    return encoder.name


def _manifest(folder: Path, files: list[Path], config: dict[str, Any], model_info: dict[str, Any], *,
              overwrite: bool, shard_size: int, text_col: str | None, id_col: str | None, show: bool) -> Manifest:
    existing = read_manifest(folder) if not overwrite else None
    if overwrite and manifest_path(folder).is_file():
        read_manifest(folder)  # a damaged or foreign manifest is still never deleted blindly
    if existing is not None:
        changed = difference(existing.config, config, names=(existing.model.get("name", ""), model_info["name"]))
        if changed is not None:
            raise InputError(f"{folder} holds embeddings made with another {changed}; rerun with the same "
                             "settings, start again with --overwrite, or choose a new --output")
        _check_inputs(folder, existing, files)
        existing.model = {**existing.model, "reference": model_info["reference"]}
        return existing
    with _byte_bar(files, show) as progress:
        inputs, shards = plan(files, shard_size=shard_size, text_col=text_col, id_col=id_col, progress=progress)
    if overwrite:
        _clear(folder)
    manifest = Manifest(config=config, model=model_info, inputs=inputs, shards=shards, created=now())
    write_manifest(folder, manifest)
    return manifest


@contextlib.contextmanager
def _byte_bar(files: list[Path], show: bool) -> Iterator[Any]:
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    total = sum(p.stat().st_size for p in files)
    with tqdm(total=total, desc="reading inputs", unit="B", unit_scale=True, leave=False) as bar:
        yield bar.update


def _check_inputs(folder: Path, manifest: Manifest, files: list[Path]) -> None:
    given = [str(p.resolve()) for p in files]
    recorded = [f.path for f in manifest.inputs]
    if given != recorded:
        extra, missing = sorted(set(given) - set(recorded)), sorted(set(recorded) - set(given))
        what = (f"{extra[0]} is new" if extra else f"{missing[0]} is missing") if extra or missing else \
            "the same files come in another order"
        raise InputError(f"{folder} was started from other inputs ({what}); pass the same inputs, start again "
                         "with --overwrite, or choose a new --output")
    for number, record in enumerate(manifest.inputs):
        stat = Path(record.path).stat()
        if (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns):
            continue
        if stat.st_size != record.size or sha256_file(record.path) != record.sha256:
            raise InputError(f"{record.path} changed since {folder} was started; restore it, or start again with "
                             "--overwrite")
        manifest.inputs[number] = replace(record, mtime_ns=stat.st_mtime_ns)  # touched: the same bytes


def _clear(folder: Path) -> None:
    """Remove what an earlier corpus wrote in ``folder`` (its manifest, parts and index), nothing else."""
    parts = folder / PARTS
    if parts.is_dir():
        for path in parts.glob("part-*.parquet"):
            path.unlink()
        _remove_temporaries(parts)
    index = folder / INDEX
    if (index / "index.json").is_file():
        shutil.rmtree(index)
    manifest_path(folder).unlink(missing_ok=True)


def _remove_temporaries(parts: Path) -> None:
    """Parts half-written by a worker that died (the others were renamed into place)."""
    if parts.is_dir():
        for path in parts.glob(".part-*.tmp"):
            logger.debug("removing %s, left by a worker that stopped while writing it", path.name)
            path.unlink(missing_ok=True)


def _settle(folder: Path, manifest: Manifest) -> list[Shard]:
    """The shards still to embed: every recorded part whose bytes match is kept, an unrecorded part that is
    this output's (checked row by row) is recorded; others are removed and redone."""
    (folder / PARTS).mkdir(exist_ok=True)
    _remove_temporaries(folder / PARTS)
    todo = []
    run = manifest.run
    for shard in manifest.shards:
        path = part_path(folder, shard.index)
        record = manifest.finished.get(shard.index)
        if record is not None:
            if path.is_file() and part_record(path) == record:
                continue
            why = "is missing" if not path.exists() else "does not match the manifest (damaged or changed)"
            logger.warning("%s %s; its shard is embedded again", path.name, why)
            del manifest.finished[shard.index]
        if path.is_file():
            problem = check_part(path, run=run, shard=shard, dimension=manifest.dimension,
                                 store_text=manifest.store_text)
            if problem is None:
                logger.debug("%s was written but not recorded; checked and kept", path.name)
                manifest.finished[shard.index] = part_record(path)
                continue
            logger.warning("%s is not this output's part (%s); its shard is embedded again", path.name, problem)
            path.unlink()
        todo.append(shard)
    return todo


# ---------------------------------------------------------------- the cluster


def _local_shape(workers: int | None, threads: int | None) -> tuple[int, int]:
    """(worker processes, threads each) for a local cluster, never more threads than CPUs."""
    cpus = default_threads()
    if workers is None:
        workers = max(1, cpus // (threads or 1))
    if threads is None:
        threads = max(1, cpus // workers)
    if workers * threads > cpus:
        raise InputError(f"{workers} workers x {threads} threads = {workers * threads} threads on {cpus} CPUs would "
                         "oversubscribe them; lower --workers or --threads")
    return workers, threads


@contextlib.contextmanager
def _remote(scheduler: Any, timeout: float) -> Iterator[Any]:
    """A client of an existing cluster: ``scheduler`` itself when it is a Client, else one connected to it."""
    distributed = require("distributed", extra="dask", purpose="frasi corpus")
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise InputError(f"scheduler must be an address such as tcp://127.0.0.1:8786, got {scheduler!r}")
    try:
        client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({first_line(exc)}); check the address "
                         "and that the scheduler runs") from None
    with client:
        yield client


@contextlib.contextmanager
def _local(workers: int) -> Iterator[Any]:
    """A client of a new local cluster: ``workers`` processes on 127.0.0.1, the dashboard on a free loopback port.

    ``dashboard_address=None`` does not turn the dashboard off: it binds the default port 8787, and a second
    cluster on the machine (another run, a test) then fails to start."""
    distributed = require("distributed", extra="dask", purpose="frasi corpus")
    logger.info("starting a local Dask cluster: %d worker process(es) on 127.0.0.1", workers)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        logger.info("Dask dashboard: %s", cluster.dashboard_link)
        yield client


def _workers_per_host(client: Any) -> dict[str, int]:
    hosts: dict[str, int] = {}
    for info in client.scheduler_info(n_workers=-1)["workers"].values():
        hosts[info["host"]] = hosts.get(info["host"], 0) + 1
    return hosts


def _run(folder: Path, manifest: Manifest, todo: list[Shard], results: list[dict[str, Any]], client: Any, *,
         threads: int | None, batch_size: int, show: bool) -> int:
    """Embed ``todo`` on the cluster, recording each part as it finishes; return the workers seen."""
    distributed = require("distributed", extra="dask", purpose="frasi corpus")
    from .worker import EncoderPlugin, embed_shard

    run = manifest.run
    per_host = _workers_per_host(client)
    if not per_host:
        logger.warning("the Dask cluster has no workers yet; the shards wait for them")
    plugin = EncoderPlugin(key=manifest.config["key"], model=manifest.model["reference"],
                           backend=manifest.model["backend"], threads=threads, per_host=per_host,
                           options=manifest.model["options"])
    client.register_plugin(plugin)
    job = {"plugin": plugin.name, "folder": str(folder.resolve()), "run": run, "store_text": manifest.store_text,
           "batch_size": batch_size, "options": manifest.model["options"]}
    futures = [client.submit(embed_shard, job, manifest.inputs[s.input].to_dict(), s.to_dict(),
                             key=f"frasi-corpus-{run[:16]}-{s.index:06d}") for s in todo]
    by_key = {f.key: s for f, s in zip(futures, todo)}
    saved = time.monotonic()
    bar = _shard_bar(len(manifest.shards), len(manifest.shards) - len(todo), show)
    try:
        # results are gathered in the background as tasks finish (future.result() would wait on each in turn)
        for future, result in distributed.as_completed(futures, loop=client.loop, with_results=True,
                                                       raise_errors=False):
            shard = by_key[future.key]
            try:
                if future.status != "finished":
                    future.result()  # raises the task's error
            except distributed.KilledWorker:
                raise FrasiError(f"the workers that ran shard {shard.index} ({_rows(manifest, shard)}) died "
                                 "several times (out of memory, or killed); the finished shards are kept: "
                                 "rerun to resume") from None
            except FrasiError as exc:
                raise type(exc)(f"shard {shard.index} ({_rows(manifest, shard)}): {exc}") from None
            path = part_path(folder, shard.index)
            problem = "is not there" if not path.is_file() else check_part(
                path, run=run, shard=shard, dimension=manifest.dimension, store_text=manifest.store_text)
            if problem is not None:
                raise OutputError(f"the part of shard {shard.index} that {result['worker']} wrote {problem} "
                                  f"where the driver reads it ({path}); the driver and every worker must see "
                                  "the output folder at the same path (a shared file system)")
            manifest.finished[shard.index] = part_record(path)
            results.append(result)
            bar.update()
            if time.monotonic() - saved >= SAVE_EVERY:
                write_manifest(folder, manifest)
                saved = time.monotonic()
    finally:
        bar.close()
        client.cancel(futures)
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(plugin.name)
        write_manifest(folder, manifest)
    return sum(per_host.values())


def _rows(manifest: Manifest, shard: Shard) -> str:
    source: InputFile = manifest.inputs[shard.input]
    return f"{source.name} rows {shard.start} to {shard.start + shard.rows - 1}"


def _shard_bar(total: int, initial: int, show: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="shards", unit="shard", disable=not show)
