"""SQLite index shared by the store and the runner's cache.

Why this shape: several processes (parallel trials, a CLI next to a server) write to
one workspace. WAL lets readers run beside a writer; ``BEGIN IMMEDIATE`` takes the
write lock up front so a transaction never fails half-way on lock upgrade; and every
transaction is a function that is retried whole on ``SQLITE_BUSY``, so "database is
locked" never reaches the user: past the timeout it becomes a :class:`StoreBusyError`
that says what to do.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from modelmill.core.errors import StoreBusyError, StoreError

T = TypeVar("T")
BUSY_TIMEOUT_S = 60.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    """A path to an SQLite file plus retrying read and write transactions."""

    def __init__(self, path: Path, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _retry(self, fn: Callable[[sqlite3.Connection], T], begin: str | None) -> T:
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
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
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise StoreError(f"artifact index {self.path}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"artifact index {self.path} stayed locked for {self.timeout:.0f}s; "
                        "another modelmill process is holding it. Retry when it has finished."
                    ) from exc
            finally:
                conn.close()
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.2)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction (``BEGIN IMMEDIATE``), retried on contention."""
        return self._retry(fn, "BEGIN IMMEDIATE")

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a consistent read snapshot."""
        return self._retry(fn, "BEGIN")

    def ensure_schema(self, script: str) -> None:
        """Create tables idempotently and switch the file to WAL mode."""

        def setup(conn: sqlite3.Connection) -> None:
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)

        self._retry(lambda c: c.execute("PRAGMA journal_mode=WAL").fetchone(), None)
        self.write(setup)
