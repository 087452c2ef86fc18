"""Dynamic batching (frasi.server.batching) with a model-free run function: merging, order, budgets, the bounded
queue, calls, failures and shutdown. The worker is held at its lock while requests queue, so what merges is
decided by the test, not by timing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import numpy as np
import pytest

pytest.importorskip("fastapi")

from frasi.server.batching import BatchWorker, QueueFull, Stopped

TIMEOUT = 30


class Recorder:
    """A run function that doubles its inputs and remembers every run; an observer too."""

    def __init__(self, fail_on: object = None) -> None:
        self.runs: list[tuple[object, list]] = []
        self.reports: list[tuple[int, int]] = []
        self.fail_on = fail_on

    def __call__(self, group, inputs):
        self.runs.append((group, list(inputs)))
        if self.fail_on in inputs:
            raise ValueError(f"cannot run {self.fail_on}")
        values = np.asarray(inputs, dtype=np.int64)
        return (values * 2, [f"x{v}" for v in inputs]), None

    # the observer's side
    def queue_depth(self, worker, depth):
        pass

    def waited(self, worker, seconds):
        pass

    def ran(self, worker, inputs, tokens, seconds):
        self.reports.append((inputs, tokens))


@pytest.fixture
def start():
    """Start a BatchWorker over a Recorder, its run lock returned for the test to hold; every worker started is
    stopped when the test ends, passed or failed."""
    workers: list[BatchWorker] = []

    def start_worker(recorder: Recorder | None = None, **options) -> tuple[BatchWorker, threading.Lock, Recorder]:
        recorder = recorder or Recorder()
        lock = threading.Lock()
        workers.append(BatchWorker("test", recorder, lock=lock, observer=recorder, **options).start())
        return workers[-1], lock, recorder

    yield start_worker
    for worker in workers:
        worker.stop(TIMEOUT)


def wait_until(condition, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def held(worker: BatchWorker, lock: threading.Lock, recorder: Recorder, first: Future) -> None:
    """Wait until the worker has taken ``first``'s run and blocks on the lock the test holds."""
    wait_until(lambda: worker.depth == 0 and not first.done())
    time.sleep(0.02)


def test_concurrent_requests_merge_into_one_run_and_each_gets_its_rows_in_order(start):
    worker, lock, recorder = start(max_wait_s=0)
    with lock:
        first = worker.submit([1], [1])
        held(worker, lock, recorder, first)
        others = [worker.submit(list(range(10 * k, 10 * k + k)), [1] * k) for k in (1, 2, 3)]
    doubled, labels = first.result(TIMEOUT)
    assert doubled.tolist() == [2] and labels == ["x1"]
    for k, future in zip((1, 2, 3), others):
        values, names = future.result(TIMEOUT)
        assert values.tolist() == [2 * v for v in range(10 * k, 10 * k + k)]
        assert names == [f"x{v}" for v in range(10 * k, 10 * k + k)]
    assert [inputs for _, inputs in recorder.runs] == [[1], [10, 20, 21, 30, 31, 32]]
    assert [size for size, _ in recorder.reports] == [1, 6]


def test_a_request_over_the_budget_is_split_and_the_next_joins_its_last_run(start):
    worker, lock, recorder = start(max_batch_tokens=10, max_wait_s=0)
    with lock:
        blocker = worker.submit([0], [10])
        held(worker, lock, recorder, blocker)
        big = worker.submit(list(range(100, 125)), [1] * 25)
        small = worker.submit([7, 8, 9], [1] * 3)
    assert big.result(TIMEOUT)[0].tolist() == [2 * v for v in range(100, 125)]
    assert small.result(TIMEOUT)[0].tolist() == [14, 16, 18]
    assert [len(inputs) for _, inputs in recorder.runs] == [1, 10, 10, 8]
    assert recorder.runs[-1][1] == [120, 121, 122, 123, 124, 7, 8, 9]


def test_one_input_over_the_budget_runs_alone(start):
    worker, _, recorder = start(max_batch_tokens=10, max_wait_s=0)
    assert worker.submit([5, 6], [50, 50]).result(TIMEOUT)[0].tolist() == [10, 12]
    assert [inputs for _, inputs in recorder.runs] == [[5], [6]]


