"""The ONNX fast path: converters for our transformers, feeds, parity gate, runtime choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from sklearn.compose import TransformedTargetRegressor

from modelmill.core.errors import UsageError
from modelmill.datasets.nyc_demo import generate_listings
from modelmill.features.onnx import (
    OnnxConversionError,
    feeds,
    feeds_from_records,
    graph_inputs,
    to_onnx,
)
from modelmill.features.pipeline import build_inference_pipeline
from modelmill.features.transformers import DaysSinceReview
from modelmill.registry import onnx_export
from modelmill.registry.onnx_export import export_onnx, relative_difference, session
from modelmill.registry.predictor import load_predictor
from tests.model_params import nyc_spec, train_params

TARGET = "price"

FAMILIES = {
    "random_forest": {"n_estimators": 20, "max_depth": 12, "min_samples_leaf": 3, "max_features": 0.5},
    "hist_gradient_boosting": {"max_iter": 60, "learning_rate": 0.1, "min_samples_leaf": 20},
}


def fitted(family: str, transform: str = "none", rows: int = 1500) -> tuple[object, pd.DataFrame]:
    frame = generate_listings(rows + 400, seed=5)
    target = frame.pop(TARGET).astype(float)
    params = train_params(family, FAMILIES[family], transform, spec=nyc_spec(20), seed=3)
    pipeline = build_inference_pipeline(params).fit(frame.iloc[:rows], target.iloc[:rows])
    return pipeline, frame.iloc[rows:].reset_index(drop=True)


def awkward(frame: pd.DataFrame) -> pd.DataFrame:
    """Held-out rows with every kind of missing or odd value the schema allows."""
    odd = frame.head(12).copy().astype({"last_review": object, "name": object, "room_type": object})
    odd.loc[0, "last_review"] = None
    odd.loc[1, "last_review"] = "not a date"
    odd.loc[2, "last_review"] = "2019-07-01T15:30:00"  # a time: floor of the day difference
    odd.loc[3, "last_review"] = "June 3, 2018"  # pandas' mixed parser
    odd.loc[4, "last_review"] = "2019-02-30"  # ISO-shaped but invalid
    odd.loc[5, "name"] = None
    odd.loc[6, "room_type"] = "Castle"  # unknown category
    odd.loc[7, "room_type"] = None
    odd.loc[8, "neighbourhood_group"] = None
    odd.loc[9, "reviews_per_month"] = np.nan
    odd.loc[10, "name"] = "Cozy LOFT near the park!! ☀"
    return odd


@pytest.mark.parametrize(
    ("family", "transform"), [("random_forest", "none"), ("hist_gradient_boosting", "log1p")]
)
def test_graph_predicts_like_sklearn_including_missing_and_odd_values(family: str, transform: str) -> None:
    pipeline, held_out = fitted(family, transform)
    blob, inputs = to_onnx(pipeline)
    rows = pd.concat([held_out, awkward(held_out)], ignore_index=True)
    expected = pipeline.predict(rows)
    got = session(blob).run(None, feeds(rows, inputs))[0].ravel()
    assert relative_difference(got, expected).max() < 1e-4
    # columns may be absent entirely (EnsureColumns' job in sklearn, the feeds' in ONNX)
    partial = rows.drop(columns=["last_review", "name", "reviews_per_month"])
    got = session(blob).run(None, feeds(partial, inputs))[0].ravel()
    assert relative_difference(got, pipeline.predict(partial)).max() < 1e-4


def test_graph_features_equal_sklearn_float32_features_bit_for_bit() -> None:
    """Trees compare float32 features with thresholds that can sit between two adjacent float32
    values, so the graph's features must be exactly scikit-learn's (TF-IDF weighted and
    normalised in float64, then cast), including rows without any token (zeros, not NaN)."""
    from sklearn.pipeline import Pipeline

    from modelmill.features.onnx import _prepare, convert

    pipeline, held_out = fitted("hist_gradient_boosting", "log1p", rows=3000)
    rows = pd.concat([held_out, awkward(held_out)], ignore_index=True)
    rows.loc[len(rows) - 1, "name"] = "zzz qqq"  # no token in the vocabulary
    inputs = graph_inputs(pipeline)
    assert [i.kind for i in inputs if i.name == "name"] == ["tokens"]
    graph = convert(Pipeline(_prepare(pipeline, inputs)[0].steps[:-1]), inputs)
    got = session(graph.SerializeToString()).run(None, feeds(rows, inputs))[0]
    expected = Pipeline(pipeline.steps[:-1]).transform(rows)
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected)
    assert got.dtype == np.float32 and expected.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_record_feeds_equal_frame_feeds() -> None:
    pipeline, held_out = fitted("random_forest")
    inputs = graph_inputs(pipeline)
    frame = awkward(held_out)
    records = [
        {k: (None if (isinstance(v, float) and np.isnan(v)) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]
    del records[11]["name"]  # an absent key is a missing value
    frame.loc[11, "name"] = None
    from_frame, from_records = feeds(frame, inputs), feeds_from_records(records, inputs)
    for spec in inputs:
        a, b = from_frame[spec.name], from_records[spec.name]
        assert a.shape == b.shape and a.shape[0] == len(frame), spec.name
        assert a.shape[1] == 1 or spec.kind == "tokens", spec.name
        assert a.dtype == b.dtype, spec.name
        if spec.kind in ("string", "category"):
            assert a.tolist() == b.tolist(), spec.name
        else:
            np.testing.assert_array_equal(a, b, err_msg=spec.name)


def test_days_since_review_converter_floors_like_pandas() -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    from modelmill.features import onnx_converters
    from modelmill.features.onnx import _days

    dates = pd.Series(["2019-07-08", "2019-07-01T23:59:00", None, "junk", "2020-01-01"], dtype=object)
    step = DaysSinceReview(missing_date="2011-03-04").fit(pd.DataFrame({"d": dates.iloc[[0, 1]]}))
    onnx_converters.register()
    model = convert_sklearn(step, initial_types=[("d", DoubleTensorType([None, 1]))], target_opset=17)
    got = session(model.SerializeToString()).run(None, {"d": _days(dates).reshape(-1, 1)})[0].ravel()
    expected = step.transform(pd.DataFrame({"d": dates})).ravel()
    np.testing.assert_array_equal(got, expected)
    assert expected.tolist()[:3] == [
        0.0,
        6.0,
        float((pd.Timestamp("2019-07-08") - pd.Timestamp("2011-03-04")).days),
    ]


def unconvertible() -> object:
    pipeline, _ = fitted("random_forest", rows=400)
    final = pipeline.steps[-1][1]
    pipeline.steps[-1] = (
        pipeline.steps[-1][0],
        TransformedTargetRegressor(
            regressor=final, func=np.sqrt, inverse_func=np.square, check_inverse=False
        ),
    )
    frame = generate_listings(400, seed=5)
    pipeline.steps[-1][1].fit(pipeline[:-1].transform(frame), frame[TARGET].astype(float))
    return pipeline


def test_unconvertible_pipeline_is_exported_without_onnx_and_served_by_sklearn(tmp_path: Path) -> None:
    pipeline = unconvertible()
    with pytest.raises(OnnxConversionError, match="log1p"):
        to_onnx(pipeline)
    rows = generate_listings(50, seed=8).drop(columns=[TARGET])
    report = export_onnx(pipeline, rows, tmp_path)
    assert report["status"] == "unavailable" and "log1p" in report["reason"]
    assert not (tmp_path / "onnx" / "model.onnx").exists()
    assert json.loads((tmp_path / "onnx" / "onnx.json").read_text())["status"] == "unavailable"


def test_parity_gate_refuses_a_graph_that_disagrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, held_out = fitted("random_forest", rows=600)
    monkeypatch.setattr(onnx_export, "TOLERANCE", 0.0)  # float32 trees differ by ~1e-7: refused
    report = export_onnx(pipeline, held_out, tmp_path)
    assert report["status"] == "refused", report
    assert report["parity"]["max_relative_difference"] > 0
    assert not (tmp_path / "onnx" / "model.onnx").exists()


def test_runtime_choice(tmp_path: Path) -> None:
    from modelmill.registry.export import save_sklearn_model

    pipeline, held_out = fitted("random_forest", rows=600)
    with_onnx = save_sklearn_model(pipeline, tmp_path / "a", held_out, parity_rows=held_out)
    without = save_sklearn_model(pipeline, tmp_path / "b", held_out)
    auto = load_predictor(with_onnx)
    assert auto.runtime == "onnx" and auto.reason is None
    np.testing.assert_allclose(auto.predict(held_out), pipeline.predict(held_out), rtol=1e-4)
    assert load_predictor(with_onnx, "sklearn").runtime == "sklearn"
    fallback = load_predictor(without)
    assert fallback.runtime == "sklearn" and "without an ONNX graph" in str(fallback.reason)
    with pytest.raises(UsageError, match="--runtime sklearn"):
        load_predictor(without, "onnx")
    with pytest.raises(UsageError, match="unknown runtime"):
        load_predictor(with_onnx, "tensorflow")


def test_token_feeds_are_vocabulary_indexes_padded_with_minus_one() -> None:
    from modelmill.features.onnx import OnnxInput

    spec = OnnxInput("name", "tokens", r"(?u)\b\w\w+\b", True, ("café", "loft", "空港", "park"))
    texts = np.asarray(["Loft near PARK park", "", "Café 空港 loft", "no known words"], dtype=object)
    encoded = spec.encode(texts)
    assert encoded.shape == (4, 3) and encoded.dtype == np.int64
    assert [sorted(row[row >= 0].tolist()) for row in encoded] == [[1, 3, 3], [], [0, 1, 2], []]
    assert (encoded[1] == -1).all() and (encoded[3] == -1).all()
    assert spec.encode(np.asarray(["", "x"], dtype=object)).shape == (2, 1)  # never zero-width
    assert OnnxInput.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="needs token_pattern and vocabulary"):
        OnnxInput.from_dict({"name": "name", "kind": "tokens"})
    # graphs exported before "tokens" existed read space-joined tokens from a string input
    legacy = OnnxInput.from_dict({"name": "name", "kind": "string", "token_pattern": r"(?u)\b\w\w+\b"})
    expected = [["loft near park park"], [""], ["café 空港 loft"], ["no known words"]]
    assert legacy.encode(texts).tolist() == expected
