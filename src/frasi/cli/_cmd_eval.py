"""Commands that evaluate models on benchmark data: eval sts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from frasi.io import check_output_path, write_json
from frasi.sources import DEFAULT_MODEL

from ._shared import (
    BatchSize,
    Json,
    Model,
    Prompt,
    Quiet,
    app,
    emit_json,
    err,
    load_encoder,
    out,
    setup_logging,
)

eval_app = typer.Typer(help="Evaluate models on benchmark data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _ci(ci: dict[str, Any] | None, key: str) -> str:
    interval = (ci or {}).get(key)
    return f"[{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "-"


def _value(metrics: dict[str, Any], key: str) -> str:
    value = metrics.get(key)
    return "undefined" if value is None else f"{value:.2f}"


def _sts_table(result: dict[str, Any], title: str) -> Table:
    """One row per similarity function: Spearman and Pearson x100 with their intervals."""
    level = f"{result['bootstrap']['confidence']:.0%} CI"
    table = Table(title=title)
    for name in ("similarity", "Spearman", level, "Pearson", level):
        table.add_column(name, justify="left" if name == "similarity" else "right")
    for name in result["protocol"]["similarities"]:
        spearman, pearson = f"spearman_{name}", f"pearson_{name}"
        marker = " *" if spearman == result["primary_metric"] else ""
        table.add_row(name + marker, _value(result["metrics"], spearman), _ci(result["ci"], spearman),
                      _value(result["metrics"], pearson), _ci(result["ci"], pearson))
    return table


def _genre_table(result: dict[str, Any]) -> Table:
    primary = result["primary_metric"]
    table = Table(title=f"{primary} by genre")
    for name in ("genre", "pairs", "Spearman", f"{result['bootstrap']['confidence']:.0%} CI"):
        table.add_column(name, justify="left" if name == "genre" else "right")
    for genre, block in result["by_genre"].items():
        table.add_row(genre, str(block["n"]), _value(block["metrics"], primary), _ci(block["ci"], primary))
    return table


@eval_app.command("sts")
def eval_sts(
    data: Annotated[Path, typer.Argument(help="STS pairs: the STS Benchmark TSV, headerless sentence1,sentence2,score "
                                              "CSV, or CSV/TSV/JSONL/parquet with named columns.")],
    model: Model = DEFAULT_MODEL,
    prompt_name: Annotated[str | None, typer.Option(
        "--prompt-name", help="A named prompt of the model (e.g. query); default: the model's default prompt.")] = None,
    prompt: Prompt = None,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals; 0 disables them.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap resampling.")] = 0,
    sentence1_col: Annotated[str | None, typer.Option("--sentence1-col", help="Column of the first sentences.")] = None,
    sentence2_col: Annotated[str | None, typer.Option("--sentence2-col", help="Column of the second sentences.")] = None,
    score_col: Annotated[str | None, typer.Option("--score-col", help="Column of the gold scores.")] = None,
    genre_col: Annotated[str | None, typer.Option("--genre-col", help="Column of the genres (optional).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the full report to a .json file.")] = None,
    batch_size: BatchSize = 32, as_json: Json = False, quiet: Quiet = False,
) -> None:
    """Spearman and Pearson (x100, bootstrap CIs) of cosine/dot/euclidean/manhattan similarity vs gold STS scores."""
    from frasi.data import read_sts
    from frasi.evaluate import evaluate_sts

    setup_logging(quiet)
    if output is not None:
        check_output_path(output, (".json",), inputs=[data])
    dataset = read_sts(data, sentence1_column=sentence1_col, sentence2_column=sentence2_col,
                       score_column=score_col, genre_column=genre_col)  # every data error before the model loads
    encoder = load_encoder(model)
    result = evaluate_sts(encoder, dataset, batch_size=batch_size, prompt_name=prompt_name, prompt=prompt,
                          n_bootstrap=bootstrap, seed=seed)
    if output is not None:
        write_json(output, result)
    if as_json:
        emit_json(result)
        return
    protocol = result["protocol"]
    out.print(_sts_table(result, f"STS: {encoder.name} on {data.name} ({len(dataset)} pairs)"))
    if result["by_genre"]:
        out.print(_genre_table(result))
    if not quiet:
        lo, hi = protocol["normalization"]["range"]
        intervals = (f"percentile bootstrap, {bootstrap} resamples of pairs, seed {seed}" if bootstrap
                     else "no intervals (--bootstrap 0)")
        err.print(f"* primary metric {result['primary_metric']}; prompt {protocol['prompt']!r}; gold scores "
                  f"{protocol['score_range'][0]:g}..{protocol['score_range'][1]:g} (nominal {lo:g}..{hi:g}); "
                  f"{intervals}; data sha256 {dataset.sha256[:12]}; encoded {protocol['n_unique_sentences']} "
                  f"sentences in {protocol['encode_seconds']:.1f} s"
                  + (f" -> {output}" if output is not None else ""))
