"""The OpenAPI document of one server: FastAPI's, with this server's limits and models written in.

A request that the document allows must be answered (a client generated from it, or
schemathesis, relies on that). So the document carries what this server accepts: every
text has at most ``max_input_chars`` characters and every list at most ``max_inputs``
texts; once the models are loaded, ``prompt_name`` lists the prompts they define and
``dimensions`` the sizes they give (any size up to theirs for a model served as
Matryoshka-trained). Size limits that a document cannot state (the body in bytes) and
the queue (429) are documented as responses.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .schemas import NON_BLANK
from .served import Models


def _limit_texts(node: Any, max_chars: int, max_inputs: int) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("pattern") == NON_BLANK:
            node["maxLength"] = max_chars
        if node.get("type") == "array" and isinstance(node.get("items"), dict) \
                and node["items"].get("pattern") == NON_BLANK:
            node["maxItems"] = max_inputs
        for value in node.values():
            _limit_texts(value, max_chars, max_inputs)
    elif isinstance(node, list):
        for value in node:
            _limit_texts(value, max_chars, max_inputs)


def _set_choices(schemas: dict[str, Any], models: Models) -> None:
    encoders = list(models.encoders.values())
    prompts = sorted({name for served in encoders for name in served.encoder.prompts})
    if any(not served.encoder.prompts for served in encoders):
        prompts = []  # a model without prompts takes any name
    for name in ("EmbeddingRequest", "SimilarityRequest", "TokenizeRequest"):
        field = schemas.get(name, {}).get("properties", {}).get("prompt_name")
        if field is not None and prompts:
            field["anyOf"] = [{"type": "string", "enum": prompts}, {"type": "null"}]
    field = schemas.get("EmbeddingRequest", {}).get("properties", {}).get("dimensions")
    if field is not None and encoders:
        if any(served.matryoshka for served in encoders):
            allowed: dict[str, Any] = {"type": "integer", "minimum": 1,
                                       "maximum": max(s.encoder.dimension for s in encoders)}
        else:
            allowed = {"type": "integer", "enum": sorted({s.encoder.dimension for s in encoders})}
        field["anyOf"] = [allowed, {"type": "null"}]


def install(app: FastAPI, models: Models) -> None:
    """Give ``app`` this document (built once the models are loaded; before that, without their choices)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes)
        settings = models.settings
        schemas = document.get("components", {}).get("schemas", {})
        _limit_texts(schemas, settings.max_input_chars, settings.max_inputs)
        if models.status == "ok":
            _set_choices(schemas, models)
            app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
