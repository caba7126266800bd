"""The weekly retraining scenario: a first batch, a bad batch, a clean new batch.

A deterministic data failure stops the run at data_check with a message naming the
test and the offending listings; nothing later runs and prod is untouched. A clean
batch trains, evaluates and is promoted only if its test MAE beats prod's.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import modelmill
from modelmill.cli import app
from modelmill.datasets import generate_listings
from modelmill.datasets.io import write_csv

FAST = [
    "main.tracking=none",
    "etl.demo_rows=1500",
    "data_check.min_rows=200",
    "modeling.random_forest.n_estimators=15",
    "modeling.random_forest.criterion=squared_error",
    "modeling.random_forest.oob_score=false",
]
MODEL = "random_forest_export"


def _registry_prod(home: Path) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    try:
        version = client.get_model_version_by_alias("nyc_rentals", "prod")
    except MlflowException:
        return None
    return str(version.tags.get("modelmill.artifact"))


def _batch(path: Path, seed: int, *, unknown_groups: int = 0, outside_box: int = 0) -> Path:
    frame = generate_listings(1500, seed=seed)
    frame.loc[: unknown_groups - 1, "neighbourhood_group"] = "Long Island"
    frame.loc[100 : 100 + outside_box - 1, "longitude"] = -75.1
    write_csv(frame, path)
    return path


def test_three_weeks(tmp_path: Path, _isolated_home: Path) -> None:
    ws = modelmill.open_workspace()
    # week 1: the demo sample; first model, promoted because there is no prod yet
    week1 = modelmill.run(FAST)
    assert week1.status == "success", [(s.name, s.error) for s in week1.steps]
    assert ws.store.resolve(f"{MODEL}:prod").ref == f"{MODEL}:v0"
    assert ws.store.resolve("clean_sample.csv:reference").ref == "clean_sample.csv:v0"
    assert _registry_prod(_isolated_home) == f"{MODEL}:v0"

    # week 2: a batch with listings in an unknown borough (cleaning does not drop them)
    bad = _batch(tmp_path / "week2.csv", seed=11, unknown_groups=3)
    week2 = modelmill.run([*FAST, f"etl.sample={bad}"])
    statuses = {s.name: s.status for s in week2.steps}
    assert week2.status == "failed"
    assert statuses["data_check"] == "failed"
    assert {statuses[s] for s in ("data_split", "train", "evaluate", "register")} == {"skipped"}
    error = next(s.error for s in week2.steps if s.name == "data_check")
    assert "neighbourhood_group" in error and "Long Island" in error
    assert ws.store.resolve(f"{MODEL}:prod").ref == f"{MODEL}:v0"  # nothing promoted
    assert [v.ref for v in ws.store.versions(MODEL)] == [f"{MODEL}:v0"]
    assert _registry_prod(_isolated_home) == f"{MODEL}:v0"
    cli = CliRunner().invoke(app, ["run", *FAST, f"etl.sample={bad}"])
    assert cli.exit_code == 1 and "data_check" in cli.stderr

    # week 3: a clean new batch (one listing outside NYC, which cleaning drops)
    good = _batch(tmp_path / "week3.csv", seed=12, outside_box=1)
    week3 = modelmill.run([*FAST, f"etl.sample={good}"])
    assert week3.status == "success", [(s.name, s.error) for s in week3.steps]
    removed = ws.store.resolve("clean_sample.csv:latest").metadata["removed"]
    assert removed["box_nyc"] == 1  # the rule named after the spec's box
    evaluation = json.loads(ws.store.read_text("evaluation:latest"))
    promotion = json.loads(ws.store.read_text("promotion:latest"))
    assert evaluation["candidate"]["ref"] == f"{MODEL}:v1"
    assert evaluation["prod"]["ref"] == f"{MODEL}:v0"
    better = evaluation["candidate"]["mae"] < evaluation["prod"]["mae"]
    assert promotion["promoted"] is better
    expected = f"{MODEL}:v1" if better else f"{MODEL}:v0"
    assert ws.store.resolve(f"{MODEL}:prod").ref == expected
    assert _registry_prod(_isolated_home) == expected
