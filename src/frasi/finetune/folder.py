"""A fine-tuned text classifier on disk: a standard Hugging Face sequence-classification folder.

``config.json`` (the architecture, ``id2label`` / ``label2id``), the tokenizer and
``model.safetensors``: the folder loads in ``transformers.pipeline("text-classification",
model=FOLDER)`` and gives the same labels as frasi. frasi adds ``frasi_classifier.json``:
the classes with their Python types (integer labels stay integers), how the model was
trained (method, parameters, the base model, dev scores, timings) and library versions. A
folder without that file (any Hugging Face text classifier) still loads: its classes are
the names in ``id2label``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ModelLoadError
from ..io import write_json

RECORD_FILE = "frasi_classifier.json"
FORMAT_VERSION = 1


def write_folder(folder: Path, model: Any, tokenizer: Any, classes: np.ndarray, record: Mapping[str, Any], *,
                 max_length: int, files: Mapping[str, bytes] | None = None) -> None:
    """Write ``model`` (a transformers sequence classifier), its tokenizer and frasi's record into ``folder``."""
    names = [str(c) for c in classes.tolist()]
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.model_max_length = max_length  # what the export and the pipeline truncate at
    tokenizer.save_pretrained(str(folder))
    write_json(folder / RECORD_FILE, {"format_version": FORMAT_VERSION, "classes": classes.tolist(),
                                      "max_length": max_length, **record})
    for name, data in (files or {}).items():
        if Path(name).name != name or (folder / name).exists():
            raise InputError(f"cannot add file {name!r} to a classifier folder; use a plain, new file name")
        (folder / name).write_bytes(data)


def read_record(folder: Path) -> dict[str, Any]:
    """frasi's record of a fine-tuned folder; for a folder without one, what its ``config.json`` says."""
    record_file = folder / RECORD_FILE
    if record_file.is_file():
        try:
            record = json.loads(record_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{record_file} is not valid JSON ({exc})") from None
        if not isinstance(record, dict) or record.get("format_version") != FORMAT_VERSION:
            version = record.get("format_version") if isinstance(record, dict) else None
            raise ModelLoadError(f"{record_file} has format_version {version!r}; this frasi reads version "
                                 f"{FORMAT_VERSION}")
        return record
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        id2label = {int(k): v for k, v in config["id2label"].items()}
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelLoadError(f"{folder} is not a text classifier folder: its config.json has no readable "
                             f"id2label ({exc})") from None
    return {"format_version": FORMAT_VERSION, "classes": [id2label[i] for i in range(len(id2label))],
            "max_length": None, "method": None, "base_model": None}
