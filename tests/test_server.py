"""frasi.server through FastAPI's TestClient, on the tiny models of conftest: every endpoint, the one error shape,
limits, the key, settings, metrics, the OpenAPI document (checked by schemathesis) and `frasi serve`'s bad input.

A real uvicorn process with the real models is tests/test_server_live.py."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from starlette.testclient import TestClient

from conftest import MIXED_TEXTS as TEXTS
from conftest import isolate_frasi
from frasi import EmbeddingClassifier, Encoder, semantic_search
from frasi.cli import main
from frasi.errors import InputError
from frasi.server import ServerSettings, create_app, load_settings
from frasi.server.schemas import TOKEN_IDS_MESSAGE

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMITS = {"max_inputs": 16, "max_input_chars": 200, "max_body_bytes": 4096}
LABELS = ["greeting", "animal", "greeting", "animal", "greeting", "animal"]
TRAIN = ["hola mundo", "el gato duerme", "ciao mondo", "il cane dorme", "hello world", "the dog sleeps"]


@pytest.fixture(scope="module")
def tiny(tiny_st_dir) -> Encoder:
    return Encoder.load(tiny_st_dir, backend="torch")


@pytest.fixture(scope="module")
def classifier_dir(tiny, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clf") / "tiny-classifier"
    EmbeddingClassifier(tiny, head="logistic").fit(TRAIN, LABELS).save(folder)
    return folder


@pytest.fixture(scope="module")
def cross_encoder_dir(tiny_encoder_dir, tmp_path_factory) -> Path:
    from sentence_transformers import CrossEncoder

    from frasi._hf import quiet_loading

    folder = tmp_path_factory.mktemp("ce") / "tiny-cross-encoder"
    with quiet_loading():
        CrossEncoder(str(tiny_encoder_dir), num_labels=1, device="cpu").save(str(folder))
    return folder


def started(app) -> TestClient:
    client = TestClient(app)
    client.__enter__()
    assert app.state.models.ready.wait(120), app.state.models.error
    return client


@pytest.fixture(scope="module")
def module_env(tmp_path_factory):
    """conftest's per-test environment (a private cache, torch, no user config) for this module's shared app, which
    is created and loads its models before any per-test fixture runs."""
    cache = tmp_path_factory.mktemp("server-cache")
    with pytest.MonkeyPatch.context() as patch:
        isolate_frasi(patch, cache)
        yield cache


@pytest.fixture(scope="module")
def client(module_env, tiny_st_dir, classifier_dir, cross_encoder_dir):
    app = create_app(models=[str(tiny_st_dir)], classifiers=[str(classifier_dir)],
                     cross_encoder=str(cross_encoder_dir), sentiment=False, api_key=KEY, **LIMITS)
    client = started(app)
    client.headers.update(AUTH)
    yield client
    client.__exit__(None, None, None)


def error_of(response, status: int, code: str | None = None) -> str:
    """The one error shape, with ``status``; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


def decode(data: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data), dtype="<f4")


# ---------------------------------------------------------------- /v1/embeddings


