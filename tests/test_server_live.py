"""`frasi serve` as users run it: a real uvicorn process on a free 127.0.0.1 port, real models, real clients.

* e5 (the backend the test settings give: torch), with sentiment and an API key: the official ``openai`` client
  (base64 by default) gets Encoder.encode's vectors; concurrent requests merge into batches (the batch-size
  metric); 401, 413, 422; sentiment; the web playground end to end in headless Chromium, with a screenshot.
* all-MiniLM-L6-v2 on the exported ``openvino`` backend: its vectors, 429 from a full queue (``--max-queue 1``),
  and SIGTERM, which finishes the request in flight before the process exits.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")

pytestmark = pytest.mark.real

KEY = "live-key"
CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT = 300
TEXTS = ["¿Dónde está la estación de tren?", "Il gatto dorme sul divano.", "The stock market fell today.",
         "Me gusta el chocolate.", "La riunione è rinviata a giovedì."]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def text_log(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tmp_path: Path, *args: str, cache: Path, backend: str = "torch", **variables: str) -> Server:
    """``frasi serve ARGS`` with ``cache`` as its frasi cache and ``backend`` as FRASI_BACKEND (as the tests' own
    settings: module fixtures start before conftest's per-test environment)."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {name: value for name, value in os.environ.items() if name not in ("FRASI_MODEL", "FRASI_THREADS")}
    env.update(FRASI_CACHE=str(cache), FRASI_CONFIG=str(tmp_path / "no-config.toml"), FRASI_BACKEND=backend,
               **variables)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "frasi.cli", "serve", "--port", str(port), *args],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"frasi serve exited with {process.returncode}:\n{server.text_log()}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    stop(server)
    pytest.fail(f"frasi serve did not get ready in {START_TIMEOUT} s:\n{server.text_log()}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def request(server: Server, path: str, body=None, *, key: str | None = KEY, raw: bytes | None = None,
            timeout: float = 120) -> tuple[int, dict, Any]:
    """(status, JSON body, headers) of one request; errors are answers too."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(server.url + path, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            payload = response.read()
            status, answer_headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            payload, status, answer_headers = exc.read(), exc.code, exc.headers
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = {"text": payload.decode("utf-8", "replace")}
    return status, parsed, answer_headers


def metric(server: Server, name: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def e5_server(e5_dir, frasi_cache, tmp_path_factory):
    """The default model (no --model), from the session cache where conftest converted it."""
    server = start(tmp_path_factory.mktemp("e5-server"), "--api-key", KEY, cache=frasi_cache)
    yield server
    stop(server)


@pytest.fixture(scope="module")
def minilm_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("minilm-server")
    server = start(folder, "--model", "all-MiniLM-L6-v2", "--no-sentiment", "--max-queue", "1", "--max-wait-ms", "0",
                   cache=folder / "cache", backend="openvino",
                   FRASI_GRACEFUL_TIMEOUT="180")  # the SIGTERM test's request must finish on a busy machine too
    yield server
    stop(server)


@pytest.fixture(scope="module")
def openai_client(e5_server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=e5_server.url + "/v1", api_key=KEY, max_retries=0)


# ---------------------------------------------------------------- e5, the openai client


def test_the_openai_client_gets_encoders_vectors(openai_client, e5):
    response = openai_client.embeddings.create(model="multilingual-e5-small", input=TEXTS)  # base64 by default
    vectors = np.array([d.embedding for d in response.data], dtype=np.float32)
    assert cosines(vectors, e5.encode(TEXTS)).min() >= 0.9999
    tokens = sum(min(n, e5.max_length) for n in e5.count_tokens(TEXTS))
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens
    floats = openai_client.embeddings.create(model="multilingual-e5-small", input=TEXTS[0], encoding_format="float")
    assert cosines(np.array(floats.data[0].embedding), e5.encode(TEXTS[0])) >= 0.9999
    passages = openai_client.embeddings.create(model="multilingual-e5-small", input=TEXTS,
                                               extra_body={"prompt_name": "passage"})
    assert cosines(np.array([d.embedding for d in passages.data]),
                   e5.encode(TEXTS, prompt_name="passage")).min() >= 0.9999


def test_the_openai_client_sees_401_422_and_404(openai_client, e5_server):
    import openai

    wrong = openai.OpenAI(base_url=e5_server.url + "/v1", api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="not this server's"):
        wrong.embeddings.create(model="multilingual-e5-small", input="hola")
    with pytest.raises(openai.UnprocessableEntityError, match="check_embedding_ctx_length=False"):
        openai_client.embeddings.create(model="multilingual-e5-small", input=[[1, 2, 3]])
    with pytest.raises(openai.UnprocessableEntityError, match="2049 texts, over this server's limit of 2048"):
        openai_client.embeddings.create(model="multilingual-e5-small", input=["hola"] * 2049)
    with pytest.raises(openai.NotFoundError, match="multilingual-e5-small"):
        openai_client.embeddings.create(model="text-embedding-3-small", input="hola")
    with pytest.raises(openai.BadRequestError, match="not served as Matryoshka-trained"):
        openai_client.embeddings.create(model="multilingual-e5-small", input="hola", dimensions=128)
    with pytest.raises(openai.UnprocessableEntityError, match="no prompt named 'question'"):
        openai_client.embeddings.create(model="multilingual-e5-small", input="hola",
                                        extra_body={"prompt_name": "question"})


def test_a_body_over_the_limit_is_413_before_it_is_read(e5_server):
    status, body, _ = request(e5_server, "/v1/embeddings", raw=b'{"input": "' + b"a" * (9 << 20) + b'"}')
    assert status == 413 and body["error"]["code"] == "body_too_large"
    assert "limit of 8388608 bytes" in body["error"]["message"]


def test_concurrent_requests_merge_into_batches_and_each_gets_its_vectors(e5_server, e5):
    runs_before = metric(e5_server, 'frasi_batch_size_count{model="multilingual-e5-small"}')
    inputs_before = metric(e5_server, 'frasi_batch_size_sum{model="multilingual-e5-small"}')
    rng = np.random.default_rng(0)
    words = " ".join(TEXTS).split()
    requests = [[" ".join(rng.choice(words, size=6)) + f" {i}-{j}" for j in range(1 + i % 4)] for i in range(32)]

    def embed(texts):
        return request(e5_server, "/v1/embeddings", {"input": texts, "model": "multilingual-e5-small"})

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(embed, requests))
    assert [status for status, _, _ in answers] == [200] * 32
    got = np.array([d["embedding"] for _, body, _ in answers for d in body["data"]], dtype=np.float32)
    assert cosines(got, e5.encode([text for texts in requests for text in texts])).min() >= 0.9999
    runs = metric(e5_server, 'frasi_batch_size_count{model="multilingual-e5-small"}') - runs_before
    inputs = metric(e5_server, 'frasi_batch_size_sum{model="multilingual-e5-small"}') - inputs_before
    assert inputs == sum(map(len, requests))
    assert runs < len(requests)  # fewer runs than requests: some requests shared a run


def test_sentiment_of_clear_sentences(e5_server):
    texts = ["¡Me encanta este lugar, es maravilloso!", "Che schifo, è stata una giornata orribile.",
             "I love this, it is wonderful!", "Odio este servicio, es terrible."]
    status, body, _ = request(e5_server, "/sentiment", {"input": texts})
    assert status == 200 and body["model"] == "sentiment"
    assert [p["label"] for p in body["data"]] == ["positive", "negative", "positive", "negative"]
    assert all(abs(sum(p["scores"].values()) - 1) < 1e-6 for p in body["data"])


# ---------------------------------------------------------------- the playground in headless Chromium


def test_the_playground_shows_heatmap_search_sentiment_and_tokens(e5_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            offline = []
            page.on("request", lambda r: offline.append(r.url) if not r.url.startswith(e5_server.url) else None)
            page.goto(e5_server.url + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            page.fill("#key", KEY)
            page.dispatch_event("#key", "change")
            page.wait_for_function("document.querySelector('#model').options.length > 0", timeout=60_000)
            page.click("#run-all")
            page.wait_for_selector("#tokens .item", timeout=120_000)
            assert page.locator("#error").is_hidden(), page.locator("#error").text_content()

            texts = [t for t in page.input_value("#texts").split("\n") if t.strip()]
            n = len(texts)
            cells = page.locator("td.cell")
            assert cells.count() == n * n
            values = np.array([float(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.value)")])
            matrix = values.reshape(n, n)
            np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-3)
            np.testing.assert_allclose(matrix, matrix.T, atol=1e-3)

            results = page.locator("#results li")
            assert results.count() == n
            assert "tren" in results.first.text_content() or "train" in results.first.text_content()

            labels = page.locator("#sentiment .item").evaluate_all("items => items.map(i => i.dataset.label)")
            assert labels[4] == "positive" and labels[5] == "negative", labels
            assert page.locator("#sentiment .item").first.locator(".fill").count() == 3

            chips = page.locator("#tokens .item").first.locator(".chip").all_text_contents()
            assert chips[0] == "<s>" and chips[-1] == "</s>" and "".join(chips[1:4]) == "▁query:"  # e5's prompt

            # the screenshot in a known state: the diagonal is the darkest blue, the lowest cell the palest
            diagonal = Image.open(io.BytesIO(page.locator('td.cell[data-row="1"][data-col="1"]').screenshot()))
            low = int(values.argmin())
            palest = Image.open(io.BytesIO(page.locator(
                f'td.cell[data-row="{low // n}"][data-col="{low % n}"]').screenshot()))
            assert np.abs(np.array(diagonal.convert("RGB").getpixel((3, 3))) - [8, 48, 107]).max() <= 3
            assert np.abs(np.array(palest.convert("RGB").getpixel((3, 3))) - [247, 251, 255]).max() <= 3
            page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
            shot = np.array(Image.open(tmp_path / "playground.png").convert("RGB"))
            assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 100  # not a blank page
            assert offline == []  # everything the page needs came from the server
        finally:
            browser.close()


# ---------------------------------------------------------------- MiniLM on openvino: queue and SIGTERM


def test_an_exported_backend_serves_encoders_vectors(minilm_server, minilm):
    status, body, _ = request(minilm_server, "/v1/embeddings", {"input": TEXTS, "encoding_format": "float"}, key=None)
    assert status == 200 and body["model"] == "all-MiniLM-L6-v2"
    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert cosines(got, minilm.encode(TEXTS)).min() >= 0.9999
    status, body, _ = request(minilm_server, "/v1/models", key=None)
    assert body["data"][0]["backend"] == "openvino"


def test_a_full_queue_answers_429_with_retry_after(minilm_server):
    long = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)
    requests = [[f"{long} {i} {j}" for j in range(64)] if i % 2 else [f"{long} {i}"] for i in range(24)]
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda texts: request(minilm_server, "/v1/embeddings", {"input": texts}, key=None),
                                requests))
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 429} and 429 in statuses and 200 in statuses, statuses
    for status, body, headers in answers:
        if status == 429:
            assert body["error"]["code"] == "queue_full" and body["error"]["type"] == "rate_limit_error"
            assert int(headers["Retry-After"]) >= 1


def test_sigterm_finishes_the_request_in_flight_then_exits(minilm_server):
    """Last in the module: it stops the MiniLM server."""
    texts = [" ".join(["a long sentence about trains and stations"] * 12) + f" {i}" for i in range(96)]
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(
        zip(("status", "body", "headers"), request(minilm_server, "/v1/embeddings", {"input": texts}, key=None))))
    thread.start()
    deadline = time.monotonic() + 30
    while metric(minilm_server, "frasi_requests_in_flight") < 2:  # the /metrics request counts itself
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    minilm_server.process.send_signal(signal.SIGTERM)
    thread.join(200)
    assert answer["status"] == 200 and len(answer["body"]["data"]) == len(texts)
    assert minilm_server.process.wait(60) == 128 + signal.SIGTERM
    log = minilm_server.text_log()
    assert "Shutting down" in log and re.search(r"^terminated$", log, re.M) and "Traceback" not in log
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(minilm_server.url + "/health", timeout=5)
