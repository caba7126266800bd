"""The feature transformers and the inference pipeline (no MLflow: fast)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from modelmill.datasets.nyc_demo import generate_listings
from modelmill.features import (
    DaysSinceReview,
    EnsureColumns,
    TextColumn,
    build_inference_pipeline,
    build_preprocessor,
    used_columns,
)
from modelmill.features.estimators import family
from modelmill.features.pipeline import grouped_importances
from tests.model_params import nyc_spec, train_params

TARGET = "price"
PARAMS = train_params("random_forest", {"n_estimators": 10, "max_depth": 8, "criterion": "squared_error",
                                        "n_jobs": 1})  # fmt: skip


def csv_roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    """What a step sees after reading our CSVs (pandas 3: text columns are dtype ``str``)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    buf.seek(0)
    return pd.read_csv(buf)


@pytest.fixture(scope="module")
def listings() -> pd.DataFrame:
    return csv_roundtrip(generate_listings(800, seed=3))


@pytest.fixture(scope="module")
def fitted(listings: pd.DataFrame):  # type: ignore[no-untyped-def]
    features = listings.drop(columns=[TARGET])
    return build_inference_pipeline(PARAMS).fit(features, listings[TARGET])


# ----------------------------------------------------------------------------- DaysSinceReview
def test_days_since_review_learns_the_latest_date_and_counts_days() -> None:
    frame = pd.DataFrame({"last_review": ["2019-07-01", "2019-06-01", None, "not a date"]})
    t = DaysSinceReview().fit(frame)
    assert t.reference_dates_ == ["2019-07-01"]
    out = t.transform(frame)
    assert out.dtype == np.float64 and out.shape == (4, 1)
    missing = float((pd.Timestamp("2019-07-01") - pd.Timestamp("2010-01-01")).days)
    assert out[:, 0].tolist() == [0.0, 30.0, missing, missing]
    # the reference is learned at fit, not recomputed per batch
    assert t.transform(pd.DataFrame({"last_review": ["2019-06-30"]}))[0, 0] == 1.0
    assert t.transform(pd.DataFrame({"last_review": ["2019-07-03"]}))[0, 0] == -2.0


def test_days_since_review_accepts_arrays_datetimes_and_custom_missing_date() -> None:
    dates = pd.DataFrame({"d": pd.to_datetime(["2020-01-10", None, "2020-01-01"])})
    t = DaysSinceReview(missing_date="2020-01-05").fit(dates)
    assert t.transform(dates)[:, 0].tolist() == [0.0, 5.0, 9.0]
    array = np.array([["2020-01-02"], [np.nan]], dtype=object)
    assert DaysSinceReview().fit(array).transform(array)[:, 0].tolist()[0] == 0.0
    assert not hasattr(DaysSinceReview().fit(array), "feature_names_in_")


def test_days_since_review_with_no_date_at_all_uses_the_missing_date() -> None:
    t = DaysSinceReview().fit(pd.DataFrame({"last_review": [None, None]}))
    assert t.reference_dates_ == ["2010-01-01"]
    assert t.transform(pd.DataFrame({"last_review": [None]}))[0, 0] == 0.0


def test_days_since_review_names_width_and_fitted_checks() -> None:
    t = DaysSinceReview()
    with pytest.raises(NotFittedError):
        t.transform(pd.DataFrame({"last_review": ["2019-01-01"]}))
    t.fit(pd.DataFrame({"last_review": ["2019-01-01"]}))
    assert list(t.get_feature_names_out()) == ["last_review"]
    with pytest.raises(ValueError, match="fitted on 1 column"):
        t.transform(pd.DataFrame({"a": ["2019-01-01"], "b": ["2019-01-01"]}))


# ----------------------------------------------------------------------------- TextColumn
def test_text_column_fills_missing_and_returns_1d_strings() -> None:
    frame = pd.DataFrame({"name": pd.Series(["Cozy room", None, np.nan, "Loft"], dtype=object)})
    frame.loc[2, "name"] = pd.NA
    t = TextColumn().fit(frame)
    out = t.transform(frame)
    assert out.ndim == 1 and out.tolist() == ["Cozy room", "", "", "Loft"]
    assert TextColumn(fill_value="none").fit(frame).transform(frame).tolist()[1] == "none"
    numbers = pd.Series([1, 2.5], name="name")
    assert TextColumn().fit(numbers).transform(numbers).tolist() == ["1.0", "2.5"]
    assert list(t.get_feature_names_out()) == ["name"]
    str_dtype = pd.Series(["a", None], dtype="str", name="name")
    assert TextColumn().fit(str_dtype).transform(str_dtype).tolist() == ["a", ""]


