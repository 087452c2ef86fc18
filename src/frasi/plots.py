"""Figures: a similarity heatmap and a confusion matrix with readable labels (need the ``plot`` extra)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from .errors import require
from .io import write_bytes


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
