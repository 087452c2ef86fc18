"""The file system the frasi way: atomic files and folders, one lock, one hash.

Every output frasi writes (an embeddings file, a classifier folder, a converted or
exported model, a search index, a training checkpoint) goes through :func:`atomic_file`
or :func:`atomic_dir`: it is built under a temporary name beside its target and renamed
into place, so a reader sees the old version or the new one, never half of either, and
a crash or Ctrl-C leaves no partial output. Files get mode 0644 and folders 0755, as
any other tool's output would (``tempfile`` would give 0600 / 0700).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import FrasiError, OutputError

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]

FILE_MODE = 0o644
FOLDER_MODE = 0o755


def _fix_modes(folder: Path) -> None:
    folder.chmod(FOLDER_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), FOLDER_MODE)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, FILE_MODE)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_parent(path: StrPath, *, what: str = "output") -> Path:
    """``path`` as a Path whose folder exists and is writable, or an OutputError saying why not."""
    target = Path(path).expanduser()
    parent = target.parent
    if not parent.is_dir():
        reason = "is a file, not a folder" if parent.exists() else "does not exist"
        raise OutputError(f"cannot write the {what} {target}: {parent} {reason}; create the folder or choose "
                          "another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what} {target}: permission denied in {parent}; choose a writable "
                          "location")
    return target


@contextlib.contextmanager
def atomic_file(path: StrPath, *, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, fsync it and rename it onto ``path``."""
    target = check_parent(path, what=what)
    if target.is_dir():
        raise OutputError(f"cannot write the {what} {target}: it is a folder; expected a file path")
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        tmp.chmod(FILE_MODE)
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, FrasiError):
            raise OutputError(f"cannot write the {what} {target}: {exc.strerror or exc}") from exc
        raise
    logger.debug("wrote %s", target)


def write_bytes(path: StrPath, data: bytes, *, what: str = "output") -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, what=what) as tmp:
        tmp.write_bytes(data)


def check_new_folder(path: StrPath, *, what: str = "output") -> Path:
    """Check, before any slow work, that folder ``path`` can be created: absent or empty, in a writable folder."""
    target = Path(path).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"cannot write the {what} to {target}: it exists and is not an empty folder; "
                          "choose a new folder")
    return check_parent(target, what=what)


@contextlib.contextmanager
def atomic_dir(path: StrPath, *, what: str = "output", replace: bool = False) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; when the block succeeds, rename it onto ``path``.

    ``path`` must be absent or empty, unless ``replace`` is set: then an existing folder is
    moved aside and removed once the new one is in place (readers never see a missing or
    half-deleted folder). Folders left by an earlier interrupted write of the same target
    are removed first; callers that may race hold :func:`file_lock` around the block. On
    any error the temporary folder is removed and ``path`` is left as it was.
    """
    target = check_parent(path, what=what) if replace else check_new_folder(path, what=what)
    remove_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _fix_modes(tmp)
        old = None
        if target.exists():
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
                os.replace(target, old / "replaced")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, FrasiError):
            raise OutputError(f"cannot write the {what} to {target}: {exc.strerror or exc}") from exc
        raise
    logger.debug("wrote folder %s", target)


def remove_leftovers(target: Path) -> None:
    """Remove the temporary folders an interrupted :func:`atomic_dir` of ``target`` left beside it."""
    for left in target.parent.glob(f".{target.name}.*"):
        if left.is_dir() and left.name.endswith((".tmp", ".old")):
            logger.debug("removing %s, left by an interrupted write", left)
            shutil.rmtree(left, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: StrPath, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created with its folder if missing), so that
    one process at a time does what the block does (converting or exporting a model, say).

    With ``wait=False``, a lock that another process holds raises ``BlockingIOError`` at once
    instead of waiting for it. The lock goes with the process: a killed holder never leaves it held."""
    import fcntl

    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha256_file(path: StrPath) -> str:
    """The SHA-256 of a file's bytes, as hex (read in blocks, never whole into memory)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
