"""The OpenVINO backends on the CPU plugin: ``openvino`` (float32) and ``openvino-int8``.

``openvino-int8`` runs a model whose weights NNCF compressed to int8 (per output channel,
at export). The CPU plugin then quantizes each matmul's activations to int8 as it runs,
per token in groups of ``INT8_GROUP_SIZE`` values (dynamic quantization), so a matmul is
an int8 x int8 product where the CPU has int8 dot-product instructions (VNNI; elsewhere
the weights are widened to float32 on the fly). A token's scale never depends on the other
texts of its batch. Everything else (LayerNorm, softmax, GELU) runs in float32.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError, first_line, require


INT8_GROUP_SIZE = 128  # activation values per int8 scale; chosen on STSb dev (benchmarks/openvino_int8.py)


class OpenVinoBackend:
    """A model compiled for OpenVINO's CPU plugin with ``threads`` threads and one stream."""

    def __init__(self, model_file: Path, *, name: str, threads: int, group_size: int = 0) -> None:
        """``group_size``: activation values per int8 scale for int8-compressed weights (0: no
        dynamic quantization; the weights are widened to float32 as they are read)."""
        ov = require("openvino", extra="openvino", purpose=f"the {name} backend")
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "f32",  # f32: no silent bf16/f16 on CPUs that have them
                  "DYNAMIC_QUANTIZATION_GROUP_SIZE": group_size}
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
