"""The int8 exports, each made from the same runtime's float32 export.

* ``onnx-int8``: part of the ``onnx`` graph's weight matmuls quantized to int8 (dynamic,
  weights per channel; :func:`int8_plan` says which) and the embedding tables stored in
  int8 (e5's 250k-token table: 384 MB -> 96 MB). What stays float32 was measured to lose
  the most (STSb and cosine to torch, ``benchmarks/results/archive/int8_recipe-avx2.json``):
  attention (the fused QKV op), the matmuls that read a GELU/ReLU output, and every matmul
  of the first and the last layer.
* ``openvino-int8``: the ``openvino`` export's weights compressed to int8 with NNCF
  (data-free, per output channel); the CPU plugin quantizes activations as it runs
  (:mod:`frasi.backends.openvino`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..versions import version
from . import BACKENDS
from .artefact import Artefact, quiet_tools, share_files, verify_export

logger = logging.getLogger(__name__)


ACTIVATIONS = ("Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Relu")


LAYER_PATTERN = re.compile(r"(?:^|[/._])(?:layer|layers|block|blocks)[/._](\d+)(?:[/._]|$)")  # encoder/layer.3/...


def int8_plan(graph: Any) -> tuple[list[str], list[str]]:
    """Split the weight matmuls of an ONNX graph into (quantized to int8, kept float32).

    Kept float32: a matmul that reads a GELU/ReLU output (the FFN down-projection) and
    every matmul of the first and the last layer (layer index from the node name,
    e.g. ``encoder/layer.11/...``). Fused ``Attention`` ops are never quantized, and a
    matmul of two activations (unfused attention scores) is not a weight matmul.
    """
    weights = {init.name for init in graph.initializer}
    producer = {output: node.op_type for node in graph.node for output in node.output}
    matmuls = [n for n in graph.node if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in weights]
    layers = {n.name: int(m.group(1)) for n in matmuls if (m := LAYER_PATTERN.search(n.name))}
    edges = {min(layers.values()), max(layers.values())} if layers else set()
    quantized, kept = [], []
    for node in matmuls:
        keep = producer.get(node.input[0]) in ACTIVATIONS or layers.get(node.name) in edges
        (kept if keep else quantized).append(node.name)
    return quantized, kept


def quantize_onnx(base: Artefact, out: Path) -> dict[str, Any]:
    """Quantize the fp32 ONNX export ``base`` into ``out``; return the details for the manifest."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(base.model_file), load_external_data=False).graph
    quantized, kept = int8_plan(graph)
    tables = [n.name for n in graph.node if n.op_type == "EmbedLayerNormalization"]  # fused word/position tables
    nodes = quantized + tables
    options = {"per_channel": True, "weight_type": "QInt8", "int8_matmuls": len(quantized),
               "float32_matmuls": len(kept), "int8_embedding_tables": len(tables)}
    if not nodes:  # quantize_dynamic reads an empty node list as "every node"
        logger.info("nothing to quantize in %s (%d matmuls, all kept float32)", base.model_file, len(kept))
        shutil.copy2(base.model_file, out / "model.onnx")
    else:
        with warnings.catch_warnings(), quiet_tools():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(base.model_file), str(out / "model.onnx"), per_channel=True,
                             weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "EmbedLayerNormalization"],
                             nodes_to_quantize=nodes,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    share_files(base.folder, out)
    reference = np.load(base.folder / "reference.npy")
    check = verify_export(out, BACKENDS["onnx-int8"], base.settings, reference, strict=True)
    return {**{k: v for k, v in base.manifest["export"].items() if k != "check"}, "quantization": options,
            "check": check}


def compress_openvino(base: Artefact, out: Path) -> dict[str, Any]:
    """Compress the weights of the float32 OpenVINO export ``base`` to int8 into ``out`` (NNCF,
    data-free, one scale and zero point per output channel); return the details for the manifest."""
    import nncf
    import openvino as ov

    from .openvino import shared_core

    spec = BACKENDS["openvino-int8"]
    settings = spec.recipe
    mode = getattr(nncf.CompressWeightsMode, settings["weights"].upper())  # INT8_ASYM
    # NNCF logs, and draws a progress bar on stdout, which carries a command's results
    with warnings.catch_warnings(), quiet_tools(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = shared_core().read_model(str(base.model_file))
        ov.save_model(nncf.compress_weights(model, mode=mode), str(out / "model.xml"), compress_to_fp16=False)
    share_files(base.folder, out)
    check = verify_export(out, spec, base.settings, np.load(base.folder / "reference.npy"), strict=True)
    group_size = settings["activation_group_size"]
    options = {"weights": f"{settings['weights']}, per output channel (NNCF compress_weights)",
               "activations": f"int8 at run time, per token in groups of {group_size}",
               "activation_group_size": group_size, "nncf": version("nncf")}
    return {**{k: v for k, v in base.manifest["export"].items() if k != "check"}, "quantization": options,
            "check": check}
