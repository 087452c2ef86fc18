"""One fingerprint of a model: the files of its folder, or its weights in memory.

A model folder is identified by the relative path and SHA-256 of every file that decides
its embeddings: weights in any subfolder (``0_Transformer``, ``2_Dense``), configs and
tokenizer files. Skipped, everywhere in frasi: hidden entries (``.git``, ``.cache``),
``__pycache__``, ``*.pyc`` and ``*.md`` (model cards). The embedding cache keys vectors
on it, an export records it to notice a changed source, a saved search index records it.

Hashing a 470 MB weights file takes about a second, so hashes are memoised by (path,
size, mtime): in memory for the process, and in a :class:`HashMemo` (the embedding cache
keeps one on disk) across processes. Files of the Hugging Face cache are named by their
hash and need no reading.

:class:`VectorKey` is the identity of a set of vectors: the model's fingerprint and
everything else that decides them. The :class:`frasi.Encoder` builds it; the embedding
cache stores vectors under it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._fs import StrPath, sha256_file
from .errors import InputError

logger = logging.getLogger(__name__)

FileRecord = dict[str, Any]  # {"size": int, "mtime_ns": int, "sha256": str}
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_MEMORY: dict[tuple[str, int, int], str] = {}
_WEIGHTS: weakref.WeakKeyDictionary[Any, tuple[Any, str]] = weakref.WeakKeyDictionary()


class HashMemo(Protocol):
    """A store of file hashes by (real path, size, mtime in ns), kept across processes."""

    def file_hash(self, path: str, size: int, mtime_ns: int) -> str | None: ...

    def remember_file_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None: ...


def skipped(relative: Path) -> bool:
    """Whether a path inside a model folder is left out of its fingerprint."""
    parts = relative.parts
    return (any(p.startswith(".") or p == "__pycache__" for p in parts)
            or relative.suffix in (".pyc",) or relative.name.lower().endswith(".md"))


def model_files(folder: StrPath) -> list[tuple[str, Path]]:
    """(relative path, path) of every file that decides a model folder's embeddings, sorted."""
    root = Path(folder)
    files = []
    for base, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in names:
            path = Path(base) / name
            relative = path.relative_to(root)
            if not skipped(relative) and path.is_file():
                files.append((relative.as_posix(), path))
    return sorted(files)


def file_sha256(path: Path, memo: HashMemo | None = None) -> str:
    """The SHA-256 of a file, memoised by (real path, size, mtime)."""
    real = path.resolve()
    if real.parent.name == "blobs" and _SHA256_NAME.fullmatch(real.name):
        return real.name  # a Hugging Face cache blob: named by the SHA-256 of its content
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    found = _MEMORY.get(key) or (memo.file_hash(*key) if memo is not None else None)
    if found is None:
        start = time.perf_counter()
        found = sha256_file(real)
        logger.debug("hashed %s (%d bytes) in %.2f s", real, stat.st_size, time.perf_counter() - start)
        if memo is not None:
            memo.remember_file_hash(*key, found)
    _MEMORY[key] = found
    return found


def file_record(path: Path, memo: HashMemo | None = None) -> FileRecord:
    """Size, mtime and SHA-256 of ``path``, as manifests record them."""
    stat = path.stat()  # follows links, as the hash does
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path, memo)}


def folder_records(folder: StrPath, memo: HashMemo | None = None) -> dict[str, FileRecord]:
    """A record of every file of a model folder, keyed by its path inside the folder."""
    return {relative: file_record(path, memo) for relative, path in model_files(folder)}


