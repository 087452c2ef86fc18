"""An on-disk cache of sentence embeddings, so a text is never encoded twice.

The cache is a store: it knows texts, vectors and keys, never models. The caller (the
:class:`frasi.Encoder`, through ``encode(texts, cache=...)``) gives each request a
:class:`frasi.fingerprint.VectorKey`, which holds everything besides the text that
decides a vector: the model's files, the backend and its versions, the prompt and the
options. An entry's key is the SHA-256 of the vector key's id and the text. Each vector
is stored as raw bytes with a BLAKE2b checksum over key, dtype, dimension and data; a
row that fails the check is deleted, logged and treated as a miss, never returned. A
vector read back is bit-for-bit the one stored.

Storage is one SQLite file (default ``cache_dir()/embeddings/embeddings.sqlite``) in WAL
mode with a busy timeout and short transactions, so several processes can read and
write it at once. When the stored vectors exceed ``max_bytes`` (1 GiB by default), the
least recently used entries are evicted down to 90 % of the limit and the freed pages
go back to the file system. Keys, checksums, the index and page slack make the file
about 25 % larger than its vectors (1.9 KB per 384-d float32 vector). The cache also
remembers file hashes (:meth:`EmbeddingCache.file_hash`), so a model's files are hashed
once, not in every process.

Damage: a file at the cache path that is not an SQLite database (or is damaged where
opening looks) is moved aside to ``<name>.corrupt`` with a warning, and an empty cache
starts; an SQLite database that is not a frasi cache raises InputError and is left
alone. Other failures raise OutputError; :meth:`EmbeddingCache.get_or_compute` turns
them into a warning and computes without the cache.

Quantized precisions are never stored: the cache holds float32 vectors and ``encode``
quantizes the assembled matrix, so int8 ranges come from all texts of the call, exactly
as without the cache. Batch composition changes float32 results in the last bits, so
a cached vector can differ from a fresh ``Encoder.encode`` by ~1e-7 (as two encodes of
the same text in different batches do).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from ._fs import file_lock
from .errors import InputError, OutputError
from .fingerprint import VectorKey
from .sources import cache_dir

logger = logging.getLogger(__name__)

FORMAT = 1
FILE_NAME = "embeddings.sqlite"
DEFAULT_MAX_BYTES = 1 << 30
BUSY_TIMEOUT_S = 30.0
EVICT_TO = 0.9  # after eviction, the stored vectors take at most this fraction of the limit
_CHUNK = 500  # keys per SELECT ... IN (...), rows per write transaction
_BOOKKEEPING_WAIT_MS = 50  # how long a read waits to record its access times before skipping that
_PAGE_SIZE = 16384  # a 384-d float32 row is ~1.6 KB: 4 KB pages would hold only two
_SCHEMA = """
CREATE TABLE IF NOT EXISTS frasi_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
    nid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, label TEXT NOT NULL, description TEXT NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY,        -- the first 8 bytes of key
    key BLOB NOT NULL,             -- sha256(vector key id + text)
    nid INTEGER NOT NULL, dtype TEXT NOT NULL, dim INTEGER NOT NULL, data BLOB NOT NULL,
    checksum BLOB NOT NULL,        -- blake2b-16 of key, dtype, dim and data
    last_access INTEGER NOT NULL); -- milliseconds since the epoch
CREATE INDEX IF NOT EXISTS vectors_lru ON vectors (last_access);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS vectors_added AFTER INSERT ON vectors BEGIN
    UPDATE namespaces SET entries = entries + 1, bytes = bytes + length(NEW.data) WHERE nid = NEW.nid;
END;
CREATE TRIGGER IF NOT EXISTS vectors_removed AFTER DELETE ON vectors BEGIN
    UPDATE namespaces SET entries = entries - 1, bytes = bytes - length(OLD.data) WHERE nid = OLD.nid;
END;
CREATE TRIGGER IF NOT EXISTS vectors_replaced AFTER UPDATE OF nid, data ON vectors BEGIN
    UPDATE namespaces SET entries = entries - 1, bytes = bytes - length(OLD.data) WHERE nid = OLD.nid;
    UPDATE namespaces SET entries = entries + 1, bytes = bytes + length(NEW.data) WHERE nid = NEW.nid;
