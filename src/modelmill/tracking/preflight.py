"""Check a tracking URI before any step runs, within a few seconds.

Without this, a run whose tracking server does not answer spends minutes in MLflow's HTTP
retries before failing, and a fully cached run hands the URI to the detached logger and
exits 0 while nothing is logged. The check is cheap and needs no ``import mlflow``: a
local SQLite store must be a readable database (or not exist yet) in a directory where a
file can be created, a server must answer HTTP (any answer below 500) or accept a TCP
connection within ``timeout`` seconds.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

from modelmill.core.errors import ConfigError, DatabaseCorruptError
from modelmill.tracking.sqlite_seed import local_sqlite_path

DEFAULT_TIMEOUT_S = 5.0
SQLITE_HEADER = b"SQLite format 3\x00"
_DB_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433}
FIX = "set main.tracking_uri= to a reachable store, or run with main.tracking=none"


def check_tracking_uri(uri: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Raise :class:`ConfigError` (exit 2) naming ``uri``, the problem and the fix when
    MLflow could not log to it; return at once for stores it cannot check (Databricks...)."""
    scheme = urlsplit(uri).scheme.lower()
    problem: str | None
    if scheme in ("http", "https"):
        problem = _http_problem(uri, timeout)
    elif scheme == "sqlite":
        problem = _sqlite_problem(uri)
    elif scheme.split("+")[0] in _DB_PORTS:
        problem = _tcp_problem(uri, _DB_PORTS[scheme.split("+")[0]], timeout)
    elif scheme in ("", "file"):
        problem = _directory_problem(Path(urlsplit(uri).path if scheme else uri))
    else:
        problem = None
    if problem is not None:
        raise ConfigError(f"tracking URI {redacted(uri)!r}: {problem}; {FIX}")


def check_local_database(uri: str, more: str = "") -> None:
    """An existing local SQLite store that is not a readable database raises
    :class:`DatabaseCorruptError` naming it (exit 1): MLflow itself would fail with hundreds of
    lines of SQLAlchemy traceback on the first query. ``more`` adds another way out."""
    if urlsplit(uri).scheme.lower() != "sqlite":
        return
    path = local_sqlite_path(uri)
    if path is None or not path.is_file():
        return
    problem = _database_problem(path)
    if problem is not None:
        raise DatabaseCorruptError(
            f"MLflow store {redacted(uri)!r}: {problem}: restore it from a backup, or move it aside "
            f"to start an empty one (runs and registered models in it are then gone){more}"
        )


def redacted(uri: str) -> str:
    """``uri`` with its password (``postgresql://user:SECRET@host/db``) masked for messages."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _http_problem(uri: str, timeout: float) -> str | None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # http(s) only: the scheme was checked
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"the server answered HTTP {exc.code} at {url}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):  # it answered; MLflow has its own TLS settings
            return None
        if isinstance(reason, TimeoutError | socket.timeout) or "timed out" in str(reason):
            return f"no answer within {timeout:g} s (main.tracking_timeout)"
        return f"cannot connect ({getattr(reason, 'strerror', None) or reason})"


def _tcp_problem(uri: str, default_port: int, timeout: float) -> str | None:
    parts = urlsplit(uri)
    if not parts.hostname:
        return None
    try:
        port = parts.port or default_port
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return f"cannot connect to {parts.hostname}:{parts.port or default_port} ({exc})"


def _sqlite_problem(uri: str) -> str | None:
    path = local_sqlite_path(uri)
    if path is None:  # in-memory
        return None
    if path.is_dir():
        return f"{path} is a directory, not a database file"
    if not path.parent.is_dir():
        return f"directory {path.parent} does not exist"
    check_local_database(uri, f"; or {FIX}")  # a damaged file, not a config value: exit 1
    if not _can_create_in(path.parent) or (path.exists() and not os.access(path, os.W_OK)):
        return f"{path if path.exists() else path.parent} is not writable (read-only volume or permissions)"
    return None


def _database_problem(path: Path) -> str | None:
    """Whether SQLite can read ``path`` as a database (header and schema page), read-only."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror or exc})"
    if not header:  # an empty file is an empty database
        return None
    if header != SQLITE_HEADER:
        return f"{path} is not an SQLite database"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True, timeout=2.0)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # in use by another writer: MLflow waits for it
        return f"{path} is not a usable SQLite database ({exc})"
    return None


def _can_create_in(directory: Path) -> bool:
    """Create and drop a file: the only test that also holds for root and odd file systems."""
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".modelmill-probe-"):
            return True
    except OSError:
        return False


def _directory_problem(path: Path) -> str | None:
    target = path if path.exists() else path.parent
    if not target.is_dir():
        return f"directory {target} does not exist"
    if not _can_create_in(target):
        return f"{target} is not writable (read-only volume or permissions)"
    return None
