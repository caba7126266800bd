"""The fault suite: what a user can do wrong or what can go wrong under them, and what modelmill promises.

Each module here is one family of faults (broken models, bad batches, bad configs, a read-only
or full workspace, corrupt databases, kills and interrupts, hostile HTTP bodies). Every test
drives the real command line, most of them in a subprocess, and checks the same promises:

* the exit code is the documented one (0 ok, 1 a check failed, 2 usage/config, 130 Ctrl-C);
* stderr is one ``error: ...`` line naming the problem and the fix, never a Python traceback;
* nothing is lost: no half-written artifact, no alias moved, no model promoted.

The default run is short; ``-m slow`` runs the long variants.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# a small, fast NYC pipeline (the weekly-retraining test's settings)
FAST = [
    "main.tracking=none",
    "etl.demo_rows=1500",
    "data_check.min_rows=200",
    "modeling.random_forest.n_estimators=15",
    "modeling.random_forest.criterion=squared_error",
    "modeling.random_forest.oob_score=false",
]
MODEL = "random_forest_export"
NAME = "nyc_rentals"


@dataclass
class Result:
    """What one CLI call printed and returned."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None
) -> Result:
    """Run ``modelmill ARGS`` and capture it: in this process (the same command functions and
    error handling as the console entry point, without paying the imports again for every
    call), or in a subprocess with ``MODELMILL_FAULTS_SUBPROCESS=1``. An exception that escaped
    the command shows up as a ``Traceback`` in ``stderr``, as it would on a terminal."""
    if os.environ.get("MODELMILL_FAULTS_SUBPROCESS", "") not in ("", "0"):
        return cli_subprocess(*args, env=env, timeout=timeout, cwd=cwd)
    import traceback

    from typer.testing import CliRunner

    from modelmill.cli import app

    with contextlib.chdir(cwd or Path.cwd()):
        result = CliRunner().invoke(app, list(args), env=env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Result(result.exit_code, result.stdout, stderr)


def cli_subprocess(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None
) -> Result:
    """Run ``modelmill ARGS`` in a subprocess (the real console entry point) and capture it."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelmill.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: Result, code: int, *words: str) -> str:
    """``result`` failed with ``code``, printed no traceback, and its ``error:`` line names ``words``.

    Returns the error line. Warnings and progress may precede it on stderr; the error itself
    is one line.
    """
    assert "Traceback" not in result.output, f"traceback printed:\n{result.output}"
    assert result.code == code, f"exit {result.code}, expected {code}:\n{result.output}"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors, f"no 'error:' line on stderr:\n{result.output}"
    line = errors[-1]
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    return line


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace in which the fast NYC pipeline ran once with MLflow tracking: a registered,
    promoted model (``models:/nyc_rentals@prod``, ``random_forest_export:prod``). Copy it with
    :func:`trained_workspace`; never modify it."""
    root = tmp_path_factory.mktemp("faults-template")
    ws = root / "ws"
    env = {"MODELMILL_HOME": str(ws), "MODELMILL_CACHE_DIR": str(root / "cache")}
    result = cli_subprocess("run", *[o for o in FAST if o != "main.tracking=none"], env=env, cwd=root,
                            timeout=600)  # fmt: skip
    assert result.code == 0, result.output
    return ws


@pytest.fixture
def trained_workspace(trained_template: Path, _isolated_home: Path) -> Path:
    """A private copy of :func:`trained_template` at the test's ``MODELMILL_HOME``."""
    shutil.copytree(trained_template, _isolated_home, symlinks=True)
    relocate_mlflow(_isolated_home / "mlflow.db", str(trained_template), str(_isolated_home))
    return _isolated_home


def relocate_mlflow(db: Path, old: str, new: str) -> None:
    """MLflow records absolute artifact locations: point the copy at its own ``mlartifacts`` so
    a test that damages the registry's files damages only its copy."""
    import sqlite3

    columns = {
        "experiments": ["artifact_location"],
        "runs": ["artifact_uri"],
        "model_versions": ["source", "storage_location"],
    }
    with sqlite3.connect(db) as conn:
        for table, names in columns.items():
            for name in names:
                conn.execute(f"UPDATE {table} SET {name} = replace({name}, ?, ?)", (old, new))
