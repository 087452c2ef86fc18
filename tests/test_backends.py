"""Tests for frasi.backends: every runtime agrees with torch, exports are cached and checked.

The tiny offline BERT is exported once per module into a module cache; the real models
(marked ``real``) once per session (e5 into ``FRASI_TEST_CACHE`` when set).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import frasi
from conftest import MIXED_TEXTS as TEXTS
from frasi import Encoder, compose
from frasi.backends import BACKEND_CHOICES, BACKENDS, backend_spec, check_threads
from frasi.backends import artefact as artefact_module
from frasi.backends import export as export_module
from frasi.backends import int8 as int8_module
from frasi.backends import tracing as tracing_module
from frasi.backends.exported import token_batches
from frasi.errors import InputError, MissingExtraError, ModelLoadError
from frasi.parity import check_parity

RUNTIMES = ["onnx", "onnx-int8", "openvino", "openvino-int8"]
LONG = " ".join(["hola mundo el gato la casa il cane the dog"] * 20)  # ~180 tokens: over 64


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def assert_agrees(backend: str, got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == np.float32
    if BACKENDS[backend].exact:
        assert np.abs(got - expected).max() < 1e-4
    else:
        assert cosines(got, expected).min() > 0.99


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("backend-cache")


@pytest.fixture(scope="module")
def composed_dir(tiny_encoder_dir, tmp_path_factory) -> Path:
    """CLS pooling, a Dense layer, normalisation and prompts: everything the export must carry."""
    model = compose(tiny_encoder_dir, pooling="cls", dense_dim=16, normalize=True,
                    prompts={"query": "hola: ", "passage": "ciao: "}, default_prompt_name="query")
    return model.save(tmp_path_factory.mktemp("composed") / "composed")


@pytest.fixture(scope="module", params=["tiny_st_dir", "composed_dir"])
def folder(request) -> Path:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def reference(folder) -> Encoder:
    return Encoder.load(folder, backend="torch")


@pytest.fixture(scope="module", params=RUNTIMES)
def runtime(request, folder, module_cache) -> Encoder:
    return Encoder.load(folder, backend=request.param, threads=1, cache_folder=module_cache)


# ---------------------------------------------------------------- registry and arguments


def test_registry():
    assert list(BACKENDS) == ["torch", "onnx", "onnx-int8", "openvino", "openvino-int8"]
    assert backend_spec("onnx-int8").extra == "onnx" and backend_spec("openvino").extra == ""  # a base dependency
    assert backend_spec("openvino-int8").export_needs == ("nncf", "int8") and not backend_spec("openvino-int8").exact
    assert backend_spec("auto") is BACKENDS["openvino"] and BACKEND_CHOICES[0] == "auto"
    with pytest.raises(InputError, match="backend must be one of auto, torch, onnx"):
        backend_spec("tensorrt")
    assert check_threads(None) >= 1 and check_threads(3) == 3


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"backend": "onnxx"}, "backend must be one of"),
    ({"backend": "onnx", "fallback": "cuda"}, "backend must be one of"),
    ({"threads": 0}, "threads must be a positive integer"),
    ({"threads": 1.5}, "threads must be a positive integer"),
    ({"backend": "onnx", "device": "cuda"}, "runs on the CPU"),
])
def test_bad_load_arguments(tiny_st_dir, tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        Encoder.load(tiny_st_dir, cache_folder=tmp_path, **kwargs)


def test_token_batches_sort_by_length_within_budget():
    lengths = np.array([5, 40, 7, 40, 3, 12, 9])
    batches = token_batches(lengths, max_tokens=64, max_texts=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert list(lengths[flat]) == sorted(lengths, reverse=True)
    for batch in batches:
        assert len(batch) <= 3 and (len(batch) == 1 or len(batch) * lengths[batch].max() <= 64)


# ---------------------------------------------------------------- agreement with torch


def test_runtime_agrees_with_torch(runtime, reference):
    assert_agrees(runtime.backend, runtime.encode(TEXTS), reference.encode(TEXTS))
    assert_agrees(runtime.backend, runtime.encode(TEXTS, batch_size=2), reference.encode(TEXTS))
    one = runtime.encode("hola mundo")
    assert one.shape == (reference.dimension,) and one.dtype == np.float32
    assert_agrees(runtime.backend, one[None], reference.encode(["hola mundo"]))


def test_openvino_int8_vectors_do_not_depend_on_the_other_texts(module_cache, tiny_st_dir):
    """int8 activations would move with the padding a longer neighbour brings (up to 0.005 on e5): openvino-int8
    batches texts of equal length only, so each text gets exactly the vector it gets alone."""
    encoder = Encoder.load(tiny_st_dir, backend="openvino-int8", threads=1, cache_folder=module_cache)
    alone = np.stack([encoder.encode(t) for t in [*TEXTS, LONG]])
    assert np.array_equal(encoder.encode([*TEXTS, LONG]), alone)
    reordered = encoder.encode([LONG, *reversed(TEXTS)])
    assert np.array_equal(reordered, np.stack([alone[-1], *alone[-2::-1]]))


def test_runtime_keeps_the_model_settings(runtime, reference):
    assert (runtime.dimension, runtime.max_length, runtime.normalizes) == (
        reference.dimension, reference.max_length, reference.normalizes)
    assert (runtime.prompts, runtime.default_prompt) == (reference.prompts, reference.default_prompt)
    assert runtime.threads == 1 and repr(runtime).endswith(f"backend={runtime.backend!r})")
    info = runtime.backend_info
    assert info["backend"] == runtime.backend and info["modules"] == reference.backend_info["modules"]
    assert info["runtime"] == BACKENDS[runtime.backend].runtime and reference.backend_info["backend"] == "torch"


def test_runtime_prompts_normalize_and_long_texts(runtime, reference):
    for kwargs in ({"prompt_name": "passage"}, {"prompt": ""}, {"normalize": True},
                   {"long_texts": "chunk", "chunk_overlap": 8}):
        assert_agrees(runtime.backend, runtime.encode([*TEXTS, LONG], **kwargs),
                      reference.encode([*TEXTS, LONG], **kwargs))


def test_runtime_truncates_like_torch(runtime, reference, caplog):
    assert runtime.count_truncated([*TEXTS, LONG]) == reference.count_truncated([*TEXTS, LONG]) == 1
    with caplog.at_level(logging.WARNING, logger="frasi"):
        got = runtime.encode([LONG, "hola"])
    assert "1 of 2 texts are longer than 64 tokens" in caplog.text
    assert_agrees(runtime.backend, got, reference.encode([LONG, "hola"]))


def test_runtime_counts_tokens_like_torch(runtime, reference):
    texts = [*TEXTS, LONG]
    assert runtime.count_tokens(texts) == reference.count_tokens(texts)
    assert runtime.count_tokens(texts, prompt="") == reference.count_tokens(texts, prompt="")


def test_runtime_tokenize_matches_torch(runtime, reference):
    for text in ("Hola mundo gatos", LONG):
        assert runtime.tokenize(text) == reference.tokenize(text)
    assert runtime.split_long_text(LONG, overlap=8) == reference.split_long_text(LONG, overlap=8)


def test_runtime_quantized_precisions(runtime, reference):
    from sentence_transformers.quantization import quantize_embeddings

    exact = BACKENDS[runtime.backend].exact
    for precision in ("ubinary", "int8"):
        got, want = runtime.encode(TEXTS, precision=precision), reference.encode(TEXTS, precision=precision)
        assert got.shape == want.shape and got.dtype == want.dtype
        same = np.mean(np.abs(got.astype(np.int16) - want.astype(np.int16)) <= 1)  # a bit or a level off at most
        if exact or precision == "ubinary":
            assert same > (0.99 if exact else 0.8)  # random vectors: ~0.01
        else:  # int8 ranges span the texts encoded together: on the tiny models' near-identical vectors an
            # approximate backend's small float error moves codes, so its codes are its own vectors' codes
            assert np.array_equal(got, quantize_embeddings(runtime.encode(TEXTS), precision=precision))


def test_runtime_saves_through_torch(module_cache, tiny_st_dir, tmp_path):
    encoder = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=module_cache)
    saved = encoder.save(tmp_path / "saved")
    np.testing.assert_allclose(Encoder.load(saved).encode(TEXTS), encoder.encode(TEXTS), atol=1e-4)


# ---------------------------------------------------------------- threads


def test_threads_are_honoured(tiny_st_dir, module_cache, monkeypatch):
    import torch

    onnx = Encoder.load(tiny_st_dir, backend="onnx", threads=1, cache_folder=module_cache)
    assert onnx.runtime.backend.session.get_session_options().intra_op_num_threads == 1
    for backend, group_size in (("openvino", 0), ("openvino-int8", 128)):
        compiled = Encoder.load(tiny_st_dir, backend=backend, threads=1, cache_folder=module_cache
                                ).runtime.backend._request.get_compiled_model()
        assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
        assert compiled.get_property("DYNAMIC_QUANTIZATION_GROUP_SIZE") == group_size
    torch_encoder = Encoder.load(tiny_st_dir, threads=1)
    seen = []
    original = torch_encoder.model.encode

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(torch_encoder.model, "encode", spy)
    before = torch.get_num_threads()
    torch_encoder.encode(TEXTS)
    assert seen == [1] and torch.get_num_threads() == before


# ---------------------------------------------------------------- the export cache


def test_export_is_cached_and_reused(tiny_st_dir, tmp_path, monkeypatch):
    first = Encoder.load(tiny_st_dir, backend="onnx-int8", cache_folder=tmp_path)
    folders = sorted("/".join(p.parts[-2:]) for p in (tmp_path / "backends").glob("*/*/*"))
    version = export_module.runtime_version("onnxruntime")
    assert folders == [f"onnxruntime-{version}/fp32", f"onnxruntime-{version}/int8"]  # int8 is made from fp32
    manifest = json.loads((first.runtime.artefact.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["backend"] == "onnx-int8" and manifest["model"]["max_length"] == 64
    assert set(manifest["source"]["files"]) >= {"model.safetensors", "modules.json", "config.json"}
    assert not list((tmp_path / "backends").rglob(".*"))  # no temporary folder left behind

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(export_module, "export_float32", no_export)
    monkeypatch.setattr(export_module, "quantize_onnx", no_export)
    again = Encoder.load(tiny_st_dir, backend="onnx-int8", cache_folder=tmp_path)
    np.testing.assert_array_equal(again.encode(TEXTS), first.encode(TEXTS))


def test_int8_plan_keeps_attention_ffn_down_and_the_edge_layers_float32():
    import onnx
    from onnx import TensorProto, helper

    nodes, weights, x = [], [], "x"
    for layer in range(4):
        p = f"/encoder/layer.{layer}"
        nodes += [helper.make_node("Attention", [x, f"{p}.qkv"], [f"{p}.a"], name=f"Attention_{layer}"),
                  helper.make_node("MatMul", [f"{p}.a", f"{p}.wo"], [f"{p}.o"],
                                   name=f"{p}/attention/output/dense/MatMul"),
                  helper.make_node("MatMul", [f"{p}.o", f"{p}.wi"], [f"{p}.i"], name=f"{p}/intermediate/dense/MatMul"),
                  helper.make_node("BiasGelu", [f"{p}.i", f"{p}.b"], [f"{p}.g"], name=f"{p}/gelu"),
                  helper.make_node("MatMul", [f"{p}.g", f"{p}.wd"], [f"{p}.d"], name=f"{p}/output/dense/MatMul")]
        weights += [f"{p}.qkv", f"{p}.wo", f"{p}.wi", f"{p}.b", f"{p}.wd"]
        x = f"{p}.d"
    nodes.append(helper.make_node("MatMul", [x, x], ["scores"], name="activation_times_activation"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1])],
                              initializer=[helper.make_tensor(w, TensorProto.FLOAT, [1], [1.0]) for w in weights])
    quantized, kept = int8_module.int8_plan(onnx.helper.make_model(graph).graph)
    assert quantized == [f"/encoder/layer.{i}/{part}/dense/MatMul" for i in (1, 2) for part in ("attention/output",
                                                                                                 "intermediate")]
    assert len(kept) == 4 + 4  # every FFN down-projection, and layers 0 and 3 whole
    assert "activation_times_activation" not in quantized + kept and not any("Attention" in n for n in quantized)


def _count_exports(monkeypatch) -> list[str]:
    calls: list[str] = []
    original = export_module.export_float32

    def counting(resolved, spec, out):
        calls.append(spec.name)
        return original(resolved, spec, out)

    monkeypatch.setattr(export_module, "export_float32", counting)
    return calls


def test_stale_export_is_redone(tiny_st_dir, tmp_path, monkeypatch, caplog):
    import shutil

    model = shutil.copytree(tiny_st_dir, tmp_path / "model")
    cache = tmp_path / "cache"
    calls = _count_exports(monkeypatch)
    Encoder.load(model, backend="onnx", cache_folder=cache)
    Encoder.load(model, backend="onnx", cache_folder=cache)
    assert calls == ["onnx"]
    # the model's files change: the export no longer matches its source
    config = model / "config_sentence_transformers.json"
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="frasi"):
        encoder = Encoder.load(model, backend="onnx", cache_folder=cache)
    assert calls == ["onnx", "onnx"] and "is stale (config_sentence_transformers.json changed size)" in caplog.text
    # a manifest written by another runtime version
    manifest_file = encoder.runtime.artefact.folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["runtime_version"] = "0.0.1"
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="frasi"):
        Encoder.load(model, backend="onnx", cache_folder=cache)
    assert calls == ["onnx"] * 3 and "runtime_version is '0.0.1'" in caplog.text


def test_openvino_int8_export_with_another_group_size_is_redone(tiny_st_dir, tmp_path, monkeypatch, caplog):

    calls: list[str] = []
    original = export_module.compress_openvino

    def counting(base, out):
        calls.append("compress")
        return original(base, out)

    monkeypatch.setattr(export_module, "compress_openvino", counting)
    first = Encoder.load(tiny_st_dir, backend="openvino-int8", cache_folder=tmp_path)
    Encoder.load(tiny_st_dir, backend="openvino-int8", cache_folder=tmp_path)
    assert calls == ["compress"] and first.backend_info["recipe"]["activation_group_size"] == 128
    monkeypatch.setitem(BACKENDS["openvino-int8"].recipe, "activation_group_size", 32)  # a frasi with another
    with caplog.at_level(logging.WARNING, logger="frasi"):
        again = Encoder.load(tiny_st_dir, backend="openvino-int8", cache_folder=tmp_path)
    assert calls == ["compress", "compress"] and "recipe is" in caplog.text
    assert again.backend_info["recipe"]["activation_group_size"] == 32  # so cached vectors are keyed apart
    assert again.backend_info["quantization"]["activation_group_size"] == 32


def test_damaged_export_is_redone(tiny_st_dir, tmp_path, monkeypatch):
    calls = _count_exports(monkeypatch)
    encoder = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    (encoder.runtime.artefact.folder / "model.onnx").write_bytes(b"not a model")
    again = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert calls == ["onnx", "onnx"]
    np.testing.assert_array_equal(again.encode(TEXTS), encoder.encode(TEXTS))


def test_export_damaged_in_place_is_redone(tiny_st_dir, tmp_path, monkeypatch, caplog):
    """Same size, different bytes: the recorded SHA-256 catches it (the file's mtime moved)."""
    calls = _count_exports(monkeypatch)
    encoder = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    model_file = encoder.runtime.artefact.folder / "model.onnx"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    model_file.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="frasi"):
        again = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert calls == ["onnx", "onnx"] and "model.onnx is damaged (its SHA-256 changed)" in caplog.text
    np.testing.assert_array_equal(again.encode(TEXTS), encoder.encode(TEXTS))