def test_requests_of_different_groups_never_share_a_run(start):
    worker, lock, recorder = start(max_wait_s=0)
    with lock:
        blocker = worker.submit([0], [1], group="a")
        held(worker, lock, recorder, blocker)
        futures = [worker.submit([1], [1], group="b"), worker.submit([2], [1], group="a"),
                   worker.submit([3], [1], group="b")]
    for future in futures:
        future.result(TIMEOUT)
    assert recorder.runs == [("a", [0]), ("b", [1, 3]), ("a", [2])]


def test_a_full_queue_refuses_single_and_batch_requests_alike(start):
    worker, lock, recorder = start(max_queue=2, max_wait_s=0)
    with lock:
        blocker = worker.submit([0], [1])
        held(worker, lock, recorder, blocker)
        queued = [worker.submit([1], [1]), worker.submit([2, 3], [1, 1])]
        for inputs in ([4], list(range(100))):
            with pytest.raises(QueueFull) as caught:
                worker.submit(inputs, [1] * len(inputs))
            assert caught.value.retry_after >= 1 and caught.value.depth == 2
            assert "2 requests waiting" in str(caught.value)
    for future in queued:
        future.result(TIMEOUT)
    assert worker.submit([9], [1]).result(TIMEOUT)[0].tolist() == [18]  # room again


def test_calls_run_on_the_worker_thread_in_turn(start):
    worker, _, recorder = start()
    assert worker.call(lambda: threading.current_thread().name).result(TIMEOUT) == "frasi-worker-test"
    with pytest.raises(KeyError):
        worker.call(lambda: {}["missing"]).result(TIMEOUT)
    assert worker.submit([1], [1]).result(TIMEOUT)[0].tolist() == [2]  # the worker lives on


def test_a_failed_run_fails_each_of_its_requests_and_the_worker_goes_on(start):
    worker, lock, recorder = start(Recorder(fail_on=13), max_wait_s=0)
    with lock:
        blocker = worker.submit([0], [1])
        held(worker, lock, recorder, blocker)
        failing = [worker.submit([12], [1]), worker.submit([13], [1])]
    for future in failing:
        with pytest.raises(ValueError, match="cannot run 13"):
            future.result(TIMEOUT)
    assert worker.submit([14], [1]).result(TIMEOUT)[0].tolist() == [28]


def test_a_cancelled_request_is_dropped_before_its_run(start):
    worker, lock, recorder = start(max_wait_s=0)
    with lock:
        blocker = worker.submit([0], [1])
        held(worker, lock, recorder, blocker)
        gone = worker.submit([1], [1])
        kept = worker.submit([2], [1])
        assert gone.cancel()
    assert kept.result(TIMEOUT)[0].tolist() == [4]
    assert [inputs for _, inputs in recorder.runs] == [[0], [2]]


def test_stop_finishes_what_is_queued_then_refuses_new_work(start):
    worker, lock, recorder = start(max_wait_s=0)
    with lock:
        blocker = worker.submit([0], [1])
        held(worker, lock, recorder, blocker)
        queued = [worker.submit([i], [1]) for i in range(1, 4)]
        stopper = threading.Thread(target=worker.stop, args=(TIMEOUT,))
        stopper.start()
        time.sleep(0.02)
        with pytest.raises(Stopped):
            worker.submit([9], [1])
    stopper.join(TIMEOUT)
    assert [f.result(0)[0].tolist() for f in queued] == [[2], [4], [6]]


def test_the_worker_waits_for_requests_in_flight_and_a_lone_client_does_not_wait(start):
    in_flight = [2]
    worker, _, recorder = start(max_wait_s=5.0, in_flight=lambda: in_flight[0])
    first = worker.submit([1], [1])
    time.sleep(0.05)
    assert not first.done()  # another request is on its way: the worker waits for it
    second = worker.submit([2], [1])
    first.result(TIMEOUT), second.result(TIMEOUT)
    assert [inputs for _, inputs in recorder.runs] == [[1, 2]]
    in_flight[0] = 1  # one request in flight, and it is queued: nothing to wait for
    began = time.monotonic()
    worker.submit([3], [1]).result(TIMEOUT)
    assert time.monotonic() - began < 4.0  # well under max_wait_s: the worker did not wait
