"""Several processes at once on one workspace: pipeline runs and promotions.

Every process succeeds (the index and MLflow's database take turns, never "database is locked"),
the store verifies afterwards, and ``prod`` means the same model in the store and the registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelmill import Workspace

from .conftest import FAST, MODEL, NAME

TRACKED = [o for o in FAST if o != "main.tracking=none"]


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelmill.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 900) -> list[tuple[int, str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out + err))
    return results


def _registry_prod_artifact(home: Path) -> str | None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    return client.get_model_version_by_alias(NAME, "prod").tags.get("modelmill.artifact")


def _consistent(home: Path) -> None:
    ws = Workspace(home)
    assert ws.store.verify() == []
    assert _registry_prod_artifact(home) == ws.store.resolve(f"{MODEL}:prod").ref


@pytest.mark.parametrize("runs", [2, pytest.param(6, marks=pytest.mark.slow)])
def test_concurrent_pipeline_runs_all_succeed(runs: int, _isolated_home: Path) -> None:
    procs = [_spawn("run", *TRACKED, f"etl.demo_seed={seed}") for seed in range(runs)]
    for code, output in _finish(procs):
        assert code == 0 and "Traceback" not in output, output
    _consistent(_isolated_home)
    assert len(Workspace(_isolated_home).store.versions(MODEL)) == runs


@pytest.mark.parametrize("promotions", [3, pytest.param(20, marks=pytest.mark.slow)])
def test_concurrent_promotions_leave_one_prod_everywhere(
    promotions: int, trained_workspace: Path, tmp_path: Path
) -> None:
    ws = Workspace(trained_workspace)
    model_dir = ws.store.path(f"{MODEL}:prod")
    refs = []
    for i in range(promotions):
        copy = tmp_path / f"copy-{i}" / MODEL
        shutil.copytree(model_dir, copy)
        (copy / "marker.txt").write_text(str(i))
        refs.append(ws.store.put(copy, MODEL, "model_export").ref)
    results = _finish([_spawn("promote", ref) for ref in refs])
    for code, output in results:
        assert code == 0 and "Traceback" not in output, output
    _consistent(trained_workspace)
    assert ws.store.resolve(f"{MODEL}:prod").ref in refs
