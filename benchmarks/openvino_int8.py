"""How ``openvino-int8`` quantizes: int8 recipes for OpenVINO compared on STSb dev, against OpenVINO float32.

Every contender starts from frasi's cached float32 OpenVINO export of the model:

* ``wc-<mode>-g<N>``: NNCF weight compression (``nncf.compress_weights``, data-free; int8
  weights per output channel, ``asym`` with a zero point or ``sym``), run by the CPU
  plugin with dynamic quantization of the activations: int8 per token in groups of N
  values (``DYNAMIC_QUANTIZATION_GROUP_SIZE``). frasi's ``openvino-int8`` backend is one of
  these (the ``openvino-int8`` recipe's ``activation_group_size`` in ``frasi.backends.BACKENDS``, INT8_ASYM) and runs as
  ``frasi openvino-int8``, through the backend itself;
* ``nncf-ptq``: NNCF post-training quantization (``nncf.quantize``,
  ``model_type=TRANSFORMER``: int8 weights and static int8 activations, SmoothQuant, bias
  correction), calibrated on STSb **train** sentences (``--calibration`` per language);
* ``frasi onnx-int8``: the ONNX Runtime int8 backend, for reference.

Measured against the float32 export, on the dev files of stsb_multi_mt (en, es, it), so
that the choice never reads a test score: Spearman x100 of cosine and its change, and the
cosine between each dev text's int8 and float32 embedding (mean, worst). Speed: texts/s on
512 short dev texts, interleaved rounds, as a ratio to OpenVINO float32. Same tokenizer,
batching and thread budget for all. The test-set numbers of the chosen recipe, against
sentence-transformers, come from ``speed.py``. Int8 speed depends on the CPU: with VNNI
(int8 dot products) the int8 matmuls run several times faster than float32, without it
barely faster; the JSON records the CPU's flags.

NNCF is installed with ``frasi[openvino]``.

    PYTHONPATH=src python benchmarks/openvino_int8.py            # both models, ~20 min on 2 cores
    PYTHONPATH=src python benchmarks/openvino_int8.py --models all-MiniLM-L6-v2 --no-ptq

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

import numpy as np

import _common as C
from frasi import Encoder
from frasi.backends.openvino import shared_core
from frasi.errors import FrasiError
from int8_recipe import (
    LANGS,
    TARGETS,
    add_arguments,
    against_reference,
    with_backend,
)

logger = logging.getLogger("openvino_int8")

MODES = ("asym", "sym")
GROUP_SIZES = (32, 64, 128)


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
    model = shared_core().read_model(str(runtime.folder / "model.xml"))
    start = time.perf_counter()
    quantized = nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(samples))
    seconds = time.perf_counter() - start
    ov.save_model(quantized, str(out))
    return {"nncf_version": nncf.__version__, "calibration_texts": len(samples), "seconds": round(seconds, 1),
            "model_type": "TRANSFORMER", "preset": "default (mixed for transformers)"}


def compress(encoder: Encoder, mode: str, out: Path) -> None:
    """NNCF's data-free int8 weight compression of ``encoder``'s float32 OpenVINO export."""
    import nncf
    import openvino as ov

    model = shared_core().read_model(str(encoder._runtime.folder / "model.xml"))
    compressed = nncf.compress_weights(model, mode=getattr(nncf.CompressWeightsMode, f"INT8_{mode.upper()}"))
    ov.save_model(compressed, str(out), compress_to_fp16=False)


def run_model(model: str, data_dir: Path, threads: int, rounds: int, calibration: int, ptq: bool,
              work: Path) -> dict[str, Any]:
    from frasi.backends import BACKENDS
    from frasi.backends.openvino import OpenVinoBackend

    group_size = BACKENDS["openvino-int8"].recipe["activation_group_size"]

    dev = {lang: C.read_stsb_multi_mt(data_dir, lang, "dev") for lang in LANGS}
    reference = Encoder.load(model, backend="openvino", threads=threads)
    encoders: dict[str, Encoder] = {"openvino float32": reference,
                                    "frasi openvino-int8": Encoder.load(model, backend="openvino-int8",
                                                                        threads=threads)}
    for mode in MODES:
        weights = work / f"{model}-{mode}.xml"
        compress(reference, mode, weights)
        for group in GROUP_SIZES:
            if mode == "asym" and group == group_size:
                continue  # that is frasi's backend, run above
            name = f"wc-{mode}-g{group}"
            encoders[name] = with_backend(reference, OpenVinoBackend(weights, name=name, threads=threads,
                                                                     group_size=group))
    nncf_info = None
    if ptq:
        train_texts = [list(dict.fromkeys(t for p in C.read_stsb_multi_mt(data_dir, lang, "train") for t in p[:2]))
                       for lang in LANGS]
        calibration_texts = [t for texts_of_lang in train_texts for t in texts_of_lang[:calibration]]
        ptq_file = work / f"{model}-ptq.xml"
        nncf_info = quantize(reference, calibration_texts, ptq_file)
        encoders["nncf-ptq"] = with_backend(reference, OpenVinoBackend(ptq_file, name="nncf-ptq", threads=threads))
    encoders["frasi onnx-int8"] = Encoder.load(model, backend="onnx-int8", threads=threads)
    results, n_texts, n_short = against_reference(encoders, "openvino float32", dev, rounds=rounds,
                                                  speed_key="speed_vs_openvino_float32")
    return {"n_dev_texts": n_texts, "n_speed_texts": n_short, "frasi_group_size": group_size,
            "nncf_ptq": nncf_info, "contenders": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--calibration", type=int, default=100, help="train sentences per language for nncf-ptq")
    parser.add_argument("--no-ptq", dest="ptq", action="store_false", help="skip the nncf-ptq contender")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        import nncf  # noqa: F401
    except ImportError:
        print("error: this benchmark needs NNCF: pip install 'frasi[openvino]'", file=sys.stderr)
        return 1
    started, load = C.now_utc(), C.load_average()
    models = {}
    try:
        with tempfile.TemporaryDirectory(prefix="frasi-ov-int8-") as work:
            for model in args.models:
                models[model] = run_model(model, args.data_dir, args.threads, args.rounds, args.calibration,
                                          args.ptq, Path(work))
    except FrasiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [[model, name, *(r["stsb_dev_delta"][lang] for lang in LANGS), f'{r["cosine_to_float32"]["mean"]:.4f}',
             f'{r["cosine_to_float32"]["min"]:.4f}', r["texts_per_second"], r["speed_vs_openvino_float32"],
             r.get("meets_quality_targets", "")]
            for model, m in models.items() for name, r in m["contenders"].items()]
    print(C.format_table(["model", "contender", *(f"d {lang}" for lang in LANGS), "mean cos", "worst cos",
                          "texts/s", "vs ov fp32", "quality ok"], rows, align="llrrrrrrrl"))
    C.save_run("openvino_int8", __doc__.split("\n\n")[0], started, load,
               {"models": args.models, "threads": args.threads, "rounds": args.rounds,
                "calibration_per_language": args.calibration if args.ptq else None,
                "modes": MODES, "group_sizes": GROUP_SIZES,
                "data": "stsb_multi_mt train (nncf-ptq calibration), dev (scores, speed); en es it",
                "quality_targets": TARGETS}, args.output, models=models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
