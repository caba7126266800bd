"""The runner's side of an interrupt, and how a run's owner process is told dead or alive.

The command-line promises (exit 130, one line, MLflow runs ended) are in
``tests/faults/test_interrupts.py``; these are the fast, in-process checks underneath.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from modelmill import Workspace
from modelmill.runner import Executor, Pipeline, step
from modelmill.runner.interrupt import Interrupted
from modelmill.tracking.liveness import Owner, current
from tests.example_pipeline.pipeline import STEPS


def interrupt_here(ctx: Any) -> None:
    """A step the user presses Ctrl-C in."""
    raise KeyboardInterrupt


class RecordingTracker:
    """Remembers how the executor ended the pipeline."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    def start_pipeline(self, run_id: str, config_yaml: str, params: dict[str, Any]) -> None: ...
    def start_step(self, step: str, params: dict[str, Any], tags: dict[str, str]) -> None: ...
    def log_metrics(self, metrics: dict[str, float]) -> None: ...
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...
    def end_step(self, status: str, tags: dict[str, str]) -> None: ...

    def end_pipeline(self, status: str, summary: dict[str, Any]) -> str | None:
        self.ended.append(status)
        return None


def _pipeline(interrupt: bool) -> Pipeline:
    second = f"{__name__}:interrupt_here" if interrupt else f"{STEPS}:double"
    return Pipeline([
        step("make_numbers", f"{STEPS}:make_numbers", outputs={"numbers.json": "numbers"}),
        step("double", second, inputs=["numbers.json"], outputs={"doubled.json": "numbers"}),
    ])  # fmt: skip


def test_an_interrupted_run_names_the_step_records_it_and_resumes(workspace: Workspace) -> None:
    tracker = RecordingTracker()
    with pytest.raises(Interrupted) as info:
        Executor(workspace, tracker=tracker).run(_pipeline(interrupt=True))
    message = info.value.message
    assert "interrupted (Ctrl-C) during step 'double'" in message
    assert "1 finished step(s) are stored" in message and "resumes at 'double'" in message
    assert isinstance(info.value, KeyboardInterrupt)  # `except Exception` never swallows it
    assert tracker.ended == ["interrupted"]
    rows = workspace.db.read(lambda c: c.execute("SELECT status, summary FROM pipeline_runs").fetchall())
    assert [r["status"] for r in rows] == ["interrupted"]
    assert json.loads(rows[0]["summary"])["error"] == message
    assert not any((workspace.runs_dir).iterdir())  # scratch removed

    again = Executor(workspace).run(_pipeline(interrupt=False))
    assert [(r.name, r.status) for r in again.steps] == [("make_numbers", "cached"), ("double", "ran")]


def test_a_run_whose_process_died_is_marked_failed_by_the_next(workspace: Workspace) -> None:
    from modelmill.runner.cache import ExecutionLog

    log = ExecutionLog(workspace.db)
    log.start_run("dead-run", "")
    dead = Owner(socket.gethostname(), _reaped_pid())
    workspace.db.write(lambda c: c.execute(
        "UPDATE pipeline_runs SET summary = ? WHERE run_id = 'dead-run'",
        (json.dumps({"process": dead.to_dict()}),),
    ))  # fmt: skip
    log.start_run("live-run", "")  # this process: alive
    Executor(workspace).run(_pipeline(interrupt=False))
    status = dict(
        workspace.db.read(lambda c: c.execute("SELECT run_id, status FROM pipeline_runs").fetchall())
    )
    assert status["dead-run"] == "failed"
    assert status["live-run"] == "running"


# ------------------------------------------------------------------------------- owners
def _reaped_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_this_process_is_alive() -> None:
    assert current().pid == os.getpid()
    assert not current().is_dead()


def test_an_exited_process_is_dead() -> None:
    assert Owner(socket.gethostname(), _reaped_pid()).is_dead()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_zombie_is_dead_and_a_reused_pid_is_not_the_owner() -> None:
    proc = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert Owner(socket.gethostname(), proc.pid).is_dead()  # killed, not yet reaped
    finally:
        proc.wait()
    me = current()
    assert Owner(me.host, me.pid, started="1").is_dead()  # same pid, another start time


def test_another_hosts_process_is_never_called_dead() -> None:
    assert not Owner("another-host.example", _reaped_pid()).is_dead()


def test_owner_tags_round_trip_and_incomplete_tags_name_no_owner() -> None:
    me = current()
    assert Owner.from_tags(me.tags()) == me
    assert Owner.from_dict(me.to_dict()) == me
    assert Owner.from_tags({}) is None
    assert Owner.from_tags({"modelmill.host": "h", "modelmill.pid": "x"}) is None