def test_text_column_needs_exactly_one_column() -> None:
    with pytest.raises(ValueError, match="exactly one column"):
        TextColumn().fit(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    with pytest.raises(NotFittedError):
        TextColumn().transform(pd.Series(["x"]))


def test_text_column_output_is_never_wrapped_in_a_frame() -> None:
    from sklearn import config_context

    frame = pd.DataFrame({"name": ["a", "b"]})
    with config_context(transform_output="pandas"):
        out = TextColumn().fit(frame).transform(frame)
    assert isinstance(out, np.ndarray) and out.ndim == 1


# ----------------------------------------------------------------------------- EnsureColumns
def test_ensure_columns_adds_absent_columns_as_missing_values() -> None:
    train = pd.DataFrame({"a": [1, 2], "name": ["x", "y"], "b": [0.5, 1.5]})
    t = EnsureColumns().fit(train)
    assert t.numeric_columns_ == ["a", "b"]
    out = t.transform(pd.DataFrame({"b": [3.0], "extra": ["z"]}))
    assert list(out.columns) == ["a", "name", "b"]
    assert np.isnan(out.loc[0, "a"]) and out.loc[0, "name"] is None and out["name"].dtype == object
    same = train[["b", "a", "name"]]
    assert list(t.transform(same).columns) == ["a", "name", "b"]
    assert list(t.get_feature_names_out()) == ["a", "name", "b"]
    array = np.zeros((2, 3))
    assert EnsureColumns().fit(array).transform(array) is array


# ----------------------------------------------------------------------------- sklearn contract
@pytest.mark.parametrize(
    "estimator", [DaysSinceReview(missing_date="2012-03-04"), TextColumn(fill_value="?"), EnsureColumns()]
)
def test_transformers_follow_the_estimator_contract(estimator) -> None:  # type: ignore[no-untyped-def]
    params = estimator.get_params()
    copy = clone(estimator)
    assert copy is not estimator and copy.get_params() == params
    assert type(estimator)(**params).get_params() == params
    assert copy.set_params(**params) is copy
    frame = pd.DataFrame({"c": ["2019-01-01", None]})
    fitted = clone(estimator).fit(frame)
    learned = [k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")]
    assert learned and set(vars(fitted)) - set(learned) == set(params)
    assert "n_features_in_" in learned and list(fitted.feature_names_in_) == ["c"]
    assert not [k for k in vars(clone(fitted)) if k.endswith("_")]  # clone drops learned state


# ----------------------------------------------------------------------------- pipeline
def test_preprocessor_output_names_and_dense_numbers(listings: pd.DataFrame) -> None:
    pre, native = build_preprocessor(nyc_spec().features_params()["features"], family("random_forest"))
    pre = pre.fit(listings.drop(columns=[TARGET]))
    names = list(pre.get_feature_names_out())
    assert names[0] == "room_type__room_type" and native == []
    assert sum(n.startswith("neighbourhood_group__") for n in names) == 5
    # the course's matrix: the zero-imputed numbers in one block, in the spec's features order
    zero_imputed = ["minimum_nights", "number_of_reviews", "reviews_per_month",
                    "calculated_host_listings_count", "availability_365", "latitude",
                    "longitude"]  # fmt: skip
    assert [n for n in names if n.startswith("numeric__")] == [f"numeric__{c}" for c in zero_imputed]
    assert "last_review__last_review" in names
    assert sum(n.startswith("name__") for n in names) == 5
    matrix = pre.transform(listings.head(20))
    assert isinstance(matrix, np.ndarray) and matrix.shape == (20, len(names))
    assert np.isfinite(matrix).all()


def test_pipeline_fits_and_predicts_on_demo_listings(fitted, listings: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    predicted = fitted.predict(listings.drop(columns=[TARGET]))
    assert predicted.shape == (len(listings),) and np.isfinite(predicted).all()
    assert list(fitted.named_steps) == ["columns", "preprocessor", "float32", "random_forest"]
    assert fitted.named_steps["random_forest"].random_state == 0
    assert used_columns(fitted) == ["room_type", "neighbourhood_group", "minimum_nights", "number_of_reviews",
                                    "reviews_per_month", "calculated_host_listings_count", "availability_365",
                                    "latitude", "longitude", "last_review", "name"]  # fmt: skip


def test_pipeline_handles_missing_values_unknown_categories_and_absent_columns(fitted, listings) -> None:  # type: ignore[no-untyped-def]
    rows = listings.drop(columns=[TARGET]).head(4).astype(object)
    rows.loc[0, :] = None  # every column missing
    rows.loc[1, ["name", "last_review", "reviews_per_month", "host_name"]] = [np.nan, None, np.nan, None]
    rows.loc[2, ["room_type", "neighbourhood_group"]] = ["Hotel room", "Atlantis"]
    predicted = fitted.predict(rows)
    assert np.isfinite(predicted).all()
    only_some = pd.DataFrame({"room_type": ["Private room"], "latitude": [40.7], "longitude": [-73.9]})
    assert np.isfinite(fitted.predict(only_some)).all()
    room = fitted.named_steps["preprocessor"].named_transformers_["room_type"]
    assert room.transform(pd.DataFrame({"room_type": ["Hotel room", None]})).ravel().tolist() == [-1, -1]


def test_grouped_importances_sum_tfidf_into_name(fitted) -> None:  # type: ignore[no-untyped-def]
    grouped = grouped_importances(fitted)
    assert "name" in grouped and not any("__" in k for k in grouped)
    assert grouped["name"] > 0 and sum(grouped.values()) == pytest.approx(1.0)
    assert list(grouped.values()) == sorted(grouped.values(), reverse=True)


def test_pipeline_serializes_with_skops_and_only_our_trusted_types(fitted, listings) -> None:  # type: ignore[no-untyped-def]
    from skops.io import dumps, get_untrusted_types, loads

    from modelmill.registry.export import TRUSTED_TYPES, untrusted_types

    data = dumps(fitted)
    assert set(get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    assert untrusted_types(fitted) == []
    restored = loads(data, trusted=list(TRUSTED_TYPES))
    head = listings.drop(columns=[TARGET]).head(10)
    np.testing.assert_allclose(restored.predict(head), fitted.predict(head))


def test_pipeline_is_reproducible_for_a_seed(listings: pd.DataFrame) -> None:
    features, target = listings.drop(columns=[TARGET]), listings[TARGET]
    a = build_inference_pipeline(PARAMS).fit(features, target).predict(features.head(5))
    b = build_inference_pipeline(PARAMS).fit(features, target).predict(features.head(5))
    np.testing.assert_array_equal(a, b)


class Doubler:
    """An estimator skops does not know (not in TRUSTED_TYPES)."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def predict(self, x: Any) -> Any:
        return np.asarray(x["n"], dtype=float) * 2


def test_save_refuses_untrusted_types_and_leaves_no_directory(tmp_path: Path) -> None:
    from modelmill.registry.export import save_sklearn_model

    frame = pd.DataFrame({"n": [1.0, 2.0, 3.0]})
    target = tmp_path / "model"
    with pytest.raises(ValueError, match="Doubler"):
        save_sklearn_model(Doubler().fit(frame), target, frame)
    assert not target.exists()


def test_a_days_since_review_saved_before_dataset_specs_still_loads_and_transforms() -> None:
    """Models exported before dataset specs hold a DaysSinceReview without ``format``."""
    from skops.io import dumps, loads

    from modelmill.features import DaysSince
    from modelmill.registry.export import TRUSTED_TYPES

    frame = pd.DataFrame({"last_review": ["2019-07-01", None]})
    old = DaysSinceReview().fit(frame)
    del old.__dict__["format"]  # the state an earlier version wrote
    restored = loads(dumps(old), trusted=list(TRUSTED_TYPES))
    assert isinstance(restored, DaysSince) and restored.format is None
    missing = float((pd.Timestamp("2019-07-01") - pd.Timestamp("2010-01-01")).days)
    assert restored.transform(frame)[:, 0].tolist() == [0.0, missing]
