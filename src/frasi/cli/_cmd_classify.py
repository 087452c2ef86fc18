"""Commands that classify texts: classify train / predict / evaluate, and sentiment."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import frasi
from frasi._fs import check_new_folder
from frasi.errors import InputError
from frasi.io import RECORD_SUFFIXES, check_output_path, write_records

from ._shared import (
    CacheOptions,
    Column,
    Display,
    File,
    ModelOptions,
    Output,
    app,
    command,
    emit_json,
    err,
    option_group,
    out,
    read_input_texts,
    replaced,
    say_resumable,
    shown,
)

classify_app = typer.Typer(help="Train classifiers on sentence embeddings and use them.", no_args_is_help=True)
app.add_typer(classify_app, name="classify")

Data = Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/parquet with text and label columns, or a "
                                           "<split>_text.txt file / folder of the text+labels layout.")]
TextColumn = Annotated[str | None, typer.Option("--text-col", "--column",
                                                help="Column with the texts (default: text).")]
LabelColumn = Annotated[str | None, typer.Option("--label-col", help="Column with the labels (default: label).")]
LabelNames = Annotated[str | None, typer.Option(
    "--label-names", help='Rename labels, e.g. "0=negative,1=neutral,2=positive".')]
Seed = Annotated[int, typer.Option("--seed", help="Seed for the split, the CV folds and the head.")]
TrustPickle = Annotated[bool, typer.Option(
    "--trust-pickle", help="Allow loading a non-linear head stored as a pickle (runs code: trusted folders only).")]


def _label_names(spec: str | None) -> dict[str, str] | None:
    if spec is None:
        return None
    names: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f'--label-names expects "old=new,old=new", got {spec!r}')
        names[key.strip()] = value.strip()
    return names


def _read(path: Path, text_col: str | None, label_col: str | None, names: dict[str, str] | None,
          split: str) -> Any:
    from frasi.data import read_classification

    return read_classification(path, text_column=text_col, label_column=label_col, label_names=names,
                               split=split if path.is_dir() else None)


def _C_values(spec: str) -> float | list[float]:
    try:
        values = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise InputError(f'--C expects a number or a comma-separated list such as "0.1,1,10", got {spec!r}') from None
    if not values:
        raise InputError("--C is empty")
    return values[0] if len(values) == 1 else values


def _metrics_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    table = Table(title=title)
    for name in ("classifier", "accuracy", "macro-F1"):
        table.add_column(name, justify="left" if name == "classifier" else "right")
    for name, metrics in rows:
        table.add_row(name, f"{metrics['accuracy']:.4f}", f"{metrics['macro_f1']:.4f}")
    return table


def _per_class_table(metrics: dict[str, Any], split: str) -> Table:
    table = Table(title=f"per class ({split})")
    for name in ("class", "precision", "recall", "F1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for label, m in metrics["per_class"].items():
        table.add_row(str(label), f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    return table


FineTune = Annotated[bool, typer.Option(
    "--fine-tune", help="Fine-tune the encoder end to end as a classifier (frasi[finetune]) instead of fitting a "
                        "head on frozen embeddings; saves a Hugging Face text-classification folder.")]


@option_group
class FineTuneOptions:
    """How to fine-tune (with --fine-tune)."""

    method: Annotated[str | None, typer.Option(
        "--method", help="full (every weight, default), lora (adapters, merged at the end) or setfit (contrastive "
                         "pairs, for few labels).")] = None
    epochs: Annotated[float | None, typer.Option("--epochs", min=0.01, help="Epochs (default 3).")] = None
    learning_rate: Annotated[float | None, typer.Option(
        "--learning-rate", min=0.0, help="Learning rate (default 5e-5 full, 5e-4 lora, 2e-5 setfit).")] = None
    max_length: Annotated[int | None, typer.Option(
        "--max-length", min=8, help="Tokens per text; longer texts are cut (default 128).")] = None
    class_weight: Annotated[str | None, typer.Option(
        "--class-weight", help="balanced: weigh the loss against class imbalance.")] = None
    dev: Annotated[Path | None, typer.Option(
        "--dev", help="Dev data (same layout) for choosing the best checkpoint; default: hold out 10% of DATA.")] = None
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted fine-tuning run.")] = False

    def given(self) -> list[str]:
        return [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(self)
                if getattr(self, f.name) not in (None, False)]


@command(classify_app, "train")
def classify_train(
    *, data: Data,
    output: Annotated[Path, typer.Option("--output", "-o", help="New folder for the classifier and its report.")],
    test: Annotated[Path | None, typer.Option(
        "--test", help="Test data (same layout); default: hold out --test-size of DATA.")] = None,
    test_size: Annotated[float, typer.Option("--test-size", min=0.05, max=0.5,
                                             help="Held-out fraction when there is no --test.")] = 0.2,
    text_col: TextColumn = None, label_col: LabelColumn = None, label_names: LabelNames = None,
    model: ModelOptions,
    head: Annotated[str, typer.Option(
        "--head", help="linear-svc, logistic, ridge, svc, knn, random-forest or mlp.")] = "linear-svc",
    C: Annotated[str, typer.Option("--C", help='C, or candidates "0.1,1,10" chosen by cross-validation.')] = "1",
    cv: Annotated[int, typer.Option("--cv", min=2, help="Folds for choosing C.")] = 5,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="Also train TF-IDF + LinearSVC.")] = True,
    prompt: Annotated[str | None, typer.Option(
        "--prompt", help='Prompt text to prepend; "" disables the model\'s prompt.')] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32,
    seed: Seed = 0, cache: CacheOptions, fine_tune: FineTune = False, tuning: FineTuneOptions, display: Display,
) -> None:
    """Train a classifier on embeddings (or fine-tune the encoder, --fine-tune); report test metrics beside a
    TF-IDF baseline; save it."""
    from frasi.experiment import run_experiment

    if not fine_tune and tuning.given():
        raise InputError(f"{', '.join(tuning.given())} apply to fine-tuning; add --fine-tune")
    if fine_tune and (head != "linear-svc" or C != "1" or prompt is not None):
        raise InputError("--head, --C and --prompt apply to a head on frozen embeddings; drop them with --fine-tune")
    if not (fine_tune and tuning.resume):
        check_new_folder(output, what="classifier")
    names = _label_names(label_names)
    C_value = _C_values(C)
    if fine_tune:
        clf, fit_params = _fine_tuner(output, data, text_col, label_col, names, model, tuning, batch_size, seed)
    else:
        from frasi.classify import EmbeddingClassifier

        EmbeddingClassifier(head=head, C=C_value, cv=cv)._check_params()
        fit_params = {}
    train_set = _read(data, text_col, label_col, names, "train")
    test_set = _read(test, text_col, label_col, names, "test") if test is not None else None
    with cache.store() as store:
        if not fine_tune:
            clf = EmbeddingClassifier(model.load(), head=head, C=C_value, cv=cv, prompt=prompt, batch_size=batch_size,
                                      random_state=seed, cache=store)
        try:
            report = run_experiment(clf, train_set, test_set, test_size=test_size, seed=seed, baseline=baseline,
                                    baseline_C=C_value, cv=cv, output=output, fit_params=fit_params)
        except KeyboardInterrupt:
            if fine_tune:
                say_resumable(output)
            raise
        except SystemExit as exc:  # SIGTERM, through frasi.cli.main
            if fine_tune and exc.code not in (0, None):
                say_resumable(output)
            raise
    if fine_tune:
        from frasi.train.run import finish, work_folder

        finish(work_folder(output))
    if display.as_json:
        emit_json(report)
        return
    rows = [(report["head"] if fine_tune else f"embeddings + {head}", report["test"])]
    if baseline:
        rows.append((report["baseline"]["name"], report["baseline"]["test"]))
    out.print(_metrics_table(f"test: {report['n_test']} texts, {len(report['classes'])} classes", rows))
    out.print(_per_class_table(report["test"], "test"))
    if not display.quiet:
        err.print(f"saved the classifier and {' + '.join(report['files'])} to {output}")


def _fine_tuner(output: Path, data: Path, text_col: str | None, label_col: str | None,
                names: dict[str, str] | None, model: ModelOptions, tuning: FineTuneOptions, batch_size: int,
                seed: int) -> tuple[Any, dict[str, Any]]:
    """The FineTunedClassifier the options describe, checked, and its fit parameters (dev set, resume)."""
    from frasi.finetune import FineTunedClassifier
    from frasi.settings import setting
    from frasi.train.run import work_folder

    work = work_folder(output.expanduser())
    if tuning.resume:
        check_new_folder(output, what="classifier")
        if not work.is_dir():
            raise InputError(f"nothing to resume: {work} does not exist (start without --resume)")
    if tuning.class_weight not in (None, "balanced"):
        raise InputError(f"--class-weight takes 'balanced', got {tuning.class_weight!r}")
    options = {"method": tuning.method, "epochs": tuning.epochs, "learning_rate": tuning.learning_rate,
               "max_length": tuning.max_length, "class_weight": tuning.class_weight}
    clf = FineTunedClassifier(setting("model", model.model), batch_size=batch_size, random_state=seed,
                              checkpoint_dir=work, threads=setting("threads", model.threads),
                              **{k: v for k, v in options.items() if v is not None})
    clf._check_params()
    fit_params: dict[str, Any] = {"resume": tuning.resume}
    if tuning.dev is not None:
        dev = _read(tuning.dev, text_col, label_col, names, "dev")
        fit_params.update(X_dev=list(dev.texts), y_dev=dev.labels)
    return clf, fit_params


@command(classify_app, "predict")
def classify_predict(
    *, classifier: Annotated[Path, typer.Argument(help="A folder written by frasi classify train.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    file: File = None, column: Column = None, output: Output = None, model: ModelOptions,
    cache: CacheOptions, trust_pickle: TrustPickle = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32,
    display: Display,
) -> None:
    """Label texts with a saved classifier (probabilities when the head has them); --model replaces the encoder
    recorded in the folder."""
    from frasi.classifier_folder import load_classifier

    if output is not None:
        check_output_path(output, RECORD_SUFFIXES, inputs=[file])
    items = read_input_texts(texts, file, column)
    with cache.store() as store:
        clf = load_classifier(classifier, encoder=model.model, trust_pickle=trust_pickle, backend=model.backend,
                              threads=model.threads, cache=store)
        clf.batch_size = batch_size
        _emit_predictions(clf, items, output, display)


def _emit_predictions(clf: Any, items: list[str], output: Path | None, display: Display) -> None:
    vectors = clf.embed(items) if hasattr(clf, "embed") else items  # embed once for labels and probabilities
    labels = clf.predict(vectors).tolist()
    classes = [str(c) for c in clf.classes_.tolist()]
    proba = clf.predict_proba(vectors) if hasattr(clf, "predict_proba") else None
    header = ["text", "label"] + ([f"p_{c}" for c in classes] if proba is not None else [])
    rows = [[text, label] + ([round(float(p), 6) for p in proba[i]] if proba is not None else [])
            for i, (text, label) in enumerate(zip(items, labels))]
    note = replaced(output)
    if output is not None:
        write_records(output, header, rows)
    if display.as_json:
        records = []
        for row in rows:
            record: dict[str, Any] = {"text": row[0], "label": row[1]}
            if proba is not None:
                record["probabilities"] = dict(zip(classes, row[2:]))
            records.append(record)
        emit_json(records)
        return
    if output is not None:
        if not display.quiet:
            err.print(f"labelled {len(items)} texts -> {output}{note}")
        return
    table = Table()
    table.add_column("label")
    for c in classes if proba is not None else []:
        table.add_column(f"p({c})", justify="right")
    table.add_column("text", overflow="fold")
    for row in rows:
        table.add_row(shown(str(row[1])), *[f"{p:.3f}" for p in row[2:]], shown(row[0]))
    out.print(table)


@command(classify_app, "evaluate")
def classify_evaluate(
    *, classifier: Annotated[Path, typer.Argument(help="A folder written by frasi classify train.")],
    data: Data, text_col: TextColumn = None, label_col: LabelColumn = None, label_names: LabelNames = None,
    model: ModelOptions, cache: CacheOptions, trust_pickle: TrustPickle = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32,
    display: Display,
) -> None:
    """Score a saved classifier on labelled data: accuracy, macro-F1, per-class metrics; --model replaces the
    encoder recorded in the folder."""
    from frasi.classifier_folder import load_classifier
    from frasi.labels import check_labels
    from frasi.metrics import classification_metrics

    dataset = _read(data, text_col, label_col, _label_names(label_names), "test")
    labels = check_labels(dataset.labels)
    with cache.store() as store:
        clf = load_classifier(classifier, encoder=model.model, trust_pickle=trust_pickle, backend=model.backend,
                              threads=model.threads, cache=store)
        clf.batch_size = batch_size
        clf.check_known_labels(labels)
        metrics = classification_metrics(labels.tolist(), clf.predict(list(dataset.texts)).tolist(),
                                         labels=clf.classes_.tolist())
    if display.as_json:
        emit_json({"classifier": str(classifier), "data": str(data), "n": len(labels), "test": metrics})
        return
    out.print(_metrics_table(f"{data}: {len(labels)} texts", [(str(classifier), metrics)]))
    out.print(_per_class_table(metrics, Path(data).name))


@command()
def sentiment(
    *, texts: Annotated[list[str] | None, typer.Argument(help="Texts in Spanish, Italian or English.")] = None,
    file: File = None, column: Column = None, output: Output = None, model: ModelOptions, cache: CacheOptions,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = 32,
    display: Display,
) -> None:
    """Negative / neutral / positive with probabilities, from the shipped multilingual head (its encoder:
    multilingual-e5-small; --backend and --threads choose how it runs)."""
    if output is not None:
        check_output_path(output, RECORD_SUFFIXES, inputs=[file])
    items = read_input_texts(texts, file, column)
    with cache.store() as store:
        clf = frasi.load_sentiment(model.model, backend=model.backend, threads=model.threads, cache=store)
        clf.batch_size = batch_size
        _emit_predictions(clf, items, output, display)