END;
"""


class _Damaged(OutputError):
    """The cache file is damaged or not a database: it is moved aside on open; clear() deletes it."""


class _OtherFormat(_Damaged):
    """A frasi cache of another format: left alone on open (another frasi may use it); clear() deletes it."""


# ---------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class KeyInfo:
    """The entries of one vector key, in :class:`CacheInfo`."""

    id: str
    label: str
    description: dict[str, Any]
    entries: int
    bytes: int  # vector data only
    updated: float  # seconds since the epoch of the last write


@dataclass(frozen=True)
class CacheInfo:
    """What ``frasi cache info`` shows."""

    path: Path
    exists: bool
    entries: int
    data_bytes: int  # vector data: what max_bytes bounds
    file_bytes: int  # the database and its write-ahead log on disk
    max_bytes: int | None
    keys: list[KeyInfo]
    problem: str | None = None  # why the file is damaged (``frasi cache clear`` deletes it); None when sound

    @property
    def healthy(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "healthy": self.healthy}


class EmbeddingCache:
    """A content-addressed SQLite store of embeddings, shared safely between processes.

    ``path`` is the SQLite file (default ``cache_dir()/embeddings/embeddings.sqlite``; an
    existing folder means ``embeddings.sqlite`` inside it). ``max_bytes`` bounds the bytes
    of the stored vectors (the file is ~25 % larger); ``None`` disables eviction. Nothing
    is opened until first use; one instance may be used from several threads, and from a
    child process after fork (it reconnects).

    ``hits`` counts the texts that :meth:`get_or_compute` served from the cache,
    ``misses`` the distinct texts it had computed.
    """

    touch_after_s: float = 60.0  # a hit refreshes an entry's last access only when older than this

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_bytes: int | None = DEFAULT_MAX_BYTES,
                 timeout: float = BUSY_TIMEOUT_S) -> None:
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                      or max_bytes < 1):
            raise InputError(f"max_bytes must be a positive integer or None (no limit), got {max_bytes!r}")
        target = Path(path).expanduser() if path is not None else cache_dir() / "embeddings" / FILE_NAME
        self.path = target / FILE_NAME if target.is_dir() else target
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"EmbeddingCache(path={str(self.path)!r}, max_bytes={self.max_bytes})"

    def __deepcopy__(self, memo: dict[int, Any]) -> EmbeddingCache:
        """A cache is a shared store, not a value: copies (scikit-learn's ``clone`` of an estimator that
        holds one) share it."""
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next use reopens it)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ reading and writing

    def get_many(self, vector_key: VectorKey, texts: Sequence[str]) -> list[np.ndarray | None]:
        """Return one stored vector (a fresh writable array) or None per text, in order."""
        keys = [_key(vector_key.id, text) for text in texts]
        ids = [_row_id(key) for key in keys]
        now = _now_ms()
        with self._lock, self._errors("read"):
            conn = self._connect()
            rows: dict[int, tuple] = {}
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                rows.update((row[0], row) for row in conn.execute(
                    "SELECT id, key, dtype, dim, data, checksum, last_access FROM vectors "
                    f"WHERE id IN ({','.join('?' * len(chunk))})", chunk))
            out: list[np.ndarray | None] = []
            bad: dict[int, bytes] = {}
            stale: set[int] = set()
            for key, row_id in zip(keys, ids):
                row = rows.get(row_id)
                if row is None or row[1] != key:  # absent, or another key sharing 8 bytes
                    out.append(None)
                    continue
                vector = _decode(*row[1:6])
                if vector is None:
                    bad[row_id] = row[5]
                elif row[6] < now - self.touch_after_s * 1000:
                    stale.add(row_id)
                out.append(vector)
            if bad:
                logger.warning("the embedding cache %s held %d damaged entries (checksum or length mismatch); "
                               "they were dropped and will be recomputed", self.path, len(bad))
            if bad or stale:  # bookkeeping only: a read-only or busy cache still serves its entries
                try:  # at once or not at all: a hit never waits for another process's write
                    conn.execute(f"PRAGMA busy_timeout = {_BOOKKEEPING_WAIT_MS}")
                    with _transaction(conn):
                        conn.executemany("DELETE FROM vectors WHERE id = ? AND checksum = ?", list(bad.items()))
                        conn.executemany("UPDATE vectors SET last_access = ? WHERE id = ?",
                                         [(now, i) for i in stale])
                except sqlite3.OperationalError as exc:
                    logger.debug("could not update the embedding cache %s after reading: %s", self.path, exc)
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return out

    def put_many(self, vector_key: VectorKey, texts: Sequence[str], vectors: Any) -> None:
        """Store one vector per text (a 2-D numeric array, one row per text), then evict if over the limit."""
        array = np.asarray(vectors)
        if isinstance(texts, str) or array.ndim != 2 or len(texts) != len(array) or array.dtype.kind not in "fiu":
            got = f"{len(texts)} texts" if not isinstance(texts, str) else "a single str"
            raise InputError(f"put_many got {got} and an array of shape {array.shape} and dtype {array.dtype}; "
                             "expected a list of texts and a 2-D numeric array with one row per text")
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            finite = np.isfinite(array).all(axis=1)
            logger.warning("not caching %d vector(s) with NaN or infinite values (a damaged model?)",
                           int((~finite).sum()))
            texts, array = [t for t, ok in zip(texts, finite) if ok], array[finite]
        dtype, dim, now = array.dtype.str, int(array.shape[1]), _now_ms()
        rows = []
        for text, vector in zip(texts, array):
            key, data = _key(vector_key.id, text), vector.tobytes()
            rows.append((_row_id(key), key, dtype, dim, data, _checksum(key, dtype, dim, data), now))
        description = json.dumps(vector_key.description, sort_keys=True, ensure_ascii=False)
        with self._lock, self._errors("write to"):
            conn = self._connect()
            for start in range(0, len(rows), _CHUNK):
                with _transaction(conn):
                    conn.execute(
                        "INSERT INTO namespaces (id, label, description, created, updated) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET label = excluded.label, updated = excluded.updated",
                        (vector_key.id, vector_key.label, description, now / 1000, now / 1000))
                    (nid,) = conn.execute("SELECT nid FROM namespaces WHERE id = ?", (vector_key.id,)).fetchone()
                    conn.executemany(
                        "INSERT INTO vectors (id, key, nid, dtype, dim, data, checksum, last_access) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET key = excluded.key, "
                        "nid = excluded.nid, dtype = excluded.dtype, dim = excluded.dim, data = excluded.data, "
                        "checksum = excluded.checksum, last_access = excluded.last_access",
                        [(r[0], r[1], nid, *r[2:]) for r in rows[start : start + _CHUNK]])
            self._evict(conn)

    def get_or_compute(self, key: VectorKey, texts: Sequence[str],
                       compute: Callable[[list[str]], Any]) -> np.ndarray:
        """Return a 2-D array with one row per text: cached rows, and ``compute(misses)`` for the
        rest, called once with each missing text once, its rows stored.

        A cache that cannot be read or written costs only speed: a warning, then ``compute``.
        """
        unique = list(dict.fromkeys(texts))
        usable = True
        try:
            found = self.get_many(key, unique)
        except OutputError as exc:
            logger.warning("%s; encoding without the cache", exc)
            found, usable = [None] * len(unique), False
        misses = [text for text, vector in zip(unique, found) if vector is None]
        missing = set(misses)
        self.hits += sum(1 for text in texts if text not in missing)
        self.misses += len(misses)
        logger.debug("embedding cache: %d of %d distinct texts found", len(unique) - len(misses), len(unique))
        if misses:
            fresh = np.asarray(compute(misses))
            if fresh.ndim != 2 or len(fresh) != len(misses):
                raise InputError(f"compute returned an array of shape {fresh.shape} for {len(misses)} texts; "
                                 "expected one row per text")
            if usable:
                try:
                    self.put_many(key, misses, fresh)
                except OutputError as exc:
                    logger.warning("%s; the new vectors were not cached", exc)
            rows = iter(fresh)
            found = [vector if vector is not None else next(rows) for vector in found]
        by_text = dict(zip(unique, found))
        return np.stack([by_text[text] for text in texts])

    # ------------------------------------------------------------------ housekeeping

    def info(self) -> CacheInfo:
        """Entries, sizes and vector keys, after an integrity check of the whole file (SQLite's quick_check);
        a damaged file is reported with ``problem`` set. A cache that does not exist yet is reported empty,
        not created."""
        if not self.path.exists():
            return CacheInfo(self.path, False, 0, 0, 0, self.max_bytes, [])
        try:
            with self._lock, self._errors("read"):
                conn = self._connect()
                found = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
                rows = conn.execute(
                    "SELECT id, label, description, entries, bytes, updated FROM namespaces WHERE entries > 0 "
                    "ORDER BY updated DESC").fetchall()
        except _Damaged as exc:
            return CacheInfo(self.path, True, 0, 0, self._file_bytes(), self.max_bytes, [],
                             problem=str(exc.__cause__ or exc))
        spaces = [KeyInfo(i, label, json.loads(desc), n, size, updated)
                  for i, label, desc, n, size, updated in rows]
        problem = None if found == ["ok"] else "; ".join(found)
        return CacheInfo(self.path, True, sum(s.entries for s in spaces), sum(s.bytes for s in spaces),
                         self._file_bytes(), self.max_bytes, spaces, problem=problem)

    def clear(self) -> int:
        """Delete every entry (and memoised file hash); return how many entries there were.

        A damaged cache file is deleted instead (0 is returned: its entries cannot be counted;
        :meth:`info` says whether the file is damaged). Other processes may keep using the cache.
        """
        if not self.path.exists():
            return 0
        with self._lock:
            try:
                with self._errors("clear"):
                    conn = self._connect()
                    with _transaction(conn):
                        (count,) = conn.execute("SELECT COALESCE(SUM(entries), 0) FROM namespaces").fetchone()
                        for table in ("namespaces", "vectors", "file_hashes"):
                            conn.execute(f"DELETE FROM {table}")
                    conn.executescript("PRAGMA incremental_vacuum;")
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except _Damaged as exc:
                logger.debug("the embedding cache %s is damaged (%s); deleting the file", self.path,
                            exc.__cause__ or exc)
                self.close()
                with file_lock(self._lock_path()):
                    for file in self._files():
                        file.unlink(missing_ok=True)
                return 0
        logger.info("cleared %d entries from the embedding cache %s", count, self.path)
        return int(count)

    # ------------------------------------------------------------------ internals

    def _files(self) -> list[Path]:
        return [self.path, self.path.with_name(self.path.name + "-wal"), self.path.with_name(self.path.name + "-shm")]

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _file_bytes(self) -> int:
        return sum(f.stat().st_size for f in self._files()[:2] if f.exists())

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn sqlite3 errors into one-line OutputErrors that say what to do."""
        try:
            yield
        except sqlite3.Error as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            where = f"cannot {action} the embedding cache {self.path}: {exc}"
            if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                raise _Damaged(f"{where}; the file is damaged; empty it with 'frasi cache clear'") from exc
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                fix = f"another process held it for over {self.timeout:g} s; try again"
            elif name.startswith("SQLITE_FULL"):
                fix = "the disk is full; free space or lower the cache size limit"
            else:
                fix = "check the folder's permissions and free space, or set FRASI_CACHE to another folder"
            raise OutputError(f"{where}; {fix}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork must not be used
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the embedding cache folder {self.path.parent} "
                              f"({exc.strerror or exc}); set FRASI_CACHE to a writable folder") from exc
        try:
            conn = self._open()
        except _OtherFormat:
            raise
        except _Damaged as exc:
            self._quarantine(str(exc.__cause__ or exc))
            conn = self._open()
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        with self._errors("open"):
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            with self._errors("open"):
                conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # these two take effect only in a new file
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash may lose the last write
                conn.execute(f"PRAGMA wal_autocheckpoint = {(4 << 20) // _PAGE_SIZE}")  # keep the log ~4 MB
                conn.execute(f"PRAGMA journal_size_limit = {4 << 20}")
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "frasi_meta" not in tables:
                    raise InputError(f"{self.path} is an SQLite database but not a frasi embedding cache (tables: "
                                     f"{', '.join(sorted(tables))}); pass another path for the cache")
                if not {"frasi_meta", "namespaces", "vectors", "file_hashes"} <= tables:
                    conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}"
                                       f"INSERT OR IGNORE INTO frasi_meta VALUES ('format', '{FORMAT}'); COMMIT;")
                found = conn.execute("SELECT value FROM frasi_meta WHERE name = 'format'").fetchone()
            if found is None or found[0] != str(FORMAT):
                raise _OtherFormat(f"{self.path} is a frasi embedding cache of format {found and found[0]!r}, "
                               f"and this frasi reads format {FORMAT}; empty it with 'frasi cache clear'")
        except BaseException:
            conn.close()
            raise
        return conn

    def _quarantine(self, reason: str) -> None:
        """Move a damaged file aside (once, even when several processes find it) and start afresh."""
        with file_lock(self._lock_path()):
            try:
                self._open().close()
                return  # another process has already replaced it
            except _OtherFormat:
                raise
            except _Damaged:
                pass
            aside = self.path.with_name(self.path.name + ".corrupt")
            try:
                os.replace(self.path, aside)
                for file in self._files()[1:]:
                    file.unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(f"the embedding cache {self.path} is damaged ({reason}) and cannot be moved "
                                  f"aside ({exc.strerror or exc}); delete it by hand") from exc
        logger.warning("the embedding cache %s was unusable (%s); moved it to %s and started an empty cache",
                       self.path, reason, aside)

    @staticmethod
    def _stored(conn: sqlite3.Connection) -> tuple[int, int]:
        """(entries, bytes of vector data), from the counters the triggers keep: no table scan."""
        entries, size = conn.execute("SELECT COALESCE(SUM(entries), 0), COALESCE(SUM(bytes), 0) "
                                     "FROM namespaces").fetchone()
        return int(entries), int(size)

    def _evict(self, conn: sqlite3.Connection) -> None:
        """Delete least recently used entries until the vectors fit EVICT_TO x max_bytes.

        Bytes are counted, not pages: keys are random, so deleting rows leaves holes that
        later rows fill rather than whole pages to count as freed.
        """
        if self.max_bytes is None or self._stored(conn)[1] <= self.max_bytes:
            return
        target, removed = int(self.max_bytes * EVICT_TO), 0
        with _transaction(conn):
            entries, size = self._stored(conn)
            while size > target and entries > 0:
                batch = max(1, math.ceil((size - target) / (size / entries)))
                deleted = conn.execute("DELETE FROM vectors WHERE id IN (SELECT id FROM vectors "
                                       "ORDER BY last_access, id LIMIT ?)", (batch,)).rowcount
                if deleted <= 0:  # the per-namespace counters ran ahead of the rows: count them again
                    logger.warning("the embedding cache %s counted more vectors than it holds; recounting", self.path)
                    conn.execute("UPDATE namespaces SET "
                                 "entries = (SELECT COUNT(*) FROM vectors v WHERE v.nid = namespaces.nid), "
                                 "bytes = (SELECT COALESCE(SUM(length(v.data)), 0) FROM vectors v "
                                 "WHERE v.nid = namespaces.nid)")
                    break
                removed += deleted
                entries, size = self._stored(conn)
            conn.execute("DELETE FROM namespaces WHERE entries <= 0")
        conn.executescript("PRAGMA incremental_vacuum;")
        logger.info("evicted %d least recently used entries from the embedding cache %s to keep its vectors "
                    "under %d bytes", removed, self.path, self.max_bytes)

    def file_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        """A file hash memoised by (real path, size, mtime), or None; never raises (it is only a shortcut).
        With :meth:`remember_file_hash`, the cache is the :class:`frasi.fingerprint.HashMemo` that
        spares hashing a model's files again in every new process."""
        try:
            with self._lock, self._errors("read"):
                row = self._connect().execute("SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? "
                                              "AND mtime_ns = ?", (path, size, mtime_ns)).fetchone()
        except OutputError as exc:
            logger.debug("%s", exc)
            return None
        return row[0] if row else None

    def remember_file_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Keep a file hash for :meth:`file_hash` (failures only cost speed: logged, never raised)."""
        try:
            with self._lock, self._errors("write to"):
                self._connect().execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)",
                                        (path, size, mtime_ns, sha256))
        except OutputError as exc:
            logger.debug("%s", exc)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A short write transaction that takes the write lock up front (waiting up to the busy timeout)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _key(key_id: str, text: str) -> bytes:
    return hashlib.sha256(key_id.encode("ascii") + text.encode("utf-8", "surrogatepass")).digest()


def _row_id(key: bytes) -> int:
    return int.from_bytes(key[:8], "big", signed=True)


def _checksum(key: bytes, dtype: str, dim: int, data: bytes) -> bytes:
    digest = hashlib.blake2b(key, digest_size=16)
    digest.update(f"{dtype}\0{dim}\0".encode("ascii"))
    digest.update(data)
    return digest.digest()


def _decode(key: bytes, dtype: str, dim: int, data: bytes, checksum: bytes) -> np.ndarray | None:
    """The stored vector, or None when the row does not check out."""
    try:
        kind = np.dtype(dtype)
    except TypeError:
        return None
    if dim < 1 or len(data) != dim * kind.itemsize or _checksum(key, dtype, dim, data) != checksum:
        return None
    return np.frombuffer(data, dtype=kind).astype(kind.newbyteorder("="), copy=True)
