"""The endpoints: parse, check the limits, hand the texts to a model's worker, answer.

    POST /v1/embeddings   OpenAI's embeddings (float or base64, dimensions, usage)
    GET  /v1/models       what is served (OpenAI's list, with frasi's details)
    POST /similarity      a text against texts, or every pair of texts (cosine)
    POST /rerank          documents ranked for a query: a cross-encoder, or an embedding model
    POST /classify        a saved frasi classifier's labels and probabilities
    POST /sentiment       the shipped sentiment classifier (negative / neutral / positive)
    POST /tokenize        the tokens a model reads
    GET  /info            version, models and limits
    GET  /health          200 when every model is loaded, 503 before (open without the key)
    GET  /metrics         Prometheus text (open without the key)

With an API key set, every endpoint but ``/``, ``/health`` and ``/metrics`` needs
``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import __version__
from ..similarity import similarity_matrix
from .errors import APIError
from .limits import as_texts, check_texts
from .schemas import (
    ClassifyRequest,
    ClassifyResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorResponse,
    Health,
    Info,
    ModelList,
    RerankRequest,
    RerankResponse,
    SentimentRequest,
    SimilarityRequest,
    SimilarityResponse,
    TokenizeRequest,
    TokenizeResponse,
)
from .served import PASSAGE, QUERY, Models, ServedEncoder

bearer = HTTPBearer(auto_error=False, description="The server's API key (--api-key, FRASI_API_KEY), when it has one.")


def models_of(request: Request) -> Models:
    return request.app.state.models


async def require_key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    key = models_of(request).settings.api_key
    if key is None:
        return
    given = credentials.credentials if credentials is not None else None
    if given is None or not secrets.compare_digest(given.encode(), key.get_secret_value().encode()):
        what = "no API key was sent" if given is None else "the API key is not this server's"
        raise APIError(401, f"{what}; send the header Authorization: Bearer <key> with the key the server was "
                            "started with (--api-key, FRASI_API_KEY)", code="invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


USING_MODELS = errors(400, 401, 404, 413, 422, 429, 503)
open_router = APIRouter()
router = APIRouter(dependencies=[Depends(require_key)], responses=USING_MODELS)


def json_response(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


def usage(served: ServedEncoder, counts: np.ndarray) -> tuple[dict[str, int], int]:
    """``usage`` (tokens the model read, after truncation) and how many texts were truncated."""
    limit = served.encoder.max_length
    read = int(np.minimum(counts, limit).sum())
    return {"prompt_tokens": read, "total_tokens": read}, int((counts > limit).sum())


# ---------------------------------------------------------------- open endpoints


@open_router.get("/health", response_model=Health, responses=errors(503))
async def health(request: Request) -> Any:
    """200 once every model is loaded and warm; 503 while they load (or when loading failed)."""
    models = models_of(request)
    models.require_ready()
    return {"status": "ok", "models": models.ids()}


@open_router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, failures, durations, queue depth, batch sizes and tokens."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)


# ---------------------------------------------------------------- endpoints that need the key


@router.get("/info", response_model=Info)
async def info(request: Request) -> Any:
    """The version, the served models and every limit a request meets."""
    models = models_of(request)
    models.require_ready()
    return {"version": __version__, "models": [s.card() for s in models.all()],
            "limits": models.settings.limits(),
            "embedding_cache": str(models.cache.path) if models.cache is not None else None}


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> Any:
    """The served models: embedding models, classifiers, the cross-encoder and sentiment."""
    models = models_of(request)
    models.require_ready()
    return {"object": "list", "data": [s.card() for s in models.all()]}


@router.post("/v1/embeddings", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
    """OpenAI's embeddings endpoint: one vector per text, in order."""
    models = models_of(request)
    served = models.encoder(body.model)
    texts = check_texts(as_texts(body.input), models.settings)
    prompt = served.prompt(body.prompt_name)
    served.check_dimensions(body.dimensions)  # 400 before any work
    if not body.truncate:
        await served.check_lengths(texts, prompt)
    vectors, counts = await served.embed(texts, prompt)
    vectors = served.reduce(vectors, body.dimensions)
    if body.encoding_format == "base64":
        little = np.ascontiguousarray(vectors, dtype="<f4")
        data = [base64.b64encode(row.tobytes()).decode("ascii") for row in little]
    else:
        data = vectors.astype(np.float32, copy=False).tolist()
    used, truncated = usage(served, counts)
    return json_response({"object": "list",
                          "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
                          "model": served.id, "usage": used, "truncated": truncated})


@router.post("/similarity", response_model=SimilarityResponse)
async def similarity(body: SimilarityRequest, request: Request) -> Any:
    """Cosine similarity: ``source_sentence`` against each sentence, or every pair of ``sentences``."""
    models = models_of(request)
    served = models.encoder(body.model)
    source = [] if body.source_sentence is None else check_texts([body.source_sentence], models.settings,
                                                                  what="source_sentence")
    texts = [*source, *check_texts(body.sentences, models.settings, what="sentences")]
    vectors, counts = await served.embed(texts, served.prompt(body.prompt_name))
    used, truncated = usage(served, counts)
    out: dict[str, Any] = {"model": served.id, "usage": used, "truncated": truncated}
    if source:
        out["scores"] = similarity_matrix(vectors[:1], vectors[1:])[0].tolist()
    else:
        out["matrix"] = similarity_matrix(vectors).tolist()
    return out


@router.post("/rerank", response_model=RerankResponse)
async def rerank(body: RerankRequest, request: Request) -> Any:
    """Documents ranked for a query, best first: by a cross-encoder's score of each pair, or by the cosine of an
    embedding model's query and passage embeddings."""
    models = models_of(request)
    served = models.reranker(body.model)
    (query,) = check_texts([body.query], models.settings, what="query")
    documents = check_texts(body.documents, models.settings, what="documents")
    if isinstance(served, ServedEncoder):
        (q, _), (d, _) = await asyncio.gather(served.embed([query], served.prompt(QUERY)),
                                              served.embed(documents, served.prompt(PASSAGE)))
        scores = similarity_matrix(q, d)[0].astype(np.float64)
    else:
        scores = await served.score(query, documents)
    order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))[: body.top_n]
    return {"model": served.id,
            "results": [{"index": i, "relevance_score": float(scores[i]),
                         "document": documents[i] if body.return_documents else None} for i in order]}


@router.post("/classify", response_model=ClassifyResponse)
async def classify(body: ClassifyRequest, request: Request) -> Any:
    """Labels (and probabilities, when the head has them) from a saved frasi classifier."""
    models = models_of(request)
    served = models.classifier(body.model)
    texts = check_texts(as_texts(body.input), models.settings)
    return {"model": served.id, "data": await served.predict(texts)}


@router.post("/sentiment", response_model=ClassifyResponse)
async def sentiment(body: SentimentRequest, request: Request) -> Any:
    """Negative / neutral / positive with probabilities (es / it / en), from frasi's shipped classifier."""
    models = models_of(request)
    served = models.sentiment_classifier()
    texts = check_texts(as_texts(body.input), models.settings)
    return {"model": served.id, "data": await served.predict(texts)}


@router.post("/tokenize", response_model=TokenizeResponse)
async def tokenize(body: TokenizeRequest, request: Request) -> Any:
    """The tokens, ids and counts the model sees for each text (prompt and special tokens included)."""
    models = models_of(request)
    served = models.encoder(body.model)
    texts = check_texts(as_texts(body.input), models.settings)
    served.prompt(body.prompt_name)
    return {"model": served.id, "data": await served.tokenize(texts, body.prompt_name)}
