"""An unusable tracking URI: one line naming it and the fix, exit 2 (1 for a file that is not a
database: a damaged store, not a config value), within seconds, no step run.

The URI is checked before any step, with ``main.tracking_timeout`` (here 1 s), both when
every step is cached (which used to exit 0 while a detached process failed to log) and when
a step has to run (which used to wait out MLflow's retries, about 250 s, before exit 2).
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from .conftest import FAST, Result, assert_clean_error, cli
from .readonly import mount_problem, readonly_mount

TRACKED = [o for o in FAST if o != "main.tracking=none"]
MAX_SECONDS = 30  # interpreter start-up and config included; the old behaviour took 250 s


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _refusing(tmp: Path) -> Iterator[str]:
    yield f"http://127.0.0.1:{_closed_port()}"


@contextmanager
def _silent(tmp: Path) -> Iterator[str]:
    """A server that accepts connections (the kernel does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def _missing_directory(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'no' / 'such' / 'dir' / 'mlflow.db'}"


@contextmanager
def _not_a_database(tmp: Path) -> Iterator[str]:
    path = tmp / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    yield f"sqlite:///{path}"


@contextmanager
def _readonly_directory(tmp: Path) -> Iterator[str]:
    if problem := mount_problem():
        pytest.skip(problem)
    directory = tmp / "ro"
    directory.mkdir()
    with readonly_mount(directory):
        yield f"sqlite:///{directory / 'mlflow.db'}"


CASES: dict[str, tuple[Callable[[Path], AbstractContextManager[str]], str]] = {
    "http refused": (_refusing, "cannot connect"),
    "http silent": (_silent, "no answer within 1 s"),  # with main.tracking_timeout=1
    "sqlite missing directory": (_missing_directory, "does not exist"),
    "sqlite not a database": (_not_a_database, "not an SQLite database"),
    "sqlite read-only directory": (_readonly_directory, "not writable"),
}


def _pipeline_runs(ws: Path) -> int:
    with sqlite3.connect(ws / "index.db") as conn:
        return int(conn.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0])


@pytest.mark.parametrize("work", ["cached", "a step to run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unusable_tracking_uri_stops_the_run_at_once(
    trained_workspace: Path, tmp_path: Path, case: str, work: str
) -> None:
    make, problem = CASES[case]
    runs_before = _pipeline_runs(trained_workspace)
    force = ["--force-step", "register"] if work == "a step to run" else []
    timeout = ["main.tracking_timeout=1"] if case == "http silent" else []  # the default is 5 s
    with make(tmp_path) as uri:
        started = time.monotonic()
        result: Result = cli("run", *TRACKED, *timeout, f"main.tracking_uri={uri}", *force)
        seconds = time.monotonic() - started
    code = 1 if case == "sqlite not a database" else 2
    line = assert_clean_error(result, code, uri, problem, "main.tracking_uri=", "main.tracking=none")
    assert seconds < MAX_SECONDS, f"took {seconds:.1f} s: {line}"
    assert "pipeline:" not in result.stderr and "running" not in result.stderr, result.stderr
    assert _pipeline_runs(trained_workspace) == runs_before
    assert not (tmp_path / "no").exists()  # no directory created on the way


def test_a_bad_tracking_timeout_is_refused(trained_workspace: Path) -> None:
    result = cli("run", *TRACKED, "main.tracking_timeout=0")
    assert_clean_error(result, 2, "main.tracking_timeout", "above 0")
