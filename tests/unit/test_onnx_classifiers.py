"""The ONNX fast path for classifiers: probabilities and labels like scikit-learn's, both runtimes
behind one predictor interface, and scikit-learn when a classifier cannot be converted."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

import onnx
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelmill.core.errors import UsageError
from modelmill.features.decision import Decision, calibrate, tune_threshold
from modelmill.features.onnx import OnnxConversionError, to_onnx
from modelmill.features.pipeline import build_inference_pipeline
from modelmill.registry.onnx_export import TOLERANCE, export_onnx
from modelmill.registry.predictor import OnnxPredictor, SklearnPredictor, load_predictor
from tests.model_params import train_params

TARGET = "label"
THRESHOLD = "0.25"  # not 0.5: labels must be decided with the stored threshold


@cache
def table(name: str) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...]]:
    """``(features, labels, categorical columns)`` of a real data set from an installed package."""
    from sklearn.datasets import load_breast_cancer, load_wine

    if name == "wine":  # multiclass, integer labels, numbers only
        wine = load_wine(as_frame=True)
        return wine.data.rename(columns=lambda c: c.replace("/", "_")), wine.target.to_numpy(), ()
    if name == "cars":  # multiclass, string labels, a categorical feature split natively
        from vega_datasets import data

        with warnings.catch_warnings():  # vega_datasets' read_json(convert_dates=...): not ours
            warnings.simplefilter("ignore")
            cars = data.cars().dropna().reset_index(drop=True)
        labels = cars.pop("Origin").to_numpy(dtype=object)
        frame = cars.drop(columns=["Name", "Year"]).astype({"Cylinders": str})
        return frame, labels, ("Cylinders",)
    cancer = load_breast_cancer(as_frame=True)  # binary, string labels
    frame = cancer.data.rename(columns=lambda c: c.replace(" ", "_"))
    labels = np.where(cancer.target == 1, "benign", "malignant").astype(object)
    if name == "breast":
        return frame, labels, ()
    # "breast_shape": a few numbers and a category (binned, shuffled codes) the trees split on
    codes = pd.qcut(frame.pop("worst_concave_points"), 6, labels=False).to_numpy()
    frame["shape"] = np.asarray(["f", "b", "e", "a", "d", "c"], dtype=object)[codes]
    return (
        frame[["shape", "mean_texture", "mean_smoothness", "mean_symmetry", "worst_texture"]],
        labels,
        ("shape",),
    )


def split(name: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray, pd.DataFrame]:
    """``x_train, y_train, x_val, y_val, x_test`` (60/20/20, seeded)."""
    frame, labels, _ = table(name)
    order = np.random.default_rng(7).permutation(len(frame))
    train, val, test = np.split(order, [int(0.6 * len(order)), int(0.8 * len(order))])
    rows = [frame.iloc[i].reset_index(drop=True) for i in (train, val, test)]
    return rows[0], labels[train], rows[1], labels[val], rows[2]


def final_classifier(kind: str, built: Any) -> Any:
    """The classifier replacing the built pipeline's final step (until the estimator builders
    make classifiers themselves): the same ``categorical_features`` as the built estimator."""
    if kind == "hgb":
        categorical = built.get_params().get("categorical_features", "from_dtype")
        return HistGradientBoostingClassifier(max_iter=25, categorical_features=categorical, random_state=0)
    if kind == "rf":
        return RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def classifier(name: str, kind: str = "hgb", calibration: str = "none", threshold: str | None = None) -> Any:
    """A fitted classification pipeline on ``name``, calibrated and/or thresholded on the
    validation rows as :mod:`modelmill.features.decision` does it."""
    x_train, y_train, x_val, y_val, _ = split(name)
    frame, _, categorical = table(name)
    columns = {c: {"role": "categorical" if c in categorical else "numeric"} for c in frame.columns}
    task = "binary" if len(set(y_train)) == 2 else "multiclass"
    spec = {
        "name": name,
        "task": task,
        "target": TARGET,
        "columns": {**columns, TARGET: {"role": "categorical"}},
    }
    # the family decides the preprocessing: NaN and category codes for boosting, else imputed/one-hot
    family = "gradient_boosting" if kind == "hgb" else "random_forest"
    pipeline = build_inference_pipeline(train_params(family, {}, spec=spec, seed=0))
    name_, built = pipeline.steps[-1]
    pipeline.steps[-1] = (name_, final_classifier(kind, built))
    pipeline.fit(x_train, y_train)
    matrix = pipeline[:-1].transform(x_val)
    final = calibrate(pipeline.steps[-1][1], matrix, y_val, calibration)
    if threshold is not None:
        final, _ = tune_threshold(final, matrix, y_val, Decision(threshold=threshold))
    pipeline.steps[-1] = (name_, final)
    return pipeline


def awkward(name: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Test rows plus unknown and missing categories and a missing number."""
    _, _, categorical = table(name)
    odd = rows.head(4).copy()
    odd.iloc[0, odd.columns.get_loc(odd.columns[-1])] = np.nan
    for column in categorical:
        odd[column] = odd[column].astype(object)
        odd.loc[1, column] = "never seen"
        odd.loc[2, column] = None
    return pd.concat([rows, odd], ignore_index=True)


