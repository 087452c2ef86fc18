"""The application: :func:`create_app` assembles it, :func:`serve` runs it on uvicorn.

The models load in the lifespan, on a thread of their own, so the server answers at once:
``/health`` is 503 until every model is loaded and warm, then 200. On shutdown (SIGTERM,
Ctrl-C) uvicorn stops accepting connections and waits for the requests in flight (up to
``graceful_timeout`` seconds); then the lifespan stops the workers and closes the cache.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..errors import FrasiError, InputError, ModelLoadError
from . import errors, openapi
from .limits import BodyLimit
from .metrics import Metrics, RequestMetrics
from .routes import open_router, router
from .served import Models
from .settings import LOOPBACK, ServerSettings, load_settings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """Sentence embeddings (es / it / en) from frasi: OpenAI's embeddings API, similarity, reranking,
classification, sentiment and tokens, with dynamic batching. Errors are `{"error": {"message", "type", "code"}}`."""


def create_app(settings: ServerSettings | None = None, **given: Any) -> FastAPI:
    """The FastAPI app of a frasi server: ``settings``, or :class:`ServerSettings` built from ``given`` keywords
    over ``FRASI_*`` variables over the defaults (``create_app(models=["all-MiniLM-L6-v2"], sentiment=False)``).

    Nothing loads until the app starts (its lifespan): run it with uvicorn, or in tests with
    ``with TestClient(create_app(...)) as client``; ``app.state.models.ready`` is set when the models are loaded.
    """
    if settings is None:
        settings = load_settings(**given)
    elif given:
        raise TypeError("pass settings or keywords, not both")
    metrics = Metrics()
    models = Models(settings, observer=metrics, in_flight=lambda: metrics.active)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=models.load, name="frasi-load", daemon=True).start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(models.stop, settings.graceful_timeout)

    app = FastAPI(title="frasi", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    app.state.models = models
    app.state.metrics = metrics
    errors.install(app)
    openapi.install(app, models)
    app.include_router(open_router)
    app.include_router(router)
    if settings.playground:
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        async def playground() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: it counts the refusals of BodyLimit too
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port``; InputError when the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == 98 else f"cannot be bound ({exc.strerror})"
        raise InputError(f"{host}:{port} {reason}; pick another with --port (FRASI_PORT) or --host") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: ServerSettings | None = None, **given: Any) -> None:
    """Run a server until SIGTERM or Ctrl-C; raise the error when the models cannot load (the server stops)."""
    import uvicorn

    settings = load_settings(**given) if settings is None else settings
    Models.check(settings)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    app = create_app(settings)
    config = uvicorn.Config(app, access_log=settings.access_log, timeout_graceful_shutdown=settings.graceful_timeout,
                            lifespan="on", log_level=logging.getLogger("frasi").getEffectiveLevel())
    server = uvicorn.Server(config)
    failures: list[BaseException] = []

    def failed(exc: BaseException) -> None:
        failures.append(exc)
        server.should_exit = True

    app.state.models.on_failure = failed
    if host != LOOPBACK and host != "::1":
        logger.warning("listening on %s: other machines can reach this server%s", host,
                       "" if settings.api_key else "; set an API key (--api-key, FRASI_API_KEY)")
    logger.info("frasi %s serving on http://%s:%d (playground at /, API at /openapi.json); loading models",
                __version__, host if ":" not in host else f"[{host}]", port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if failures:
        error = failures[0]
        raise error if isinstance(error, FrasiError) else ModelLoadError(f"loading the models failed: {error}")
