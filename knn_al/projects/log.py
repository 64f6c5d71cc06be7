"""The operation log of a project: ``log.sqlite``, what it holds and how it changes.

Four tables (:data:`SCHEMA`): ``ops``, every change of the pool and its labels in order
(:data:`OP_KINDS`: additions, label batches and removals, skips, item removals, metadata
updates; replayed on open); ``leases``, the open leases; ``auto_labels``, the streams'
confident predictions; ``raw_items``, the raw texts and images a ``keep_raw`` project
keeps. :class:`OperationLog` is the only writer: each change is one transaction
(:meth:`OperationLog.commit`), and a full disk becomes
:class:`~knn_al.errors.DiskFullError` naming the data directory (:func:`disk_errors`).

A log written before skips, removals and raw items existed has an ``ops`` table that
accepts only additions and labels, and no ``raw_items``: it is upgraded in the
transaction of the first change that needs them, so opening a project still writes nothing.

**Durability.** A change is acknowledged only once its transaction is committed, and
the log runs with ``synchronous=FULL``: in WAL mode ``NORMAL`` skips the fsync at commit,
which survives a killed process but can lose the last commits on power loss, and an
acknowledged label must survive both. Lease changes (and a stream's auto labels, which
are predictions) commit with ``NORMAL`` (no fsync, so NextSample does not wait for the
disk): a power loss may forget a recent lease, which only returns that item to the pool
early; the next label commit's fsync makes them durable too.

SQLite and JSON only: :mod:`knn_al.projects.files` reads logs through this module to check
a project without loading the learner.
"""
from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knn_al.errors import DiskFullError

__all__ = ["LOG", "OP_KINDS", "SCHEMA", "Addition", "OperationLog", "additions", "create_log", "disk_errors", "dumps",
           "is_disk_full", "open_log"]

LOG = "log.sqlite"

#: The kinds of operation the log holds.
OP_KINDS = ("add", "label", "unlabel", "skip", "unskip", "remove", "metadata")

_OPS_COLUMNS = f"""(
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(f"'{kind}'" for kind in OP_KINDS)})),
    payload TEXT NOT NULL,
    annotator TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
)"""

_RAW_TABLE = """CREATE TABLE IF NOT EXISTS raw_items (
    item_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    content BLOB NOT NULL
);"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS ops {_OPS_COLUMNS};
{_RAW_TABLE}
CREATE TABLE IF NOT EXISTS leases (
    item_id TEXT PRIMARY KEY,
    annotator TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auto_labels (
    item_id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    confidence REAL NOT NULL,
    at REAL NOT NULL
);
"""

#: The tables of a log from before skips, removals and raw items, less ``ops`` (which it has).
_OLD_SCHEMA = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS leases"):]

#: Ids per ``IN (...)`` query: well below SQLite's limit of bound parameters.
_IDS_PER_QUERY = 500


def dumps(value: Any) -> str:
    """Compact JSON, refusing NaN and infinity (they are not JSON)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError or an SQLite error) means the disk is full."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def disk_errors(data_dir: Path) -> Iterator[None]:
    """Turn a full disk into :class:`~knn_al.errors.DiskFullError` naming ``data_dir``."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_disk_full(exc):
            raise DiskFullError(f"the disk holding the data directory {data_dir} is full: free space there, then "
                                "retry (nothing was changed)") from None
        raise