def records_digest(records: dict[str, FileRecord]) -> str:
    """One SHA-256 over the relative paths and content hashes of ``records`` (sizes and mtimes aside)."""
    digest = hashlib.sha256(b"frasi model files v1\n")
    for relative in sorted(records):
        digest.update(f"{relative}\0{records[relative]['sha256']}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def model_fingerprint(folder: StrPath, memo: HashMemo | None = None) -> str:
    """The fingerprint of a model folder: ``records_digest`` of its files."""
    if not Path(folder).is_dir():
        raise InputError(f"{folder} is not a folder; expected a model folder to fingerprint")
    return records_digest(folder_records(folder, memo))


def folder_state(folder: StrPath) -> tuple[tuple[str, int, int], ...]:
    """(relative path, size, mtime) of the fingerprinted files: cheap to take when a model loads and
    to compare later, to tell whether the folder still holds what was loaded."""
    if not Path(folder).is_dir():
        return ()
    state = []
    for relative, path in model_files(folder):
        stat = path.stat()
        state.append((relative, stat.st_size, stat.st_mtime_ns))
    return tuple(state)


def differs(path: Path, record: FileRecord) -> str | None:
    """``"size"`` or ``"content"`` when ``path`` no longer matches its record, else None. Only a file
    whose mtime moved is hashed again; a record without a hash is checked by size only."""
    stat = path.stat()
    if stat.st_size != record["size"]:
        return "size"
    if "sha256" in record and stat.st_mtime_ns != record.get("mtime_ns") and file_sha256(path) != record["sha256"]:
        return "content"
    return None


def folder_changed(folder: StrPath, records: dict[str, FileRecord]) -> str | None:
    """Why ``folder`` no longer matches ``records`` (files added, removed or changed), or None."""
    files = dict(model_files(folder))
    if set(files) != set(records):
        names = sorted(set(files) ^ set(records))
        return f"the model folder's files changed ({', '.join(names[:3])})"
    for relative, path in files.items():
        difference = differs(path, records[relative])
        if difference is not None:
            return f"{relative} changed size" if difference == "size" else f"{relative} changed"
    return None


def weights_fingerprint(model: Any) -> str:
    """SHA-256 over a torch module's state dict (names, dtypes, shapes, bytes) and its tokenizer.

    Memoised per module until a tensor is replaced or changed in place (torch's version
    counter), so training invalidates it; the first call reads every weight (~0.2 s for
    all-MiniLM-L6-v2).
    """
    import torch

    state = model.state_dict()
    tokenizer = getattr(model, "tokenizer", None)
    token = (id(tokenizer), tuple((name, t.data_ptr(), t._version) for name, t in state.items()))
    memo = _WEIGHTS.get(model)
    if memo is not None and memo[0] == token:
        return memo[1]
    digest = hashlib.sha256(b"frasi weights v1\n")
    for name in sorted(state):
        tensor = state[name].detach()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode("utf-8"))
    elif tokenizer is not None:
        digest.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode("utf-8"))
    _WEIGHTS[model] = (token, digest.hexdigest())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- keys of vectors


@dataclass(frozen=True)
class VectorKey:
    """Everything besides a text that decides its vector; vectors with equal ids are interchangeable.

    ``description`` is the canonical JSON of what was hashed (model fingerprint, backend,
    versions, prompt, options); ``label`` (the model's name) is for display only and not
    part of the id, so one model loaded under two names shares its vectors.
    """

    id: str
    description: dict[str, Any]
    label: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], *, label: str = "") -> VectorKey:
        """A key whose id is the SHA-256 of ``fields`` as canonical JSON."""
        description = {str(k): _canonical(k, v) for k, v in fields.items()}
        text = json.dumps(description, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return cls(hashlib.sha256(text.encode("utf-8")).hexdigest(), description, label)


def _canonical(name: Any, value: Any) -> Any:
    """A JSON value standing for ``value``; arrays become their shape, dtype and SHA-256."""
    import numpy as np

    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"array_sha256": hashlib.sha256(data.tobytes()).hexdigest(), "shape": list(data.shape),
                "dtype": data.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(name, v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(name, v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InputError(f"the option {name!r} holds a {type(value).__name__}, which a vector key cannot hold; "
                     "expected str, number, bool, None, list, dict or numpy array")
