"""Train and score several architectures on one train / dev / test split with the same seeds.

:func:`compare` trains each chosen architecture once per seed (same data, same
settings), keeps each one's best dev checkpoint, scores it once on the test files and
writes a report folder::

    OUT/models/<architecture>-seed<N>/   each trained model with its frasi_run.json
    OUT/report.md, report.csv, report.json
    OUT/learning_curves.png              training loss and dev Spearman per step
    OUT/scatter-<architecture>-seed<N>.png  predicted vs gold on the first test file

The table gives test Spearman and Pearson (x100, 95% bootstrap CIs), training time,
model size and scoring speed. Selection uses dev only; the report says so. With
``resume=True`` finished models are reused and an interrupted one continues.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frasi.errors import InputError, OutputError

from .config import ARCHITECTURES, TrainConfig

logger = logging.getLogger(__name__)

SPEED_PAIRS = 256
SELECTION_NOTE = ("Model selection used the dev files only (best dev checkpoint, early stopping); the test files "
                  "were scored once per trained model, after training, and influenced no choice.")


@dataclass(frozen=True)
class CompareResult:
    """Where the report went and its rows (one per model and test file, plus per-architecture means)."""

    path: Path
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    report: dict[str, Any]


def _configs(config: TrainConfig, architectures: list[str], seeds: list[int]) -> list[tuple[str, TrainConfig]]:
    """One config per (architecture, seed); every run samples its training pairs (``max_train_pairs``)
    with the same data seed, so the seeds vary the training only."""
    data_seed = config.seed if config.data_seed is None and config.max_train_pairs is not None else config.data_seed
    runs = []
    for arch in architectures:
        loss = config.loss if arch == config.architecture else None
        for seed in seeds:
            runs.append((f"{arch}-seed{seed}",
                         config.replace(architecture=arch, loss=loss, seed=seed, data_seed=data_seed)))
    return runs


def compare(config: TrainConfig, output: str | Path, *, architectures: list[str] | tuple[str, ...] = ARCHITECTURES,
            seeds: list[int] | tuple[int, ...] | None = None, baseline: bool = True, resume: bool = False,
            plots: bool = True) -> CompareResult:
    """Train ``architectures`` with ``config``'s data and settings, once per seed, and write the report.

    Args:
        config: data (train, dev and test files are required) and shared settings; its
            ``architecture`` and ``seed`` are replaced per run (its ``loss`` applies to
            its own architecture; the others use their default loss).
        output: the report folder (absent or empty, or a compare folder with ``resume=True``).
        seeds: training seeds (default: ``config.seed``).
        baseline: also score ``config.model`` untrained, as a cosine bi-encoder.
        plots: write the PNG figures (needs matplotlib).
    """
    from frasi._fs import check_new_folder
    from frasi.errors import require
    from frasi.sources import resolve

    from .data import load_training_data
    from .driver import train
    from .run import RUN_FILE

    architectures = list(architectures)
    seeds = [config.seed] if seeds is None else list(seeds)
    bad = [a for a in architectures if a not in ARCHITECTURES]
    if not architectures or bad:
        raise InputError(f"unknown architecture(s) {', '.join(map(repr, bad)) or '(none given)'}; choose from "
                         f"{', '.join(ARCHITECTURES)}")
    if len(set(architectures)) != len(architectures) or len(set(seeds)) != len(seeds) or not seeds:
        raise InputError(f"architectures and seeds must be non-empty and without repeats; got {architectures} "
                         f"and {seeds}")
    if not config.test_files or not config.dev_files:
        raise InputError("compare needs dev files (for selection) and test files (for the report); pass both")
    planned = _configs(config, architectures, seeds)  # validates every per-architecture config up front
    for _name, run_config in planned:  # every data file is read and checked before any training
        load_training_data(run_config)
    if plots:
        require("matplotlib", extra="plot", purpose="drawing the comparison plots")
    target = Path(output).expanduser()
    if not (resume and target.is_dir()):
        check_new_folder(target, what="comparison report")
        resolve(config.model)  # an unknown model fails here, before the report folder is made
    (target / "models").mkdir(parents=True, exist_ok=True)

    from .scoring import load_scorer

    data = load_training_data(config)
    rows: list[dict[str, Any]] = []
    models: dict[str, dict[str, Any]] = {}
    for name, run_config in planned:
        folder = target / "models" / name
        if folder.is_dir() and (folder / RUN_FILE).is_file():
            if not resume:
                raise OutputError(f"{folder} already holds a trained model; pass resume=True (--resume) to reuse it")
            _check_reusable(folder, run_config)
            logger.info("reusing the trained model in %s", folder)
        else:
            logger.info("training %s (%d of %d)", name, len(models) + 1, len(planned))
            train(run_config, folder, resume=resume)
        scorer = load_scorer(folder)
        record = scorer.record or {}
        speed = _speed(scorer, data.test[0])
        models[name] = {"record": record, "speed": speed}
        rows.extend(_rows(name, run_config.architecture, run_config.seed, record, speed))
    if baseline:
        rows.extend(_baseline_rows(config, data))
    summary = _summary(rows)
    report = {
        "format": "frasi-compare/1",
        "selection": SELECTION_NOTE,
        "config": config.to_dict(),
        "architectures": architectures,
        "seeds": seeds,
        "data": data.summary(),
        "rows": rows,
        "summary": summary,
        "models": {name: {"path": f"models/{name}", "training": m["record"].get("training", {}),
                          "versions": m["record"].get("versions")} for name, m in models.items()},
    }
    _write_report(target, report, rows, summary)
    if plots:
        _write_plots(target, models, data)
    logger.info("wrote the comparison of %d model(s) to %s", len(models), target)
    return CompareResult(target, rows, summary, report)


def _speed(scorer: Any, test: Any) -> float:
    n = min(SPEED_PAIRS, len(test))
    return round(scorer.pairs_per_second(list(test.sentences1[:n]), list(test.sentences2[:n])), 2)


def _rows(name: str, architecture: str, seed: int, record: dict[str, Any], speed: float) -> list[dict[str, Any]]:
    training = record.get("training", {})
    size = record.get("model_size", {})
    out = []
    for test in record.get("metrics", {}).get("test", []):
        ci = test.get("ci") or {}
        out.append({
            "model": name, "architecture": architecture, "seed": seed, "test_file": Path(test["source"]).name,
            "n_pairs": test["n"], "spearman": _r(test["spearman"]), "spearman_ci": ci.get("spearman"),
            "pearson": _r(test["pearson"]), "pearson_ci": ci.get("pearson"),
            "best_dev_spearman": _r(100 * training["best_dev"]) if training.get("best_dev") is not None else None,
            "best_step": training.get("best_step"), "steps": training.get("global_step"),
            "train_seconds": training.get("train_seconds"), "parameters": size.get("parameters"),
            "trainable_parameters": size.get("trainable_parameters"),
            "size_mb": round(size["bytes_on_disk"] / 2**20, 1) if size.get("bytes_on_disk") else None,
            "pairs_per_second": speed,
        })
    return out


def _baseline_rows(config: TrainConfig, data: Any) -> list[dict[str, Any]]:
    from .run import score_sets
    from .scoring import load_scorer

    scorer = load_scorer(config.model)
    scores = score_sets(lambda a, b: scorer.predict(a, b), data.test, seed=config.seed)
    speed = _speed(scorer, data.test[0])
    record = {"metrics": {"test": scores}, "training": {}, "model_size": {"parameters": scorer.n_parameters()}}
    return _rows("baseline", f"{config.model} untrained (cosine)", config.seed, record, speed)


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds, per architecture and test file."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["architecture"], row["test_file"]), []).append(row)
    out = []
    for (architecture, test_file), items in groups.items():
        entry: dict[str, Any] = {"architecture": architecture, "test_file": test_file, "seeds": len(items)}
        for key in ("spearman", "pearson", "train_seconds", "pairs_per_second"):
            values = [r[key] for r in items if r[key] is not None]
            entry[key] = _r(float(np.mean(values))) if values else None
            entry[f"{key}_std"] = _r(float(np.std(values, ddof=1))) if len(values) > 1 else None
        out.append(entry)
    return out


def _ci(interval: list[float] | None) -> str:
    return f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "-"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


COLUMNS = ("model", "architecture", "seed", "test_file", "n_pairs", "spearman", "spearman_ci", "pearson",
           "pearson_ci", "best_dev_spearman", "best_step", "steps", "train_seconds", "parameters",
           "trainable_parameters", "size_mb", "pairs_per_second")


def markdown_report(report: dict[str, Any]) -> str:
    rows, summary = report["rows"], report["summary"]
    lines = ["# frasi compare", "", f"**Selection.** {report['selection']}", "",
             (f"Starting model `{report['config']['model']}`; seeds {report['seeds']}; "
             f"{report['data']['n_train_pairs']} training pairs from "
             f"{', '.join(Path(t['source']).name for t in report['data']['train'])}."), "",
             ("| model | test file | Spearman | 95% CI | Pearson | 95% CI | best dev | train s | params (trainable) "
             "| MB | pairs/s |"),
             "|---|---|---:|---|---:|---|---:|---:|---|---:|---:|"]
    for r in rows:
        params = f"{r['parameters'] or '-'} ({r['trainable_parameters'] or '-'})"
        lines.append(f"| {r['model']} | {r['test_file']} | {_cell(r['spearman'])} | {_ci(r['spearman_ci'])} | "
                     f"{_cell(r['pearson'])} | {_ci(r['pearson_ci'])} | {_cell(r['best_dev_spearman'])} | "
                     f"{_cell(r['train_seconds'])} | {params} | {_cell(r['size_mb'])} | "
                     f"{_cell(r['pairs_per_second'])} |")
    if any(s["seeds"] > 1 for s in summary):
        lines += ["", "## Mean over seeds", "", "| architecture | test file | seeds | Spearman | sd | Pearson | sd |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for s in summary:
            lines.append(f"| {s['architecture']} | {s['test_file']} | {s['seeds']} | {_cell(s['spearman'])} | "
                         f"{_cell(s['spearman_std'])} | {_cell(s['pearson'])} | {_cell(s['pearson_std'])} |")
    lines += ["", ("Correlations x100 against the raw gold scores; CIs: percentile bootstrap over test pairs "
              "(1000 resamples). Speed: pairs scored per second on the first "
              f"{SPEED_PAIRS} test pairs, this machine."), ""]
    return "\n".join(lines)


def _write_report(target: Path, report: dict[str, Any], rows: list[dict[str, Any]],
                  summary: list[dict[str, Any]]) -> None:
    from frasi.io import write_json, write_table, write_text

    write_json(target / "report.json", report)
    write_text(target / "report.md", markdown_report(report))
    write_table(target / "report.csv", list(COLUMNS),
                [[";".join(f"{x:.2f}" for x in row[c]) if isinstance(row[c], list) else
                  ("" if row[c] is None else row[c]) for c in COLUMNS] for row in rows])


def _check_reusable(folder: Path, config: TrainConfig) -> None:
    """Refuse to reuse a trained model whose recorded config is not ``config`` (a resumed
    comparison must not mix models trained with other settings)."""
    from .run import RUN_FILE, changed_keys

    recorded = json.loads((folder / RUN_FILE).read_text(encoding="utf-8")).get("config", {})
    wanted = config.to_dict()
    changed = changed_keys(recorded, wanted)
    if changed:
        raise InputError(f"cannot resume: {folder} was trained with other settings ({', '.join(changed)} differ); "
                         "resume with the same settings, or delete that model folder to train it again")


def _write_plots(target: Path, models: dict[str, dict[str, Any]], data: Any) -> None:
    from frasi._fs import write_bytes
    from frasi.plots import learning_curves_png, scatter_png

    start = time.perf_counter()
    histories = {name: m["record"].get("training", {}).get("history", []) for name, m in models.items()}
    write_bytes(target / "learning_curves.png", learning_curves_png(histories, title="learning curves"))
    gold = data.test[0].scores
    for name, m in models.items():
        tests = m["record"].get("metrics", {}).get("test", [])
        if tests:
            spearman = tests[0]["spearman"]
            score = "undefined (constant predictions)" if spearman is None else f"{spearman:.2f}"
            title = f"{name} on {Path(tests[0]['source']).name}: Spearman {score}"
            write_bytes(target / f"scatter-{name}.png", scatter_png(tests[0]["predicted"], gold, title=title))
    logger.debug("plots written in %.1f s", time.perf_counter() - start)
