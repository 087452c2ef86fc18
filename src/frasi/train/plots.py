"""Figures of a comparison: learning curves and predicted-vs-gold scatter (need the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from frasi.errors import require


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
    from frasi.plots import _png_bytes

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
    from frasi.plots import _png_bytes

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
