"""The one error shape of the server and the handlers that give it to every failure.

Every response that is not a success is ``{"error": {"message", "type", "code"}}`` (the
OpenAI shape): ``message`` says what was received, what was expected and the fix;
``type`` is the class of failure (by status, below); ``code`` is a stable machine-readable
name (``too_many_inputs``, ``queue_full``, ...). FastAPI's own validation errors, unknown
routes and methods, frasi's errors and anything unexpected are all mapped to it: bad input
is a 4xx, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import FrasiError, InputError, MissingExtraError, ModelNotFoundError, first_line

logger = logging.getLogger(__name__)

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 413: "request_too_large", 422: "invalid_request_error",
         429: "rate_limit_error", 500: "server_error", 501: "server_error", 503: "service_unavailable"}


class APIError(Exception):
    """A failure the server answers with ``status`` and the error shape; ``headers`` go with it (Retry-After)."""

    def __init__(self, status: int, message: str, *, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"), "code": code}}


def error_response(status: int, message: str, code: str | None, headers: dict[str, str] | None = None,
                   ) -> JSONResponse:
    return JSONResponse(error_body(status, message, code), status_code=status, headers=headers)


def from_frasi_error(exc: FrasiError) -> APIError:
    """frasi's exception tree as HTTP: bad input 422, unknown model 404, anything else a server-side 500."""
    if isinstance(exc, InputError):
        return APIError(422, str(exc), code="invalid_input")
    if isinstance(exc, ModelNotFoundError):
        return APIError(404, str(exc), code="model_not_found")
    if isinstance(exc, MissingExtraError):
        return APIError(501, str(exc), code="missing_extra")
    return APIError(500, str(exc), code="server_error")


def validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's errors as one line: ``where: what`` for the first three."""
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the one shape."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "the body is not valid JSON; send a JSON object (Content-Type: "
                                       "application/json)", "invalid_json")
        if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
            content_type = request.headers.get("content-type", "none")
            if "json" not in content_type:
                return error_response(400, f"the body must be a JSON object sent with Content-Type: "
                                           f"application/json; got content type {content_type}", "invalid_json")
        custom = next((e for e in errors if e.get("type") == "token_ids"), None)
        if custom is not None:
            return error_response(422, custom["msg"], "token_ids_not_supported")
        return error_response(422, validation_message(errors), "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; see /openapi.json"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /openapi.json"
        else:
            message = str(exc.detail)
        code = getattr(exc, "code", None) or ("not_found" if exc.status_code == 404 else "http_error")
        return error_response(exc.status_code, message, code, getattr(exc, "headers", None))

    @app.exception_handler(FrasiError)
    async def frasi_error(request: Request, exc: FrasiError) -> JSONResponse:
        error = from_frasi_error(exc)
        if error.status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, first_line(exc))
        return error_response(error.status, error.message, error.code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {first_line(exc)}", "server_error")
