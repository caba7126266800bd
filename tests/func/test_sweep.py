"""`modelmill sweep` (grid): shared steps once, trials in worker processes, ranked table,
failed trials reported, MLflow grouping, and promotion of the best trial through the gate.

Small demo data and tiny forests keep every sweep to seconds; the real 15-trial course
sweep is measured by ``benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelmill.cli import app
from modelmill.core.errors import ConfigError
from modelmill.sweep import SweepOptions, run_sweep
from modelmill.sweep.plan import make_plan
from modelmill.sweep.space import expand

runner = CliRunner()
SMALL = ["etl.demo_rows=1500", "modeling.random_forest.n_estimators=8", "modeling.random_forest.max_depth=6"]


def sweep_json(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["sweep", *SMALL, *args, "--json"])
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, data, result.stderr


def comparable(table: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The table without timings and run ids."""
    return [
        (t["index"], t["status"], sorted(t["params"].items()), round(t["metrics"].get("val_mae", -1), 9))
        for t in table
    ]


def test_grid_expansion_is_hydras() -> None:
    grid = expand(
        [
            "modeling.max_tfidf_features=10,15,30",
            "modeling.random_forest.max_features=0.1,0.33,0.5,0.75,1",
            "etl.demo_rows=100",
        ]
    )
    assert len(grid.trials) == 15
    assert grid.swept_keys == ["modeling.max_tfidf_features", "modeling.random_forest.max_features"]
    assert all("etl.demo_rows=100" in t for t in grid.trials)
    assert grid.trials[1] == [
        "modeling.max_tfidf_features=10",
        "modeling.random_forest.max_features=0.33",
        "etl.demo_rows=100",
    ]
    assert len(expand(["modeling.max_tfidf_features=range(1,4)", "x=choice(a,b)"]).trials) == 6


def test_interval_needs_optuna_and_bad_syntax_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--optuna"):
        expand(["modeling.random_forest.max_depth=int(interval(5,40))"])
    with pytest.raises(ConfigError, match="Hydra syntax"):
        expand(["modeling.max_tfidf_features=[1,"])
    with pytest.raises(ConfigError, match="cannot vary"):
        expand(["main.workspace=a,b"])


def test_plan_shares_data_steps_unless_a_sweep_touches_them() -> None:
    plan, _ = make_plan([["modeling.max_tfidf_features=5"], ["modeling.max_tfidf_features=10"]])
    assert plan.shared == ["get_data", "basic_cleaning", "data_check", "data_split"]
    assert plan.per_trial == ["train", "evaluate"] and plan.publish == ["register"]
    plan, _ = make_plan([["etl.min_price=10"], ["etl.min_price=20"]])
    assert plan.shared == ["get_data"]
    assert plan.per_trial[:2] == ["basic_cleaning", "data_check"]


def test_unknown_key_in_any_trial_exits_2_before_anything_runs(tmp_path: Path) -> None:
    code, _, err = sweep_json("modeling.max_tfidf_feature=5,10", "main.tracking=none")
    assert code == 2 and "unknown config key 'modeling.max_tfidf_feature'" in err
    assert "Did you mean: modeling.max_tfidf_features" in err


def test_sweep_runs_upstream_once_trials_in_parallel_and_ranks(tmp_path: Path) -> None:
    code, data, err = sweep_json(
        "modeling.max_tfidf_features=5,10",
        "modeling.random_forest.max_features=0.5,0.9",
        "main.tracking=none",
        "-j",
        "2",
    )
    assert code == 0, err
    assert data["shared_steps"] == dict.fromkeys(
        ["get_data", "basic_cleaning", "data_check", "data_split"], "ran"
    )
    assert data["per_trial_steps"] == ["train", "evaluate"]
    trials = data["trials"]
    assert sorted(t["index"] for t in trials) == [0, 1, 2, 3]
    for t in trials:  # the shared steps are cache hits in every trial; only train/evaluate run
        assert t["status"] == "ok"
        assert {k for k, v in t["steps"].items() if v == "cached"} == set(data["shared_steps"])
        assert {k for k, v in t["steps"].items() if v == "ran"} == {"train", "evaluate"}
    maes = [t["metrics"]["val_mae"] for t in trials]
    assert maes == sorted(maes) and data["best"] == trials[0]["index"]
    assert len({t["model"] for t in trials}) == 4  # each trial's export is its own artifact version
    assert "register" not in trials[0]["steps"] and data["promotion"] is None
    assert data["results"] == "sweep_results:v0"
    # the same sweep again: everything is cached, the table is identical
    code, again, _ = sweep_json(
        "modeling.max_tfidf_features=5,10",
        "modeling.random_forest.max_features=0.5,0.9",
        "main.tracking=none",
        "-j",
        "2",
    )
    assert code == 0
    assert comparable(again["trials"]) == comparable(trials)
    assert all(set(t["steps"].values()) == {"cached"} for t in again["trials"])


