"""Commands that train and compare pair models: train bi-encoder / cross-encoder / architecture, compare."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from frasi.errors import InputError

from ._shared import Display, app, command, emit_json, err, option_group, out, say_resumable

train_app = typer.Typer(help="Fine-tune pair models on STS data (needs the train extra).", no_args_is_help=True)
app.add_typer(train_app, name="train")

# ---------------------------------------------------------------- options (None: from --config or the default)

TrainFiles = Annotated[list[Path] | None, typer.Argument(
    help="Training files (STS pairs: STS Benchmark TSV, sentence1,sentence2,score CSV or a named table); several "
         "are concatenated (e.g. es + it + en).")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Folder for the trained model (absent or empty).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="A .toml/.yaml/.json file of training settings; "
                                                                   "flags override it.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")]


@option_group
class TrainOptions:
    """The settings every training command shares; each maps to the TrainConfig field of the same name."""

    dev_files: Annotated[list[Path] | None, typer.Option(
        "--dev", help="Dev file (repeatable): best checkpoint, early stopping.")] = None
    test_files: Annotated[list[Path] | None, typer.Option(
        "--test", help="Test file (repeatable): scored once after training.")] = None
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Starting model (default multilingual-e5-small).")] = None
    epochs: Annotated[float | None, typer.Option("--epochs", help="Training epochs (default 1).")] = None
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", help="Stop after this many steps (overrides --epochs).")] = None
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Pairs per step (default 16).")] = None
    learning_rate: Annotated[float | None, typer.Option(
        "--lr", help="Learning rate of the encoder (default 2e-5).")] = None
    warmup_ratio: Annotated[float | None, typer.Option(
        "--warmup", help="Warmup, as a fraction of the steps (default 0.1).")] = None
    max_seq_length: Annotated[int | None, typer.Option(
        "--max-seq-length", help="Tokens per text (per pair for joint models) in training (default 128); a "
                                 "bi-encoder keeps its model's maximum.")] = None
    freeze_embeddings: Annotated[bool | None, typer.Option(
        "--freeze-embeddings/--train-embeddings", help="Freeze the word-embedding matrix (fast on CPU).")] = None
    freeze_layers: Annotated[int | None, typer.Option(
        "--freeze-layers", help="Freeze the lowest N transformer layers.")] = None
    eval_steps: Annotated[int | None, typer.Option(
        "--eval-steps", help="Evaluate on dev every N steps (and each epoch).")] = None
    early_stopping_patience: Annotated[int | None, typer.Option(
        "--patience", help="Early stopping: evaluations without improvement.")] = None
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")] = None
    max_train_pairs: Annotated[int | None, typer.Option(
        "--max-train-pairs", help="Use a seeded sample of N training pairs.")] = None

    def settings(self) -> dict[str, Any]:
        """The settings that were given, as TrainConfig fields."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: [str(p) for p in v] if k in ("dev_files", "test_files") else v for k, v in values.items()
                if v is not None and v != []}


Loss = Annotated[str | None, typer.Option(
    "--loss", help="bi-encoder: cosent, cosine or mnrl; cross-encoder: bce or mse.")]
HeadLR = Annotated[float | None, typer.Option("--head-lr", help="Learning rate of new heads (default 1e-3).")]
Scheduler = Annotated[str | None, typer.Option("--scheduler", help="linear, cosine, constant or constant_with_warmup.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed (default 42).")]


def build_config(config_file: Path | None, train_files: list[Path] | None, settings: dict[str, Any]):
    """The TrainConfig from --config (if any) with the flags that were given on top."""
    from frasi.train import TrainConfig

    overrides = {k: v for k, v in settings.items() if v is not None}
    if train_files:
        overrides["train_files"] = [str(f) for f in train_files]
    if config_file is not None:
        return TrainConfig.from_file(config_file, **overrides)
    if "train_files" not in overrides:
        raise InputError("no training files: pass them as arguments (frasi train bi-encoder TRAIN.csv -o OUT) "
                         "or in a --config file")
    return TrainConfig.from_dict(overrides)


def _show(result, display: Display) -> None:
    record = result.record
    if display.as_json:
        emit_json({"path": str(result.path), "architecture": result.architecture,
                   "metrics": {split: [{k: v for k, v in r.items() if k != "predicted"}
                                       for r in record["metrics"][split]]
                               for split in ("dev", "test")},
                   "training": {k: v for k, v in record["training"].items() if k != "history"},
                   "model_size": record["model_size"]})
        return
    t = record["training"]
    if not (record["metrics"]["dev"] or record["metrics"]["test"]):
        err.print("no --dev or --test file: nothing was scored")
    else:
        _metrics_table(result)
    if not display.quiet:
        selection = (f"best dev step {t['best_step']}; selection on dev only" if t.get("best_step") is not None
                     else "no dev file: the last step is kept")
        err.print(f"* {t['global_step']} steps ({t['epochs_done']:.2f} epochs) in {t['train_seconds']:.0f} s; "
                  f"{selection}; config, seed, data hashes and versions in {result.path / 'frasi_run.json'}")


def _metrics_table(result) -> None:
    record = result.record
    table = Table(title=f"{result.architecture} -> {result.path}")
    for name in ("split", "file", "pairs", "Spearman", "95% CI", "Pearson"):
        table.add_column(name, justify="right" if name in ("pairs", "Spearman", "Pearson") else "left")
    for split in ("dev", "test"):
        for r in record["metrics"][split]:
            ci = (r.get("ci") or {}).get("spearman")
            table.add_row(split, Path(r["source"]).name, str(r["n"]),
                          "-" if r["spearman"] is None else f"{r['spearman']:.2f}",
                          f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-",
                          "-" if r["pearson"] is None else f"{r['pearson']:.2f}")
    out.print(table)


