"""`modelmill sweep --optuna N`: a Bayesian study through the real CLI, on small demo data.

The study lives in the workspace's ``optuna.db``: re-running the same command resumes it
(only the missing trials run, the table lists all of them), a process killed mid-trial
leaves a RUNNING trial that the next run retires and retries, failed trials are reported
without stopping the others, and the same seed gives the same parameters.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from typer.testing import CliRunner

from modelmill.cli import app

optuna = pytest.importorskip("optuna")

runner = CliRunner()
SMALL = ["etl.demo_rows=1500", "modeling.random_forest.n_estimators=5", "main.tracking=none"]
DEPTH = "modeling.random_forest.max_depth"
FEATURES = "modeling.random_forest.max_features"
SPACE = [f"{DEPTH}=int(interval(3,12))", f"{FEATURES}=interval(0.2,0.9)"]


def sweep(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["sweep", *SMALL, *args, "--json"])
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, data, result.stderr


def hydra_value(text: str) -> Any:
    return OverridesParser.create().parse_override(f"k={text}").value()


def the_study(ws: Path) -> Any:
    storage = f"sqlite:///{ws / 'optuna.db'}"
    [name] = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def sequence(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The trials in the order they were asked: params, status, val_mae."""
    trials = sorted(data["trials"], key=lambda t: t["index"])
    return [(t["index"], t["params"], t["status"], round(t["metrics"].get("val_mae", -1), 9)) for t in trials]


def test_a_study_runs_ranks_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    code, first, err = sweep(*SPACE, "--optuna", "2", "-j", "1")
    assert code == 0, err
    assert first["swept_keys"] == [DEPTH, FEATURES] and first["per_trial_steps"] == ["train", "evaluate"]
    assert set(first["shared_steps"].values()) == {"ran"}
    assert sorted(t["index"] for t in first["trials"]) == [0, 1]
    for t in first["trials"]:
        depth, features = hydra_value(t["params"][DEPTH]), hydra_value(t["params"][FEATURES])
        assert isinstance(depth, int) and 3 <= depth <= 12
        assert isinstance(features, float) and 0.2 <= features <= 0.9
        assert f"{DEPTH}={t['params'][DEPTH]}" in t["overrides"] and t["status"] == "ok"
    stored = the_study(ws)
    assert [t.state.name for t in stored.trials] == ["COMPLETE", "COMPLETE"]
    assert isinstance(stored.trials[0].params[DEPTH], int)
    assert stored.trials[0].value == next(t for t in first["trials"] if t["index"] == 0)["metrics"]["val_mae"]

    # --optuna 4 on the same command: 2 more trials (2 in flight at a time), 4 in the table
    code, second, err = sweep(*SPACE, "--optuna", "4", "-j", "2")
    assert code == 0, err
    assert set(second["shared_steps"].values()) == {"cached"}
    assert sorted(t["index"] for t in second["trials"]) == [0, 1, 2, 3]
    maes = [t["metrics"]["val_mae"] for t in second["trials"]]
    assert maes == sorted(maes) and second["best"] == second["trials"][0]["index"]
    assert sequence(second)[:2] == sequence(first)  # the earlier trials, as they were
    assert sequence(second)[2][1] != sequence(second)[0][1]  # the resumed sampler did not replay
    assert len(the_study(ws).trials) == 4
    # and once more: nothing left to run, the same table
    code, third, _ = sweep(*SPACE, "--optuna", "4")
    assert code == 0 and sequence(third) == sequence(second) and third["shared_steps"] == {}
    table = runner.invoke(app, ["sweep", *SMALL, *SPACE, "--optuna", "3"])
    assert table.exit_code == 0 and "max_depth" in table.stdout and "rank" in table.stdout


