"""Prometheus metrics of one app (its own registry, so two apps in one process never mix their counts).

    frasi_requests_total{endpoint,status}           requests answered
    frasi_request_failures_total{endpoint,status}   of which failed (4xx and 5xx)
    frasi_request_duration_seconds{endpoint}        time to answer
    frasi_requests_in_flight                        requests being answered now
    frasi_queue_depth{model}                        requests waiting for a model's worker
    frasi_queue_duration_seconds{model}             time a request waited before its first run
    frasi_inference_duration_seconds{model}         time of one run (one merged batch)
    frasi_batch_size{model}                         inputs per run: above 1 when requests were merged
    frasi_batch_tokens{model}                       tokens per run
    frasi_embedding_cache_hits_total                texts served from the embedding cache
    frasi_embedding_cache_misses_total              texts the cache did not hold

Names follow text-embeddings-inference's (``te_request_*``, ``te_queue_size``,
``te_batch_next_*``) in Prometheus' conventions. ``endpoint`` is the route's path template,
never the raw URL, so unknown paths cannot grow the label set.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 65536)
TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The registry and the instruments; a :class:`frasi.server.batching.Observer` for the workers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("frasi_requests", "Requests answered.", ["endpoint", "status"], registry=r)
        self.failures = Counter("frasi_request_failures", "Requests answered with an error (4xx, 5xx).",
                                ["endpoint", "status"], registry=r)
        self.duration = Histogram("frasi_request_duration_seconds", "Time to answer a request.", ["endpoint"],
                                  buckets=TIME_BUCKETS, registry=r)
        self.in_flight = Gauge("frasi_requests_in_flight", "Requests being answered.", registry=r)
        self.depth = Gauge("frasi_queue_depth", "Requests waiting for a model's worker.", ["model"], registry=r)
        self.queue_time = Histogram("frasi_queue_duration_seconds", "Time a request waited before its first run.",
                                    ["model"], buckets=TIME_BUCKETS, registry=r)
        self.inference = Histogram("frasi_inference_duration_seconds", "Time of one run (a merged batch).",
                                   ["model"], buckets=TIME_BUCKETS, registry=r)
        self.batch_size = Histogram("frasi_batch_size", "Inputs per run.", ["model"], buckets=SIZE_BUCKETS,
                                    registry=r)
        self.batch_tokens = Histogram("frasi_batch_tokens", "Tokens per run.", ["model"], buckets=TOKEN_BUCKETS,
                                      registry=r)
        self.active = 0  # requests in progress, read by the workers (no lock: one int, one event loop writes it)

    # the workers' reports
    def queue_depth(self, worker: str, depth: int) -> None:
        self.depth.labels(worker).set(depth)

    def waited(self, worker: str, seconds: float) -> None:
        self.queue_time.labels(worker).observe(seconds)

    def ran(self, worker: str, inputs: int, tokens: int, seconds: float) -> None:
        self.inference.labels(worker).observe(seconds)
        self.batch_size.labels(worker).observe(inputs)
        self.batch_tokens.labels(worker).observe(tokens)

    def watch_cache(self, cache: Any) -> None:
        """Report the hits and misses of an :class:`frasi.EmbeddingCache`."""
        self.registry.register(_CacheCollector(cache))

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _CacheCollector:
    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("frasi_embedding_cache_hits", "Texts served from the embedding cache.",
                                  value=self.cache.hits)
        yield CounterMetricFamily("frasi_embedding_cache_misses", "Texts the embedding cache did not hold.",
                                  value=self.cache.misses)


class RequestMetrics:
    """ASGI middleware: counts, times and tracks every HTTP request in ``metrics``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.active += 1
        metrics.in_flight.inc()
        began = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.active -= 1
            metrics.in_flight.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            metrics.requests.labels(endpoint, str(status)).inc()
            if status >= 400:
                metrics.failures.labels(endpoint, str(status)).inc()
            metrics.duration.labels(endpoint).observe(time.perf_counter() - began)