def _train(architecture: str | None, config_file: Path | None, train_files: list[Path] | None,
           settings: dict[str, Any], output: Path, resume: bool, display: Display, *,
           allowed: tuple[str, ...] = ()) -> None:
    from frasi.train import train

    config = build_config(config_file, train_files, {"architecture": architecture, **settings})
    if allowed and config.architecture not in allowed:
        from frasi.train.config import read_config_file

        what = (f"{config_file} sets architecture = {config.architecture!r}" if config_file
                and "architecture" in read_config_file(config_file) else "no architecture was given")
        raise InputError(f"{what}; this command trains {', '.join(allowed)} (pass --arch, or use "
                         f"frasi train {config.architecture})")
    try:
        result = train(config, output, resume=resume)
    except KeyboardInterrupt:
        say_resumable(output)
        raise
    except SystemExit as exc:  # SIGTERM, through frasi.cli.main
        if exc.code not in (0, None):
            say_resumable(output)
        raise
    _show(result, display)


@command(train_app, "bi-encoder")
def train_bi_encoder(
    *, train_files: TrainFiles = None, output: Output, config_file: ConfigFile = None, options: TrainOptions,
    loss: Loss = None, scheduler: Scheduler = None, seed: Seed = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help='Prompt for the texts ("" none; default: the '
                                                                 "model's).")] = None,
    resume: Resume = False, display: Display,
) -> None:
    """Fine-tune a bi-encoder (cosine of two embeddings) on scored pairs."""
    _train("bi-encoder", config_file, train_files,
           {**options.settings(), "loss": loss, "scheduler": scheduler, "seed": seed, "prompt": prompt},
           output, resume, display)


@command(train_app, "cross-encoder")
def train_cross_encoder(
    *, train_files: TrainFiles = None, output: Output, config_file: ConfigFile = None, options: TrainOptions,
    loss: Loss = None, head_lr: HeadLR = None, scheduler: Scheduler = None, seed: Seed = None,
    resume: Resume = False, display: Display,
) -> None:
    """Fine-tune a cross-encoder (the pair encoded jointly, one-logit head) on scored pairs."""
    _train("cross-encoder", config_file, train_files,
           {**options.settings(), "loss": loss, "head_learning_rate": head_lr, "scheduler": scheduler, "seed": seed},
           output, resume, display)


@command(train_app, "architecture")
def train_architecture(
    *, train_files: TrainFiles = None, output: Output,
    arch: Annotated[str | None, typer.Option("--arch", help="regression, siamese or cross-attention.")] = None,
    config_file: ConfigFile = None, options: TrainOptions, head_lr: HeadLR = None, scheduler: Scheduler = None,
    seed: Seed = None, resume: Resume = False, display: Display,
) -> None:
    """Train one of the seed's architectures (regression, siamese, cross-attention) on scored pairs."""
    from frasi.train.config import HEAD_ARCHITECTURES

    if arch is None and config_file is None:
        raise InputError(f"pass --arch, one of {', '.join(HEAD_ARCHITECTURES)}")
    if arch is not None and arch not in HEAD_ARCHITECTURES:
        raise InputError(f"--arch must be one of {', '.join(HEAD_ARCHITECTURES)}; got {arch!r} (the bi-encoder and "
                         "cross-encoder have their own commands)")
    _train(arch, config_file, train_files,
           {**options.settings(), "head_learning_rate": head_lr, "scheduler": scheduler, "seed": seed},
           output, resume, display, allowed=HEAD_ARCHITECTURES)


@command(app, "compare")
def compare(
    *, train_files: TrainFiles = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Report folder (absent or empty).")],
    arch: Annotated[list[str] | None, typer.Option(
        "--arch", help="Architecture to train (repeatable; default all five).")] = None,
    seeds: Annotated[list[int] | None, typer.Option("--seed", help="Training seed (repeatable; default 42).")] = None,
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Do not score the untrained model.")] = False,
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Do not draw the PNG plots.")] = False,
    config_file: ConfigFile = None, options: TrainOptions, head_lr: HeadLR = None,
    resume: Resume = False, display: Display,
) -> None:
    """Train and score several architectures on the same split and seeds; write a report (md, csv, json, png)."""
    from frasi.train import ARCHITECTURES
    from frasi.train.compare import compare as run_compare

    config = build_config(config_file, train_files, {**options.settings(), "head_learning_rate": head_lr})
    result = run_compare(config, output, architectures=arch or list(ARCHITECTURES), seeds=seeds or None,
                         baseline=not no_baseline, resume=resume, plots=not no_plots)
    if display.as_json:
        emit_json({"path": str(result.path), "rows": result.rows, "summary": result.summary})
        return
    table = Table(title=f"compare -> {result.path} (selection on dev only)")
    for name in ("model", "test file", "Spearman", "Pearson", "train s", "pairs/s"):
        table.add_column(name, justify="left" if name in ("model", "test file") else "right")
    for r in result.rows:
        table.add_row(r["model"], r["test_file"], *(("-" if r[k] is None else f"{r[k]:.2f}")
                                                    for k in ("spearman", "pearson", "train_seconds",
                                                              "pairs_per_second")))
    out.print(table)
    if not display.quiet:
        err.print(f"* report: {result.path / 'report.md'} (+ .csv, .json, PNG plots)")