def open_log(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Connect to the existing log of project directory ``path``; never creates one (a
    missing log is a broken project, not an empty one). ``read_only`` changes nothing on disk."""
    mode = "rw"
    if read_only:
        # A read-only connection to a WAL database still creates its -wal and -shm files;
        # with no -wal there is nothing uncommitted to read, and `immutable` creates nothing.
        mode = "ro" if (path / f"{LOG}-wal").exists() else "ro&immutable=1"
    db = sqlite3.connect(f"{(path / LOG).absolute().as_uri()}?mode={mode}", uri=True, isolation_level=None,
                         check_same_thread=False)
    if not read_only:
        db.execute("PRAGMA journal_mode=WAL")
    return db


def create_log(path: Path) -> None:
    """Create the empty log of a new project directory ``path``."""
    db = sqlite3.connect(path / LOG, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
    finally:
        db.close()


@dataclass(frozen=True)
class Addition:
    """One committed ``add`` row: its batch number, item count, and whether it was
    appended (its survey files cover only its own items)."""

    batch: int
    count: int
    append: bool


def additions(db: sqlite3.Connection) -> list[Addition]:
    """The committed additions, in log order."""
    found = []
    for (payload,) in db.execute("SELECT payload FROM ops WHERE kind = 'add' ORDER BY seq"):
        op = json.loads(payload)
        found.append(Addition(batch=int(op["batch"]), count=int(op["count"]), append=bool(op.get("append", False))))
    return found


class OperationLog:
    """The open log of the project directory ``path``; a full disk is reported as the
    data directory's (``path.parent``).

    Writes (:meth:`append`, :meth:`write_leases`, ...) run only inside the ``write``
    callable of :meth:`commit`, so each change is one transaction.
    """

    def __init__(self, path: Path) -> None:
        self._data_dir = path.parent
        self._db = open_log(path)
        try:
            self._current = self._is_current()
            if not self._current:  # an older log: the tables it had are there, the rest come with a change
                self._db.executescript(_OLD_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def _is_current(self) -> bool:
        """Whether the log has this version's tables (see the module docstring)."""
        found = dict(self._db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        return "raw_items" in found and f"'{OP_KINDS[-1]}'" in (found.get("ops") or "")

    def _upgrade(self) -> None:
        """Bring an older log's tables up to date, in the current transaction."""
        if self._current:
            return
        self._db.execute(f"CREATE TABLE ops_upgraded {_OPS_COLUMNS}")
        self._db.execute("INSERT INTO ops_upgraded SELECT seq, kind, payload, annotator, at FROM ops")
        self._db.execute("DROP TABLE ops")
        self._db.execute("ALTER TABLE ops_upgraded RENAME TO ops")
        self._db.execute(_RAW_TABLE)
        self._current = True

    def close(self) -> None:
        self._db.close()

    def disk_errors(self) -> AbstractContextManager[None]:
        """:func:`disk_errors` of this project's data directory."""
        return disk_errors(self._data_dir)

    def commit(self, write: Callable[[], object], *, durable: bool = True) -> None:
        """Run ``write`` (SQL statements only) in one transaction and commit it; on any
        error roll back and raise. ``durable=False`` (leases, auto labels) skips the fsync
        at commit. Nothing in memory changes here: callers validate before, apply after."""
        with self.disk_errors():
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                write()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                    self._current = self._is_current()  # an upgrade rolled back with the rest
                raise

    # ------------------------------------------------------------------ ops
    def append(self, kind: str, payload: Mapping[str, Any], annotator: str, now: float) -> None:
        """Append an operation (``kind``: one of :data:`OP_KINDS`)."""
        if kind not in ("add", "label", "unlabel"):  # the kinds every log accepts
            self._upgrade()
        self._db.execute("INSERT INTO ops (kind, payload, annotator, at) VALUES (?, ?, ?, ?)",
                         (kind, dumps(payload), annotator, now))

    def ops(self) -> Iterator[tuple[str, dict[str, Any], str, float]]:
        """Every committed operation, in order, as (kind, payload, annotator, time): what
        a replay runs."""
        for kind, payload, annotator, at in self._db.execute("SELECT kind, payload, annotator, at FROM ops "
                                                             "ORDER BY seq"):
            yield kind, json.loads(payload), annotator, at

    # ------------------------------------------------------------ raw items
    def write_raw(self, ids: Sequence[str], raw: Sequence[tuple[bytes, str]]) -> None:
        """Keep the raw ``(content, kind)`` of items ``ids`` (replacing what an id had)."""
        self._upgrade()
        self._db.executemany("INSERT OR REPLACE INTO raw_items (item_id, kind, content) VALUES (?, ?, ?)",
                             [(i, kind, content) for i, (content, kind) in zip(ids, raw)])

    def delete_raw(self, ids: Sequence[str]) -> None:
        if self._current:  # an older log keeps no raw items
            self._db.executemany("DELETE FROM raw_items WHERE item_id = ?", [(i,) for i in ids])

    def delete_items(self, ids: Sequence[str]) -> None:
        """Delete what the log keeps of items leaving the pool besides their ops: their
        leases and raw items."""
        self.delete_leases(ids)
        self.delete_raw(ids)

    def raw(self, item: str) -> tuple[bytes, str] | None:
        """The raw (content, kind) kept of ``item``, or None."""
        if not self._current:
            return None
        found = self._db.execute("SELECT content, kind FROM raw_items WHERE item_id = ?", (item,)).fetchone()
        return (bytes(found[0]), str(found[1])) if found else None

    # --------------------------------------------------------------- leases
    def leases(self, *, after: float) -> list[tuple[str, float, str]]:
        """(item, deadline, annotator) of every lease ending after ``after``, by item.
        The rows of leases that ended stay until overwritten (:meth:`write_leases`)."""
        return self._db.execute("SELECT item_id, expires_at, annotator FROM leases WHERE expires_at > ? "
                                "ORDER BY item_id", (after,)).fetchall()

    def write_leases(self, ids: Sequence[str], annotator: str, deadline: float) -> None:
        # REPLACE: the row of a lease that expired while the server was down may remain.
        self._db.executemany("INSERT OR REPLACE INTO leases (item_id, annotator, expires_at) VALUES (?, ?, ?)",
                             [(i, annotator, deadline) for i in ids])

    def delete_leases(self, ids: Sequence[str]) -> None:
        self._db.executemany("DELETE FROM leases WHERE item_id = ?", [(i,) for i in ids])

    # ---------------------------------------------------------- auto labels
    def add_auto_label(self, item: str, label: str, confidence: float, now: float) -> None:
        self._db.execute("INSERT INTO auto_labels (item_id, label, confidence, at) VALUES (?, ?, ?, ?)",
                         (item, label, confidence, now))

    def auto_labels(self) -> list[tuple[str, str, float]]:
        """(item, label, confidence) of every auto label, oldest first."""
        return self._db.execute("SELECT item_id, label, confidence FROM auto_labels ORDER BY at, item_id").fetchall()

    def count_auto_labels(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM auto_labels").fetchone()
        return int(count)

    def first_auto_labeled(self, ids: Sequence[str]) -> str | None:
        """The first of ``ids`` that has an auto label, or None."""
        taken = self.auto_labeled(ids)
        return next((i for i in ids if i in taken), None)

    def auto_labeled(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that have an auto label."""
        auto = self.count_auto_labels()
        if not auto:
            return set()
        if auto <= len(ids):
            return {row[0] for row in self._db.execute("SELECT item_id FROM auto_labels")} & set(ids)
        taken: set[str] = set()
        for start in range(0, len(ids), _IDS_PER_QUERY):
            part = list(ids[start:start + _IDS_PER_QUERY])
            taken.update(row[0] for row in self._db.execute(
                f"SELECT item_id FROM auto_labels WHERE item_id IN ({','.join('?' * len(part))})", part))
        return taken
