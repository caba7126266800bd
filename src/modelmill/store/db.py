"""SQLite index shared by the store and the runner's cache.

Why this shape: several processes (parallel trials, a CLI next to a server) write to
one workspace. WAL lets readers run beside a writer; ``BEGIN IMMEDIATE`` takes the
write lock up front so a transaction never fails half-way on lock upgrade; and every
transaction is a function that is retried whole on ``SQLITE_BUSY``, so "database is
locked" never reaches the user: past the timeout it becomes a :class:`StoreBusyError`
that says what to do.

A workspace on a read-only volume is opened with read-only connections (``mode=ro``, or
``immutable=1`` when SQLite cannot create the ``-shm`` file a WAL reader needs): reads
work, :meth:`Database.write` raises the :class:`WorkspaceReadOnlyError` it was given.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from modelmill.core.errors import (
    DatabaseCorruptError,
    StoreBusyError,
    StoreError,
    UsageError,
    WorkspaceReadOnlyError,
)

T = TypeVar("T")
BUSY_TIMEOUT_S = 60.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _open_uri(uri: str) -> sqlite3.Connection:
    """Connect and read the schema once, so a connection that cannot read fails here."""
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


class Database:
    """A path to an SQLite file plus retrying read and write transactions.

    ``read_only`` is the message of the :class:`WorkspaceReadOnlyError` every write raises
    (``None``: the file is writable).
    """

    def __init__(self, path: Path, timeout: float = BUSY_TIMEOUT_S, read_only: str | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self.read_only = read_only

    def _connect(self) -> sqlite3.Connection:
        conn = (
            self._connect_read_only()
            if self.read_only
            else sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        """``mode=ro`` reads a live WAL database (its ``-wal`` and ``-shm`` exist); when they
        do not and cannot be created (a read-only volume: SQLite says "unable to open", or
        for a directory without write permission "attempt to write a readonly database"),
        nobody is writing and the file can be read as ``immutable``."""
        if not self.path.is_file():
            raise UsageError(
                f"no artifact index at {self.path}: this read-only directory is not a modelmill "
                "workspace; point --workspace / MODELMILL_HOME at one"
            )
        base = f"file:{quote(str(self.path.absolute()))}"
        try:
            return _open_uri(f"{base}?mode=ro")
        except sqlite3.OperationalError as exc:  # no -shm and no right to create it
            name = getattr(exc, "sqlite_errorname", "")
            if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")):
                raise
        return _open_uri(f"{base}?immutable=1")

    def _retry(self, fn: Callable[[sqlite3.Connection], T], begin: str | None) -> T:
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return self._attempt(fn, begin)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise self._error(exc) from exc
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"artifact index {self.path} stayed locked for {self.timeout:.0f}s; "
                        "another modelmill process is holding it. Retry when it has finished."
                    ) from exc
            except sqlite3.DatabaseError as exc:  # not a database, malformed: never worth a retry
                raise self._error(exc) from exc
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.2)

    def _attempt(self, fn: Callable[[sqlite3.Connection], T], begin: str | None) -> T:
        """One connection, one transaction (``begin``) or plain call; rolled back on failure."""
        conn = self._connect()
        try:
            if begin is None:
                return fn(conn)
            conn.execute(begin)
            try:
                result = fn(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def _error(self, exc: sqlite3.DatabaseError) -> StoreError:
        text = str(exc)
        if self.read_only and "no such table" in text:
            return StoreError(
                f"artifact index {self.path} lacks a table ({exc}) and cannot be upgraded on this "
                "read-only volume: open the workspace read-write once with this modelmill version"
            )
        if "not a database" in text or "malformed" in text:
            return DatabaseCorruptError(
                f"artifact index {self.path} is corrupt ({exc}): restore it from a backup; the "
                "stored content itself is in blobs/ and is checked by 'modelmill artifacts verify'"
            )
        if "disk is full" in text or "disk I/O error" in text:
            return StoreError(
                f"artifact index {self.path}: {exc}; the disk is full or failing: free some space "
                "and run again (the unfinished transaction was not committed)"
            )
        return StoreError(f"artifact index {self.path}: {exc}")

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction (``BEGIN IMMEDIATE``), retried on contention."""
        if self.read_only:
            raise WorkspaceReadOnlyError(self.read_only)
        return self._retry(fn, "BEGIN IMMEDIATE")

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a consistent read snapshot."""
        return self._retry(fn, "BEGIN")

    def ensure_schema(self, script: str) -> None:
        """Create tables idempotently and switch the file to WAL mode (read-only: nothing to do,
        a missing table is reported when it is read)."""
        if self.read_only:
            return

        def setup(conn: sqlite3.Connection) -> None:
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)

        self._retry(lambda c: c.execute("PRAGMA journal_mode=WAL").fetchone(), None)
        self.write(setup)
