"""What runs on a Dask worker: one model per worker process, and the task that embeds one shard.

:class:`EncoderPlugin` is a Dask ``WorkerPlugin``: registered once by the driver, it is
set up on every worker (those that join later too). It sets the worker's CPU threads
explicitly (the runtime's, and the ``*_NUM_THREADS`` variables of the libraries under it)
and loads the :class:`frasi.Encoder` once, on the worker's first shard, then checks that
its vector key is the driver's: a worker whose model files or library versions differ
refuses to embed rather than mix other vectors into the output.

:func:`embed_shard` reads its shard's rows from the input file (the driver never sends
texts), encodes them, and writes the part to its temporary name and renames it. A task
that runs twice (its worker died after writing) writes the same part again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker
from distributed.comm import get_address_host

from ..backends import default_threads
from ..encoder import TRUNCATION_WARNING, Encoder
from ..errors import FrasiError, InputError
from .parts import part_path, write_part
from .shards import InputFile, Shard, read_shard

logger = logging.getLogger(__name__)

PLUGIN_PREFIX = "frasi-corpus-encoder-"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


class EncoderPlugin(WorkerPlugin):
    """The model of one output on every worker: loaded once per worker process, with explicit threads.

    ``threads`` per worker; None: the worker's CPUs shared by the workers of its host
    (``per_host``, worker processes per host as the driver saw them).
    """

    idempotent = True  # registering the same output's plugin again keeps the loaded model

    def __init__(self, *, key: str, model: str, backend: str, threads: int | None, per_host: dict[str, int],
                 options: dict[str, Any]) -> None:
        self.name = PLUGIN_PREFIX + key[:16]
        self.key, self.model, self.backend = key, model, backend
        self.threads, self.per_host, self.options = threads, dict(per_host), dict(options)
        self.worker_threads: int | None = None
        self._encoder: Encoder | None = None
        self._lock: threading.Lock | None = None  # made on the worker: a lock does not pickle

    def setup(self, worker: Any) -> None:
        host = get_address_host(worker.address)
        self.worker_threads = self.threads or max(1, default_threads() // max(1, self.per_host.get(host, 1)))
        for name in THREAD_VARIABLES:
            os.environ[name] = str(self.worker_threads)
        self._lock = threading.Lock()

    def teardown(self, worker: Any) -> None:
        self._encoder = None

    @contextlib.contextmanager
    def encoder(self) -> Iterator[Encoder]:
        """The loaded model, for one shard at a time (a worker with several task threads still encodes one
        shard at a time, with all of its threads)."""
        assert self._lock is not None, "the plugin is set up on a worker before its tasks run"
        with self._lock:
            if self._encoder is None:
                self._encoder = self._load()
            yield self._encoder

    def _load(self) -> Encoder:
        start = time.perf_counter()
        encoder = Encoder.load(self.model, backend=self.backend, threads=self.worker_threads)
        key = encoder.vector_key(**self.options)
        if key.id != self.key:
            raise InputError(f"the worker {get_worker().address} would compute other vectors than the output holds "
                             f"(its model files or library versions differ from the driver's: key {key.id[:12]}, "
                             f"not {self.key[:12]}); install the same model and versions on every worker")
        logger.info("loaded %s (%s, %d threads) in %.1f s", encoder.name, encoder.backend, self.worker_threads,
                    time.perf_counter() - start)
        return encoder


class _Truncations(logging.Filter):
    """Counts what the encoder would log as truncated texts, and keeps the line off the worker's log: the
    driver reports the total."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg is TRUNCATION_WARNING:
            self.count += int(record.args[0])  # type: ignore[index]
            return False
        return True


def embed_shard(job: dict[str, Any], source: dict[str, Any], shard: dict[str, Any]) -> dict[str, Any]:
    """Embed one shard on this worker and write its part; return what the driver records."""
    began = time.time()
    started = time.perf_counter()
    worker = get_worker()
    plugin: EncoderPlugin = worker.plugins[job["plugin"]]
    planned, input_file = Shard(**shard), InputFile(**source)
    try:
        ids, texts = read_shard(input_file, planned)
        read_seconds = time.perf_counter() - started
        counter = _Truncations()
        encoder_logger = logging.getLogger("frasi.encoder")
        with plugin.encoder() as encoder:
            loaded = time.perf_counter()
            encoder_logger.addFilter(counter)
            try:
                vectors = encoder.encode(texts, batch_size=job["batch_size"], show_progress=False,
                                         **job["options"])
            finally:
                encoder_logger.removeFilter(counter)
        encoded = time.perf_counter()
        write_part(part_path(Path(job["folder"]), planned.index), run=job["run"], shard=planned, ids=ids,
                   texts=texts, vectors=vectors, store_text=job["store_text"])
    except FrasiError as exc:  # sent to the driver as a plain FrasiError: some subclasses do not pickle
        raise (exc if type(exc) is InputError else FrasiError(str(exc))) from None
    return {"shard": planned.index, "rows": planned.rows, "truncated": counter.count, "worker": worker.address,
            "pid": os.getpid(), "threads": plugin.worker_threads, "began": began,
            "read_seconds": round(read_seconds, 4), "load_seconds": round(loaded - started - read_seconds, 4),
            "encode_seconds": round(encoded - loaded, 4), "write_seconds": round(time.perf_counter() - encoded, 4),
            "task_seconds": round(time.perf_counter() - started, 4)}
