"""The output folder's manifest: what the vectors are, the plan of shards, and each finished shard.

``manifest.json`` holds

- ``config``: everything that decides the vectors and the plan: the vector key of
  :meth:`frasi.Encoder.vector_key` (model fingerprint, backend and versions, prompt,
  options), the shard size, the text and id columns, whether texts are stored;
- ``model``: how a worker loads the model (its folder or name), the backend, the dimension;
- ``inputs``: each input file (path, id prefix, format, size, mtime, SHA-256, rows);
- ``shards``: the plan (:class:`frasi.corpus.shards.Shard`);
- ``finished``: per finished shard, its part's size and SHA-256;
- ``run``: a SHA-256 of config, inputs and plan; every part carries it, so a part from any
  other output or plan is never taken for this one's.

It is rewritten atomically (:func:`frasi.io.write_json`) as shards finish. A rerun
compares ``config`` and ``inputs`` before it reuses anything (:func:`difference`).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._fs import file_lock
from ..errors import InputError, OutputError
from ..io import write_json
from .shards import InputFile, Shard

MANIFEST = "manifest.json"
LOCK = ".lock"  # held by the one command writing the folder
INDEX = "index"  # the folder frasi corpus index writes
FORMAT = "frasi-corpus"
VERSION = 1

# what a changed config field is called in the error that refuses to mix
_FIELDS = {
    "model": "model", "backend": "backend or runtime version", "prompt": "prompt",
    "normalize": "normalize option", "long_texts": "long-text policy (--long-texts)", "chunk_overlap": "chunk overlap",
    "max_length": "maximum length", "dimension": "dimension", "normalizes": "model (its normalisation)",
    "format": "vector key format", "shard_size": "shard size (--shard-size)", "text_col": "text column (--text-col)",
    "id_col": "id column (--id-col)", "store_text": "--store-text setting",
}


@dataclass
class Manifest:
    config: dict[str, Any]
    model: dict[str, Any]
    inputs: list[InputFile]
    shards: list[Shard]
    finished: dict[int, dict[str, Any]] = field(default_factory=dict)
    created: str = ""

    @property
    def run(self) -> str:
        """A SHA-256 of the config, the inputs' contents and the plan: the id its parts carry."""
        content = {"config": self.config,
                   "inputs": [{k: v for k, v in f.to_dict().items() if k not in ("path", "size", "mtime_ns")}
                              for f in self.inputs],
                   "shards": [s.to_dict() for s in self.shards]}
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.inputs)

    @property
    def dimension(self) -> int:
        return int(self.model["dimension"])

    @property
    def store_text(self) -> bool:
        return bool(self.config["store_text"])

    @property
    def complete(self) -> bool:
        return len(self.finished) == len(self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "created": self.created, "updated": now(), "run": self.run,
                "rows": self.rows, "complete": self.complete, "config": self.config, "model": self.model,
                "inputs": [f.to_dict() for f in self.inputs], "shards": [s.to_dict() for s in self.shards],
                "finished": {str(k): v for k, v in sorted(self.finished.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: Path) -> Manifest:
        if data.get("format") != FORMAT:
            raise InputError(f"{where} is not a frasi corpus manifest (format {data.get('format')!r}); choose "
                             "another output folder")
        if data.get("version") != VERSION:
            raise InputError(f"{where} has version {data.get('version')!r}; this frasi reads version {VERSION}; "
                             "upgrade frasi, or start again with --overwrite")
        try:
            manifest = cls(config=data["config"], model=data["model"],
                           inputs=[InputFile(**f) for f in data["inputs"]],
                           shards=[Shard(**s) for s in data["shards"]],
                           finished={int(k): v for k, v in data["finished"].items()}, created=data["created"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where} is damaged ({type(exc).__name__}: {exc}); start again with --overwrite") \
                from None
        if data.get("run") != manifest.run:
            raise InputError(f"{where} is damaged (its run id does not match its content); start again with "
                             "--overwrite")
        return manifest


def now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def manifest_path(folder: Path) -> Path:
    return Path(folder) / MANIFEST


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of ``folder``; None when there is none."""
    path = manifest_path(folder)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not readable JSON ({exc}); start again with --overwrite") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a frasi corpus manifest; choose another output folder")
    return Manifest.from_dict(data, path)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    write_json(manifest_path(folder), manifest.to_dict())


def difference(old: dict[str, Any], new: dict[str, Any], *, names: tuple[str, str] = ("", "")) -> str | None:
    """The first setting in which config ``new`` differs from ``old``, described, or None when they agree;
    ``names`` are the models' names then and now, for the message."""
    if old == new:
        return None
    pairs = [(k, old.get("vectors", {}).get(k), new.get("vectors", {}).get(k)) for k in new.get("vectors", {})]
    pairs += [(k, old.get(k), new.get(k)) for k in new if k not in ("vectors", "key")]
    for name, before, after in pairs:
        if before == after:
            continue
        if name == "model":
            if names[0] == names[1]:
                return f"model: the files of {names[1]!r} differ from those the output was embedded with"
            before, after = names
        if name == "backend":
            before, after = _backend_label(before), _backend_label(after)
            if before == after:
                return "backend export (its recipe or format)"
        return f"{_FIELDS.get(name, name)}: {before!r} there, {after!r} now"
    return "vector key"


def _backend_label(info: Any) -> Any:
    if isinstance(info, dict):
        version = info.get("runtime_version") or (info.get("versions") or {}).get("torch")
        return f"{info.get('backend')} {version}" if version else info.get("backend")
    return info


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold the output folder's lock: one command at a time writes a corpus folder."""
    try:
        with file_lock(folder / LOCK, wait=False):
            yield
    except BlockingIOError:
        raise OutputError(f"another frasi corpus command is writing {folder}; wait for it to finish") from None