def test_an_export_clears_what_a_crashed_export_left(tiny_st_dir, tmp_path):
    from frasi.sources import resolve

    folder = export_module.artefact_folder(resolve(tiny_st_dir), BACKENDS["onnx"], cache_folder=tmp_path)
    left = folder.parent / f".{folder.name}.k2j4x9.tmp"  # as an interrupted export leaves it
    left.mkdir(parents=True)
    (left / "raw.onnx").write_bytes(b"half")
    Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert not left.exists() and (folder / "manifest.json").is_file()


@pytest.mark.parametrize("content", ["[1, 2]", '{"format": 2}'])
def test_malformed_manifest_means_stale(tiny_st_dir, tmp_path, monkeypatch, content):
    calls = _count_exports(monkeypatch)
    encoder = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    (encoder.runtime.artefact.folder / "manifest.json").write_text(content, encoding="utf-8")
    Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert calls == ["onnx", "onnx"]


def test_runtime_version_of_a_build_installed_under_another_name(monkeypatch):
    import importlib.metadata

    import onnxruntime

    real = importlib.metadata.version

    def version(name):
        if name == "onnxruntime":  # as if installed as onnxruntime-gpu or -openvino
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert export_module.runtime_version("onnxruntime") == onnxruntime.__version__


def test_runtime_truncates_on_the_side_the_tokenizer_does(tiny_st_dir, tmp_path):
    import shutil

    model = shutil.copytree(tiny_st_dir, tmp_path / "model")
    config_file = model / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config_file.write_text(json.dumps({**config, "truncation_side": "left"}), encoding="utf-8")
    torch_encoder = Encoder.load(model)
    assert torch_encoder.model.tokenizer.truncation_side == "left"
    runtime = Encoder.load(model, backend="onnx", cache_folder=tmp_path / "cache")
    long = LONG + " fin del texto"
    np.testing.assert_allclose(runtime.encode([long]), torch_encoder.encode([long]), atol=1e-4)


