"""Merging a LoRA adapter into its base model with numpy: how the shipped sentiment model is built.

peft saves a LoRA adapter as ``adapter_config.json`` and ``adapter_model.safetensors``: for
each adapted linear layer two small matrices, ``lora_A`` (r x in) and ``lora_B`` (out x r),
and the layers trained whole (``modules_to_save``, e.g. the classification head). Merging is
``W += (lora_alpha / r) * B @ A`` for each adapted weight, as peft's ``merge_and_unload``
computes it, plus the whole layers copied in. This module does it without torch or peft,
from the base model's safetensors, and writes a standard Hugging Face
sequence-classification folder. Adapters with options that change the arithmetic (DoRA,
rsLoRA, per-layer ranks, transposed weights) are refused rather than merged wrongly.

:func:`average_lora` averages adapters trained from the same base model (a "model soup",
Wortsman et al. 2022) into one adapter, exactly: the mean of k low-rank updates is a
low-rank update of k times the rank, the matrices stacked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelLoadError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PREFIX = "base_model.model."
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")


def read_adapter(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(config, weights) of a peft LoRA adapter folder, checked for what :func:`merge_lora` supports."""
    from safetensors.numpy import load_file

    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        weights = load_file(str(folder / ADAPTER_WEIGHTS))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder} is not a readable LoRA adapter ({exc})") from None
    unsupported = {"use_dora": True, "use_rslora": True, "fan_in_fan_out": True}
    found = [k for k, v in unsupported.items() if config.get(k) == v]
    found += [k for k in ("rank_pattern", "alpha_pattern") if config.get(k)]
    if config.get("peft_type") != "LORA" or found:
        what = ", ".join(found) if found else config.get("peft_type")
        raise ModelLoadError(f"{folder}: only plain LoRA adapters merge here (found {what})")
    return config, weights


def merge_lora(base: Path, adapter: Path, out: Path, *, base_prefix: str, config_updates: Mapping[str, Any]) -> None:
    """Write base + adapter, merged, as a Hugging Face model folder in the empty folder ``out``.

    ``base`` holds the base transformer (``config.json``, ``model.safetensors``, tokenizer);
    its weights are named as in the task model under ``base_prefix`` (``bert.`` for BERT).
    ``config_updates`` go into ``config.json`` (architectures, id2label, ...).
    """
    from safetensors.numpy import load_file, save_file

    config, adapter_weights = read_adapter(adapter)
    scale = float(config["lora_alpha"]) / float(config["r"])
    merged = {base_prefix + name: value for name, value in load_file(str(base / "model.safetensors")).items()}
    pending = dict(adapter_weights)
    for key in sorted(k for k in adapter_weights if k.endswith(".lora_A.weight")):
        layer = key[len(_PREFIX):-len(".lora_A.weight")]
        a, b = pending.pop(key), pending.pop(key.replace(".lora_A.", ".lora_B."))
        target = f"{layer}.weight"
        if target not in merged:
            raise ModelLoadError(f"{adapter} adapts {layer}, which {base} does not have")
        merged[target] = (merged[target].astype(np.float32)
                          + scale * (b.astype(np.float32) @ a.astype(np.float32))).astype(merged[target].dtype)
    for key, value in pending.items():  # layers trained whole: the new head
        merged[key[len(_PREFIX):] if key.startswith(_PREFIX) else key] = value
    save_file({k: np.ascontiguousarray(v) for k, v in merged.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    model_config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    model_config.update(config_updates)
    (out / "config.json").write_text(json.dumps(model_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copy2(base / name, out / name)


def average_lora(adapters: Sequence[Path], out: Path) -> None:
    """Write to the empty folder ``out`` the adapter whose merge is the mean of the ``adapters``' merges.

    Each adapter's update ``s * B @ A`` (``s = lora_alpha / r``) is kept exactly: the ``A``
    matrices are stacked, the ``B`` matrices placed side by side and divided by k, so the
    result has rank k x r at the same ``s``; the layers trained whole (the head) are averaged.
    The adapters must have the same configuration and layers, and for the average to mean
    anything, the same initial weights: runs of ``FineTunedClassifier(method="lora",
    init_seed=...)`` that differ in ``random_state``.
    """
    from safetensors.numpy import save_file

    if not adapters:
        raise InputError("give at least one adapter to average")
    read = [read_adapter(Path(folder)) for folder in adapters]
    config, first = read[0]
    same = ("peft_type", "task_type", "r", "lora_alpha", "target_modules", "modules_to_save", "bias")
    for folder, (other, weights) in zip(adapters[1:], read[1:], strict=True):
        differ = [k for k in same if _comparable(other.get(k)) != _comparable(config.get(k))]
        if differ or {k: v.shape for k, v in weights.items()} != {k: v.shape for k, v in first.items()}:
            what = ", ".join(differ) if differ else "the adapted layers"
            raise ModelLoadError(f"cannot average {folder} with {adapters[0]}: {what} differ")
    k = len(read)
    averaged: dict[str, np.ndarray] = {}
    for key in first:
        parts = [weights[key].astype(np.float32) for _, weights in read]
        if key.endswith(".lora_A.weight"):
            averaged[key] = np.concatenate(parts, axis=0)
        elif key.endswith(".lora_B.weight"):
            averaged[key] = np.concatenate(parts, axis=1) / k
        else:
            averaged[key] = np.mean(parts, axis=0)
    save_file({key: np.ascontiguousarray(value) for key, value in averaged.items()}, str(out / ADAPTER_WEIGHTS),
              metadata={"format": "pt"})
    config = {**config, "r": k * config["r"], "lora_alpha": k * config["lora_alpha"]}
    (out / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _comparable(value: Any) -> Any:
    """A config value to compare: peft writes module lists from a set, in any order."""
    return sorted(value) if isinstance(value, list) else value
