"""Opening an exported model file with its runtime, and the right-padded batches it takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from . import Backend, BackendSpec


def open_backend(spec: BackendSpec, model_file: Path, *, threads: int, keep_compiled: bool = True) -> Backend:
    """Compile ``model_file`` with the runtime of ``spec``, with ``threads`` CPU threads; ``keep_compiled``: keep
    OpenVINO's compiled model beside the export for the next process (not for a one-off check)."""
    if spec.runtime == "onnxruntime":
        from .onnx import OnnxBackend

        return OnnxBackend(model_file, name=spec.name, threads=threads)
    if spec.runtime == "openvino":
        from .openvino import OpenVinoBackend

        group_size = (spec.recipe or {}).get("activation_group_size", 0)  # the export was checked to match
        return OpenVinoBackend(model_file, name=spec.name, threads=threads, group_size=group_size,
                               keep_compiled=keep_compiled)
    raise InputError(f"backend {spec.name!r} has no exported runtime")  # pragma: no cover


def pad_batch(ids: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists into (input_ids, attention_mask) int64 arrays."""
    width = max(map(len, ids))
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return input_ids, mask
