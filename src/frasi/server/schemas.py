"""Request and response bodies of every endpoint (pydantic models; they make ``/openapi.json``).

Requests forbid unknown fields, so a typo (``dimension`` for ``dimensions``) is a 422 that
names it rather than an option silently ignored; the OpenAI embeddings request keeps
OpenAI's own ``user`` field. ``model`` may be left out: the server's default model answers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

TOKEN_IDS_MESSAGE = (
    "input holds token ids (integers); this server embeds text and tokenizes it with the model's own tokenizer: "
    "send the texts themselves (LangChain's OpenAIEmbeddings sends token ids unless you pass "
    "check_embedding_ctx_length=False)")

NON_BLANK = r"\S"  # a text has a character that is not whitespace (frasi.io.validate_texts checks it)
Text = Annotated[str, Field(description="A text (not blank).", json_schema_extra={"pattern": NON_BLANK,
                                                                                   "minLength": 1})]
Texts = Annotated[list[Text], Field(min_length=1, description="Texts (at least one).")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    message: str = Field(description="What was received, what was expected and the fix.")
    type: str = Field(description="The class of failure (invalid_request_error, rate_limit_error, ...).")
    code: str | None = Field(description="A stable machine-readable name of the failure.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens the model read (prompt and special tokens included, after "
                                           "truncation), counted with its tokenizer.")
    total_tokens: int


# ---------------------------------------------------------------- /v1/embeddings


class EmbeddingRequest(Request):
    """OpenAI's embeddings request, with frasi's ``prompt_name`` and ``truncate``."""

    input: Text | Texts = Field(description="A text or a list of texts. Token-id arrays are refused (422).")
    model: str | None = Field(None, description="A served model (GET /v1/models); default: the first.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: a list of numbers; base64: little-endian float32 bytes, base64-encoded.")
    dimensions: int | None = Field(None, ge=1, description=(
        "Keep the first N dimensions and renormalise: only for models served as Matryoshka-trained (--matryoshka); "
        "any model accepts its own dimension."))
    user: str | None = Field(None, description="OpenAI's end-user id; accepted and not used.")
    prompt_name: str | None = Field(None, description="A named prompt of the model (e5: query, passage); default: "
                                                      "the model's default prompt.")
    truncate: bool = Field(True, description="Cut texts over the model's maximum length (the count is reported); "
                                             "false: refuse them with 422.")

    @model_validator(mode="before")
    @classmethod
    def _no_token_ids(cls, data: Any) -> Any:
        if isinstance(data, dict):
            value = data.get("input")
            if isinstance(value, list) and value and all(
                    (isinstance(v, int) and not isinstance(v, bool))
                    or (isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v))
                    for v in value):
                raise PydanticCustomError("token_ids", TOKEN_IDS_MESSAGE)
        return data


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="The vector (float) or its float32 bytes in base64.")


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage
    truncated: int = Field(description="How many texts were cut at the model's maximum length.")


# ---------------------------------------------------------------- /v1/models


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "frasi"
    kind: Literal["embedding", "classifier", "sentiment", "cross-encoder"]
    dimension: int | None = None
    max_length: int | None = None
    backend: str | None = None
    prompts: dict[str, str] | None = None
    matryoshka: bool | None = None
    labels: list[str] | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ---------------------------------------------------------------- /similarity


class SimilarityRequest(Request):
    sentences: Texts
    source_sentence: Text | None = Field(None, description="Compare this text with each sentence; without it, "
                                                          "every pair of sentences (a matrix).")
    model: str | None = None
    prompt_name: str | None = None


class SimilarityResponse(BaseModel):
    model: str
    scores: list[float] | None = Field(None, description="Cosine of source_sentence with each sentence.")
    matrix: list[list[float]] | None = Field(None, description="Cosine of every pair of sentences.")
    usage: Usage
    truncated: int


# ---------------------------------------------------------------- /rerank


class RerankRequest(Request):
    query: Text
    documents: Texts
    top_n: int | None = Field(None, ge=1, description="How many results (default: every document).")
    return_documents: bool = False
    model: str | None = Field(None, description="A cross-encoder or embedding model; default: the served "
                                                "cross-encoder, else the default embedding model.")


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: str | None = None


class RerankResponse(BaseModel):
    model: str
    results: list[RerankResult] = Field(description="Best first.")


# ---------------------------------------------------------------- /classify, /sentiment


class ClassifyRequest(Request):
    input: Text | Texts
    model: str | None = Field(None, description="A served classifier (GET /v1/models); default: the first.")


class SentimentRequest(Request):
    input: Text | Texts


class Prediction(BaseModel):
    label: str
    scores: dict[str, float] | None = Field(None, description="Probability of each label, when the head has them.")


class ClassifyResponse(BaseModel):
    model: str
    data: list[Prediction]


# ---------------------------------------------------------------- /tokenize


class TokenizeRequest(Request):
    input: Text | Texts
    model: str | None = None
    prompt_name: str | None = None


class Tokens(BaseModel):
    text: str
    prompt: str
    tokens: list[str]
    ids: list[int]
    decoded: str
    n_tokens: int = Field(description="Tokens before truncation, prompt and special tokens included.")
    max_length: int
    truncated: bool
    embedding_shape: list[int]


class TokenizeResponse(BaseModel):
    model: str
    data: list[Tokens]


# ---------------------------------------------------------------- /health, /info


class Health(BaseModel):
    status: Literal["ok"]
    models: list[str]


class Info(BaseModel):
    version: str
    models: list[ModelCard]
    limits: dict[str, float]
    embedding_cache: str | None
