"""Effects: alias moves declared by steps, so the first run is a fixed point.

The pipeline (tests/example_pipeline, ``build_with_effects``) mirrors the tabular one: ``check``
sets ``doubled.json:reference`` on first use and reads it (like data_check), ``compare`` reads
``total.txt:prod`` (like evaluate) and ``publish`` moves it (like register). Every real execution
is counted, so "cached" is checked against what really ran.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from modelmill import Workspace
from modelmill.core.types import RunSummary
from modelmill.runner import Executor, PlainReporter
from tests.example_pipeline.helpers import COUNTER_ENV
from tests.example_pipeline.pipeline import EFFECT_STEPS, build_with_effects

ALL = list(EFFECT_STEPS)


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "executions.txt"
    monkeypatch.setenv(COUNTER_ENV, str(path))
    return path


@pytest.fixture
def executor(workspace: Workspace) -> Executor:
    return Executor(workspace, reporter=PlainReporter(io.StringIO()))


def ran(counter: Path) -> list[str]:
    """The steps executed since the previous call (the counter file is emptied)."""
    lines = counter.read_text().splitlines() if counter.exists() else []
    counter.write_text("")
    return lines


def statuses(summary: RunSummary) -> dict[str, str]:
    return {r.name: r.status for r in summary.steps}


def alias(ws: Workspace, ref: str) -> str | None:
    return ws.store.resolve(ref).ref if ws.store.exists(ref) else None


def test_the_first_run_is_a_fixed_point(executor: Executor, workspace: Workspace, counter: Path) -> None:
    first = executor.run(build_with_effects())
    assert statuses(first) == dict.fromkeys(ALL, "ran") and ran(counter) == ALL
    assert alias(workspace, "doubled.json:reference") == "doubled.json:v0"
    assert alias(workspace, "total.txt:prod") == "total.txt:v0"

    second = executor.run(build_with_effects())
    assert statuses(second) == dict.fromkeys(ALL, "cached") and ran(counter) == []
    by_name = {r.name: r for r in second.steps}
    # the readers report the inputs their cached execution saw: no reference, no prod yet
    assert by_name["check"].inputs == ["doubled.json:v0"]
    assert "doubled.json:reference as before check's move to doubled.json:v0" in by_name["check"].reason
    assert by_name["compare"].inputs == ["total.txt:v0"]
    assert statuses(executor.run(build_with_effects())) == dict.fromkeys(ALL, "cached")


def test_a_manual_alias_move_reruns_exactly_what_depends_on_it(
    executor: Executor, workspace: Workspace, counter: Path
) -> None:
    executor.run(build_with_effects())
    ran(counter)

    # the user sets reference by hand (even to the same version): only check reads it, and its
    # report is a leaf
    workspace.store.set_alias("doubled.json:v0", "reference", note="by hand")
    summary = executor.run(build_with_effects())
    assert ran(counter) == ["check"]
    assert {r.name: r for r in summary.steps}["check"].reason == "input doubled.json:reference changed"

    # the user moves prod by hand: compare re-runs, and its new comparison re-runs publish
    workspace.store.set_alias("total.txt:v0", "prod", note="by hand")
    executor.run(build_with_effects())
    assert ran(counter) == ["compare", "publish"]
    assert statuses(executor.run(build_with_effects())) == dict.fromkeys(ALL, "cached")


def test_changed_data_reads_the_aliases_as_they_are(
    executor: Executor, workspace: Workspace, counter: Path
) -> None:
    """The explained resolution only ever finds a cached execution; a new input runs against
    the aliases as they are now (the reference set by the first run, the prod it published)."""
    executor.run(build_with_effects())
    summary = executor.run(build_with_effects(factor=3))
    assert statuses(summary) == {"make_numbers": "cached", **dict.fromkeys(ALL[1:], "ran")}
    check = workspace.store.read_text("check.json:latest")
    assert '"compared_to": "doubled.json:v0"' in check
    assert '"prod": "total.txt:v0"' in workspace.store.read_text("comparison.json:latest")
    assert alias(workspace, "doubled.json:reference") == "doubled.json:v0"  # set on first use only
    assert alias(workspace, "total.txt:prod") == "total.txt:v1"

    # back to the first data: check's first execution is explained (it set the reference it now
    # reads); compare has never seen prod at v1 with this total, so it runs
    ran(counter)
    back = executor.run(build_with_effects())
    assert ran(counter) == ["compare", "publish"]
    assert statuses(back)["check"] == "cached"
    assert alias(workspace, "total.txt:prod") == "total.txt:v0"


def test_a_cache_hit_replays_its_effects(executor: Executor, workspace: Workspace, counter: Path) -> None:
    executor.run(build_with_effects())
    ran(counter)
    workspace.store.remove_alias("doubled.json", "reference")
    workspace.store.remove_alias("total.txt", "prod")
    summary = executor.run(build_with_effects())
    assert statuses(summary) == dict.fromkeys(ALL, "cached") and ran(counter) == []
    assert alias(workspace, "doubled.json:reference") == "doubled.json:v0"  # replayed
    assert alias(workspace, "total.txt:prod") == "total.txt:v0"
    assert statuses(executor.run(build_with_effects())) == dict.fromkeys(ALL, "cached")  # and explained


def test_a_replay_goes_through_via(
    executor: Executor, workspace: Workspace, counter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "registry.txt"
    monkeypatch.setenv("MODELMILL_TEST_MIRROR", str(mirror))
    executor.run(build_with_effects(via=True))
    assert mirror.read_text().splitlines() == ["prod=total.txt:v0"]  # the step moved it itself, once
    events = _events(workspace, "total.txt", "prod")
    assert len(events) == 1  # the executor recorded the step's own move, without moving it again

    ran(counter)
    workspace.store.remove_alias("total.txt", "prod")
    summary = executor.run(build_with_effects(via=True))
    assert statuses(summary) == dict.fromkeys(ALL, "cached") and ran(counter) == []
    assert mirror.read_text().splitlines() == ["prod=total.txt:v0", "prod=total.txt:v0"]  # replayed via
    assert alias(workspace, "total.txt:prod") == "total.txt:v0"


def test_effects_commit_with_the_outputs_or_not_at_all(executor: Executor, workspace: Workspace) -> None:
    """A step that fails after declaring an alias move leaves the alias where it was."""
    executor.run(build_with_effects(), steps=["make_numbers", "double", "total"])
    pipeline = build_with_effects()
    broken = pipeline.by_name["publish"]
    object.__setattr__(broken, "func", "tests.example_pipeline.steps:publish_without_output")
    summary = executor.run(pipeline)
    assert statuses(summary)["publish"] == "failed" and "without writing" in summary.steps[-1].error
    assert alias(workspace, "total.txt:prod") is None


def _events(ws: Workspace, name: str, alias_name: str) -> list[tuple[int, str]]:
    conn = sqlite3.connect(ws.root / "index.db")
    try:
        return conn.execute(
            "SELECT version_id, note FROM alias_events WHERE name = ? AND alias = ? ORDER BY id",
            (name, alias_name),
        ).fetchall()
    finally:
        conn.close()
