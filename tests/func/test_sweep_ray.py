"""`modelmill sweep --launcher ray`: trials as Ray tasks give the local launcher's table.

A cold local Ray (start, fresh workers importing modelmill) costs 10-25 s on 2 cores: the
default test runs a grid sweep on a Ray the launcher starts (and must shut down); the
slow one runs an Optuna study on a Ray the test started (which the launcher must leave
running). Both compare with the local launcher's results.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelmill.cli import app

runner = CliRunner()
SMALL = ["etl.demo_rows=1500", "modeling.random_forest.n_estimators=5", "main.tracking=none"]
GRID = ["modeling.max_tfidf_features=5,10"]
SPACE = ["modeling.random_forest.max_depth=int(interval(3,12))", "--optuna", "2"]


def sweep(ws: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["sweep", *SMALL, f"main.workspace={ws}", *args, "--json"])
    assert result.exit_code == 0, f"{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def table(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Ranked trials without timings, run ids or model versions (which depend on finishing order)."""
    return [
        (t["index"], t["status"], sorted(t["params"].items()), round(t["metrics"]["val_mae"], 9))
        for t in data["trials"]
    ]


def test_missing_ray_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    result = runner.invoke(app, ["sweep", *SMALL, *GRID, "--launcher", "ray"])
    assert result.exit_code == 2
    assert "--launcher ray needs the ray extra: pip install 'modelmill[ray]'" in result.stderr


def test_a_dead_ray_address_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    from modelmill.core.errors import ConfigError
    from modelmill.sweep.ray_launcher import RayLauncher

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="no Ray cluster answers there"):
        list(RayLauncher(1).run([{"index": 0, "overrides": [], "params": {}}]))


def test_ray_tasks_give_the_local_launchers_table(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    local = sweep(tmp_path / "local", *GRID, "-j", "1")
    assert not ray.is_initialized()
    on_ray = sweep(tmp_path / "ray", *GRID, "--launcher", "ray", "-j", "2")
    assert not ray.is_initialized()  # the launcher shut down the Ray it started
    assert table(on_ray) == table(local)
    assert {t["steps"]["train"] for t in on_ray["trials"]} == {"ran"}  # trained in Ray, not cached


@pytest.mark.slow
def test_an_optuna_study_on_a_running_ray_gives_the_local_table(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    local = sweep(tmp_path / "local", *SPACE, "-j", "1")
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = sweep(tmp_path / "ray", *SPACE, "--launcher", "ray", "-j", "2")
        assert ray.is_initialized()  # a Ray someone else started is left running
    finally:
        ray.shutdown()
    # the first trials of a study are seeded random draws: the same in both, and so are the results
    assert table(on_ray) == table(local)