def test_embeddings_are_encoders_vectors_in_order_as_float_and_base64(client, tiny):
    expected = tiny.encode(TEXTS)
    floats = client.post("/v1/embeddings", json={"input": TEXTS}).json()
    assert floats["object"] == "list" and floats["model"] == tiny.name
    assert [d["index"] for d in floats["data"]] == list(range(len(TEXTS)))
    np.testing.assert_allclose(np.array([d["embedding"] for d in floats["data"]]), expected, atol=1e-5)
    packed = client.post("/v1/embeddings", json={"input": TEXTS, "encoding_format": "base64"}).json()
    np.testing.assert_allclose(np.stack([decode(d["embedding"]) for d in packed["data"]]), expected, atol=1e-5)
    tokens = sum(tiny.count_tokens(TEXTS))
    assert floats["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens} and floats["truncated"] == 0


def test_one_string_gives_one_vector(client, tiny):
    body = client.post("/v1/embeddings", json={"input": "hola mundo", "model": tiny.name}).json()
    assert len(body["data"]) == 1
    np.testing.assert_allclose(body["data"][0]["embedding"], tiny.encode("hola mundo"), atol=1e-5)


@pytest.mark.parametrize("ids", [[1, 2, 3], [[1, 2], [3]]])
def test_token_ids_are_refused_with_what_to_send(client, ids):
    message = error_of(client.post("/v1/embeddings", json={"input": ids}), 422, "token_ids_not_supported")
    assert message == TOKEN_IDS_MESSAGE and "check_embedding_ctx_length=False" in message


def test_long_texts_are_truncated_and_counted_or_refused(client, tiny):
    long = "a," * 60  # 120 tokens in 120 characters (the limit is 200)
    assert tiny.count_tokens([long, "hola"]) == [122, 3]
    body = client.post("/v1/embeddings", json={"input": [long, "hola"]}).json()
    assert body["truncated"] == 1 and body["usage"]["prompt_tokens"] == tiny.max_length + 3
    message = error_of(client.post("/v1/embeddings", json={"input": ["hola", long], "truncate": False}), 422,
                       "input_too_long")
    assert "longer than tiny-st's maximum of 64 tokens (text 1 has 122" in message


def test_dimensions_are_refused_for_a_model_not_trained_for_them(client, tiny):
    assert len(client.post("/v1/embeddings", json={"input": "hola", "dimensions": 32}).json()["data"][0]
               ["embedding"]) == 32
    message = error_of(client.post("/v1/embeddings", json={"input": "hola", "dimensions": 8}), 400,
                       "invalid_dimensions")
    assert "not served as Matryoshka-trained" in message and "--matryoshka tiny-st" in message
    assert "at most 32" in error_of(client.post("/v1/embeddings", json={"input": "hola", "dimensions": 64}), 400)


def test_dimensions_truncate_and_renormalise_for_a_matryoshka_model(tiny_st_dir, tiny):
    app = create_app(models=[str(tiny_st_dir)], sentiment=False, matryoshka=["tiny-st"], embedding_cache=False)
    with TestClient(app) as client:
        assert app.state.models.ready.wait(120)
        body = client.post("/v1/embeddings", json={"input": TEXTS, "dimensions": 8}).json()
        assert client.get("/v1/models").json()["data"][0]["matryoshka"] is True
    full = tiny.encode(TEXTS)[:, :8]
    np.testing.assert_allclose(np.array([d["embedding"] for d in body["data"]]),
                               full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-5)


def test_a_matryoshka_name_that_is_not_served_fails_the_load(tiny_st_dir):
    app = create_app(models=[str(tiny_st_dir)], sentiment=False, matryoshka=["nope"], embedding_cache=False)
    with TestClient(app) as client:
        app.state.models.finished.wait(120)
        message = error_of(client.get("/health"), 503, "load_failed")
    assert "--matryoshka names nope" in message


# ---------------------------------------------------------------- errors and limits


def test_bad_requests_get_the_one_error_shape(client):
    assert "dimension: Extra inputs are not permitted" in error_of(
        client.post("/v1/embeddings", json={"input": "hola", "dimension": 8}), 422, "invalid_request")
    assert "input at index 1 is empty" in error_of(client.post("/v1/embeddings", json={"input": ["a", " "]}), 422,
                                                   "invalid_input")
    assert "not valid JSON" in error_of(client.post("/v1/embeddings", content=b"{",
                                                    headers={"Content-Type": "application/json"}), 400)
    assert "Content-Type: application/json" in error_of(client.post("/v1/embeddings", content=b"input=hola"), 400)
    assert "no such endpoint: GET /nope" in error_of(client.get("/nope"), 404, "not_found")
    assert "GET is not allowed" in error_of(client.get("/v1/embeddings"), 405)
    assert "is not a embedding model served here" in error_of(
        client.post("/v1/embeddings", json={"input": "a", "model": "text-embedding-3-small"}), 404,
        "model_not_found")
    assert "started with --no-sentiment" in error_of(client.post("/sentiment", json={"input": "a"}), 404)


def test_limits_are_422_or_413_with_the_limit_in_the_message(client):
    message = error_of(client.post("/v1/embeddings", json={"input": ["hola"] * 17}), 422, "too_many_inputs")
    assert "17 texts, over this server's limit of 16" in message and "--max-inputs" in message
    message = error_of(client.post("/similarity", json={"sentences": ["a", "b" * 201]}), 422, "input_too_long")
    assert "201 characters, over this server's limit of 200" in message
    big = b'{"input": "' + b"a" * 5000 + b'"}'
    assert "limit of 4096 bytes" in error_of(client.post("/v1/embeddings", content=big,
                                                         headers={"Content-Type": "application/json"}),
                                             413, "body_too_large")
    chunks = iter([b'{"input": "', b"a" * 3000, b"a" * 3000, b'"}'])  # no Content-Length: counted as it arrives
    assert "limit of 4096 bytes" in error_of(client.post("/v1/embeddings", content=chunks,
                                                         headers={"Content-Type": "application/json"}),
                                             413, "body_too_large")


def test_the_key_guards_every_endpoint_but_health_metrics_and_the_playground(client):
    for headers, what in (({"Authorization": ""}, "no API key was sent"),
                          ({"Authorization": "Bearer wrong"}, "not this server's")):
        response = client.post("/v1/embeddings", json={"input": "hola"}, headers=headers)
        assert what in error_of(response, 401, "invalid_api_key")
        assert response.headers["WWW-Authenticate"] == "Bearer"
        for path in ("/v1/models", "/info"):
            error_of(client.get(path, headers=headers), 401)
        for path in ("/health", "/metrics", "/", "/static/playground.js"):
            assert client.get(path, headers=headers).status_code == 200, path


def test_health_is_503_until_the_models_are_loaded(tiny_st_dir):
    app = create_app(models=[str(tiny_st_dir)], sentiment=False)
    client = TestClient(app)  # no lifespan: nothing loads
    assert "still loading" in error_of(client.get("/health"), 503, "loading")
    response = client.post("/v1/embeddings", json={"input": "hola"})
    assert error_of(response, 503, "loading") and response.headers["Retry-After"] == "5"
    with TestClient(app) as started_client:
        assert app.state.models.ready.wait(120)
        assert started_client.get("/health").json() == {"status": "ok", "models": ["tiny-st"]}


# ---------------------------------------------------------------- the other endpoints


def test_similarity_matrix_and_source_sentence(client, tiny):
    from frasi import similarity_matrix

    matrix = np.array(client.post("/similarity", json={"sentences": TEXTS}).json()["matrix"])
    np.testing.assert_allclose(matrix, similarity_matrix(tiny.encode(TEXTS)), atol=1e-5)
    body = client.post("/similarity", json={"source_sentence": TEXTS[0], "sentences": TEXTS[1:]}).json()
    np.testing.assert_allclose(body["scores"], matrix[0, 1:], atol=1e-5)
    assert body["matrix"] is None and body["usage"]["prompt_tokens"] == sum(tiny.count_tokens(TEXTS))


def test_rerank_with_the_cross_encoder_by_default_and_with_an_embedding_model(client, tiny, cross_encoder_dir):
    from frasi.train import load_scorer

    query, documents = "el gato duerme", TEXTS
    body = client.post("/rerank", json={"query": query, "documents": documents, "return_documents": True}).json()
    assert body["model"] == "tiny-cross-encoder"
    expected = load_scorer(cross_encoder_dir).predict([query] * len(documents), documents)
    assert [r["index"] for r in body["results"]] == sorted(range(len(documents)), key=lambda i: -expected[i])
    np.testing.assert_allclose([r["relevance_score"] for r in body["results"]], np.sort(expected)[::-1], atol=1e-5)
    assert [r["document"] for r in body["results"]] == [documents[r["index"]] for r in body["results"]]
    body = client.post("/rerank", json={"query": query, "documents": documents, "model": "tiny-st",
                                        "top_n": 2}).json()
    scores, ids = semantic_search(tiny.encode(query, prompt_name="query"),
                                  tiny.encode(documents, prompt_name="passage"), top_k=2)
    assert body["model"] == "tiny-st" and [r["index"] for r in body["results"]] == ids.tolist()
    assert body["results"][0]["document"] is None


def test_classify_gives_the_saved_classifiers_labels_and_probabilities(client, classifier_dir):
    from frasi.classifier_folder import load_classifier

    clf = load_classifier(classifier_dir)
    body = client.post("/classify", json={"input": TEXTS}).json()
    assert body["model"] == "tiny-classifier"
    assert [p["label"] for p in body["data"]] == clf.predict(TEXTS).tolist()
    proba = clf.predict_proba(TEXTS)
    for row, prediction in zip(proba, body["data"]):
        assert prediction["scores"] == pytest.approx(dict(zip(clf.classes_.tolist(), row.tolist())), abs=1e-5)
    assert "tiny-classifier" in error_of(client.post("/classify", json={"input": "a", "model": "x"}), 404)


def test_tokenize_shows_what_the_model_reads(client, tiny):
    body = client.post("/tokenize", json={"input": ["hola mundo", TEXTS[1]]}).json()
    assert body["data"] == [tiny.tokenize("hola mundo").to_dict(), tiny.tokenize(TEXTS[1]).to_dict()]


def test_models_and_info_list_what_is_served(client, tiny):
    cards = {card["id"]: card for card in client.get("/v1/models").json()["data"]}
    assert {k: c["kind"] for k, c in cards.items()} == {
        "tiny-st": "embedding", "tiny-classifier": "classifier", "tiny-cross-encoder": "cross-encoder"}
    assert (cards["tiny-st"]["dimension"], cards["tiny-st"]["max_length"]) == (tiny.dimension, tiny.max_length)
    assert cards["tiny-classifier"]["labels"] == ["animal", "greeting"]
    info = client.get("/info").json()
    assert info["limits"]["max_inputs"] == 16 and info["limits"]["max_body_bytes"] == 4096


def test_metrics_count_requests_failures_and_batches(client):
    client.post("/v1/embeddings", json={"input": TEXTS})
    client.post("/v1/embeddings", json={"input": [1, 2]})
    text = client.get("/metrics").text
    assert 'frasi_requests_total{endpoint="/v1/embeddings",status="200"}' in text
    assert 'frasi_request_failures_total{endpoint="/v1/embeddings",status="422"}' in text
    for name in ("frasi_batch_size_count{model=\"tiny-st\"}", "frasi_batch_tokens_sum{model=\"tiny-st\"}",
                 "frasi_inference_duration_seconds_count", "frasi_queue_duration_seconds_count",
                 "frasi_queue_depth{model=\"tiny-st\"}", "frasi_requests_in_flight", "frasi_embedding_cache_hits_total",
                 "frasi_request_duration_seconds_bucket"):
        assert name in text, name


def test_repeated_texts_come_from_the_cache(client, module_env):
    cache = client.app.state.models.cache
    assert cache.path.is_relative_to(module_env)
    before = cache.hits
    client.post("/v1/embeddings", json={"input": ["il gatto dorme sul divano, il cane dorme in casa"] * 3})
    client.post("/v1/embeddings", json={"input": ["il gatto dorme sul divano, il cane dorme in casa"]})
    assert cache.hits > before


def test_the_openapi_document_states_this_servers_limits(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    embedding_input = schemas["EmbeddingRequest"]["properties"]["input"]["anyOf"]
    assert {"type": "string", "pattern": r"\S", "minLength": 1, "maxLength": 200}.items() <= embedding_input[0].items()
    assert embedding_input[1]["maxItems"] == 16
    assert schemas["EmbeddingRequest"]["properties"]["dimensions"]["anyOf"][0] == {"type": "integer", "enum": [32]}


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tiny_st_dir, classifier_dir):
    """Generated requests, valid and invalid, against every operation: no 500, every response as documented."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation.modes import GenerationMode

    app = create_app(models=[str(tiny_st_dir)], classifiers=[str(classifier_dir)], sentiment=False, api_key=KEY,
                     max_inputs=8, max_input_chars=50, embedding_cache=False)
    schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app
    assert app.state.models.ready.wait(120)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # the document with the models' choices
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE))
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers=AUTH)

        try:
            check()
        except Exception as exc:  # collect them all, then fail with every operation's first failure
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert failures == []


# ---------------------------------------------------------------- settings


def test_settings_come_from_keywords_over_the_environment(monkeypatch):
    monkeypatch.setenv("FRASI_PORT", "9001")
    monkeypatch.setenv("FRASI_MODELS", "a, b")
    monkeypatch.setenv("FRASI_API_KEY", "from-env")
    monkeypatch.setenv("FRASI_BACKEND", "onnx")  # frasi.settings' variable: Encoder.load reads it, not this class
    settings = load_settings(port=9002)
    assert (settings.port, settings.models, settings.api_key.get_secret_value()) == (9002, ["a", "b"], "from-env")
    assert settings.backend is None and settings.host == "127.0.0.1"
    assert isinstance(load_settings(), ServerSettings) and load_settings().port == 9001
    monkeypatch.setenv("FRASI_MAX_QUEUE", "many")
    with pytest.raises(InputError, match="FRASI_MAX_QUEUE: Input should be a valid integer.*'many'"):
        load_settings()
    with pytest.raises(InputError, match="--max-inputs: Input should be greater than or equal to 1"):
        load_settings(max_queue=3, max_inputs=0)


# ---------------------------------------------------------------- frasi serve's bad input


@pytest.fixture
def cli(capsys):
    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.err
    return run


def assert_one_error(result, *fragments: str) -> None:
    code, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


def test_serve_refuses_bad_settings_in_one_line(cli, monkeypatch, tmp_path):
    assert_one_error(cli("serve", "--backend", "nope"), "backend must be one of")
    assert_one_error(cli("serve", "--classifier", tmp_path), "is not a saved frasi classifier folder")
    monkeypatch.setenv("FRASI_MAX_INPUTS", "lots")
    assert_one_error(cli("serve"), "FRASI_MAX_INPUTS")


def test_serve_says_when_the_port_is_taken(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_error(cli("serve", "--port", port, "--no-sentiment"), f"127.0.0.1:{port} is in use", "--port")


def test_serve_exits_2_when_a_model_cannot_load(cli, tmp_path):
    assert_one_error(cli("serve", "--model", tmp_path / "missing", "--port", 0, "--no-sentiment", "--quiet"),
                     "missing")