@pytest.mark.slow  # a long run; `make test-slow` runs it
def test_same_seed_same_params_and_some_failed_trials_do_not_fail_the_sweep(tmp_path: Path) -> None:
    # seed 0 draws max_features 0.5 then 2.5 (no valid max_features): 1 ok, 1 failed
    args = [f"{DEPTH}=int(interval(3,8))", f"{FEATURES}=choice(0.5,2.5)", "--optuna", "2", "--seed", "0"]
    code, first, err = sweep(*args, "-j", "1")
    assert code == 0, err  # not every trial failed
    for t in first["trials"]:
        assert t["status"] == ("ok" if t["params"][FEATURES] == "0.5" else "failed")
        if t["status"] == "failed":
            assert "max_features" in t["error"] and "val_mae" not in t["metrics"]
    assert {t["status"] for t in first["trials"]} == {"ok", "failed"}
    assert first["trials"][-1]["status"] == "failed"  # failed trials rank last
    study = the_study(tmp_path / "ws")
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed and all("max_features" in t.user_attrs["error"] for t in failed)
    # a fresh workspace, the same seed and space: the same parameters, the same results
    code, second, err = sweep(*args, "-j", "1", f"main.workspace={tmp_path / 'other'}")
    assert code == 0, err
    assert sequence(second) == sequence(first)


def test_a_bad_interval_fails_every_trial_and_exits_1(tmp_path: Path) -> None:
    code, data, err = sweep(f"{FEATURES}=interval(1.5,3.0)", "--optuna", "2", "-j", "1")
    assert code == 1 and "every trial failed" in err
    assert len(data["trials"]) == 2 and {t["status"] for t in data["trials"]} == {"failed"}
    assert all("max_features" in t["error"] for t in data["trials"])
    assert {t.state.name for t in the_study(tmp_path / "ws").trials} == {"FAIL"}


def test_bad_bounds_are_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    code, _, err = sweep(f"{DEPTH}=int(interval(12,3))", "--optuna", "2")
    assert code == 2 and "int(interval(12,3))" in err
    assert not (tmp_path / "ws" / "optuna.db").exists()


def _trial_states(db: Path) -> list[tuple[int, str]]:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return list(con.execute("SELECT number, state FROM trials ORDER BY number"))
    except sqlite3.Error:  # not created yet
        return []


def _running_with_params(db: Path) -> list[int]:
    """Trials asked and sampled (Optuna writes the trial, then its params), not finished."""
    query = (
        "SELECT DISTINCT t.number FROM trials t JOIN trial_params p ON p.trial_id = t.trial_id "
        "WHERE t.state = 'RUNNING'"
    )
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return [n for (n,) in con.execute(query)]
    except sqlite3.Error:
        return []


@pytest.mark.slow  # a long run; `make test-slow` runs it
def test_a_killed_study_resumes_and_a_second_sweep_on_it_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    args = [*SMALL, f"main.workspace={ws}", f"{DEPTH}=int(interval(3,12))", "--optuna", "1", "-j", "1"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelmill", "sweep", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120

    def wait_for(condition: Any, what: str) -> None:
        while not condition():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"the sweep never {what}"
            time.sleep(0.05)

    try:
        # the study exists: the first sweep holds its lock (it is running the shared steps)
        wait_for((ws / "optuna.db").exists, "opened its study")
        busy = runner.invoke(app, ["sweep", *args])
        assert busy.exit_code == 2 and "is being run by another sweep" in busy.stderr
        assert f"pid {proc.pid}" in busy.stderr
        wait_for(lambda: _running_with_params(ws / "optuna.db"), "started a trial")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [killed_number] = [n for n, state in _trial_states(ws / "optuna.db") if state == "RUNNING"]

    result = runner.invoke(app, ["sweep", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(t["index"], t["status"]) for t in data["trials"]] == [(killed_number + 1, "ok")]
    trials = the_study(ws).trials
    killed, retried = trials[killed_number], trials[killed_number + 1]
    assert killed.state.name == "FAIL" and "stopped" in killed.user_attrs["interrupted"]
    assert retried.params == killed.params and retried.state.name == "COMPLETE"  # tried again first
