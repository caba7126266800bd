"""Ctrl-C, SIGTERM and SIGKILL during ``modelmill run``: say where, end the runs, resume.

Promises: an interrupt (SIGINT, or SIGTERM which behaves the same) prints one ``error:``
line naming the step that was running and saying the next run resumes, exits 130, and
leaves no MLflow run ``RUNNING`` (the ones it opened end ``KILLED``); the next run resumes
with the finished steps as cache hits. A process killed outright (SIGKILL) cannot say
anything, so the runs it left ``RUNNING`` are marked ``FAILED`` by the next run, even a
fully cached one (logged by the detached tracking process). Nothing stored is ever lost.

The signal is sent when the progress output says the step started (``[STEP] running``),
read from the real command's stderr. The default run interrupts two steps; ``-m slow``
interrupts every step with each signal, several times over, on one workspace.

The other long commands keep the same promise: an interrupted ``sweep`` ends its group
run, an interrupted ``score`` leaves no output (its staged parts wait for ``--resume``).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelmill import Workspace

from .conftest import FAST, Result, assert_clean_error, cli

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

TRACKED = [o for o in FAST if o != "main.tracking=none"]
STEPS = ["get_data", "basic_cleaning", "data_check", "data_split", "train", "evaluate", "register"]
# a new price floor: the data steps after get_data run again (about a second each)
DATA = [*TRACKED, "etl.min_price=11", f"main.steps=[{','.join(STEPS[:4])}]"]


def _signal_on(line_start: str, sig: signal.Signals, *args: str, timeout: float = 300) -> Result:
    """Run ``modelmill ARGS``, send ``sig`` when a stderr line starts with ``line_start``, and
    return what the command did."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelmill.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(line_start):
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=timeout)
    assert any(line.startswith(line_start) for line in seen), "".join(seen) + err
    return Result(proc.returncode, out, "".join(seen) + err)


def _interrupt_at(step: str, sig: signal.Signals, *overrides: str) -> Result:
    """Run the pipeline and send ``sig`` when ``step`` starts."""
    return _signal_on(f"[{step}] running", sig, "run", *overrides)


def _last_started(result: Result) -> str:
    """The step the progress output last reported as started."""
    started = re.findall(r"^\[(\w+)\] running", result.stderr, flags=re.M)
    return started[-1]


def _runs(ws: Path) -> list[tuple[str, str]]:
    """``(name, status)`` of every MLflow run in the workspace's tracking store."""
    with sqlite3.connect(ws / "mlflow.db") as conn:
        return conn.execute("SELECT name, status FROM runs ORDER BY start_time").fetchall()


def _running(ws: Path) -> list[str]:
    return [name for name, status in _runs(ws) if status == "RUNNING"]


def _pipeline_status(ws: Path, run_id: str) -> str:
    with sqlite3.connect(ws / "index.db") as conn:
        return str(conn.execute("SELECT status FROM pipeline_runs WHERE run_id = ?", (run_id,)).fetchone()[0])


def _wait_for_deferred_tracking(ws: Path, timeout: float = 120) -> None:
    """A fully cached run is logged by a detached process: wait until it has finished."""
    deadline = time.monotonic() + timeout
    while list((ws / "tmp").glob("deferred-tracking-*.json")):
        assert time.monotonic() < deadline, "the detached tracking process did not finish"
        time.sleep(0.1)


def _resumed(result: Result, step: str) -> None:
    """The steps before ``step`` were cache hits and ``step`` ran. A step whose source changed
    meanwhile (someone editing the code while the tests run) may run again: that is the cache
    working, not a lost result."""
    lines = {m[0]: m[1] for m in re.findall(r"^\[(\w+)\] ((?:ran|cached|failed|skipped)\b.*)$",
                                              result.stderr, flags=re.M)}  # fmt: skip
    for name in STEPS[: STEPS.index(step)]:
        assert lines[name].startswith("cached") or "code changed" in lines[name], lines
    assert lines[step].startswith("ran"), lines


def _assert_interrupted(result: Result, sig: signal.Signals) -> tuple[str, str]:
    """The one-line promise of an interrupt; returns the step and the pipeline run it names.

    The step is the one the progress output last said started, or the next one when the
    signal landed just as that one finished.
    """
    line = assert_clean_error(result, 130, "during step", "resumes", "cache hits")
    assert ("Ctrl-C" if sig == signal.SIGINT else "SIGTERM") in line
    found = re.search(r"during step '(\w+)' in run (\S+?);.* resumes at '(\w+)'", line)
    assert found and found[1] == found[3], line
    started = _last_started(result)
    assert found[1] in STEPS[STEPS.index(started) : STEPS.index(started) + 2], (started, line)
    return found[1], found[2]