# ---------------------------------------------------------------- failures and fallback


@pytest.mark.parametrize(("backend", "package", "fix"), [("onnx-int8", "onnxruntime", "pip install 'frasi[onnx]'"),
                                                        ("openvino", "openvino", "reinstall frasi"),
                                                        ("openvino-int8", "openvino", "reinstall frasi"),
                                                        ("openvino-int8", "nncf", "pip install 'frasi[int8]'")])
def test_missing_runtime_names_the_extra(tiny_st_dir, tmp_path, monkeypatch, backend, package, fix):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if not installed
    with pytest.raises(MissingExtraError) as info:
        Encoder.load(tiny_st_dir, backend=backend, cache_folder=tmp_path)
    assert f"the {backend} backend" in str(info.value) and fix in str(info.value)
    assert not (tmp_path / "backends").exists()  # nothing exported for a runtime that is missing


def test_fallback_only_when_asked(tiny_st_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError):
        Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    with caplog.at_level(logging.WARNING, logger="frasi"):
        encoder = Encoder.load(tiny_st_dir, backend="onnx", fallback="torch", cache_folder=tmp_path)
    assert encoder.backend == "torch" and encoder.backend_note.startswith("onnx unavailable: the onnx backend needs")
    assert "running tiny-st on torch (onnx unavailable" in caplog.text


