"""Classification end to end (issue 15) on real public tables, through the command line.

Each test takes one table shipped inside an installed package (scikit-learn's breast cancer,
labels as text; statsmodels' anes96, labels as integers; scikit-learn's wine, three classes),
writes it to a CSV and goes through what a user would type, with no edit to the generated files:

    modelmill init DIR --data FILE --target LABEL     # infers the task from the target
    cd DIR && modelmill run                           # calibrated, threshold chosen on validation
    modelmill serve                                   # /predict: label + every class's probability
    modelmill score rows.csv out.parquet              # prediction + proba_<class> columns
    modelmill monitor rows.csv --actuals truth.csv    # prediction drift, accuracy/ROC AUC/log loss

Figures are checked against scikit-learn's on the same rows, never against constants.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tests import data_tables
from tests.func.projects_helpers import Project, new_project, records, sample_rows, statuses, write_table

TASKS = {"breast_cancer": "binary", "anes96": "binary", "wine": "multiclass"}
SCORED_ROWS = 150


def check_init(project: Project, kind: str) -> None:
    info = project.init
    assert (info["task"], info["target"]) == (kind, project.target), info
    spec = (project.directory / "conf" / "dataset" / f"{project.name}.yaml").read_text()
    assert f"stratify: {project.target}" in spec, "a classification split is stratified by the target"
    config = project.config
    assert config["promotion"]["metric"] == ("roc_auc" if kind == "binary" else "log_loss")
    assert config["modeling"]["decision"]["calibration"] == "auto"
    assert "target_transform" not in config["modeling"], "a regression setting in a classification project"


def check_run(project: Project, kind: str) -> dict[str, Any]:
    summary = project.run()
    assert summary["status"] == "success", summary
    metrics = summary["metrics"]
    wanted = ("roc_auc", "pr_auc", "log_loss", "brier") if kind == "binary" else ("log_loss", "f1_macro")
    for name in (*wanted, "accuracy", "balanced_accuracy"):
        assert math.isfinite(metrics[f"test_{name}"]), (name, metrics)
    assert metrics["test_accuracy"] > 0.6, metrics  # far above chance on these tables
    second = project.run()
    assert set(statuses(second).values()) == {"cached"}, statuses(second)
    return summary


def model_dir(project: Project) -> Path:
    """The prod model's directory in the project's store."""
    from modelmill import open_workspace

    store = open_workspace(project.workspace).store
    return Path(store.path(f"{project.config['main']['model_artifact']}:prod"))


def check_model(project: Project, kind: str) -> dict[str, Any]:
    """The exported model: plain MLflow pyfunc gives labels, the sklearn flavour probabilities;
    the decision recorded with it; the threshold is the one predict applies."""
    import mlflow.pyfunc
    import mlflow.sklearn

    from modelmill.registry.export import as_model_input

    directory = model_dir(project)
    meta = json.loads((directory / "extras" / "metrics.json").read_text())
    frame = project.frame
    rows = as_model_input(frame.drop(columns=[project.target]).head(40), mlflow.pyfunc.load_model(
        str(directory)).metadata.get_input_schema())  # fmt: skip
    labels = mlflow.pyfunc.load_model(str(directory)).predict(rows)
    pipeline = mlflow.sklearn.load_model(str(directory))
    proba = pipeline.predict_proba(rows)
    classes = list(pipeline.classes_)
    assert sorted(map(str, classes)) == sorted(map(str, frame[project.target].unique()))
    assert set(np.asarray(labels).tolist()) <= set(classes), "labels are the user's labels"
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    decision = meta["decision"]
    check = decision["calibration_check"]  # auto: sigmoid only when held-out validation rows say so
    assert decision["calibration"] == ("sigmoid" if check["sigmoid_cv"] < check["val_log_loss"] else "none")
    report = (directory / "extras" / "training_report.html").read_text()
    for section in ("Confusion matrix", "ROC", "Calibration"):
        assert section in report, f"the training report has no {section} section"
    if kind == "binary":
        threshold = float(pipeline[-1].threshold)
        assert 0.0 < threshold < 1.0
        decided = np.where(proba[:, 1] >= threshold, classes[1], classes[0])
        assert np.asarray(labels).tolist() == decided.tolist(), "predict applies the stored threshold"
    else:
        assert np.asarray(labels).tolist() == np.asarray(classes)[proba.argmax(axis=1)].tolist()
    return {"classes": classes}


def serve(project: Project, rows: list[dict[str, Any]], classes: list[Any], monkeypatch: Any) -> Any:
    """``modelmill serve``: /predict answers labels and each class's probability; /metadata the
    classes and the threshold; /invocations MLflow's labels."""
    import uvicorn
    from fastapi.testclient import TestClient

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    project.mm("serve", "--poll-interval", "60").check()
    with TestClient(served["app"]) as client:
        deadline = time.monotonic() + 60
        while (ready := client.get("/ready")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.status_code == 200, ready.text
        meta = client.get("/metadata").json()["model"]
        assert meta["classes"] == classes and meta["task"] == TASKS[project.name], meta
        answer = client.post("/predict", json=rows)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["predictions"]) == len(rows) == len(body["probabilities"])
        for label, probabilities in zip(body["predictions"], body["probabilities"], strict=True):
            assert list(probabilities) == [str(c) for c in classes]
            assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
            assert label in classes
        mlflow_style = client.post("/invocations", json={"dataframe_records": rows[:3]}).json()
        assert mlflow_style["predictions"] == body["predictions"][:3]
        return body


