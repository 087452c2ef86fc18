"""An export on disk: the files it holds, its manifest's constants, and its check against torch.

:mod:`frasi.backends.export` decides when to export and keeps exports fresh;
:mod:`frasi.backends.tracing` makes the float32 exports from torch and
:mod:`frasi.backends.int8` the int8 ones from those. All of them share what is here.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..probes import PROBE_TEXTS
from ..similarity import similarity_pairwise
from . import BackendSpec
from .compiled import open_backend, pad_batch
from .tokenizer import SENTENCEPIECE_FILE, VOCABULARY_FILE, FastTokenizer

EXPORT_FORMAT = 5  # bump when the export recipe changes: older exports become stale
MANIFEST = "manifest.json"
MODEL_FILES = {"onnxruntime": ("model.onnx",), "openvino": ("model.xml", "model.bin")}
EMBEDDINGS_FILE = "embeddings.npy"  # OpenVINO exports: the word-embedding table, outside the graph
EXACT_TOLERANCE = 1e-4
INT8_MIN_COSINE = 0.9


@dataclass(frozen=True)
class Artefact:
    """An exported model on disk, checked against its manifest."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def model_file(self) -> Path:
        return self.folder / MODEL_FILES[self.manifest["runtime"]][0]

    @property
    def settings(self) -> dict[str, Any]:
        return self.manifest["model"]


class ModelNotExportable(ModelLoadError):
    """The model's stack cannot run on a runtime backend (not a transformer, no fast tokenizer, ...)."""


def share_files(base: Path, out: Path) -> None:
    """Give an int8 export the float32 export's tokenizer, reference vectors and embedding table (a hard link
    where the file system allows: e5's table is 384 MB)."""
    for name in ("tokenizer.json", SENTENCEPIECE_FILE, VOCABULARY_FILE, "reference.npy", EMBEDDINGS_FILE):
        if (base / name).is_file():
            try:
                os.link(base / name, out / name)
            except OSError:
                shutil.copy2(base / name, out / name)


def verify_export(folder: Path, spec: BackendSpec, settings: dict[str, Any], reference: np.ndarray, *,
            strict: bool) -> dict[str, Any]:
    """Run the export on the probe texts and compare with torch's embeddings; if ``strict``, raise when off."""
    tokenizer = FastTokenizer(folder / "tokenizer.json", max_length=settings["max_length"],
                              truncation_side=settings.get("truncation_side", "right"),
                              sentencepiece=settings.get("sentencepiece"))
    backend = open_backend(spec, folder / MODEL_FILES[spec.runtime][0], threads=1, keep_compiled=False)
    ids = tokenizer.ids(PROBE_TEXTS)
    got = np.concatenate([backend.embed(*pad_batch(ids[i : i + 8], settings["pad_id"])) for i in range(0, len(ids), 8)])
    cosine = similarity_pairwise(got, reference)
    check = {"max_abs_diff": float(np.abs(got - reference).max()), "min_cosine": float(cosine.min())}
    check["ok"] = check["max_abs_diff"] < EXACT_TOLERANCE if spec.exact else check["min_cosine"] >= INT8_MIN_COSINE
    if strict and not check["ok"]:
        raise ModelLoadError(
            f"the {spec.name} export disagrees with torch on probe texts (max abs diff "
            f"{check['max_abs_diff']:.2g}, min cosine {check['min_cosine']:.4f}); use backend='torch'")
    return check


class quiet_tools:
    """ONNX Runtime's Python tools and NNCF log freely (some through the root logger); mute them while they run."""

    def __enter__(self) -> None:
        self._disabled = logging.root.manager.disable
        logging.disable(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        logging.disable(self._disabled)