def test_failed_export_is_a_clear_error(tiny_st_dir, tmp_path, monkeypatch):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate\nlong traceback")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ModelLoadError, match=r"cannot export tiny-st to ONNX: unsupported operator "
                                             r"aten::frobnicate; use backend='torch'$"):
        Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert Encoder.load(tiny_st_dir, backend="onnx", fallback="torch", cache_folder=tmp_path).backend == "torch"
    written = [p.name for p in (tmp_path / "backends").rglob("*") if p.is_file()]
    assert written == ["fp32.failed.json"]  # nothing half-written; the failure, so it is not retried every time
    monkeypatch.undo()  # the exporter works again, but nothing changed for the record: the same error at once
    with pytest.raises(ModelLoadError, match="aten::frobnicate"):
        Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)


@pytest.mark.parametrize(("backend", "module", "step"), [("onnx-int8", export_module, "quantize_onnx"),
                                                         ("openvino", tracing_module, "_to_openvino"),
                                                         ("openvino-int8", export_module, "compress_openvino")])
def test_a_failing_converter_or_quantizer_is_a_clear_error(tiny_st_dir, tmp_path, monkeypatch, backend, module, step):
    def broken(*args, **kwargs):
        raise RuntimeError("converter blew up\nlong traceback")

    monkeypatch.setattr(module, step, broken)
    with pytest.raises(ModelLoadError, match=rf"cannot export tiny-st for the {backend} backend \(RuntimeError: "
                                             r"converter blew up\); use backend='torch'$"):
        Encoder.load(tiny_st_dir, backend=backend, cache_folder=tmp_path)
    assert Encoder.load(tiny_st_dir, backend=backend, fallback="torch", cache_folder=tmp_path).backend == "torch"


