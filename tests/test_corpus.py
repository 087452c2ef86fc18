"""frasi corpus on real Dask clusters: an in-process LocalCluster, a multi-process one started by the CLI,
and a scheduler with two ``dask worker`` processes on 127.0.0.1 (two "machines").

Faults are real: a worker is killed (SIGKILL) in the middle of writing its part by a Dask worker plugin
defined here, the driver process is killed and rerun, a part is truncated on disk. Most tests run the
tiny model of conftest; one embeds, indexes and searches with the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster, WorkerPlugin

import frasi
import frasi.corpus
from conftest import MIXED_TEXTS
from frasi.cli import main
from frasi.corpus.shards import expand_inputs, plan, read_shard

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_frasi_logging():
    root = logging.getLogger("frasi")
    saved = (root.handlers[:], root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster in this process (threads as workers): scheduler and workers on 127.0.0.1. Its workers
    set the thread variables of this process (as they would of their own): they are restored afterwards."""
    from frasi.corpus.worker import THREAD_VARIABLES

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    yield from _cluster()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address="127.0.0.1:0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster, set_as_default=False) as c:
        yield c


def numbered(n: int, start: int = 0) -> list[str]:
    """Distinct texts within the tiny model's vocabulary."""
    words = "hola mundo ciao mondo hello world el gato il cane the cat dog house".split()
    return [f"{MIXED_TEXTS[i % len(MIXED_TEXTS)]} {words[i % 13]} {words[(i // 13) % 13]} {words[(i // 169) % 13]}"
            for i in range(start, start + n)]