@pytest.mark.parametrize(("sig", "step"), [
    (signal.SIGINT, "data_check"), pytest.param(signal.SIGTERM, "data_split", marks=pytest.mark.slow),
], ids=["SIGINT", "SIGTERM"])  # fmt: skip
def test_an_interrupt_says_where_ends_its_runs_and_the_next_run_resumes(
    trained_workspace: Path, sig: signal.Signals, step: str
) -> None:
    result = _interrupt_at(step, sig, *DATA)
    named, run_id = _assert_interrupted(result, sig)
    assert _pipeline_status(trained_workspace, run_id) == "interrupted"
    assert _running(trained_workspace) == [], _runs(trained_workspace)
    # basic_cleaning ran first, so the run's MLflow parent existed: it ended KILLED
    assert [s for name, s in _runs(trained_workspace) if name == run_id] == ["KILLED"]

    again = cli("run", *DATA)
    assert again.code == 0, again.output
    _resumed(again, named)
    assert cli("artifacts", "verify").code == 0


def test_runs_left_running_by_a_killed_process_are_failed_by_the_next_run(trained_workspace: Path) -> None:
    killed = _interrupt_at("data_check", signal.SIGKILL, *DATA)
    assert killed.code == -signal.SIGKILL
    stuck = _running(trained_workspace)
    assert stuck, "the kill should have left the parent run RUNNING"

    # everything cached: the command returns at once and a detached process logs the run
    cached = cli("run", *TRACKED, "main.steps=get_data")
    assert cached.code == 0, cached.output
    _wait_for_deferred_tracking(trained_workspace)
    assert _running(trained_workspace) == [], _runs(trained_workspace)
    with sqlite3.connect(trained_workspace / "mlflow.db") as conn:
        errors = conn.execute("SELECT value FROM tags WHERE key = 'modelmill.error'").fetchall()
    assert len(errors) == len(stuck) and all("died" in e[0] for e in errors), errors
    with sqlite3.connect(trained_workspace / "index.db") as conn:
        states = [r[0] for r in conn.execute("SELECT status FROM pipeline_runs")]
    assert "running" not in states and "failed" in states, states

    again = cli("run", *DATA)
    assert again.code == 0, again.output
    _resumed(again, "data_check")


@pytest.mark.slow
def test_an_interrupted_sweep_ends_its_runs(trained_workspace: Path) -> None:
    result = _signal_on("[trial 1/2]", signal.SIGINT, "sweep", "-j", "1", *TRACKED,
                        "modeling.max_tfidf_features=4,6")  # fmt: skip
    assert_clean_error(result, 130, "interrupted (Ctrl-C)", "finished trials are stored")
    assert _running(trained_workspace) == [], _runs(trained_workspace)
    assert [s for name, s in _runs(trained_workspace) if name.startswith("sweep-")] == ["KILLED"]


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM],
                         ids=["SIGINT", "SIGTERM"])  # fmt: skip
def test_an_interrupted_score_writes_no_output_and_resumes(
    trained_workspace: Path, tmp_path: Path, sig: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelmill.datasets import generate_listings
    from modelmill.datasets.io import write_csv

    source, output = tmp_path / "in.csv", tmp_path / "out.parquet"
    write_csv(generate_listings(3000, seed=5).drop(columns=["price"]), source)
    args = ["score", str(source), str(output), "--model", "random_forest_export:prod", "--chunk-rows", "200"]
    monkeypatch.setenv("MODELMILL_SCORE_THROTTLE", "0.2")  # a chunk every 0.2 s: time to interrupt
    result = _signal_on("scored", sig, *args)
    assert_clean_error(result, 130, "interrupted", "--resume")
    assert not output.exists()
    monkeypatch.delenv("MODELMILL_SCORE_THROTTLE")
    resumed = cli(*args, "--resume")
    assert resumed.code == 0, resumed.output
    assert "3000 of 3000 rows" in resumed.output


SLOW_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
SLOW_ROUNDS = int(os.environ.get("MODELMILL_INTERRUPT_ROUNDS", "2"))


@pytest.mark.slow
def test_interrupts_at_every_step_lose_nothing(trained_workspace: Path) -> None:
    """Every step, every signal, ``SLOW_ROUNDS`` rounds of new data on one workspace: after
    each interrupt every stored version still verifies and none is gone; at the end a full
    run succeeds and no MLflow run is left ``RUNNING``."""
    store = Workspace(trained_workspace).store
    tries = 0
    for round_ in range(SLOW_ROUNDS):
        overrides = [*TRACKED, f"etl.demo_seed={100 + round_}"]  # new data: every step runs again
        for step in STEPS:
            for sig in SLOW_SIGNALS:
                before = {v.ref for v in store.versions()}
                result = _interrupt_at(step, sig, *overrides)
                tries += 1
                if sig == signal.SIGKILL:
                    assert result.code == -signal.SIGKILL, result.output
                else:
                    _assert_interrupted(result, sig)
                after = {v.ref for v in store.versions()}
                assert before <= after, f"lost {before - after} after {sig.name} during {step}"
                assert store.verify() == [], f"{sig.name} during {step}"
        done = cli("run", *overrides)
        assert done.code == 0, done.output
    assert cli("artifacts", "verify").code == 0
    _wait_for_deferred_tracking(trained_workspace)
    assert _running(trained_workspace) == [], _runs(trained_workspace)
    assert tries == SLOW_ROUNDS * len(STEPS) * len(SLOW_SIGNALS)