def test_a_fused_graph_the_runtime_cannot_run_falls_back_to_the_plain_graph(tiny_st_dir, tmp_path, monkeypatch,
                                                                              caplog):
    real = tracing_module.verify_export

    def verify(folder, spec, settings, reference, *, strict):
        if not strict:  # the check of the fused graph
            raise RuntimeError("unsupported fused op")
        return real(folder, spec, settings, reference, strict=strict)

    monkeypatch.setattr(tracing_module, "verify_export", verify)
    with caplog.at_level(logging.WARNING, logger="frasi"):
        encoder = Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert encoder.runtime.artefact.manifest["export"]["fused"] is False
    assert "cannot run the fused graph" in caplog.text
    np.testing.assert_allclose(encoder.encode(TEXTS), Encoder.load(tiny_st_dir).encode(TEXTS), atol=1e-4)


def test_export_that_disagrees_with_torch_is_refused(tiny_st_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(artefact_module, "EXACT_TOLERANCE", 0.0)  # no graph can pass
    with pytest.raises(ModelLoadError, match="the onnx export disagrees with torch on probe texts"):
        Encoder.load(tiny_st_dir, backend="onnx", cache_folder=tmp_path)
    assert [p.name for p in (tmp_path / "backends").rglob("*") if p.is_file()] == ["fp32.failed.json"]


# ---------------------------------------------------------------- no torch on a warm cache


def test_cached_runtime_loads_without_torch(tiny_st_dir, module_cache):
    Encoder.load(tiny_st_dir, backend="onnx-int8", cache_folder=module_cache)  # warm the cache
    code = (
        "import sys; from frasi import Encoder; "
        f"e = Encoder.load({str(tiny_st_dir)!r}, backend='onnx-int8', cache_folder={str(module_cache)!r}); "
        "v = e.encode('hola mundo'); e.tokenize('hola'); "
        "print(v.shape, sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(frasi.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(32,) []"


def test_openvino_encoders_freed_in_any_order_leave_signals_working(tiny_st_dir, module_cache):
    """Two OpenVINO Cores freed first-made-first left the CPU plugin's alternate signal stack
    freed, and the CLI's SIGTERM handler then crashed the process (exit 139)."""
    for backend in ("openvino", "openvino-int8"):
        Encoder.load(tiny_st_dir, backend=backend, cache_folder=module_cache)  # warm the cache
    code = (
        "import gc, os, signal, time; from frasi import Encoder; "
        f"a = Encoder.load({str(tiny_st_dir)!r}, backend='openvino', cache_folder={str(module_cache)!r}); "
        "a.encode('hola'); "
        f"b = Encoder.load({str(tiny_st_dir)!r}, backend='openvino-int8', cache_folder={str(module_cache)!r}); "
        "b.encode('hola'); del a; gc.collect(); del b; gc.collect()\n"
        "def stop(signum, frame): raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "try:\n    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "except KeyboardInterrupt:\n    print('handled')"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(frasi.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert done.stdout.strip() == "handled"


# ---------------------------------------------------------------- parity check


def test_check_parity(tiny_st_dir, module_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    pairs = [("hola mundo", "ciao mondo", 4.0), ("el gato", "il cane", 2.5), ("la casa", "the house", 4.5),
             ("hello world", "the dog", 0.5)]
    rows = check_parity(str(tiny_st_dir), ["onnx", "onnx-int8", "openvino", "torch"], TEXTS, stsb=pairs,
                        threads=1, cache_folder=module_cache)
    by_name = {r["backend"]: r for r in rows}
    assert [r["backend"] for r in rows] == ["torch", "onnx", "onnx-int8", "openvino"]
    assert by_name["torch"]["mean_cosine"] == pytest.approx(1.0) and by_name["torch"]["stsb_delta"] == 0
    assert by_name["onnx"]["max_abs_diff"] < 1e-4 and abs(by_name["onnx"]["stsb_delta"]) < 1e-6
    assert by_name["onnx-int8"]["min_cosine"] > 0.99 and by_name["onnx-int8"]["worst_text"] in TEXTS
    assert by_name["openvino"]["status"] == "unavailable" and "reinstall frasi" in by_name["openvino"]["error"]
    with pytest.raises(InputError, match="expected at least 3"):
        check_parity(str(tiny_st_dir), ["torch"], TEXTS, stsb=pairs[:2], cache_folder=module_cache)


def test_check_parity_says_once_that_texts_were_truncated(tiny_st_dir, module_cache, caplog):
    long_text = " ".join(["palabra"] * 200)  # over the tiny model's 64 tokens
    with caplog.at_level(logging.WARNING, logger="frasi"):
        check_parity(str(tiny_st_dir), ["torch", "onnx"], [*TEXTS, long_text], threads=1, cache_folder=module_cache)
    said = [r.getMessage() for r in caplog.records if "were truncated" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("1 of")


# ---------------------------------------------------------------- real models


REAL_TEXTS = [
    "hola mundo",
    "¿Dónde está la estación de tren? Está a dos calles de aquí.",
    "Il gatto dorme sul divano mentre il cane gioca in giardino.",
    "The stock market fell sharply today after the announcement of new tariffs.",
    " ".join(["The committee will meet again next week to review the budget and the new hiring plan."] * 12),
]


@pytest.fixture(scope="session")
def real_cache(frasi_cache) -> Path:
    return frasi_cache


@pytest.mark.real
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "openvino", "openvino-int8"])
@pytest.mark.parametrize("model", ["minilm", "e5"])
def test_real_model_agrees_with_torch(request, model, backend, real_cache):
    reference = request.getfixturevalue(model)
    source = reference.path if model == "e5" else "all-MiniLM-L6-v2"
    runtime = Encoder.load(source, backend=backend, threads=2, cache_folder=real_cache)
    assert (runtime.prompts, runtime.default_prompt, runtime.max_length) == (
        reference.prompts, reference.default_prompt, reference.max_length)
    got, expected = runtime.encode(REAL_TEXTS), reference.encode(REAL_TEXTS)
    if BACKENDS[backend].exact:
        assert np.abs(got - expected).max() < 1e-4
    else:
        assert cosines(got, expected).mean() > 0.995 and cosines(got, expected).min() > 0.98
    if backend == "onnx-int8":
        layers = 12 if model == "e5" else 6
        # the middle layers: attention-output and FFN-up
        assert runtime.backend_info["quantization"]["int8_matmuls"] == 2 * (layers - 2)
    if backend == "openvino-int8":  # equal-length batches: a text's vector does not depend on its neighbours
        assert np.array_equal(np.stack([runtime.encode(t) for t in REAL_TEXTS]), got)
        mixed = [*REAL_TEXTS, *(t + " and a few more words to change its length" for t in REAL_TEXTS)]
        assert np.array_equal(runtime.encode(mixed)[: len(REAL_TEXTS)], got)
    assert runtime.tokenize(REAL_TEXTS[1]) == reference.tokenize(REAL_TEXTS[1])
