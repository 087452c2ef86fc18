"""The CLI's embedding cache: on by default, --no-cache, cache info and cache clear."""

from __future__ import annotations

import json

import numpy as np

from frasi.cli import main


def info(capsys) -> dict:
    assert main(["cache", "info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_embed_fills_the_cache_and_reuses_it(tiny_st_dir, tmp_path, capsys):
    assert info(capsys)["entries"] == 0
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    assert main(["embed", "hola mundo", "ciao mondo", "--model", str(tiny_st_dir), "-o", str(first)]) == 0
    assert info(capsys)["entries"] == 2
    assert main(["embed", "ciao mondo", "hola mundo", "hello world", "--model", str(tiny_st_dir),
                 "-o", str(second)]) == 0
    assert info(capsys)["entries"] == 3
    a, b = np.load(first), np.load(second)
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[1], b[0])


def test_no_cache_leaves_it_empty_and_clear_empties_it(tiny_st_dir, tmp_path, capsys):
    out = tmp_path / "a.npy"
    assert main(["embed", "hola mundo", "--model", str(tiny_st_dir), "-o", str(out), "--no-cache"]) == 0
    assert info(capsys)["entries"] == 0
    assert main(["similarity", "hola", "ciao", "hello", "--model", str(tiny_st_dir), "--json"]) == 0
    capsys.readouterr()
    assert info(capsys)["entries"] == 3
    assert main(["cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 3
    assert info(capsys)["entries"] == 0
