"""frasi backends list / check, and --backend on the encoding commands (tiny model, onnx)."""

from __future__ import annotations

import json

import numpy as np

from frasi.cli import main


def test_backends_list_names_the_extras(capsys):
    assert main(["backends", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"torch", "onnx", "onnx-int8", "openvino"} <= set(rows)
    assert rows["onnx"]["extra"] == "onnx" and rows["torch"]["installed"]


def test_backends_check_reports_parity(tiny_st_dir, capsys):
    assert main(["backends", "check", "--model", str(tiny_st_dir), "--backend", "onnx", "hola mundo",
                 "the cat sleeps on the sofa", "--json"]) == 0
    rows = {r["backend"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["onnx"]["status"] == "ok" and rows["onnx"]["min_cosine"] > 0.9999
    assert rows["onnx"]["exact"] and rows["onnx"]["max_abs_diff"] < 1e-4  # the exact backends' promise


def test_embed_with_the_onnx_backend_matches_torch(tiny_st_dir, tmp_path):
    a, b = tmp_path / "torch.npy", tmp_path / "onnx.npy"
    texts = ["hola mundo", "il gatto dorme sul divano", "good morning"]
    assert main(["embed", *texts, "--model", str(tiny_st_dir), "-o", str(a), "--no-cache"]) == 0
    assert main(["embed", *texts, "--model", str(tiny_st_dir), "-o", str(b), "--backend", "onnx",
                 "--threads", "1"]) == 0
    np.testing.assert_allclose(np.load(a), np.load(b), atol=1e-4)
