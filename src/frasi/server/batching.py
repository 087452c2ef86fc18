"""Dynamic batching: one inference thread per served model, fed by a bounded queue.

Requests put their inputs in the model's queue (:meth:`BatchWorker.submit`) and get a
future. The worker thread takes inputs from the head of the queue, request after request,
until their tokens reach ``max_batch_tokens``, and runs the model once on all of them;
each request gets its own rows back, in order. A request larger than the budget is split
into runs of the budget (text-embeddings-inference #378 rejects it instead), and the
requests behind it join its last run. While other requests are in flight (they have
arrived but are not queued yet), the worker waits up to ``max_wait_s`` for them before
running; a lone client never waits. Only requests with the same ``group`` (the same
prompt, say) share a run.

The queue holds at most ``max_queue`` requests: one more raises :class:`QueueFull`, with
a Retry-After estimate, whether it brings one input or a thousand (TEI #662 refused single
inputs while accepting batches). Other work for the model (tokenizing for ``/tokenize``)
goes through :meth:`BatchWorker.call`, so one thread alone touches a model and its
tokenizer. Workers of one server share ``lock``: one run at a time, every CPU thread to it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

Columns = tuple[Any, ...]  # one sequence (array or list) per output, one row per input
RunFunction = Callable[[Hashable, list[Any]], tuple[Columns, int | None]]


class QueueFull(Exception):
    """The queue is full; ``retry_after`` is a guess of the seconds until it has room."""

    def __init__(self, worker: str, depth: int, retry_after: int) -> None:
        super().__init__(f"{worker} has {depth} requests waiting, its limit; retry in {retry_after} s")
        self.depth = depth
        self.retry_after = retry_after


class Stopped(Exception):
    """The worker is stopping (the server is shutting down) and takes no new work."""


class Observer(Protocol):
    """What a worker reports (:class:`frasi.server.metrics.Metrics` records it)."""

    def queue_depth(self, worker: str, depth: int) -> None: ...

    def waited(self, worker: str, seconds: float) -> None: ...

    def ran(self, worker: str, inputs: int, tokens: int, seconds: float) -> None: ...


class _Job:
    __slots__ = ("group", "inputs", "costs", "call", "future", "enqueued", "taken", "done", "parts", "started")

    def __init__(self, group: Hashable, inputs: list[Any], costs: list[int], call: Callable[[], Any] | None) -> None:
        self.group, self.inputs, self.costs, self.call = group, inputs, costs, call
        self.future: Future = Future()
        self.enqueued = time.perf_counter()
        self.taken = 0  # inputs handed to runs
        self.done = 0  # inputs with results
        self.parts: list[tuple[int, Columns]] = []
        self.started = False


def _finish(future: Future, *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # cancelled: the client went away
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled meanwhile
        pass


def _joined(parts: list[tuple[int, Columns]]) -> Columns:
    parts = sorted(parts, key=lambda part: part[0])
    if len(parts) == 1:
        return parts[0][1]
    columns = []
    for index in range(len(parts[0][1])):
        pieces = [columns_[index] for _, columns_ in parts]
        if isinstance(pieces[0], np.ndarray):
            columns.append(np.concatenate(pieces))
        else:
            columns.append(list(itertools.chain.from_iterable(pieces)))
    return tuple(columns)


class BatchWorker:
    """One model's inference thread and its queue.

    ``run(group, inputs)`` computes a run: it returns one column per output (each with one
    row per input) and the tokens it read (None: the sum of the submitted costs).
    ``in_flight()`` counts the server's requests in progress; while it exceeds the requests
    the worker holds, more are on their way and worth waiting ``max_wait_s`` for.
    """

    def __init__(self, name: str, run: RunFunction, *, max_batch_tokens: int = 4096, max_wait_s: float = 0.002,
                 max_queue: int = 64, lock: threading.Lock | None = None, observer: Observer | None = None,
                 in_flight: Callable[[], int] | None = None) -> None:
        self.name = name
        self.run = run
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.lock = lock or threading.Lock()
        self.observer = observer
        self.in_flight = in_flight
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._rate: float | None = None  # tokens per second, smoothed
        self._thread = threading.Thread(target=self._loop, name=f"frasi-worker-{name}", daemon=True)
        self.runs = 0

    # ---------------------------------------------------------------- the requests' side

    def start(self) -> BatchWorker:
        self._thread.start()
        return self

    @property
    def depth(self) -> int:
        """Requests waiting (or partly run)."""
        return len(self._queue)

    def submit(self, inputs: Sequence[Any], costs: Sequence[int], *, group: Hashable = None) -> Future:
        """Queue ``inputs`` (``costs``: tokens of each, estimated); the future gives ``run``'s columns for them."""
        if len(inputs) != len(costs) or not inputs:
            raise ValueError("submit needs one cost per input and at least one input")
        return self._put(_Job(group, list(inputs), [max(1, int(c)) for c in costs], None))

    def call(self, function: Callable[[], Any]) -> Future:
        """Run ``function()`` on the worker's thread, in turn with the runs; the future gives its result."""
        return self._put(_Job(None, [None], [1], function))

    def stop(self, timeout: float | None = None) -> None:
        """Take no new work, finish what is queued, and end the thread (waiting up to ``timeout`` seconds)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _put(self, job: _Job) -> Future:
        with self._cond:
            if self._stopping:
                raise Stopped(f"{self.name} is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(self.name, len(self._queue), self._retry_after())
            self._queue.append(job)
            depth = len(self._queue)
            self._cond.notify()
        if self.observer is not None:
            self.observer.queue_depth(self.name, depth)
        return job.future

    def _retry_after(self) -> int:
        """Seconds until the queue is likely to have room: what waits, at the recent speed (1 to 60)."""
        if not self._rate:
            return 1
        waiting = sum(sum(job.costs[job.taken:]) for job in self._queue)
        return int(min(60, max(1, math.ceil(waiting / self._rate))))

    # ---------------------------------------------------------------- the worker's side

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return  # stopping, and nothing left
                taken = self._take()
                if taken and taken[0][0].call is None:
                    self._gather(taken)
                depth = len(self._queue)
            if self.observer is not None:
                self.observer.queue_depth(self.name, depth)
            if taken:
                self._execute(taken)

    def _take(self, taken: list[tuple[_Job, int, int]] | None = None) -> list[tuple[_Job, int, int]]:
        """Inputs for one run, from the head of the queue on: (job, start, end) slices. Holds the condition."""
        taken = [] if taken is None else taken
        used = sum(sum(job.costs[start:end]) for job, start, end in taken)
        group = taken[0][0].group if taken else None
        for job in list(self._queue):
            if job.future.done():  # cancelled by its client, or failed in an earlier run
                self._queue.remove(job)
                continue
            if job.call is not None:
                if taken:
                    continue  # a call runs alone, when it reaches the head
                self._queue.remove(job)
                return [(job, 0, 1)]
            if taken and job.group != group:
                continue
            group = job.group
            start = end = job.taken
            while end < len(job.inputs) and (used == 0 or used + job.costs[end] <= self.max_batch_tokens):
                used += job.costs[end]
                end += 1
            if end > start:
                taken.append((job, start, end))
                job.taken = end
                if not job.started:
                    job.started = True
                    if self.observer is not None:
                        self.observer.waited(self.name, time.perf_counter() - job.enqueued)
            if job.taken == len(job.inputs):
                self._queue.remove(job)
            if used >= self.max_batch_tokens:
                break
        return taken

    def _gather(self, taken: list[tuple[_Job, int, int]]) -> None:
        """Wait up to ``max_wait_s`` for requests in flight to join the run. Holds the condition."""
        if self.max_wait_s <= 0 or self.in_flight is None:
            return
        deadline = time.perf_counter() + self.max_wait_s
        while True:
            used = sum(sum(job.costs[start:end]) for job, start, end in taken)
            held = len({id(job) for job, _, _ in taken}) + len(self._queue)
            left = deadline - time.perf_counter()
            if used >= self.max_batch_tokens or self.in_flight() <= held or left <= 0:
                return
            self._cond.wait(left)
            self._take(taken)

    def _execute(self, taken: list[tuple[_Job, int, int]]) -> None:
        job = taken[0][0]
        if job.call is not None:
            try:
                with self.lock:
                    result = job.call()
            except BaseException as exc:  # handed to the request that asked
                _finish(job.future, error=exc)
            else:
                _finish(job.future, result=result)
            return
        inputs = [item for job, start, end in taken for item in job.inputs[start:end]]
        began = time.perf_counter()
        try:
            with self.lock:
                columns, tokens = self.run(job.group, inputs)
        except BaseException as exc:  # every request of the run gets the error
            logger.debug("run of %d inputs on %s failed: %s", len(inputs), self.name, exc)
            for job_, _, _ in taken:
                _finish(job_.future, error=exc)
            return
        seconds = time.perf_counter() - began
        if tokens is None:
            tokens = sum(sum(job_.costs[start:end]) for job_, start, end in taken)
        self.runs += 1
        if seconds > 0:
            rate = tokens / seconds
            self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
        if self.observer is not None:
            self.observer.ran(self.name, len(inputs), tokens, seconds)
        offset = 0
        for job_, start, end in taken:
            n = end - start
            job_.parts.append((start, tuple(column[offset:offset + n] for column in columns)))
            offset += n
            job_.done += n
            if job_.done == len(job_.inputs):
                _finish(job_.future, result=_joined(job_.parts))