@pytest.mark.slow  # a long run; `make test-slow` runs it
def test_same_seeds_give_the_same_table_in_a_fresh_workspace(tmp_path: Path) -> None:
    args = ("modeling.random_forest.max_features=0.3,0.8", "main.tracking=none", "-j", "1")
    _, first, _ = sweep_json(*args)
    _, second, _ = sweep_json(*args, f"main.workspace={tmp_path / 'other'}")
    assert comparable(first["trials"]) == comparable(second["trials"])


def test_a_failing_trial_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    code, data, err = sweep_json(
        "modeling.random_forest.max_features=0.5,2.5,0.9", "main.tracking=none", "-j", "2"
    )
    assert code == 0, err
    by_index = {t["index"]: t for t in data["trials"]}
    assert by_index[1]["status"] == "failed"
    assert "train" in by_index[1]["error"] and "max_features" in by_index[1]["error"]
    assert by_index[0]["status"] == by_index[2]["status"] == "ok"
    assert data["trials"][-1]["index"] == 1  # failed trials rank last
    table = runner.invoke(
        app, ["sweep", *SMALL, "modeling.random_forest.max_features=0.5,2.5", "main.tracking=none"]
    )
    assert "InvalidParameterError" in table.stdout and "rank" in table.stdout


def test_every_trial_failing_exits_1(tmp_path: Path) -> None:
    code, data, err = sweep_json(
        "modeling.random_forest.max_features=2.5,3.5", "main.tracking=none", "-j", "1"
    )
    assert code == 1 and "every trial failed" in err
    assert {t["status"] for t in data["trials"]} == {"failed"}


def test_a_failing_shared_step_stops_the_sweep(tmp_path: Path) -> None:
    code, data, err = sweep_json(
        "data_check.min_rows=100000", "modeling.max_tfidf_features=5,10", "main.tracking=none"
    )
    assert code == 1 and "data_check" in err
    assert data["trials"] == [] and data["shared_steps"]["data_check"] == "failed"


@pytest.mark.slow  # a long run; `make test-slow` runs it
def test_trials_nest_under_one_mlflow_sweep_run(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    summary = run_sweep([*SMALL, "modeling.max_tfidf_features=5,10"], SweepOptions(jobs=2))
    assert summary.tracking_run_id is not None
    client = MlflowClient(tracking_uri=f"sqlite:///{Path.cwd().parent / 'ws' / 'mlflow.db'}")
    sweep_run = client.get_run(summary.tracking_run_id)
    assert sweep_run.data.tags["modelmill.kind"] == "sweep"
    assert sweep_run.data.metrics["best_val_mae"] == pytest.approx(summary.trials[0].metrics["val_mae"])
    experiment = sweep_run.info.experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{summary.tracking_run_id}'")
    trial_runs = [r for r in children if "modelmill.trial" in r.data.tags]
    assert sorted(r.data.tags["modelmill.trial"] for r in trial_runs) == ["0", "1"]
    assert {r.data.params["modeling.max_tfidf_features"] for r in trial_runs} == {"5", "10"}
    assert all("val_mae" in r.data.metrics for r in trial_runs)


@pytest.mark.slow  # a long run; `make test-slow` runs it
def test_promote_best_goes_through_the_gate(tmp_path: Path) -> None:
    code, data, err = sweep_json("modeling.random_forest.max_features=0.4,0.9", "--promote-best", "-j", "2")
    assert code == 0, err
    promotion = data["promotion"]
    assert promotion["trial"] == data["best"] and promotion["promoted"] is True  # no prod yet
    assert promotion["steps"]["register"] == "ran" and promotion["steps"]["train"] == "cached"
    # a sweep of much weaker models: the best of them does not beat prod, nothing moves
    code, weak, err = sweep_json(
        "modeling.random_forest.max_depth=1",
        "modeling.random_forest.max_features=0.2,0.3",
        "--promote-best",
        "-j",
        "2",
    )
    assert code == 0, err
    assert weak["promotion"]["promoted"] is False
    assert weak["promotion"]["metrics"]["test_mae"] > weak["promotion"]["metrics"]["prod_test_mae"]
    shown = runner.invoke(app, ["artifacts", "show", "random_forest_export:prod", "--json"])
    assert json.loads(shown.stdout)["ref"] == promotion["model"]
