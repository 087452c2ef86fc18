"""``frasi corpus verify``: is every input row in the output once, as the manifest says?

Each planned shard must be finished, and its part must have the size and SHA-256 the
manifest recorded, the shard's rows in order, and the ids and text hashes the plan read
from the inputs (:func:`frasi.corpus.parts.check_part`), with finite vectors of the
model's dimension. Since the plan covers every row of every input once, an output that
passes holds every input row exactly once. Reading the inputs again is not needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._fs import StrPath
from ..errors import InputError
from .manifest import Manifest, read_manifest
from .parts import PARTS, check_part, part_name, part_path, part_record, require_dask


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found; ``ok`` when every shard is finished and every part checks."""

    folder: Path
    rows: int
    shards: int
    finished: int
    verified_rows: int
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.finished == self.shards

    @property
    def ok(self) -> bool:
        return self.complete and not self.problems

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(folder=str(self.folder), complete=self.complete, ok=self.ok)
        return out


def open_manifest(folder: StrPath) -> tuple[Path, Manifest]:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(f"{folder} is not a folder; expected the output folder of frasi corpus embed")
    manifest = read_manifest(path)
    if manifest is None:
        raise InputError(f"{folder} holds no frasi corpus (no manifest.json); expected the output folder of "
                         "frasi corpus embed")
    return path, manifest


def verify(folder: StrPath, *, vectors: bool = True) -> VerifyReport:
    """Check every part of the output ``folder`` against its manifest (``vectors=False`` skips reading the
    vectors)."""
    require_dask()
    path, manifest = open_manifest(folder)
    problems: list[str] = []
    verified = 0
    run = manifest.run
    for shard in manifest.shards:
        record = manifest.finished.get(shard.index)
        part = part_path(path, shard.index)
        if record is None:
            continue
        if not part.is_file():
            problems.append(f"{part.name} is missing")
            continue
        if part_record(part) != record:
            problems.append(f"{part.name} does not match its recorded size and SHA-256 (damaged or changed)")
            continue
        problem = check_part(part, run=run, shard=shard, dimension=manifest.dimension,
                             store_text=manifest.store_text, vectors=vectors)
        if problem is not None:
            problems.append(f"{part.name}: {problem}")
            continue
        verified += shard.rows
    expected = {part_name(s.index) for s in manifest.shards}
    parts = path / PARTS
    if parts.is_dir():
        for extra in sorted(p.name for p in parts.iterdir() if not p.name.startswith(".") and p.name not in expected):
            problems.append(f"{PARTS}/{extra} is not a part of this corpus")
    return VerifyReport(path, manifest.rows, len(manifest.shards), len(manifest.finished), verified, problems)
