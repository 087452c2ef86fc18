"""Would an ``openvino-int8`` backend pay on this CPU? NNCF's int8 OpenVINO model against OpenVINO float32.

frasi has no ``openvino-int8`` backend. This benchmark records why, with the method
OpenVINO documents for int8 transformers: NNCF post-training quantization
(``nncf.quantize``, ``model_type=TRANSFORMER``: int8 weights and activations, SmoothQuant
and bias correction) of frasi's cached float32 OpenVINO export, calibrated on STSb
**train** sentences (``--calibration`` per language, en/es/it).

Measured against the float32 export, on the dev files of stsb_multi_mt (en, es, it):
Spearman x100 of cosine and its change, and the cosine between each dev text's int8 and
float32 embedding (mean, worst). Speed: texts/s on 512 short dev texts, interleaved
rounds, as a ratio to OpenVINO float32; frasi's ``onnx-int8`` backend runs alongside for
reference. Same tokenizer, batching and thread budget for all three.

Needs ``pip install nncf==3.4.0`` (benchmark only, not a frasi dependency).

    PYTHONPATH=src python benchmarks/openvino_int8.py            # both models, ~15-20 min on 2 cores
    PYTHONPATH=src python benchmarks/openvino_int8.py --models all-MiniLM-L6-v2

Results: benchmarks/results/openvino_int8.json, or --output.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as C
import numpy as np
from int8_recipe import (
    LANGS,
    TARGETS,
    add_arguments,
    against_reference,
    with_backend,
)

from frasi import Encoder
from frasi.errors import FrasiError

logger = logging.getLogger("openvino_int8")


def quantize(encoder: Encoder, calibration: list[str], out: Path) -> dict[str, Any]:
    """NNCF int8 quantization of ``encoder``'s float32 OpenVINO export, calibrated on ``calibration``."""
    import nncf
    import openvino as ov

    runtime = encoder._runtime
    prompted = [encoder.default_prompt + t for t in calibration]
    ids, _ = runtime.tokenizer.ids_and_truncated(prompted)
    samples = []
    for text_ids in ids:  # one text per sample: NNCF collects statistics per input
        samples.append({"input_ids": np.array([text_ids], dtype=np.int64),
                        "attention_mask": np.ones((1, len(text_ids)), dtype=np.int64)})
    model = ov.Core().read_model(str(runtime.folder / "model.xml"))
    start = time.perf_counter()
    quantized = nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(samples))
    seconds = time.perf_counter() - start
    ov.save_model(quantized, str(out))
    return {"nncf_version": nncf.__version__, "calibration_texts": len(samples), "seconds": round(seconds, 1),
            "model_type": "TRANSFORMER", "preset": "default (mixed for transformers)"}


def run_model(model: str, data_dir: Path, threads: int, rounds: int, calibration: int, work: Path) -> dict[str, Any]:
    from frasi.backends.openvino import OpenVinoBackend

    dev = {lang: C.read_stsb_multi_mt(data_dir, lang, "dev") for lang in LANGS}
    train_texts = [list(dict.fromkeys(t for p in C.read_stsb_multi_mt(data_dir, lang, "train") for t in p[:2]))
                   for lang in LANGS]
    calibration_texts = [t for texts_of_lang in train_texts for t in texts_of_lang[:calibration]]
    reference = Encoder.load(model, backend="openvino", threads=threads)
    int8_file = work / f"{model}-int8.xml"
    nncf_info = quantize(reference, calibration_texts, int8_file)
    int8 = with_backend(reference, OpenVinoBackend(int8_file, name="openvino-int8", threads=threads))
    encoders = {"openvino float32": reference, "openvino int8 (NNCF)": int8,
                "frasi onnx-int8": Encoder.load(model, backend="onnx-int8", threads=threads)}
    results, n_texts, n_short = against_reference(encoders, "openvino float32", dev, rounds=rounds,
                                                  speed_key="speed_vs_openvino_float32")
    return {"n_dev_texts": n_texts, "n_speed_texts": n_short, "nncf": nncf_info, "contenders": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--calibration", type=int, default=100, help="train sentences per language for calibration")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        import nncf  # noqa: F401
    except ImportError:
        print("error: this benchmark needs NNCF: pip install nncf==3.4.0", file=sys.stderr)
        return 1
    started, load = C.now_utc(), C.load_average()
    models = {}
    try:
        with tempfile.TemporaryDirectory(prefix="frasi-ov-int8-") as work:
            for model in args.models:
                models[model] = run_model(model, args.data_dir, args.threads, args.rounds, args.calibration,
                                          Path(work))
    except FrasiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [[model, name, *(r["stsb_dev_delta"][lang] for lang in LANGS), f'{r["cosine_to_float32"]["mean"]:.4f}',
             f'{r["cosine_to_float32"]["min"]:.4f}', r["texts_per_second"], r["speed_vs_openvino_float32"]]
            for model, m in models.items() for name, r in m["contenders"].items()]
    print(C.format_table(["model", "contender", *(f"d {lang}" for lang in LANGS), "mean cos", "worst cos",
                          "texts/s", "vs ov fp32"], rows, align="llrrrrrrr"))
    C.save_run("openvino_int8", __doc__.split("\n\n")[0], started, load,
               {"models": args.models, "threads": args.threads, "rounds": args.rounds,
                "calibration_per_language": args.calibration,
                "data": "stsb_multi_mt train (calibration), dev (scores, speed); en es it",
                "quality_targets": TARGETS}, args.output, models=models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