def check_score(project: Project, rows: pd.DataFrame, served: dict[str, Any], classes: list[Any]) -> Path:
    batch = write_table(rows, project.directory / "batches" / "rows.csv")
    out = project.directory / "batches" / "scored.parquet"
    project.mm("score", str(batch), str(out), "--json").check()
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["row", "prediction", *(f"proba_{c}" for c in classes)]
    assert scored["prediction"].tolist() == served["predictions"], "score and serve disagree on labels"
    served_proba = np.array([[p[str(c)] for c in classes] for p in served["probabilities"]])
    np.testing.assert_allclose(scored[[f"proba_{c}" for c in classes]].to_numpy(), served_proba, atol=1e-4)
    return out


def check_evaluation(project: Project) -> None:
    """The evaluation's per-class figures are scikit-learn's on the test rows, with the prod model."""
    import mlflow.sklearn

    from modelmill import open_workspace
    from modelmill.registry.export import as_model_input

    store = open_workspace(project.workspace).store
    evaluation = json.loads(Path(store.path("evaluation")).read_text())
    test = pd.read_csv(store.path("test_data.csv"))
    truth = test.pop(project.target)
    pipeline = mlflow.sklearn.load_model(str(model_dir(project)))
    predicted = pipeline.predict(as_model_input(test))
    classes = list(pipeline.classes_)
    precision, recall, _, support = skm.precision_recall_fscore_support(truth, predicted, labels=classes,
                                                                         zero_division=0.0)  # fmt: skip
    for j, c in enumerate(classes):
        figures = evaluation["per_class"][str(c)]
        assert figures["precision"] == pytest.approx(precision[j]) and figures["recall"] == pytest.approx(
            recall[j]
        )
        assert figures["support"] == support[j]
    assert evaluation["majority_accuracy"] == pytest.approx(truth.value_counts(normalize=True).iloc[0])


def check_retrain(project: Project) -> None:
    """retrain and the promotion gate decide on the classification metric."""
    batch = project.frame.sample(frac=0.9, random_state=7).sort_index()
    path = write_table(batch, project.directory / "batches" / "next_week.csv")
    result = project.mm("retrain", str(path), "--json").check().json()
    assert result["decision"] in ("promoted", "kept"), result
    metric = project.config["promotion"]["metric"]
    assert metric.upper() in result["line"], result["line"]
    assert f"test_{metric}" in result["metrics"], result


def check_monitor(project: Project, rows: pd.DataFrame, scored: Path, classes: list[Any]) -> None:
    """monitor with the truth: the task's metrics equal scikit-learn's on the same rows."""
    truth = project.frame.loc[rows.index, [project.target]].reset_index(drop=True)
    truth.insert(0, "row", range(len(truth)))
    actuals = write_table(truth, project.directory / "batches" / "actuals.csv")
    batch = project.directory / "batches" / "rows.csv"
    report = project.mm("monitor", str(batch), "--actuals", str(actuals), "--json", "--no-tracking").check()
    found = report.json()
    features = {f["feature"] for f in found["features"]}
    assert "prediction" in features and {f"proba_{c}" for c in classes} <= features, features
    predicted = pd.read_parquet(scored)["prediction"]
    accuracy = skm.accuracy_score(truth[project.target], predicted)
    assert found["quality"]["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.parametrize("name", list(TASKS))
def test_a_classification_table_from_init_to_monitor(
    name: str, tmp_path: Path, _machine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.ensemble  # noqa: F401  (loads OpenMP: threadpoolctl limits only loaded libraries)
    from threadpoolctl import threadpool_limits

    monkeypatch.delenv("MODELMILL_HOME", raising=False)
    load, target = data_tables.CLASSIFICATION_TABLES[name]
    with threadpool_limits(1, user_api="openmp"):
        project = new_project(tmp_path, name, load, target, cache_dir=_machine_cache)
        kind = TASKS[name]
        check_init(project, kind)
        check_run(project, kind)
        classes = check_model(project, kind)["classes"]
        rows = sample_rows(project, SCORED_ROWS)
        served = serve(project, records(rows), classes, monkeypatch)
        scored = check_score(project, rows, served, classes)
        check_monitor(project, rows, scored, classes)
        check_evaluation(project)
        if name == "anes96":  # one table through a second whole pipeline run
            check_retrain(project)
