"""Classification on awkward targets (issue 15, "Bad input"), through the command line.

* An imbalanced binary target (1% positives, statsmodels' fair survey) trains, reports PR AUC,
  ranks by ROC AUC and says what always answering the majority class would score.
* A spec that declares a classification task on a target no classifier can learn (one class,
  numbers with decimals) stops before training with one line naming the column and the fix,
  exit 1, and nothing promoted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import data_tables
from tests.func.projects_helpers import new_project, statuses


@pytest.fixture(autouse=True)
def _project_shell(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import sklearn.ensemble  # noqa: F401  (loads OpenMP: threadpoolctl limits only loaded libraries)
    from threadpoolctl import threadpool_limits

    monkeypatch.delenv("MODELMILL_HOME", raising=False)  # the project's own workspace
    with threadpool_limits(1, user_api="openmp"):
        yield


def test_an_imbalanced_target_trains_and_is_judged_by_ranking_not_accuracy(
    tmp_path: Path, _machine_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from modelmill import open_workspace

    project = new_project(tmp_path, "rare", data_tables.rare_affairs, "affair", cache_dir=_machine_cache)
    assert project.init["task"] == "binary"
    with caplog.at_level("WARNING", logger="modelmill.step.evaluate"):
        result = project.mm("run", "--json").check()
    summary = result.json()
    metrics = summary["metrics"]
    assert np.isfinite(metrics["test_pr_auc"]) and np.isfinite(metrics["test_roc_auc"])
    store = open_workspace(project.workspace).store
    evaluation = json.loads(Path(store.path("evaluation")).read_text())
    test = pd.read_csv(store.path("test_data.csv"))
    share = float((test["affair"] == "no").mean())
    assert evaluation["majority_class"] == "no"
    assert evaluation["majority_accuracy"] == pytest.approx(share)
    assert share > 0.98, "the test split keeps the 1% positives (stratified)"
    promotion = json.loads(Path(store.path("promotion")).read_text())
    assert promotion["metric"] == "roc_auc"
    if metrics["test_accuracy"] <= share:  # no better than the majority: the run says so
        assert "no better than always answering 'no'" in caplog.text
    report = Path(store.path("evaluation_report.html")).read_text()
    assert "accuracy of always answering the majority class" in report


@pytest.mark.parametrize(
    ("labels", "inferred", "declared", "message"),
    [
        # the file's labels all became one class after init
        (lambda n: np.where(np.arange(n) % 2 == 0, "x", "y"), "binary", "binary",
         "target 'label': one class only ('a'); a classifier needs two"),
        # a measurement declared as classes by hand (init said regression)
        (lambda n: np.round(np.linspace(0, 9, n), 2), "regression", "multiclass",
         "target 'label': numbers with decimals"),
    ],
)  # fmt: skip
def test_a_target_no_classifier_can_learn_stops_before_training(
    labels,
    inferred: str,
    declared: str,
    message: str,
    tmp_path: Path,
    _machine_cache: Path,  # type: ignore[no-untyped-def]
) -> None:
    diabetes = data_tables.diabetes().drop(columns=["progression"])
    first = diabetes.assign(label=labels(len(diabetes)))
    project = new_project(tmp_path, "awkward", lambda: first, "label", cache_dir=_machine_cache)
    assert project.init["task"] == inferred
    spec = project.directory / "conf" / "dataset" / "awkward.yaml"
    spec.write_text(spec.read_text().replace(f"task: {inferred}", f"task: {declared}"))
    config = project.directory / "conf" / "config.yaml"  # the gate's metric must be the task's
    metric = {"binary": "roc_auc", "multiclass": "log_loss"}[declared]
    config.write_text(config.read_text().replace(f"metric: {project.config['promotion']['metric']}",
                                                 f"metric: {metric}"))  # fmt: skip
    if inferred == declared:
        diabetes.assign(label="a").to_csv(project.data, index=False)
    result = project.mm("run", "--json")
    assert result.code == 1, result.output
    errors = [s["error"] for s in result.json()["steps"] if s.get("error")]
    assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0], errors
    assert "Traceback" not in result.output
    assert statuses(result.json())["register"] == "skipped", "nothing registered or promoted"
