"""A real workspace for the UI tests, built once per test session (shared by xdist workers).

The NYC pipeline runs for real on 1500 demo listings with 5-tree forests: once tracked in
MLflow (the workspace's SQLite store), once more fully cached without tracking, then a
2-trial grid sweep. That gives every page real data: artifact names and versions, a
``prod`` model, ran and cached steps, an MLflow run id, a data_check report and a sweep
table. Built under the session's shared temp root behind a file lock, so the functional
and the browser tests (possibly in two xdist workers) build it only once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

SMALL = [
    "etl.demo_rows=1500",
    "data_check.min_rows=100",
    "modeling.random_forest.n_estimators=5",
    "modeling.random_forest.max_depth=6",
]
MODEL = "random_forest_export"


def _build(root: Path) -> None:
    import modelmill
    from modelmill.sweep import SweepOptions, run_sweep

    where = f"main.workspace={root}"
    tracked = modelmill.run([*SMALL, where, "main.defer_cached_tracking=false"])
    assert tracked.status == "success" and tracked.tracking_run_id, tracked.to_dict()
    cached = modelmill.run([*SMALL, where, "main.tracking=none"])
    assert {s.status for s in cached.steps} <= {"cached", "ran"}, cached.to_dict()
    sweep = run_sweep([*SMALL[:-1], where, "main.tracking=none", "modeling.random_forest.max_depth=4,8"],
                      SweepOptions(jobs=1))  # fmt: skip
    assert sweep.results_ref and not sweep.error, sweep.to_dict()


def shared_workspace(factory: pytest.TempPathFactory) -> Path:
    """The session's UI workspace (built on first use); treat it as read-only."""
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "ui-workspace" / "ws"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / "lock", "w") as lock, pytest.MonkeyPatch.context() as mp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root.parent / "built").exists():
            shutil.rmtree(root, ignore_errors=True)
            mp.setenv("MODELMILL_HOME", str(root))
            mp.setenv("MODELMILL_CACHE_DIR", str(root.parent / "cache"))
            mp.chdir(root.parent)
            _build(root)
            (root.parent / "built").touch()
    return root


def writable_copy(root: Path, dest: Path) -> Path:
    """A private copy of the shared workspace for a test that changes aliases."""
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("runs", "tmp", "mlartifacts"))
    return dest
