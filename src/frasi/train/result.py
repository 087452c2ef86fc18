"""TrainResult: where a trained model went and what it scored (its ``frasi_run.json``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig, run_record


@dataclass(frozen=True)
class TrainResult:
    """The outcome of one training run.

    ``record`` is the JSON written next to the model: config, seed, data hashes, library
    versions, dev and test scores (x100, with bootstrap CIs), timings and the training
    history (train loss and dev scores per logging step: the learning curve).
    """

    path: Path
    architecture: str
    record: dict[str, Any]

    @property
    def dev(self) -> list[dict[str, Any]]:
        return self.record["metrics"]["dev"]

    @property
    def test(self) -> list[dict[str, Any]]:
        return self.record["metrics"]["test"]

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.record["training"]["history"]

    @property
    def train_seconds(self) -> float:
        return self.record["training"]["train_seconds"]

    def __repr__(self) -> str:
        return f"TrainResult(path={str(self.path)!r}, architecture={self.architecture!r}{self.summary_suffix()})"

    def summary_suffix(self) -> str:
        """``"; dev spearman 84.26"``, or one score per file (``"dev spearman es 81.18, en 82.66"``) when several."""
        parts = []
        for name, sets in (("dev", self.dev), ("test", self.test)):
            scored = [r for r in sets if r["spearman"] is not None]
            if len(scored) == 1:
                parts.append(f"{name} spearman {scored[0]['spearman']:.2f}")
            elif scored:
                parts.append(f"{name} spearman " + ", ".join(f"{Path(r['source']).stem} {r['spearman']:.2f}"
                                                             for r in scored))
        return "; " + "; ".join(parts) if parts else ""

    @classmethod
    def build(cls, config: TrainConfig, data: Any, folder: Path, trained: dict[str, Any], sizes: dict[str, int],
              dev: list[dict[str, Any]], test: list[dict[str, Any]]) -> TrainResult:
        files = [p for p in folder.rglob("*") if p.is_file()]
        training = {key: trained[key] for key in ("global_step", "epochs_done", "train_seconds", "resumed_from_step",
                                                  "best_step", "best_dev", "history") if key in trained}
        record = run_record(
            config, data=data.summary(),
            metrics={"dev": dev, "test": test},
            training=training,
            model_size={**sizes, "bytes_on_disk": sum(p.stat().st_size for p in files)},
        )
        return cls(folder, config.architecture, record)

    def moved(self, path: Path) -> TrainResult:
        return dataclasses.replace(self, path=path)