def records(frame: pd.DataFrame) -> list[Mapping[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def assert_same(onnx_predictor: OnnxPredictor, sklearn: SklearnPredictor, rows: pd.DataFrame) -> None:
    """Both runtimes give identical labels and probabilities within the tolerance, by every method."""
    labels, probabilities = sklearn.predict_full(rows)
    assert probabilities is not None
    np.testing.assert_array_equal(labels, sklearn.predict(rows))
    np.testing.assert_allclose(sklearn.predict_proba(rows), probabilities, atol=0, rtol=0)
    for got_labels, got in (
        onnx_predictor.predict_full(rows),
        onnx_predictor.predict_records_full(records(rows)),
    ):
        assert got is not None and got.dtype == np.float64 and got.shape == probabilities.shape
        assert np.abs(got - probabilities).max() <= TOLERANCE
        assert got_labels.dtype == labels.dtype
        np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(onnx_predictor.predict(rows), labels)
    np.testing.assert_array_equal(onnx_predictor.predict_records(records(rows)), labels)
    np.testing.assert_allclose(onnx_predictor.predict_proba(rows), probabilities, atol=TOLERANCE)


CASES = {
    "hgb-binary": ("breast", "hgb", "none", None),
    "hgb-categorical-binary": ("breast_shape", "hgb", "none", None),
    "hgb-categorical-multiclass": ("cars", "hgb", "none", None),
    "hgb-multiclass-int-labels": ("wine", "hgb", "none", None),
    "hgb-categorical-sigmoid": ("breast_shape", "hgb", "sigmoid", None),
    "hgb-categorical-multiclass-sigmoid": ("cars", "hgb", "sigmoid", None),
    "hgb-categorical-sigmoid-threshold": ("breast_shape", "hgb", "sigmoid", THRESHOLD),
    "hgb-threshold": ("breast", "hgb", "none", THRESHOLD),
    "random-forest": ("cars", "rf", "none", None),
    "logistic-regression": ("breast", "lr", "none", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_classifier_graph_predicts_like_sklearn(case: str, tmp_path: Path) -> None:
    name, kind, calibration, threshold = CASES[case]
    pipeline = classifier(name, kind, calibration, threshold)
    _, _, x_val, _, x_test = split(name)
    report = export_onnx(pipeline, x_val, tmp_path)
    assert report["status"] == "ok", report
    parity = report["parity"]
    assert parity["max_probability_difference"] <= TOLERANCE and parity["label_mismatches"] == 0
    classes = pipeline.classes_.tolist()
    assert report["task"] == "classification" and report["classes"] == classes
    assert type(report["classes"][0]) is type(classes[0])  # ints stay ints, strings strings
    expected_threshold = float(threshold) if threshold else (0.5 if len(classes) == 2 else None)
    assert report["threshold"] == expected_threshold
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx"))
    assert "ZipMap" not in {node.op_type for node in graph.graph.node}
    outputs = {o.name: o.type.tensor_type.elem_type for o in graph.graph.output}
    assert outputs.get("probabilities") == onnx.TensorProto.FLOAT
    on_onnx, on_sklearn = load_predictor(tmp_path, "onnx"), SklearnPredictor(pipeline)
    assert isinstance(on_onnx, OnnxPredictor) and on_onnx.classes == on_sklearn.classes == classes
    assert on_sklearn.threshold == (float(threshold) if threshold else None)
    assert on_onnx.threshold == expected_threshold
    rows = awkward(name, x_test)
    assert_same(on_onnx, on_sklearn, rows)
    if threshold:  # the stored threshold decides, not the most probable class
        p1 = on_onnx.predict_proba(rows)[:, 1]
        moved = (p1 >= float(threshold)) & (p1 < 0.5)
        assert moved.any() and (on_onnx.predict(rows)[moved] == classes[1]).all()


def test_exported_directory_serves_the_same_labels_with_both_runtimes(tmp_path: Path) -> None:
    from modelmill.registry.export import save_sklearn_model

    pipeline = classifier("breast_shape", "hgb", "sigmoid", THRESHOLD)
    x_train, _, x_val, _, x_test = split("breast_shape")
    try:
        model_dir = save_sklearn_model(pipeline, tmp_path / "model", x_train, parity_rows=x_val)
    except ValueError as exc:  # the wrappers' types not yet trusted by skops (TRUSTED_TYPES)
        pytest.skip(f"save_sklearn_model refuses the wrappers: {exc}")
    auto, on_sklearn = load_predictor(model_dir), load_predictor(model_dir, "sklearn")
    assert auto.runtime == "onnx" and on_sklearn.runtime == "sklearn"
    assert isinstance(auto, OnnxPredictor) and isinstance(on_sklearn, SklearnPredictor)
    assert auto.threshold == on_sklearn.threshold == float(THRESHOLD)
    assert_same(auto, on_sklearn, awkward("breast_shape", x_test))
    # prepare/run (batch scoring) give the labels; run_full the probabilities too
    labels, probabilities = auto.run_full(auto.prepare(x_test))
    np.testing.assert_array_equal(auto.run(auto.prepare(x_test)), labels)
    assert probabilities is not None and probabilities.shape == (len(x_test), 2)
    empty = auto.predict_full(x_test.head(0))
    assert empty[0].shape == (0,) and empty[1] is not None and empty[1].shape == (0, 2)


@pytest.mark.parametrize(
    ("kind", "calibration", "reason"),
    [("hgb", "isotonic", "isotonic calibration"), ("lr", "sigmoid", "calibrated Pipeline")],
)
def test_unconvertible_classifier_is_served_by_sklearn(
    kind: str, calibration: str, reason: str, tmp_path: Path
) -> None:
    pipeline = classifier("breast", kind, calibration)
    _, _, x_val, _, x_test = split("breast")
    with pytest.raises(OnnxConversionError, match=reason):
        to_onnx(pipeline)
    report = export_onnx(pipeline, x_val, tmp_path)
    assert report["status"] == "unavailable" and reason in report["reason"]
    assert report["task"] == "classification" and report["classes"] == ["benign", "malignant"]
    assert not (tmp_path / "onnx" / "model.onnx").exists()
    from modelmill.registry import predictor as predictors

    sklearn = SklearnPredictor(pipeline)
    fallback = load_predictor(tmp_path, "auto", sklearn=sklearn)
    assert fallback is sklearn and fallback.runtime == "sklearn" and reason in str(fallback.reason)
    with pytest.raises(UsageError, match="--runtime sklearn"):
        predictors.load_predictor(tmp_path, "onnx")
    np.testing.assert_array_equal(fallback.predict(x_test), pipeline.predict(x_test))


def test_regressor_predictors_keep_their_interface(tmp_path: Path) -> None:
    frame, _, _ = table("wine")
    target = frame["alcohol"].to_numpy()
    x = frame.drop(columns=["alcohol"])
    spec = {"name": "wine", "target": "alcohol", "columns": {c: {"role": "numeric"} for c in frame.columns}}
    pipeline = build_inference_pipeline(train_params("gradient_boosting", {"max_iter": 20}, spec=spec))
    pipeline.fit(x.iloc[:120], target[:120])
    report = export_onnx(pipeline, x.iloc[120:], tmp_path)
    assert report["status"] == "ok" and report["task"] == "regression" and "classes" not in report
    for predictor in (load_predictor(tmp_path, "onnx"), SklearnPredictor(pipeline)):
        assert predictor.classes is None and predictor.threshold is None
        values, probabilities = predictor.predict_full(x.iloc[120:])
        assert probabilities is None and values.dtype == np.float64
        np.testing.assert_allclose(values, pipeline.predict(x.iloc[120:]), rtol=1e-4)
        with pytest.raises(UsageError, match="regressor"):
            predictor.predict_proba(x.iloc[120:])
    on_onnx = load_predictor(tmp_path, "onnx")
    assert isinstance(on_onnx, OnnxPredictor)
    rows = records(x.iloc[120:])
    np.testing.assert_array_equal(on_onnx.predict_records(rows), on_onnx.predict(x.iloc[120:]))
    assert on_onnx.predict_records_full(rows)[1] is None