def write_inputs(folder: Path) -> tuple[list[Path], list[str], list[str]]:
    """Four files of every format, with the awkward cases: BOM, CRLF, blank lines, quoted newlines, semicolons
    in text. Returns the files, the texts in corpus order and their default ids."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b, c, d = numbered(70), numbered(40, 70), numbered(30, 110), numbered(60, 140)
    b[3] = 'il gatto, "dorme"\nsul divano'
    (folder / "a.txt").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(a[:10]).encode() + b"\r\n\r\n  \n"
                                   + "\n".join(a[10:]).encode() + b"\n\n")
    lines = ["text,label"] + ['"' + t.replace('"', '""') + '",x' for t in b]
    (folder / "b.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "c.jsonl").write_text("".join(json.dumps({"n": i, "text": t}) + "\n\n" for i, t in enumerate(c)),
                                    encoding="utf-8")
    pq.write_table(pa.table({"text": d, "k": list(range(len(d)))}), folder / "d.parquet", row_group_size=17)
    files = [folder / n for n in ("a.txt", "b.csv", "c.jsonl", "d.parquet")]
    ids = [f"{name}:{i}" for name, texts in zip(("a.txt", "b.csv", "c.jsonl", "d.parquet"), (a, b, c, d))
           for i in range(len(texts))]
    return files, a + b + c + d, ids


def read_output(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    table = pq.read_table(folder / "parts")
    order = np.argsort(table.column("row").to_numpy())
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))[order]
    return [table.column("id").to_pylist()[i] for i in order], table.column("row").to_numpy()[order], vectors


def part_times(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (folder / "parts").glob("part-*.parquet")}


# ---------------------------------------------------------------- planning, without a cluster


def test_plan_reads_every_format_as_read_texts_does(tmp_path):
    files, texts, ids = write_inputs(tmp_path / "in")
    inputs, shards = plan(expand_inputs([tmp_path / "in"]), shard_size=25)
    assert [f.name for f in inputs] == ["a.txt", "b.csv", "c.jsonl", "d.parquet"]
    assert [f.rows for f in inputs] == [len(frasi.read_texts(p)) for p in files] == [70, 40, 30, 60]
    assert [(s.input, s.start, s.rows) for s in shards[:4]] == [(0, 0, 25), (0, 25, 25), (0, 50, 20), (1, 0, 25)]
    read_ids, read = [], []
    for shard in shards:
        got_ids, got = read_shard(inputs[shard.input], shard)
        assert len(got) == shard.rows
        read_ids += got_ids
        read += got
    assert read == texts == [t for p in files for t in frasi.read_texts(p)]
    assert read_ids == ids
    assert [s.first_row for s in shards] == [sum(s2.rows for s2 in shards[:i]) for i in range(len(shards))]


def test_inputs_by_folder_glob_and_ids_from_a_column(tmp_path):
    files, texts, _ = write_inputs(tmp_path / "in")
    assert expand_inputs([str(tmp_path / "in" / "*.jsonl"), tmp_path / "in" / "a.txt"]) == [files[2], files[0]]
    inputs, shards = plan([files[2]], shard_size=100, id_col="n")
    assert read_shard(inputs[0], shards[0])[0] == [str(i) for i in range(30)]
    with pytest.raises(frasi.InputError, match="is given twice"):
        expand_inputs([files[0], tmp_path / "in"])
    with pytest.raises(frasi.InputError, match="frasi corpus reads"):
        (tmp_path / "x.tsv").write_text("text\nhola\n")
        expand_inputs([tmp_path / "x.tsv"])
    with pytest.raises(frasi.InputError, match="does not exist"):
        expand_inputs([tmp_path / "missing.txt"])


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.csv", "text,label\nhola,1\n,2\n", r"bad.csv line 3: column 'text' is empty"),
    ("bad.jsonl", '{"text": "hola"}\n{"text": \n', r"bad.jsonl line 2 is not valid JSON"),
    ("bad.jsonl", '{"text": "hola"}\n{"body": "ciao"}\n', r"line 2 has no 'text' key"),
    ("bad.txt", b"hola\n\xff\n", r"bad.txt line 2 is not valid UTF-8"),
])
def test_bad_rows_are_found_before_anything_runs(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(frasi.InputError, match=message):
        plan([path])


def test_a_changed_input_is_refused_when_a_shard_is_read(tmp_path):
    files, _, _ = write_inputs(tmp_path / "in")
    inputs, shards = plan([files[0]], shard_size=30)
    files[0].write_text(files[0].read_text(encoding="utf-8-sig").replace("hola", "ciao"), encoding="utf-8")
    with pytest.raises(frasi.InputError, match="changed since the corpus was planned"):
        read_shard(inputs[0], shards[0])


# ---------------------------------------------------------------- embedding on an in-process cluster


def test_embed_every_row_once_resume_and_search(tmp_path, tiny_st_dir, client):
    files, texts, ids = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = frasi.corpus.embed(files, out, model=str(tiny_st_dir), scheduler=client, shard_size=25, store_text=True)
    assert (result.rows, result.shards, result.computed, result.kept) == (200, 10, 10, 0)
    got_ids, rows, vectors = read_output(out)
    assert got_ids == ids and rows.tolist() == list(range(200))
    expected = frasi.Encoder.load(tiny_st_dir).encode(texts, prompt="")
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert frasi.corpus.verify(out).ok
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 200 and len(manifest["finished"]) == 10
    assert not list((out / "parts").glob(".*.tmp"))

    before = part_times(out)
    again = frasi.corpus.embed(files, out, model=str(tiny_st_dir), scheduler=client, shard_size=25, store_text=True)
    assert (again.computed, again.kept) == (0, 10) and part_times(out) == before

    built = frasi.corpus.index(out, kind="exact", queries=50)
    assert built.recall_at_10 == 1.0 and built.kind == "exact"
    corpus_index = frasi.corpus.CorpusIndex(out)
    hits = corpus_index.search(expected[[3, 150]], top_k=2)
    assert [(h[0].row, h[0].id, h[0].text) for h in hits] == [(3, ids[3], texts[3]), (150, ids[150], texts[150])]


def test_a_truncated_part_is_detected_and_redone(tmp_path, tiny_st_dir, client):
    files, texts, ids = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    frasi.corpus.embed(files, out, model=str(tiny_st_dir), scheduler=client, shard_size=40)
    part = out / "parts" / "part-000002.parquet"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    report = frasi.corpus.verify(out)
    assert not report.ok and report.problems == [
        "part-000002.parquet does not match its recorded size and SHA-256 (damaged or changed)"]
    before = part_times(out)
    again = frasi.corpus.embed(files, out, model=str(tiny_st_dir), scheduler=client, shard_size=40)
    assert (again.computed, again.kept) == (1, again.shards - 1)
    after = part_times(out)
    assert {n for n in before if before[n] != after[n]} == {"part-000002.parquet"}
    assert frasi.corpus.verify(out).ok
    np.testing.assert_allclose(read_output(out)[2], frasi.Encoder.load(tiny_st_dir).encode(texts, prompt=""),
                               atol=1e-5)


def test_other_settings_or_inputs_are_refused_not_mixed(tmp_path, tiny_st_dir, client):
    files, _, _ = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    frasi.corpus.embed(files[:2], out, model=str(tiny_st_dir), scheduler=client, shard_size=50)
    before = part_times(out)
    for change, message in [({"prompt": "passage: "}, "another prompt: '' there, 'passage: ' now"),
                            ({"shard_size": 20}, r"another shard size \(--shard-size\): 50 there, 20 now"),
                            ({"normalize": True}, "another normalize option"),
                            ({"inputs": files[:3]}, "was started from other inputs")]:
        settings = {"inputs": files[:2], "shard_size": 50, **change}
        with pytest.raises(frasi.InputError, match=message):
            frasi.corpus.embed(settings.pop("inputs"), out, model=str(tiny_st_dir), scheduler=client, **settings)
    files[1].write_text(files[1].read_text() + "hola,y\n")
    with pytest.raises(frasi.InputError, match=r"b.csv changed since .* was started"):
        frasi.corpus.embed(files[:2], out, model=str(tiny_st_dir), scheduler=client, shard_size=50)
    assert part_times(out) == before  # nothing was touched
    redone = frasi.corpus.embed(files[:2], out, model=str(tiny_st_dir), scheduler=client, shard_size=20,
                                overwrite=True)
    assert redone.rows == 111 and redone.computed == redone.shards == 7
    assert frasi.corpus.verify(out).ok


def test_a_folder_that_is_not_a_corpus_is_never_written(tmp_path, tiny_st_dir, client):
    files, _, _ = write_inputs(tmp_path / "in")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(frasi.OutputError, match="holds no frasi corpus"):
        frasi.corpus.embed(files, tmp_path / "mine", model=str(tiny_st_dir), scheduler=client, overwrite=True)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    # an output folder inside an input folder: its parts are never read as inputs
    first = frasi.corpus.embed([tmp_path / "in"], tmp_path / "in" / "out", model=str(tiny_st_dir), scheduler=client)
    again = frasi.corpus.embed([tmp_path / "in"], tmp_path / "in" / "out", model=str(tiny_st_dir), scheduler=client)
    assert first.rows == again.rows == 200 and again.kept == first.computed == 4


def test_ivf_pq_index_and_a_stale_index(tmp_path, tiny_st_dir, client):
    path = tmp_path / "big.txt"
    path.write_text("\n".join(numbered(2197)) + "\n")
    out = tmp_path / "out"
    frasi.corpus.embed([path], out, model=str(tiny_st_dir), scheduler=client, shard_size=500)
    built = frasi.corpus.index(out, kind="ivf-pq", queries=100)
    assert built.kind == "ivf-pq" and built.params["ivf_lists"] == 2197 // 39
    assert 0.0 < built.recall_at_10 <= 1.0 and built.recall_by_nprobe[built.params["nprobe"]] == built.recall_at_10
    assert len(frasi.load_index(out / "index")) == 2197
    frasi.corpus.embed([path], out, model=str(tiny_st_dir), scheduler=client, shard_size=400, overwrite=True)
    assert not (out / "index").exists()  # --overwrite removes the old index with the old parts
    frasi.corpus.index(out, kind="hnsw", queries=100)
    path.write_text("\n".join(numbered(10)) + "\n")
    frasi.corpus.embed([path], out, model=str(tiny_st_dir), scheduler=client, shard_size=400, overwrite=True)
    frasi.corpus.index(out, kind="exact", queries=5)
    (out / "index" / "index.json").write_text((out / "index" / "index.json").read_text().replace(
        json.loads((out / "manifest.json").read_text())["run"], "0" * 64))
    with pytest.raises(frasi.InputError, match="built from another state of the corpus"):
        frasi.corpus.CorpusIndex(out)


# ---------------------------------------------------------------- the command line


def test_cli_embed_verify_index_search(tmp_path, tiny_st_dir, client, capsys):
    files, texts, ids = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    address = client.scheduler.address
    args = ["corpus", "embed", *map(str, files), "-o", str(out), "--model", str(tiny_st_dir),
            "--scheduler", address, "--shard-size", "60", "--prompt", ""]
    assert main(args) == 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("200 texts in 5 shards: 0 kept, 5 embedded now with 2 workers x 1 thread,")
    assert main(args + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kept"] == 5
    assert main(["corpus", "verify", str(out)]) == 0
    assert "every input row once" in capsys.readouterr().err
    assert main(["corpus", "index", str(out), "--queries", "20"]) == 0
    assert "recall@10" in capsys.readouterr().err
    assert main(["search", texts[42], "--index", str(out), "--model", str(tiny_st_dir), "--query-prompt", "",
                 "-k", "1", "--json"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)[0]["results"]
    assert (hit["id"], hit["text"]) == (ids[42], texts[42])

    # bad input: one line, exit 2, nothing written
    (out / "parts" / "part-000001.parquet").write_bytes(b"PAR1")
    assert main(["corpus", "verify", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out}: part-000001.parquet does not match")
    assert main(args + ["--prompt", "query: "]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out} holds embeddings made with another prompt: '' there, 'query: ' now; rerun with "
                   "the same settings, start again with --overwrite, or choose a new --output"]


def test_an_unreachable_scheduler_is_one_line_within_seconds(tmp_path, tiny_st_dir, capsys):
    files, _, _ = write_inputs(tmp_path / "in")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    code = main(["corpus", "embed", str(files[0]), "-o", str(tmp_path / "out"), "--model", str(tiny_st_dir),
                 "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"])
    assert code == 2 and time.monotonic() - started < 30  # a bound on a failure, not a timing
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- processes killed


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_driver_killed_then_rerun_resumes_without_recomputing(tmp_path, tiny_st_dir):
    """Multi-process local clusters started by the CLI: every socket of its processes listens on 127.0.0.1
    only; the driver and its cluster are killed (SIGKILL) mid-run; a rerun with two worker processes keeps
    every part written before and finishes the rest."""
    psutil = pytest.importorskip("psutil")
    path = tmp_path / "in.txt"
    texts = numbered(1000)
    path.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "frasi.cli", "corpus", "embed", str(path), "-o", str(out), "--model",
               str(tiny_st_dir), "--workers", "1", "--threads", "1", "--shard-size", "10", "--quiet"]
    process = subprocess.Popen(command, env=_environment(), start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    listening: set[str] = set()
    try:
        deadline = time.monotonic() + 600  # a guard against a hang on a starved machine, not a timing
        while len(list((out / "parts").glob("part-*.parquet"))) < 3:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "not 3 parts written in 10 minutes"
            for proc in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
                try:
                    listening |= {c.laddr.ip for c in proc.net_connections("inet") if c.status == "LISTEN"}
                except psutil.Error:
                    pass
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert listening == {"127.0.0.1"}
    done = part_times(out)
    assert 3 <= len(done) < 100
    # the rerun: the same command on a local cluster of two worker processes, to the end
    rerun = subprocess.run([*command[:command.index("--workers") + 1], "2", *command[command.index("--workers") + 2:],
                            "--json"], env=_environment(), capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    result = json.loads(rerun.stdout)
    assert result["kept"] >= len(done) and result["kept"] + result["computed"] == 100 and result["workers"] == 2
    after = part_times(out)
    assert {name: after[name] for name in done} == done  # not one finished part was written again
    assert frasi.corpus.verify(out).ok
    np.testing.assert_allclose(read_output(out)[2], frasi.Encoder.load(tiny_st_dir).encode(texts, prompt=""),
                               atol=1e-5)


class KillWhileWriting(WorkerPlugin):
    """Makes the first worker that writes a part die (SIGKILL) with the part half-written: a test's fault, set
    from outside frasi. The marker file makes it happen once, on one worker."""

    name = "test-kill-while-writing"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def setup(self, worker) -> None:
        import pyarrow.parquet as parquet

        write_table, marker = parquet.write_table, self.marker

        def write_then_die(table, where, *args, **kwargs):
            write_table(table, where, *args, **kwargs)
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.truncate(where, os.path.getsize(where) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

        parquet.write_table = write_then_die


def test_two_dask_workers_one_killed_mid_shard(tmp_path, tiny_st_dir):
    """A scheduler and two ``dask worker`` processes (no nanny, so the dead one stays dead) on 127.0.0.1; the
    shard of the killed worker runs again on the other, and the output is exact and complete."""
    import cloudpickle

    path = tmp_path / "in.jsonl"
    texts = numbered(600)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    env = _environment()
    scheduler_file = tmp_path / "scheduler.json"
    processes = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                   "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  env=env, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 300  # guards against a hang on a starved machine, not timings
        while not scheduler_file.is_file():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        for _ in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
                 "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                env=env, stderr=subprocess.DEVNULL))
        address = json.loads(scheduler_file.read_text())["address"]
        with Client(address, set_as_default=False, timeout=120) as c:
            c.wait_for_workers(2, timeout=300)
            cloudpickle.register_pickle_by_value(sys.modules[__name__])
            try:
                c.register_plugin(KillWhileWriting(str(tmp_path / "killed")))
            finally:
                cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        out = tmp_path / "out"
        result = frasi.corpus.embed([path], out, model=str(tiny_st_dir), scheduler=address, shard_size=50, threads=1)
    finally:
        for process in processes[::-1]:
            process.kill()
            process.wait()
    killed = int((tmp_path / "killed").read_text())
    assert killed in {p.pid for p in processes[1:]}
    assert (result.rows, result.computed) == (600, 12)
    assert not list((out / "parts").glob(".*.tmp"))  # the half-written part was removed
    assert frasi.corpus.verify(out).ok
    ids, rows, vectors = read_output(out)
    assert ids == [f"in.jsonl:{i}" for i in range(600)]
    np.testing.assert_allclose(vectors, frasi.Encoder.load(tiny_st_dir).encode(texts, prompt=""), atol=1e-5)


# ---------------------------------------------------------------- a real model


@pytest.mark.real
def test_real_minilm_corpus_embed_index_search(tmp_path, minilm, client, capsys):
    texts = ["The train to Madrid leaves at eight.", "La estación está a dos calles de aquí.",
             "Il treno per Roma parte alle otto.", "I like chocolate ice cream.", "Me gusta el helado de chocolate.",
             "The stock market fell sharply today.", "La borsa è crollata oggi.", "My cat sleeps on the sofa.",
             "El perro duerme en la casa.", "How do I get to the railway station?"] * 3
    pq.write_table(pa.table({"doc": [f"d{i}" for i in range(len(texts))], "text": texts}), tmp_path / "docs.parquet")
    out = tmp_path / "out"
    result = frasi.corpus.embed([tmp_path / "docs.parquet"], out, model="all-MiniLM-L6-v2", backend="torch",
                                scheduler=client, shard_size=8, id_col="doc")
    assert (result.rows, result.dimension, result.prompt) == (30, 384, "")
    ids, _, vectors = read_output(out)
    assert ids == [f"d{i}" for i in range(30)]
    np.testing.assert_allclose(vectors, minilm.encode(texts), atol=2e-5)
    assert frasi.corpus.index(out).kind == "hnsw"
    assert main(["search", "Where is the train station?", "--index", str(out), "--model", "all-MiniLM-L6-v2",
                 "--backend", "torch", "-k", "3", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)[0]["results"]
    assert results[0]["text"] == "How do I get to the railway station?"
