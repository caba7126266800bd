"""Sweeping the packaged toy pipeline: the sweep finds its steps by role, never by name."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from modelmill.cli import app
from modelmill.sweep.plan import make_plan

TOY = ["main.pipeline=modelmill.examples.toy:build_pipeline", "main.tracking=none", "example.rows=400"]


def sweep(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(app, ["sweep", *TOY, *args, "--json"])
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, data, result.stderr


def test_the_toy_plan_comes_from_roles() -> None:
    plan, _ = make_plan([[*TOY, "example.alpha=0.1"], [*TOY, "example.alpha=10"]])
    assert plan.shared == ["make_data", "clean", "split"]
    assert plan.per_trial == ["fit", "score"] and plan.publish == []
    assert (plan.model_step, plan.model_artifact) == ("fit", "toy_model.json")


def test_sweeping_the_toy_pipeline_ranks_its_trials() -> None:
    code, data, err = sweep("example.alpha=0.01,1000", "-j", "1")
    assert code == 0, err
    assert data["shared_steps"] == dict.fromkeys(["make_data", "clean", "split"], "ran")
    trials = data["trials"]
    assert [t["status"] for t in trials] == ["ok", "ok"]
    assert trials[0]["metrics"]["val_mae"] < trials[1]["metrics"]["val_mae"]  # ranked, best first
    assert trials[0]["params"] == {"example.alpha": "0.01"}  # a heavy ridge penalty fits worse
    assert sorted(t["model"] for t in trials) == ["toy_model.json:v0", "toy_model.json:v1"]
    for t in trials:
        assert t["steps"] == {"make_data": "cached", "clean": "cached", "split": "cached",
                              "fit": "ran", "score": "ran"}  # fmt: skip


def test_promote_best_needs_a_promote_step() -> None:
    code, _, err = sweep("example.alpha=0.1,10", "--promote-best")
    assert code == 2
    assert "--promote-best needs a step with role 'promote'" in err


def test_auto_direction_comes_from_the_tasks() -> None:
    from modelmill.sweep.ranking import resolve_direction

    assert resolve_direction("val_mae", "auto") == "minimize"
    assert resolve_direction("val_r2", "auto") == "maximize"
    assert resolve_direction("val_roc_auc", "auto") == "maximize"  # a binary task's metric
    assert resolve_direction("val_log_loss", "auto") == "minimize"
    assert resolve_direction("val_balanced_accuracy", "auto") == "maximize"
    assert resolve_direction("fit_seconds", "auto") == "minimize"
