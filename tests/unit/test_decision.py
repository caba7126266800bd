"""Classifier families, calibration and the decision threshold (modelmill.features.decision), on
real tables shipped with scikit-learn (breast cancer: binary, labels as text; wine: three classes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from modelmill.core.errors import ConfigError, DataCheckError
from modelmill.features.decision import Decision, fit_decision
from modelmill.features.estimators import build_estimator, fitted_estimator
from modelmill.features.fitting import fit_pipeline
from modelmill.features.pipeline import build_inference_pipeline
from modelmill.tasks import check_labels, get_task
from tests import data_tables
from tests.model_params import train_params


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread():  # type: ignore[no-untyped-def]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        yield


def _parts(frame: pd.DataFrame, target: str) -> tuple[Any, ...]:
    train, val = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame[target])
    return train.drop(columns=target), val.drop(columns=target), train[target], val[target]


def _params(frame: pd.DataFrame, target: str, task: str, family: str = "gradient_boosting",
            kwargs: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    columns = {c: {"role": "numeric"} for c in frame.columns if c != target}
    spec = {
        "name": "t",
        "task": task,
        "target": target,
        "columns": {**columns, target: {"role": "categorical"}},
    }
    chosen = {"max_iter": 30} if kwargs is None else kwargs
    return {**train_params(family, chosen, spec=spec), "task": task, **extra}


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return data_tables.breast_cancer()


def _fitted(frame: pd.DataFrame, target: str, params: dict[str, Any]) -> tuple[Any, ...]:
    x_train, x_val, y_train, y_val = _parts(frame, target)
    pipeline = build_inference_pipeline(params)
    fit_pipeline(pipeline, x_train, y_train, x_val, y_val)
    return pipeline, x_val, y_val


def test_a_classification_task_builds_each_familys_classifier_without_regression_settings() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    forest = build_estimator("random_forest", {"criterion": "absolute_error", "n_estimators": 3}, 1,
                             classifier=True, class_weight="balanced")  # fmt: skip
    assert isinstance(forest, RandomForestClassifier) and forest.criterion == "gini"
    assert forest.class_weight == "balanced"
    boosting = build_estimator("hist_gradient_boosting", {"loss": "squared_error"}, 1, classifier=True)
    assert isinstance(boosting, HistGradientBoostingClassifier) and boosting.loss == "log_loss"
    with pytest.raises(ConfigError, match="logistic_regression is a classifier"):
        build_estimator("logistic_regression", {}, 1)
    with pytest.raises(ConfigError, match="class_weight applies to classification"):
        build_estimator("gradient_boosting", {}, 1, class_weight="balanced")


def test_calibration_is_fitted_on_the_validation_rows_and_the_threshold_maximises_f1(
    cancer: pd.DataFrame,
) -> None:
    params = _params(cancer, "diagnosis", "binary", decision={"calibration": "sigmoid"})
    pipeline, x_val, y_val = _fitted(cancer, "diagnosis", params)
    raw = pipeline[-1]
    found = fit_decision(pipeline, x_val, y_val, params)
    assert found["classes"] == ["benign", "malignant"] and found["positive"] == "malignant"
    assert found["calibration"] == "sigmoid" and found["rule"] == "f1"
    assert fitted_estimator(pipeline) is raw, "the fitted classifier itself is kept (frozen), not refitted"
    # the sigmoid maps the raw classifier's decision values on the validation rows to probabilities:
    # refitting scikit-learn's sigmoid calibration on exactly those rows gives the same curve
    from sklearn.calibration import _SigmoidCalibration

    matrix = pipeline[:-1].transform(x_val)
    scores = raw.decision_function(matrix)
    expected = _SigmoidCalibration().fit(scores, (y_val == "malignant").to_numpy().astype(int))
    calibrated = pipeline.predict_proba(x_val)[:, 1]
    np.testing.assert_allclose(calibrated, expected.predict(scores), atol=1e-6)
    # the threshold is the best of the 99 candidates for F1 on the validation rows
    grid = np.linspace(0.01, 0.99, 99)
    best = max(grid, key=lambda t: f1_score(y_val, np.where(calibrated >= t, "malignant", "benign"),
                                            pos_label="malignant"))  # fmt: skip
    chosen = f1_score(y_val, pipeline.predict(x_val), pos_label="malignant")
    assert chosen == pytest.approx(f1_score(y_val, np.where(calibrated >= best, "malignant", "benign"),
                                            pos_label="malignant"))  # fmt: skip
    assert (
        pipeline.predict(x_val).tolist()
        == np.where(calibrated >= found["threshold"], "malignant", "benign").tolist()
    )


def test_auto_calibration_is_kept_only_when_held_out_validation_rows_say_it_helps() -> None:
    from sklearn.metrics import log_loss

    wine = data_tables.wine()
    params = _params(wine, "cultivar", "multiclass")  # calibration: auto (the default)
    pipeline, x_val, y_val = _fitted(wine, "cultivar", params)
    raw = pipeline[-1]
    uncalibrated = raw.predict_proba(pipeline[:-1].transform(x_val))
    found = fit_decision(pipeline, x_val, y_val, params)
    check = found["calibration_check"]
    assert check["val_log_loss"] == pytest.approx(
        log_loss(y_val, uncalibrated, labels=raw.classes_), abs=1e-6
    )
    kept = check["sigmoid_cv"] < check["val_log_loss"]
    assert found["calibration"] == ("sigmoid" if kept else "none")
    if not kept:  # the classifier's own probabilities are served
        np.testing.assert_array_equal(pipeline.predict_proba(x_val), uncalibrated)


def test_the_cost_rule_minimises_the_declared_cost(cancer: pd.DataFrame) -> None:
    decision = {"calibration": "none", "threshold": "cost", "cost_fp": 1.0, "cost_fn": 20.0}
    params = _params(cancer, "diagnosis", "binary", decision=decision)
    pipeline, x_val, y_val = _fitted(cancer, "diagnosis", params)
    found = fit_decision(pipeline, x_val, y_val, params)
    proba = pipeline.predict_proba(x_val)[:, 1]

    def cost(t: float) -> float:
        said, truth = proba >= t, (y_val == "malignant").to_numpy()
        return float(1.0 * np.sum(said & ~truth) + 20.0 * np.sum(~said & truth))

    grid = np.linspace(0.01, 0.99, 99)
    assert cost(found["threshold"]) == pytest.approx(min(cost(t) for t in grid))
    assert found["threshold"] < 0.5, "missing a malignant case costs 20 times more: the cut-off drops"
    assert found["cost_fn"] == 20.0


def test_multiclass_is_calibrated_and_decides_by_the_largest_probability() -> None:
    wine = data_tables.wine()
    params = _params(wine, "cultivar", "multiclass", decision={"calibration": "isotonic"})
    pipeline, x_val, y_val = _fitted(wine, "cultivar", params)
    found = fit_decision(pipeline, x_val, y_val, params)
    assert found["threshold"] is None and found["calibration"] == "isotonic"
    proba = pipeline.predict_proba(x_val)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert pipeline.predict(x_val).tolist() == np.asarray(found["classes"])[proba.argmax(axis=1)].tolist()
    scores = get_task("multiclass").score(y_val, pipeline.predict(x_val), proba, found["classes"])
    assert scores["accuracy"] > 0.8 and np.isfinite(scores["log_loss"])


def test_a_class_with_too_few_validation_rows_gets_no_calibration_and_a_note(cancer: pd.DataFrame) -> None:
    params = _params(cancer, "diagnosis", "binary")
    pipeline, x_val, y_val = _fitted(cancer, "diagnosis", params)
    keep = (y_val == "benign") | (np.cumsum(y_val == "malignant") <= 3)
    found = fit_decision(pipeline, x_val[keep], y_val[keep], params)
    assert found["calibration"] == "none" and found["threshold"] == 0.5 and "malignant" in found["note"]
    # the threshold is stored all the same: every runtime decides by P(malignant) >= 0.5
    assert pipeline[-1].threshold == 0.5
    proba = pipeline.predict_proba(x_val)[:, 1]
    assert pipeline.predict(x_val).tolist() == np.where(proba >= 0.5, "malignant", "benign").tolist()


def test_the_calibrated_thresholded_pipeline_round_trips_through_skops(cancer: pd.DataFrame) -> None:
    from skops.io import dumps, loads

    from modelmill.registry.export import TRUSTED_TYPES, untrusted_types

    for method in ("sigmoid", "isotonic"):
        params = _params(cancer, "diagnosis", "binary", decision={"calibration": method})
        pipeline, x_val, y_val = _fitted(cancer, "diagnosis", params)
        fit_decision(pipeline, x_val, y_val, params)
        assert untrusted_types(pipeline) == []
        restored = loads(dumps(pipeline), trusted=list(TRUSTED_TYPES))
        np.testing.assert_array_equal(restored.predict_proba(x_val), pipeline.predict_proba(x_val))
        np.testing.assert_array_equal(restored.predict(x_val), pipeline.predict(x_val))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"calibration": "platt"}, "calibration='platt': expected one of auto, none, sigmoid, isotonic"),
        ({"threshold": "recall"}, "expected f1, cost or a number between 0 and 1"),
        ({"threshold": 1.5}, "lies between 0 and 1"),
        ({"cost_fn": 0}, "must be positive"),
        ({"treshold": "f1"}, "unknown key"),
    ],
)
def test_a_bad_decision_section_names_the_key_and_the_choices(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Decision.from_config(section)


@pytest.mark.parametrize(
    ("train", "val", "kind", "message"),
    [
        (["a", "a", "a"], ["a"], "binary", "one class only"),
        ([0.5, 1.5, 2.25], [1.5], "multiclass", "numbers with decimals"),
        (list(range(60)), [1], "multiclass", "60 classes"),
        (["a", "b", "c"], ["a"], "binary", "task binary needs 2"),
        (["a", "b", "a"], ["c"], "binary", r"\['c'\] only in the validation rows"),
    ],
)
def test_a_target_no_classifier_can_learn_is_refused_before_training(
    train: list[Any], val: list[Any], kind: str, message: str
) -> None:
    with pytest.raises(DataCheckError, match=message) as caught:
        check_labels(pd.Series(train), pd.Series(val), "label", kind)
    assert "target 'label'" in str(caught.value)


def test_test_rows_of_a_class_the_model_never_saw_are_left_out_with_a_warning(cancer: pd.DataFrame) -> None:
    import logging

    from sklearn.metrics import log_loss, roc_auc_score

    from modelmill.steps.evaluate import Scored, score

    params = _params(cancer, "diagnosis", "binary")
    pipeline, x_val, y_val = _fitted(cancer, "diagnosis", params)
    truth = y_val.copy()
    truth.iloc[:4] = "unknown"  # a class only in the test rows
    scored = Scored(pipeline.predict(x_val), pipeline.predict_proba(x_val), list(pipeline.classes_))
    messages: list[str] = []

    class Log(logging.Logger):
        def warning(self, msg: object, *args: object, **kwargs: object) -> None:
            messages.append(str(msg))

    found = score(scored, truth, get_task("binary"), Log("test"))
    assert len(messages) == 1 and "4 test row(s) of class(es) unknown" in messages[0]
    known = truth != "unknown"
    positive = (truth[known] == "malignant").astype(int)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(positive, scored.proba[known.to_numpy(), 1]))
    assert found["log_loss"] == pytest.approx(log_loss(truth[known], scored.proba[known.to_numpy()],
                                                       labels=scored.classes))  # fmt: skip
