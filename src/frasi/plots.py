"""Figures, as PNG: a similarity heatmap, a confusion matrix, learning curves and predicted-vs-gold scatter
(need the ``plot`` extra). Each draws on its own Agg canvas: no pyplot, so the caller's backend is left alone."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._fs import write_bytes
from .errors import require


def short_label(label: str, width: int = 40) -> str:
    """One line of at most ``width`` characters, with an ellipsis when cut."""
    label = " ".join(label.split())
    return label if len(label) <= width else label[: width - 1] + "…"


def heatmap_png(path: str | os.PathLike[str], scores: np.ndarray, row_labels: Sequence[str],
                col_labels: Sequence[str] | None = None, *, title: str = "", metric: str = "cosine") -> None:
    """Write a heatmap of ``scores`` to a PNG file (atomically)."""
    require("matplotlib", extra="plot", purpose="drawing a heatmap")
    # A Figure with its own Agg canvas: no pyplot, so the caller's backend is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    col_labels = row_labels if col_labels is None else col_labels
    n_rows, n_cols = scores.shape
    fig = Figure(figsize=(min(4 + 0.6 * n_cols, 30), min(2.5 + 0.45 * n_rows, 30)), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(scores, cmap="viridis", aspect="auto")
    ax.set_xticks(range(n_cols), [short_label(t) for t in col_labels], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), [short_label(t) for t in row_labels], fontsize=8)
    if n_rows * n_cols <= 400:
        threshold = (np.nanmax(scores) + np.nanmin(scores)) / 2
        for i in range(n_rows):
            for j in range(n_cols):
                ax.text(j, i, f"{scores[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if scores[i, j] > threshold else "white")
    fig.colorbar(image, ax=ax, label=metric)
    if title:
        ax.set_title(title)
    write_bytes(path, _png_bytes(fig))


def _png_bytes(fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def confusion_png(matrix: np.ndarray, labels: Sequence[str], *, title: str = "") -> bytes:
    """A confusion matrix (rows: true class, columns: predicted) as PNG bytes, counts in cells."""
    require("matplotlib", extra="plot", purpose="drawing a confusion matrix")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(labels)
    fig = Figure(figsize=(min(3.5 + 0.7 * n, 20), min(3 + 0.6 * n, 20)), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    names = [short_label(str(label), 20) for label in labels]
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    fig.colorbar(image, ax=ax, label="texts")
    if title:
        ax.set_title(short_label(title, 60), fontsize=9)
    return _png_bytes(fig)


def _figure(width: float, height: float):
    require("matplotlib", extra="plot", purpose="drawing training plots")
    # A Figure with its own Agg canvas: no pyplot, so the caller's backend is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def learning_curves_png(histories: Mapping[str, Sequence[Mapping[str, Any]]], *, title: str = "") -> bytes:
    """Training loss and dev Spearman against the step, one line per model (PNG bytes)."""
    fig = _figure(11, 4.2)
    loss_ax, dev_ax = fig.subplots(1, 2)
    for label, history in histories.items():
        losses = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
        devs = [(h["step"], 100 * v) for h in history for k, v in h.items()
                if k.startswith("eval_dev_spearman") and isinstance(v, (int, float))]
        if losses:
            loss_ax.plot(*zip(*losses), marker=".", label=label, linewidth=1.2)
        if devs:
            dev_ax.plot(*zip(*devs), marker="o", markersize=3, label=label, linewidth=1.2)
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss (each model's own loss)")
    loss_ax.set_yscale("log")
    dev_ax.set_xlabel("step")
    dev_ax.set_ylabel("dev Spearman x100")
    for ax in (loss_ax, dev_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _png_bytes(fig)


def scatter_png(predicted: Sequence[float], gold: Sequence[float], *, title: str = "") -> bytes:
    """Predicted score against gold score, one dot per pair, with the least-squares line (PNG bytes)."""
    x, y = np.asarray(gold, dtype=float), np.asarray(predicted, dtype=float)
    fig = _figure(4.8, 4.4)
    ax = fig.subplots()
    ax.scatter(x, y, s=5, alpha=0.35, edgecolors="none")
    if np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, slope * xs + intercept, color="black", linewidth=1)
    ax.set_xlabel("gold score")
    ax.set_ylabel("predicted score")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    return _png_bytes(fig)
