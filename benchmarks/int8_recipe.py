"""Which matmuls the ``onnx-int8`` backend quantizes: recipes compared on STSb dev, against ONNX float32.

Every recipe starts from frasi's fused float32 ONNX export of the model and quantizes
with ONNX Runtime's ``quantize_dynamic`` (int8 weights per channel, activations per
batch); the embedding tables are int8 in all of them. They differ in what stays float32:

* ``none``: nothing: every weight matmul and the fused attention op are int8;
* ``edges``: every matmul of the first and the last layer;
* ``ffn-down``: the matmuls that read a GELU output (the FFN down-projection); everything
  else, the fused attention op included, is int8 (frasi's recipe before this benchmark);
* ``ffn-down+edges``: also every matmul of the first and the last layer;
* ``ffn-down+attention``: also the fused attention op (QKV) of every layer;
* ``frasi``: all three (``frasi.backends.int8.int8_plan``): int8 takes the middle
  layers' attention-output and FFN-up matmuls.

Measured on the dev files of stsb_multi_mt (en, es, it), so that the choice never reads a
test score: Spearman x100 of cosine against the gold scores and its change from float32,
and the cosine between each dev text's int8 and float32 embedding (mean and worst).
Speed: texts/s on 512 short dev texts, interleaved rounds, as a ratio to ONNX float32.
The test-set numbers of the chosen recipe, against sentence-transformers, come from
``speed.py``.

    PYTHONPATH=src python benchmarks/int8_recipe.py                  # both models, ~15 min on 2 cores
    PYTHONPATH=src python benchmarks/int8_recipe.py --models all-MiniLM-L6-v2

Results: benchmarks/results/int8_recipe.json, or --output.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import _common as C
from frasi import Encoder
from frasi.errors import FrasiError
from frasi.metrics import spearman
from frasi.similarity import similarity_pairwise as paired_scores

logger = logging.getLogger("int8_recipe")

MODELS = ("multilingual-e5-small", "all-MiniLM-L6-v2")
LANGS = ("en", "es", "it")
RECIPES = ("none", "edges", "ffn-down", "ffn-down+edges", "ffn-down+attention", "frasi")
TARGETS = {"stsb_loss": 0.5, "mean_cosine": 0.995, "worst_cosine": 0.98}


def recipe_nodes(graph: Any, recipe: str) -> tuple[list[str], list[str]]:
    """(op types, node names) that ``recipe`` quantizes in ``graph``."""
    from frasi.backends.int8 import ACTIVATIONS, LAYER_PATTERN, int8_plan

    tables = [n.name for n in graph.node if n.op_type == "EmbedLayerNormalization"]
    if recipe == "frasi":
        return ["MatMul", "EmbedLayerNormalization"], int8_plan(graph)[0] + tables
    producer = {out: n.op_type for n in graph.node for out in n.output}
    weights = {init.name for init in graph.initializer}
    nodes = [n for n in graph.node if (n.op_type == "MatMul" and n.input[1] in weights)
             or (n.op_type == "Attention" and "attention" not in recipe)]
    layer = {n.name: int(m.group(1)) for n in nodes if (m := LAYER_PATTERN.search(n.name))}
    attention_layer = {n.name: int(n.name.rsplit("_", 1)[1]) for n in nodes if n.op_type == "Attention"}
    layer.update(attention_layer)  # fused attention nodes are named Attention_<layer>
    edges = {min(layer.values()), max(layer.values())} if "edges" in recipe and layer else set()
    keep_ffn_down = "ffn-down" in recipe
    chosen = [n.name for n in nodes
              if not (keep_ffn_down and producer.get(n.input[0]) in ACTIVATIONS) and layer.get(n.name) not in edges]
    ops = ["MatMul", "EmbedLayerNormalization"] + ([] if "attention" in recipe else ["Attention"])
    return ops, chosen + tables


def quantize(source: Path, out: Path, recipe: str) -> int:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from frasi.backends.artefact import quiet_tools

    graph = onnx.load(str(source), load_external_data=False).graph
    ops, nodes = recipe_nodes(graph, recipe)
    with warnings.catch_warnings(), quiet_tools():  # as frasi's export quantizes
        warnings.simplefilter("ignore")
        quantize_dynamic(str(source), str(out), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=ops, nodes_to_quantize=nodes,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return len(nodes)


def with_backend(encoder: Encoder, backend: Any) -> Encoder:
    """A copy of a runtime-backed ``encoder`` that runs ``backend`` (same tokenizer, batching and settings)."""
    copy = object.__new__(Encoder)  # benchmark only: swap the session, keep everything else
    copy.__dict__.update(encoder.__dict__)
    copy._runtime = dataclasses.replace(encoder._runtime, backend=backend)
    return copy


def with_model_file(encoder: Encoder, model_file: Path, name: str) -> Encoder:
    """A copy of an ``onnx-int8`` encoder that runs ``model_file``."""
    from frasi.backends.onnx import OnnxBackend

    return with_backend(encoder, OnnxBackend(model_file, name=name, threads=encoder.threads))


def stsb(vectors: np.ndarray, index: dict[str, int], pairs: list[tuple[str, str, float]]) -> float:
    cos = paired_scores(vectors[[index[p[0]] for p in pairs]], vectors[[index[p[1]] for p in pairs]])
    return 100 * spearman(cos, np.array([p[2] for p in pairs]))


def against_reference(encoders: dict[str, Encoder], reference: str, dev: dict[str, list[tuple[str, str, float]]],
                      *, rounds: int, speed_key: str = "speed_vs_float32") -> tuple[dict[str, Any], int, int]:
    """Each encoder against ``encoders[reference]`` on the ``dev`` pairs: STSb Spearman and its change, the
    cosine to the reference's vector of every dev text, texts/s on 512 short dev texts (interleaved rounds,
    median) and whether the quality targets are met. Returns (results, dev texts, speed texts)."""
    texts = sorted({t for pairs in dev.values() for p in pairs for t in p[:2]})
    index = {t: i for i, t in enumerate(texts)}
    vectors, results = {}, {}
    for name, encoder in encoders.items():
        logger.info("%s: encoding %d dev texts", name, len(texts))
        vectors[name] = encoder.encode(texts, show_progress=False)
    base = {lang: stsb(vectors[reference], index, pairs) for lang, pairs in dev.items()}
    for name in encoders:
        cos = paired_scores(vectors[name], vectors[reference])
        scores = {lang: stsb(vectors[name], index, pairs) for lang, pairs in dev.items()}
        results[name] = {"stsb_dev_spearman": {k: round(s, 3) for k, s in scores.items()},
                         "stsb_dev_delta": {k: round(scores[k] - base[k], 3) for k in scores},
                         "cosine_to_float32": {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5)}}
    short = sorted(texts, key=len)[len(texts) // 4:][:512]  # short sentences, not the very shortest
    timings: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(rounds):
        for name, encoder in encoders.items():
            encoder.encode(short[:16], show_progress=False)
            start = time.perf_counter()
            encoder.encode(short, show_progress=False)
            timings[name].append(len(short) / (time.perf_counter() - start))
    base_speed = float(np.median(timings[reference]))
    for name in encoders:
        speed = float(np.median(timings[name]))
        r = results[name]
        r.update({"texts_per_second": round(speed, 1), speed_key: round(speed / base_speed, 3),
                  "timings": [round(t, 1) for t in timings[name]]})
        if name != reference:
            r["meets_quality_targets"] = bool(
                max(-d for d in r["stsb_dev_delta"].values()) <= TARGETS["stsb_loss"]
                and r["cosine_to_float32"]["mean"] >= TARGETS["mean_cosine"]
                and r["cosine_to_float32"]["min"] >= TARGETS["worst_cosine"])
    return results, len(texts), len(short)


def run_model(model: str, data_dir: Path, threads: int, rounds: int, work: Path) -> dict[str, Any]:
    dev = {lang: C.read_stsb_multi_mt(data_dir, lang, "dev") for lang in LANGS}
    reference = Encoder.load(model, backend="onnx", threads=threads)
    int8 = Encoder.load(model, backend="onnx-int8", threads=threads)
    source = reference._runtime.folder / "model.onnx"
    encoders: dict[str, Encoder] = {"float32": reference}
    quantized_nodes = {}
    for recipe in RECIPES:
        out = work / f"{model}-{recipe}.onnx"
        quantized_nodes[recipe] = quantize(source, out, recipe)
        encoders[recipe] = with_model_file(int8, out, recipe)
    results, n_texts, n_short = against_reference(encoders, "float32", dev, rounds=rounds)
    for name, r in results.items():
        r["quantized_nodes"] = quantized_nodes.get(name, 0)
    return {"n_dev_texts": n_texts, "n_speed_texts": n_short, "recipes": results}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this script shares with openvino_int8.py: data, output, models, threads, rounds."""
    parser.add_argument("--data-dir", type=Path, default=C.DEFAULT_DATA_DIR)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started, load = C.now_utc(), C.load_average()
    models = {}
    try:
        with tempfile.TemporaryDirectory(prefix="frasi-int8-") as work:
            for model in args.models:
                models[model] = run_model(model, args.data_dir, args.threads, args.rounds, Path(work))
    except FrasiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [[model, name, *(r["stsb_dev_delta"][lang] for lang in LANGS), r["cosine_to_float32"]["mean"],
             r["cosine_to_float32"]["min"], r["speed_vs_float32"], r.get("meets_quality_targets", "")]
            for model, m in models.items() for name, r in m["recipes"].items()]
    print(C.format_table(["model", "recipe", *(f"d {lang}" for lang in LANGS), "mean cos", "worst cos",
                          "speed", "quality ok"], rows))
    C.save_run("int8_recipe", __doc__.split("\n\n")[0], started, load,
               {"models": args.models, "threads": args.threads, "rounds": args.rounds,
                "data": "stsb_multi_mt dev, en es it", "targets": TARGETS}, args.output, models=models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
