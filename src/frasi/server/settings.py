"""What a server is told: models, address, key and limits, from flags, ``FRASI_*`` variables and defaults.

:class:`ServerSettings` is a pydantic-settings ``BaseSettings``: a value passed in (a
``frasi serve`` flag, a keyword of :func:`frasi.server.create_app`) wins over the
environment variable ``FRASI_<FIELD>`` (``FRASI_PORT=8080``, ``FRASI_API_KEY=...``,
``FRASI_MODELS=a,b``), which wins over the default here. The model, backend and thread
defaults have one owner, :mod:`frasi.settings` (flag > ``FRASI_MODEL`` / ``FRASI_BACKEND``
/ ``FRASI_THREADS`` > the config file > built-in): this class does not read those
variables itself, it hands what it was given to :meth:`frasi.Encoder.load`.

A bad value (``FRASI_PORT=abc``, a negative limit) is a :class:`frasi.InputError` that
names the flag or variable.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from ..errors import InputError

ENV_PREFIX = "FRASI_"
#: Fields whose defaults come from :mod:`frasi.settings` (flag > FRASI_X > config file > built-in), not from here.
RESOLVED_BY_FRASI = ("backend", "threads")
LOOPBACK = "127.0.0.1"

Names = Annotated[list[str], NoDecode]  # from the environment as "a,b,c", not JSON


class _Environment(EnvSettingsSource):
    """``FRASI_*`` variables, except those that :mod:`frasi.settings` owns."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in RESOLVED_BY_FRASI:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class ServerSettings(BaseSettings):
    """Everything ``frasi serve`` and :func:`frasi.server.create_app` are configured with."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # ---------------------------------------------------------------- what is served
    models: Names = Field(default_factory=list, description=(
        "Embedding models by name, folder or Hub id; the first is the default. Empty: the one frasi.settings "
        "gives (FRASI_MODEL, the config file, or multilingual-e5-small)."))
    backend: str | None = Field(None, description="Runtime of every model (default: FRASI_BACKEND, the config "
                                                  "file, or auto).")
    threads: int | None = Field(None, ge=1, description="CPU threads per model (default: FRASI_THREADS, the "
                                                        "config file, or every CPU).")
    fallback: str | None = Field(None, description="Backend to load when --backend cannot.")
    classifiers: Names = Field(default_factory=list, description="Saved frasi classifier folders for /classify.")
    cross_encoder: str | None = Field(None, description="A cross-encoder folder: /rerank uses it by default.")
    sentiment: bool = Field(True, description="Serve the shipped sentiment classifier at /sentiment.")
    matryoshka: Names = Field(default_factory=list, description=(
        "Models trained for truncated embeddings (Matryoshka): only these accept a smaller `dimensions`."))
    embedding_cache: bool = Field(True, description="Serve repeated texts from frasi's on-disk embedding cache.")
    playground: bool = Field(True, description="Serve the web playground at /.")

    # ---------------------------------------------------------------- where, and who may call
    host: str = Field(LOOPBACK, description="Address to bind: loopback unless told otherwise.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port).")
    api_key: SecretStr | None = Field(None, description=(
        "When set, every endpoint but /, /health and /metrics needs `Authorization: Bearer KEY`."))

    # ---------------------------------------------------------------- limits
    max_inputs: int = Field(2048, ge=1, description="Texts per request.")
    max_input_chars: int = Field(50_000, ge=1, description="Characters per text.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Bytes of a request body.")
    max_queue: int = Field(64, ge=1, description="Requests waiting per model; more get 429 with Retry-After.")

    # ---------------------------------------------------------------- batching
    max_batch_tokens: int = Field(4096, ge=1, description=(
        "Tokens the inference worker takes into one run (a larger request is split into runs of this size)."))
    max_wait_ms: float = Field(2.0, ge=0, le=1000, description=(
        "How long the worker waits for more requests to merge, and only while other requests are in flight."))
    batch_size: int = Field(32, ge=1, description="Texts per forward pass, as Encoder.encode's batch_size.")

    # ---------------------------------------------------------------- process
    graceful_timeout: float = Field(30.0, ge=0, description="Seconds SIGTERM waits for requests in flight.")
    access_log: bool = Field(False, description="Log every request (uvicorn's access log).")

    @field_validator("models", "classifiers", "matryoshka", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **sources: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags and keywords, then ``FRASI_*`` variables; no .env or secrets files."""
        return init_settings, _Environment(settings_cls)

    def limits(self) -> dict[str, Any]:
        """The limits a client meets, as ``/info`` reports them."""
        return {name: getattr(self, name) for name in ("max_inputs", "max_input_chars", "max_body_bytes",
                                                       "max_queue", "max_batch_tokens", "max_wait_ms", "batch_size")}


def load_settings(**given: Any) -> ServerSettings:
    """:class:`ServerSettings` from ``given`` (None: not given) over ``FRASI_*`` over the defaults; a bad value is an
    InputError naming the flag or variable."""
    values = {name: value for name, value in given.items() if value is not None}
    unknown = sorted(set(values) - set(ServerSettings.model_fields))
    if unknown:
        raise InputError(f"unknown server setting(s) {', '.join(unknown)}; known: "
                         f"{', '.join(ServerSettings.model_fields)}")
    try:
        return ServerSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        where = (f"--{name.replace('_', '-')}" if name in values
                 else f"{ENV_PREFIX}{name.upper()}")
        got = error.get("input")
        raise InputError(f"{where}: {error['msg']}; got {got!r}") from None
