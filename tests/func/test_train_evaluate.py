"""get_data -> basic_cleaning -> data_split -> train -> evaluate through the real Executor.

Demo data and a small forest (10 trees, squared_error) keep it to a few seconds; data_check
and register are left out (data_split reads only ``clean_sample.csv`` here).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmill import Workspace
from modelmill.core.types import RunSummary
from modelmill.runner import Executor, Input, Pipeline, PlainReporter, step

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
S = "modelmill.steps"
MODEL = "random_forest_export"
FOREST = {"n_estimators": 10, "max_depth": 10, "min_samples_leaf": 2, "criterion": "squared_error",
          "max_features": 0.5, "oob_score": True, "n_jobs": 1}  # fmt: skip


def build(forest: dict[str, Any]) -> Pipeline:
    """The packaged pipeline's steps and params (the NYC spec, demo data), without data_check
    and register, and with ``forest`` as the random forest's keyword arguments."""
    from modelmill import config
    from modelmill.pipelines.tabular import build_pipeline

    full = {
        s.name: s for s in build_pipeline(config.compose(["etl.demo_rows=1500", "etl.demo_seed=7"])).steps
    }
    assert full["train"].params["model"] == MODEL
    return Pipeline([
        step("get_data", f"{S}.get_data:run", outputs={"sample.csv": "raw_data"},
             params=full["get_data"].params),
        step("basic_cleaning", f"{S}.basic_cleaning:run", inputs=["sample.csv"],
             outputs={"clean_sample.csv": "clean_sample"}, params=full["basic_cleaning"].params),
        step("data_split", f"{S}.data_split:run", inputs=["clean_sample.csv"],
             outputs={"trainval_data.csv": "trainval_data", "test_data.csv": "test_data"},
             params=full["data_split"].params),
        step("train", f"{S}.train:run", inputs=["trainval_data.csv"], outputs={MODEL: "model_export"},
             params={**full["train"].params, "random_forest": forest}),
        step("evaluate", f"{S}.evaluate:run",
             inputs=[MODEL, "test_data.csv", Input(f"{MODEL}:prod", external=True, optional=True)],
             outputs={"evaluation": "evaluation"}, params=full["evaluate"].params),
    ])  # fmt: skip


def run(workspace: Workspace, forest: dict[str, Any]) -> RunSummary:
    out = io.StringIO()
    summary = Executor(workspace, reporter=PlainReporter(out)).run(build(forest))
    errors = {r.name: r.error for r in summary.steps if r.error}
    assert summary.status == "success", f"{errors}\n{out.getvalue()}"
    return summary


def statuses(summary: RunSummary) -> dict[str, str]:
    return {r.name: r.status for r in summary.steps}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, RunSummary]:
    """One workspace shared by the tests below: the first execution of the pipeline."""
    workspace = Workspace(tmp_path_factory.mktemp("train_eval") / "ws")
    return workspace, run(workspace, FOREST)


def test_first_run_runs_every_step_and_logs_metrics(first: tuple[Workspace, RunSummary]) -> None:
    workspace, summary = first
    assert set(statuses(summary).values()) == {"ran"}
    metrics = summary.metrics
    for key in ("val_mae", "val_r2", "oob_r2", "fit_seconds", "test_mae", "test_r2"):
        assert math.isfinite(metrics[key]), key
    assert "prod_test_mae" not in metrics
    assert 5 < metrics["val_mae"] < 120 and 5 < metrics["test_mae"] < 120
    meta = workspace.store.resolve(f"{MODEL}:v0").metadata
    assert meta["val_mae"] == pytest.approx(metrics["val_mae"])
    assert meta["n_train"] > 500 and meta["params"]["random_forest"] == FOREST
    assert "name" in meta["feature_importance"]


