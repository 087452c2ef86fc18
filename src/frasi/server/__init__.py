"""frasi's embedding server (the ``serve`` extra): FastAPI on uvicorn, OpenAI's embeddings API and more.

    >>> from frasi.server import create_app, serve
    >>> app = create_app(models=["multilingual-e5-small"], api_key="secret")  # an ASGI app, for uvicorn
    >>> serve(port=8000)                                      # what `frasi serve` runs: 127.0.0.1:8000

Settings come from keywords (flags) over ``FRASI_*`` variables over defaults
(:class:`ServerSettings`). Endpoints are listed in :mod:`frasi.server.routes`; dynamic
batching is :mod:`frasi.server.batching`; the web playground is served at ``/``.
"""

from __future__ import annotations

from ..errors import require_installed

for _module in ("fastapi", "uvicorn", "pydantic_settings", "prometheus_client"):
    require_installed(_module, extra="serve", purpose="frasi serve")

from .app import create_app, serve  # noqa: E402
from .settings import ServerSettings, load_settings  # noqa: E402

__all__ = ["ServerSettings", "create_app", "load_settings", "serve"]
