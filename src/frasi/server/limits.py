"""The limits a request meets before any model sees it: body bytes, texts per request, characters per text.

Each refusal names the limit and the setting that raises it. A body over
``max_body_bytes`` is refused from its Content-Length before it is read, or as soon as
a chunked body passes the limit (413). Too many texts or too long a text is a 422: the
OpenAPI document states both limits (``maxItems``, ``maxLength``), so such a request breaks
the schema, as an empty text or one that is not valid Unicode does (frasi's own check,
:func:`frasi.io.validate_texts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InputError
from ..io import validate_texts
from .errors import APIError, error_response


class BodyTooLarge(HTTPException):
    """A body over the limit, raised while it is read (FastAPI passes HTTP exceptions from the body through)."""

    code = "body_too_large"


def body_message(limit: int, got: str) -> str:
    return (f"the request body is {got}, over this server's limit of {limit} bytes (max_body_bytes); send fewer or "
            "shorter texts per request, or raise the limit (--max-body-bytes, FRASI_MAX_BODY_BYTES)")


DRAIN_BYTES = 64 << 20  # a body over the limit is read and dropped up to this much, so the client sees the 413


async def drain(receive: Receive, more: bool, limit: int = DRAIN_BYTES) -> None:
    """Read and drop the rest of a body (up to ``limit`` bytes): a client still sending when the server answers and
    closes gets a reset connection, not the answer."""
    dropped = 0
    while more and dropped < limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        more = message.get("more_body", False)


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, known from Content-Length or counted as it arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length > self.max_bytes:
                    response = error_response(413, body_message(self.max_bytes, f"{length} bytes"), "body_too_large")
                    await drain(receive, True)
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    await drain(receive, message.get("more_body", False))
                    raise BodyTooLarge(413, body_message(self.max_bytes, f"over {self.max_bytes} bytes"))
            return message

        await self.app(scope, counted, send)


def as_texts(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def check_texts(texts: list[str], settings: Any, *, what: str = "input") -> list[str]:
    """``texts`` within ``max_inputs`` and ``max_input_chars``, and valid as frasi checks texts; else 422."""
    if len(texts) > settings.max_inputs:
        raise APIError(422, f"{what} has {len(texts)} texts, over this server's limit of {settings.max_inputs} per "
                            "request (max_inputs); split them over several requests, or raise the limit "
                            "(--max-inputs, FRASI_MAX_INPUTS)", code="too_many_inputs")
    for index, text in enumerate(texts):
        if len(text) > settings.max_input_chars:
            raise APIError(422, f"{what} text {index} has {len(text)} characters, over this server's limit of "
                                f"{settings.max_input_chars} (max_input_chars); shorten or split it, or raise the "
                                "limit (--max-input-chars, FRASI_MAX_INPUT_CHARS)", code="input_too_long")
    try:
        return validate_texts(texts, what=what)
    except InputError as exc:
        raise APIError(422, str(exc), code="invalid_input") from None
