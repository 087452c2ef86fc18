"""The OpenVINO backend (``openvino``): float32 inference on the CPU plugin."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError, first_line, require


class OpenVinoBackend:
    """A model compiled for OpenVINO's CPU plugin with ``threads`` threads and one stream."""

    def __init__(self, model_file: Path, *, name: str, threads: int) -> None:
        ov = require("openvino", extra="openvino", purpose=f"the {name} backend")
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "f32"}  # f32: no silent bf16/f16 on CPUs that have them
        try:
            compiled = ov.Core().compile_model(str(model_file), "CPU", config)
        except Exception as exc:  # openvino raises RuntimeError with multi-line text
            reason = first_line(exc)
            raise ModelLoadError(f"OpenVINO cannot load {model_file}: {reason}; delete the folder "
                                 f"{model_file.parent} so frasi exports the model again") from exc
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: one batch at a time
        self.name = name
        self.threads = threads

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with self._lock:
            self._request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
            return self._request.get_output_tensor(0).data.copy()