def test_export_is_an_mlflow_model_serialized_with_skops(first: tuple[Workspace, RunSummary]) -> None:
    workspace, _ = first
    export = workspace.store.path(f"{MODEL}:v0")
    files = {p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file()}
    assert {"MLmodel", "model.skops", "input_example.json", "requirements.txt"} <= files
    assert {"extras/feature_importance.png", "extras/metrics.json"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    mlmodel = (export / "MLmodel").read_text()
    assert "serialization_format: skops" in mlmodel
    assert "modelmill.features.transformers.DaysSince" in mlmodel
    assert (export / "extras" / "feature_importance.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((export / "extras" / "metrics.json").read_text())
    assert set(report) == {"metrics", "feature_importance", "params"}


def test_exported_model_predicts_raw_rows_with_missing_values(first: tuple[Workspace, RunSummary]) -> None:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    workspace, _ = first
    export = workspace.store.path(f"{MODEL}:v0")  # read-only blob directory
    model = mlflow.pyfunc.load_model(str(export))
    schema = model.metadata.get_input_schema()
    assert schema is not None and all(not c.required for c in schema.inputs)
    test = pd.read_csv(workspace.store.path("test_data.csv")).drop(columns=["price"])
    raw = test.head(5).copy()  # raw rows as read_csv gives them: int64 counts, str text
    assert np.isfinite(np.asarray(model.predict(raw))).all()
    rows = raw.copy()
    rows.loc[0, ["name", "last_review", "host_name"]] = None
    rows.loc[0, ["reviews_per_month", "latitude"]] = np.nan
    rows.loc[1, "room_type"] = "Hotel room"  # unseen category
    predicted = np.asarray(model.predict(rows))
    assert predicted.shape == (5,) and np.isfinite(predicted).all()
    counts = raw.copy()
    counts["minimum_nights"] = counts["minimum_nights"].astype(float)
    counts.loc[0, "minimum_nights"] = np.nan  # a count is never missing: refused by the schema
    with pytest.raises(MlflowException, match="minimum_nights"):
        model.predict(counts)
    sparse = pd.DataFrame([{"room_type": "Private room", "neighbourhood_group": "Queens", "name": None}])
    assert np.isfinite(np.asarray(model.predict(sparse))).all()  # absent optional columns


def test_evaluation_without_prod(first: tuple[Workspace, RunSummary]) -> None:
    workspace, summary = first
    evaluation = json.loads(workspace.store.read_text("evaluation:v0"))
    assert evaluation["candidate"]["ref"] == f"{MODEL}:v0"
    assert evaluation["candidate"]["mae"] == pytest.approx(summary.metrics["test_mae"])
    assert evaluation["candidate"]["r2"] == pytest.approx(summary.metrics["test_r2"])
    assert evaluation["prod"] is None
    assert evaluation["test_data"] == "test_data.csv:v0"
    rows = len(pd.read_csv(workspace.store.path("test_data.csv:v0")))
    assert evaluation["n_test"] == rows


def test_second_run_is_cached_then_new_model_is_compared_with_prod(
    first: tuple[Workspace, RunSummary],
) -> None:
    workspace, summary = first
    assert set(statuses(run(workspace, FOREST)).values()) == {"cached"}
    workspace.store.set_alias(f"{MODEL}:v0", "prod")
    second = run(workspace, {**FOREST, "n_estimators": 12})
    states = statuses(second)
    assert states["train"] == states["evaluate"] == "ran"
    assert {states[s] for s in ("get_data", "basic_cleaning", "data_split")} == {"cached"}
    evaluation = json.loads(workspace.store.read_text("evaluation:latest"))
    assert evaluation["candidate"]["ref"] == f"{MODEL}:v1"
    assert evaluation["prod"]["ref"] == f"{MODEL}:v0"
    assert "error" not in evaluation["prod"]
    assert evaluation["prod"]["mae"] == pytest.approx(summary.metrics["test_mae"])
    assert second.metrics["prod_test_mae"] == pytest.approx(evaluation["prod"]["mae"])
    assert second.metrics["prod_test_r2"] == pytest.approx(evaluation["prod"]["r2"])
    assert evaluation["candidate"]["mae"] != evaluation["prod"]["mae"]


def test_unloadable_prod_model_is_reported_not_fatal(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws2")
    broken = tmp_path / "broken_export"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: {}\n")
    workspace.store.put(broken, MODEL, "model_export", aliases=["prod"])
    summary = run(workspace, FOREST)
    evaluation = json.loads(workspace.store.read_text("evaluation:latest"))
    assert evaluation["candidate"]["ref"] == f"{MODEL}:v1"
    assert evaluation["prod"]["ref"] == f"{MODEL}:v0"
    assert evaluation["prod"]["mae"] is None and evaluation["prod"]["error"]
    assert "prod_test_mae" not in summary.metrics
