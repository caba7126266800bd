"""The HTML reports written by the train and evaluate steps, through the real Executor.

Same small pipeline as test_train_evaluate.py, with evaluate declaring
``evaluation_report.html`` as the NYC pipeline does.
"""

from __future__ import annotations

import io
import re

import pytest

from modelmill import Workspace
from modelmill.core.types import RunSummary
from modelmill.runner import Executor, Input, Pipeline, PlainReporter, step
from tests.unit.test_reports_charts import Page, table_rows

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
S = "modelmill.steps"
MODEL = "random_forest_export"
FOREST = {"n_estimators": 8, "max_depth": 8, "min_samples_leaf": 2, "max_features": 0.5, "n_jobs": 1}


def build(forest: dict[str, object]) -> Pipeline:
    """The packaged pipeline's steps and params (the NYC spec, demo data) without data_check and
    register; evaluate declares ``evaluation_report.html`` as the packaged pipeline does."""
    from modelmill import config
    from modelmill.pipelines.tabular import build_pipeline

    full = {
        s.name: s for s in build_pipeline(config.compose(["etl.demo_rows=1200", "etl.demo_seed=3"])).steps
    }
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
             outputs={"evaluation": "evaluation", "evaluation_report.html": "evaluation_report"},
             params=full["evaluate"].params),
    ])  # fmt: skip


def run(workspace: Workspace, forest: dict[str, object]) -> RunSummary:
    out = io.StringIO()
    summary = Executor(workspace, reporter=PlainReporter(out)).run(build(forest))
    assert summary.status == "success", out.getvalue()
    return summary


def _section(html: str, ident: str) -> str:
    start = html.index(f'<section id="{ident}">')
    return html[start : html.index("</section>", start)]


def test_training_and_evaluation_reports(tmp_path_factory: pytest.TempPathFactory) -> None:
    workspace = Workspace(tmp_path_factory.mktemp("reports") / "ws")
    first = run(workspace, FOREST)
    export = workspace.store.path(f"{MODEL}:v0")
    training = (export / "extras" / "training_report.html").read_text(encoding="utf-8")
    metrics = {r[0]: r[1] for r in table_rows(training, "metrics")[1:]}
    assert float(metrics["val_mae"]) == pytest.approx(first.metrics["val_mae"], rel=1e-3)
    assert "fit_seconds" not in metrics  # timings would make equal fits differ
    groups = [r[0] for r in table_rows(training, "residuals")[1:]]
    assert "Manhattan" in groups and "Brooklyn" in groups
    assert "Residuals by neighbourhood_group" in training  # the spec's group column
    assert Page(_section(training, "predicted-vs-actual")).count("circle", "pt") > 50
    assert not re.search(r"https?://", training)

    evaluation = workspace.store.resolve("evaluation_report.html:v0")
    assert evaluation.type == "evaluation_report" and evaluation.metadata["prod"] is None
    page = workspace.store.read_text("evaluation_report.html:v0")
    assert "first model" in page and f"{MODEL}:v0" in page
    assert float(table_rows(page, "metrics")[1][1]) == pytest.approx(first.metrics["test_mae"], rel=1e-3)

    assert set(r.status for r in run(workspace, FOREST).steps) == {"cached"}
    workspace.store.set_alias(f"{MODEL}:v0", "prod")
    run(workspace, {**FOREST, "n_estimators": 9})
    page = workspace.store.read_text("evaluation_report.html:latest")
    rows = {r[0]: r for r in table_rows(page, "metrics")[1:]}
    assert float(rows["mae"][2]) == pytest.approx(first.metrics["test_mae"], rel=1e-3)
    assert rows["mae"][4] in {"candidate", "prod", "equal"}
    by_group = {r[0]: r for r in table_rows(page, "groups")[1:]}
    assert "Manhattan" in by_group and by_group["Manhattan"][2] != "—"
