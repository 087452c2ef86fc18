"""Commands that evaluate models on benchmark data: eval sts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from frasi.errors import InputError
from frasi.io import check_output_path, write_json

from ._shared import CacheOptions, Display, ModelOptions, app, command, emit_json, err, out, replaced

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


@command(eval_app, "sts")
def eval_sts(
    *, data: Annotated[Path, typer.Argument(help="STS pairs: the STS Benchmark TSV, headerless sentence1,sentence2,"
                                                 "score CSV, or CSV/TSV/JSONL/parquet with named columns.")],
    model: ModelOptions,
    prompt_name: Annotated[str | None, typer.Option(
        "--prompt-name", help="A named prompt of the model (e.g. query); default: the model's default prompt.")] = None,
    prompt: Annotated[str | None, typer.Option(
        "--prompt", help='Prompt text to prepend; "" disables the model\'s prompt.')] = None,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals; 0 disables them.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap resampling.")] = 0,
    sentence1_col: Annotated[str | None, typer.Option("--sentence1-col", help="Column of the first sentences.")] = None,
    sentence2_col: Annotated[str | None, typer.Option(
        "--sentence2-col", help="Column of the second sentences.")] = None,
    score_col: Annotated[str | None, typer.Option("--score-col", help="Column of the gold scores.")] = None,
    genre_col: Annotated[str | None, typer.Option("--genre-col", help="Column of the genres (optional).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Also write the full report to a .json file.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32,
    cache: CacheOptions, display: Display,
) -> None:
    """Spearman and Pearson (x100, bootstrap CIs) of cosine/dot/euclidean/manhattan similarity vs gold STS scores.

    A cross-encoder or a frasi pair model (frasi train) is scored by its own score of each pair."""
    from frasi.data import read_sts
    from frasi.evaluate import evaluate_pair_scorer, evaluate_sts

    if output is not None:
        check_output_path(output, (".json",), inputs=[data])
    dataset = read_sts(data, sentence1_column=sentence1_col, sentence2_column=sentence2_col,
                       score_column=score_col, genre_column=genre_col)  # every data error before the model loads
    pair_model = _pair_model(model.model)
    if pair_model is not None:
        if prompt is not None or prompt_name is not None:
            raise InputError(f"{model.model} scores pairs with the prompt it was trained with; drop --prompt / "
                             "--prompt-name")
        from frasi.train import load_scorer

        scorer = load_scorer(pair_model)
        name = pair_model.name
        result = evaluate_pair_scorer(scorer, dataset, name=name, batch_size=batch_size, n_bootstrap=bootstrap,
                                      seed=seed)
    else:
        encoder = model.load()
        name = encoder.name
        with cache.store() as store:
            result = evaluate_sts(encoder, dataset, batch_size=batch_size, prompt_name=prompt_name, prompt=prompt,
                                  n_bootstrap=bootstrap, seed=seed, cache=store)
    note = replaced(output)
    if output is not None:
        write_json(output, result)
    if display.as_json:
        emit_json(result)
        return
    protocol = result["protocol"]
    out.print(_sts_table(result, f"STS: {name} on {data.name} ({len(dataset)} pairs)"))
    if result["by_genre"]:
        out.print(_genre_table(result))
    if not display.quiet:
        intervals = (f"percentile bootstrap, {bootstrap} resamples of pairs, seed {seed}" if bootstrap
                     else "no intervals (--bootstrap 0)")
        used = (f"prompt {protocol['prompt']!r}" if "prompt" in protocol
                else f"the {protocol['architecture']}'s own score of each pair")
        err.print(f"* primary metric {result['primary_metric']}; {used}; gold scores "
                  f"{protocol['score_range'][0]:g}..{protocol['score_range'][1]:g}; {intervals}; data sha256 "
                  f"{dataset.sha256[:12]}; scored in {protocol['encode_seconds']:.1f} s"
                  + (f" -> {output}{note}" if output is not None else ""))


def _pair_model(model: str | None) -> Path | None:
    """The folder of ``--model`` when it holds a model that scores pairs itself (a cross-encoder, a pair model)."""
    from frasi.sources import model_kind

    if model is None:
        return None
    path = Path(model).expanduser()
    return path if model_kind(path) in ("cross-encoder", "pair-model") else None
