"""The ONNX Runtime backends (``onnx``, ``onnx-int8``): one CPU session per encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelLoadError, first_line, require


class OnnxBackend:
    """An ONNX Runtime session over an exported model, with ``threads`` intra-op threads."""

    def __init__(self, model_file: Path, *, name: str, threads: int) -> None:
        ort = require("onnxruntime", extra="onnx", purpose=f"the {name} backend")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            reason = first_line(exc)
            raise ModelLoadError(f"ONNX Runtime cannot load {model_file}: {reason}; delete the folder "
                                 f"{model_file.parent} so frasi exports the model again") from exc
        self.name = name
        self.threads = threads

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
