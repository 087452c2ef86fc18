"""Runtimes behind :class:`frasi.Encoder`: one contract (:class:`Runtime`) and a registry of backends.

    auto           the default: openvino when the model can be exported, torch otherwise
    torch          sentence-transformers on PyTorch, float32: the reference
    onnx           ONNX Runtime, float32, fused graph (attention, LayerNorm, GELU);
                   same embeddings as torch (max abs diff < 1e-4)
    onnx-int8      ONNX Runtime, dynamic int8 quantization (weights per channel,
                   activations per batch) of the middle layers' attention-output and
                   FFN-up matmuls, int8 embedding tables; approximate, and smaller
                   in memory and on disk than onnx
    openvino       OpenVINO, float32; same embeddings as torch
    openvino-int8  OpenVINO, int8 weights (per output channel, NNCF weight compression)
                   and int8 activations quantized at run time per token in groups of
                   128 values (the CPU plugin's dynamic quantization); approximate, and
                   fast where the CPU has int8 dot-product instructions (VNNI)

Each backend is a :class:`Runtime` (``torch_backend.TorchRuntime``, ``exported.ExportedRuntime``).
A runtime backend (all but ``torch``) runs a graph exported once from the loaded model,
pooling, Dense and Normalize included, so it gives sentence embeddings directly. The
export reads only the local model folder (no network) and is cached in frasi's cache
directory (:mod:`frasi.backends.export`); loading a cached export needs neither torch nor
transformers: the ``tokenizers`` library, the runtime and numpy.

Every backend honours an explicit thread count (``threads``); the default is the
number of CPUs this process may use. A backend that cannot load (runtime missing,
failed export) raises; ``Encoder.load(..., fallback="torch")`` falls back instead.
``frasi.parity.check_parity`` measures how closely each backend follows torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ..fingerprint import HashMemo


class Backend(Protocol):
    """A compiled model of a runtime: token ids in, sentence embeddings out."""

    name: str
    threads: int

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embed one right-padded batch: int64 arrays (batch, tokens) -> float32 (batch, dim)."""
        ...


class Runtime(Protocol):
    """What an :class:`frasi.Encoder` runs on: texts in (prompts already prepended), vectors out.

    ``settings`` holds what the model is, known without running it: ``dimension``,
    ``max_length``, ``hidden_size``, ``prompts``, ``default_prompt_name``, ``normalizes``
    and ``modules``. ``info()`` says what computes the vectors (backend, runtime and library
    versions, export details) and ``fingerprint()`` which weights: together they key cached
    vectors, without loading anything heavy.
    """

    spec: BackendSpec
    threads: int | None

    @property
    def settings(self) -> dict[str, Any]: ...

    @property
    def tokenizer(self) -> Any: ...

    def encode(self, texts: list[str], *, prompt: str, batch_size: int | None,
               show: bool) -> tuple[np.ndarray, int]:
        """float32 vectors of ``texts`` with ``prompt`` prepended, and how many texts were cut at ``max_length``."""
        ...

    def count_truncated(self, texts: list[str]) -> int:
        """How many of ``texts`` (prompts already prepended) exceed ``max_length``."""
        ...

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of each of ``texts`` (prompts already prepended), special tokens included, before truncation."""
        ...

    def info(self) -> dict[str, Any]: ...

    def fingerprint(self, memo: HashMemo | None = None) -> str: ...


@dataclass(frozen=True)
class BackendSpec:
    """One entry of the registry."""

    name: str
    runtime: str  # "torch", "onnxruntime", "openvino"
    variant: str  # "fp32" or "int8"
    module: str  # the module to import
    extra: str  # the frasi extra that installs it ("": a base dependency)
    exact: bool  # gives the reference's embeddings (max abs diff < 1e-4)
    description: str
    # settings the export is made and run with beyond its format; an export made with others is stale
    recipe: dict[str, Any] | None = field(default=None, hash=False)
    # batch only texts of equal token length: padding moves int8 activations across rounding steps, so
    # without it a text's vector would depend on the other texts of its batch
    equal_length_batches: bool = False
    export_needs: tuple[str, str] | None = None  # (module, extra) the export needs beyond the runtime


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("torch", "torch", "fp32", "torch", "", True,
                    "sentence-transformers on PyTorch, float32 (the reference)"),
        BackendSpec("onnx", "onnxruntime", "fp32", "onnxruntime", "onnx", True,
                    "ONNX Runtime, float32, fused graph"),
        BackendSpec("onnx-int8", "onnxruntime", "int8", "onnxruntime", "onnx", False,
                    "ONNX Runtime, int8 middle-layer matmuls and embedding tables"),
        BackendSpec("openvino", "openvino", "fp32", "openvino", "", True,
                    "OpenVINO, float32"),
        BackendSpec("openvino-int8", "openvino", "int8", "openvino", "", False,
                    "OpenVINO, int8 weights, activations int8 per group of 128 at run time",
                    # group size chosen on STSb dev (benchmarks/openvino_int8.py)
                    recipe={"weights": "int8_asym", "activation_group_size": 128}, equal_length_batches=True,
                    export_needs=("nncf", "int8")),
    )
}
AUTO = "auto"
AUTO_RUNTIME = "openvino"
"""What ``auto`` runs: the exact runtime with the better cold start and throughput on this project's measures
(``benchmarks/cold_start.py``); torch when the model cannot be exported."""
BACKEND_CHOICES: tuple[str, ...] = (AUTO, *BACKENDS)
DEFAULT_BACKEND = AUTO


def backend_spec(name: str) -> BackendSpec:
    """Return the registry entry for ``name`` (``auto`` is its runtime's entry) or raise InputError listing the
    choices."""
    if name == AUTO:
        return BACKENDS[AUTO_RUNTIME]
    if not isinstance(name, str) or name not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKEND_CHOICES)}; got {name!r}")
    return BACKENDS[name]


def default_threads() -> int:
    """The number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def check_threads(threads: int | None) -> int:
    """Return ``threads`` checked, or the default when it is None."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    return threads


__all__ = ["AUTO", "AUTO_RUNTIME", "BACKENDS", "BACKEND_CHOICES", "DEFAULT_BACKEND", "Backend", "BackendSpec",
           "Runtime", "backend_spec", "check_threads", "default_threads"]
