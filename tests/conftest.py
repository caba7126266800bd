"""Shared fixtures: every test gets its own workspace; nothing touches ./.modelmill."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelmill import Workspace

# `make test` runs two xdist workers on two cores: OpenMP (HistGradientBoosting, onnxruntime)
# starting two threads in each worker oversubscribes them, and spinning threads then make a
# one-second fit take tens of seconds. Set before any worker imports the OpenMP runtime.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLE = REPO.parent / "shared" / "data" / "nyc_airbnb_2019_sample.csv"


@pytest.fixture(scope="session")
def _machine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One modelmill cache (MLflow database template) per test process, not the user's."""
    return tmp_path_factory.mktemp("modelmill-cache")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _machine_cache: Path) -> Path:
    """Point MODELMILL_HOME at a per-test directory and run from a per-test cwd."""
    home = tmp_path / "ws"
    monkeypatch.setenv("MODELMILL_HOME", str(home))
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(_machine_cache))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return home


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A fresh workspace in the test's temp directory."""
    return Workspace(tmp_path / "ws")


@pytest.fixture
def store(workspace: Workspace):  # type: ignore[no-untyped-def]
    """The artifact store of :func:`workspace`."""
    return workspace.store
