"""The OpenVINO backends on the CPU plugin: ``openvino`` (float32) and ``openvino-int8``.

``openvino-int8`` runs a model whose weights NNCF compressed to int8 (per output channel,
at export). The CPU plugin then quantizes each matmul's activations to int8 as it runs,
per token in groups of the recipe's ``activation_group_size`` values (128) (dynamic quantization), so a matmul is
an int8 x int8 product, fast where the CPU has int8 dot-product instructions (VNNI; frasi
has measured it only on such a CPU). A token's scales never depend on the other texts of
its batch. Everything else (LayerNorm, softmax, GELU) runs in float32.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError, first_line, require
from . import default_threads

#: Shapes whose compiled kernels the CPU plugin keeps (least recently used first out; OpenVINO's default: 5,000).
#: Batches come in many (texts, tokens) shapes, and with the default a process that embeds millions of texts (a
#: corpus worker) grew by about 14 MB per 10,000 texts, past 1.7 GB. 256 holds the shapes in use: the same speed.
RUNTIME_CACHE_CAPACITY = 256
COMPILED_CACHE = "compiled"  # OpenVINO's model cache, one blob per compile settings (threads, ...)

_CORE: Any = None
_CORE_LOCK = threading.Lock()


def shared_core() -> Any:
    """The process's one ``openvino.Core``, made on first use and kept until exit.

    OpenVINO's CPU plugin gives the calling thread an alternate signal stack per Core and
    puts the previous one back when that Core is freed. Two Cores freed in the order they
    were made leave the thread pointing at a freed stack, and the next signal handled there
    (Ctrl-C, SIGTERM) crashes the process with a segmentation fault. One Core avoids it.
    """
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            ov = require("openvino", extra="openvino", purpose="the OpenVINO backends")
            _CORE = ov.Core()
        return _CORE


class OpenVinoBackend:
    """A model compiled for OpenVINO's CPU plugin with ``threads`` threads and one stream."""

    def __init__(self, model_file: Path, *, name: str, threads: int, group_size: int = 0,
                 keep_compiled: bool = True) -> None:
        """``group_size``: activation values per int8 scale for int8-compressed weights (0: no
        dynamic quantization; the weights are widened to float32 as they are read). When the export keeps the
        word embeddings out of the graph (``embeddings.npy`` beside ``model_file``), they are read from the
        memory-mapped table, so only the rows of the tokens seen are ever loaded."""
        require("openvino", extra="openvino", purpose=f"the {name} backend")
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "f32",  # f32: no silent bf16/f16 on CPUs that have them
                  "DYNAMIC_QUANTIZATION_GROUP_SIZE": group_size,
                  "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_CAPACITY}
        if threads < default_threads():
            # OpenVINO pins its threads to the first cores: two processes of one thread each (Dask
            # workers, two commands) would share core 0 and run at half speed. Pin only with every core.
            config["ENABLE_CPU_PINNING"] = False
        if keep_compiled:  # beside the export: the next process loads it in half the time
            config["CACHE_DIR"] = str(model_file.parent / COMPILED_CACHE)
        try:
            compiled = shared_core().compile_model(str(model_file), "CPU", config)
        except Exception as exc:  # openvino raises RuntimeError with multi-line text
            reason = first_line(exc)
            raise ModelLoadError(f"OpenVINO cannot load {model_file}: {reason}; delete the folder "
                                 f"{model_file.parent} so frasi exports the model again") from exc
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: one batch at a time
        table = model_file.parent / "embeddings.npy"
        self._table = np.load(table, mmap_mode="r") if table.is_file() else None
        self.name = name
        self.threads = threads

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self._table is not None:
            inputs = {"inputs_embeds": np.take(self._table, input_ids, axis=0), "attention_mask": attention_mask}
        else:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        with self._lock:
            self._request.infer(inputs)
            return self._request.get_output_tensor(0).data.copy()
