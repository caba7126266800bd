"""The inference pipeline generated from a dataset spec that is not NYC's: every role, both
kinds of family (native categories and missing values, or not), skops and the ONNX fast path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmill.core.errors import ConfigError
from modelmill.features.estimators import fitted_estimator
from modelmill.features.pipeline import build_inference_pipeline, grouped_importances, used_columns
from modelmill.features.transformers import AsBoolean, DaysSince
from tests.model_params import train_params

SPEC: dict[str, Any] = {
    "name": "houses",
    "target": "y",
    "id": "key",
    "group": "region",
    "columns": {
        "key": {"role": "ignore", "type": "integer"},
        "y": {"role": "numeric"},
        "size": {"role": "numeric", "nullable": True},  # no impute: the family decides
        "rooms": {"role": "count", "impute": "zero"},
        "region": {"role": "categorical"},  # no encode: native or one-hot, the family decides
        "code": {"role": "categorical", "type": "integer", "encode": "ordinal"},
        "grade": {"role": "ordinal", "order": ["low", "mid", "high"]},
        "garden": {
            "role": "boolean",
            "nullable": True,
            "parse": "boolean",
            "true_values": ["ja"],
            "false_values": ["nein"],
        },
        "built": {"role": "date", "format": "%d/%m/%Y", "nullable": True},
        "title": {"role": "text", "tfidf": {"max_features": 8}},
        "notes": {"role": "text", "nullable": True, "tfidf": {"max_features": 4}},
    },
}
FAMILIES = {
    "random_forest": {"n_estimators": 12, "max_depth": 8, "n_jobs": 1},
    "gradient_boosting": {"max_iter": 40},
}
GRADES = ["low", "mid", "high"]


def houses(rows: int, seed: int) -> pd.DataFrame:
    """A seeded table whose target depends on every column (a little noise)."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], rows)
    grade = rng.choice(GRADES, rows)
    garden = rng.choice(["ja", "nein", None], rows, p=[0.45, 0.45, 0.1])
    size = rng.uniform(30, 200, rows).round(1)
    size[rng.random(rows) < 0.1] = np.nan
    day = pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 7000, rows), unit="D")
    built = pd.Series(day.strftime("%d/%m/%Y"), dtype=object)
    built[rng.random(rows) < 0.1] = None
    sea = rng.random(rows) < 0.3
    title = np.where(sea, "flat with sea view", "quiet flat near the park")
    notes = pd.Series(rng.choice(["new roof", "old kitchen", "garage", None], rows), dtype=object)
    y = (np.nan_to_num(size, nan=100.0) + 40 * (region == "north") + 25 * np.searchsorted(GRADES, grade)
         + 30 * (garden == "ja") + 50 * sea + rng.normal(0, 5, rows))  # fmt: skip
    return pd.DataFrame({
        "key": np.arange(rows), "y": y, "size": size, "rooms": rng.integers(1, 6, rows), "region": region,
        "code": rng.choice([11, 12, 13], rows), "grade": grade, "garden": garden, "built": built,
        "title": title, "notes": notes,
    })  # fmt: skip


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, pd.Series]:
    frame = houses(500, seed=1)
    return frame.drop(columns=["y"]), frame["y"]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def fitted(request: pytest.FixtureRequest, table: tuple[pd.DataFrame, pd.Series]) -> Any:
    features, target = table
    return build_inference_pipeline(train_params(request.param, FAMILIES[request.param], spec=SPEC)).fit(
        features.iloc[:400], target.iloc[:400]
    )


def test_blocks_follow_the_spec_and_the_family_decides_what_it_leaves_open(table) -> None:  # type: ignore[no-untyped-def]
    features, target = table
    forest = build_inference_pipeline(train_params("random_forest", FAMILIES["random_forest"], spec=SPEC))
    boosting = build_inference_pipeline(
        train_params("gradient_boosting", FAMILIES["gradient_boosting"], spec=SPEC)
    )
    forest.fit(features, target)
    boosting.fit(features, target)
    names = list(forest[:-1].get_feature_names_out())
    # the spec's order, one-hot regions (the forest has no native categories), a median for size
    assert names[:2] == ["size__size", "rooms__rooms"]
    assert [n for n in names if n.startswith("region__")] == [f"region__region_{r}" for r in
                                                              ("east", "north", "south", "west")]  # fmt: skip
    assert (
        sum(n.startswith("title__") for n in names) == 8 and sum(n.startswith("notes__") for n in names) == 4
    )
    size_imputer = forest.named_steps["preprocessor"].named_transformers_["size"]
    assert size_imputer.strategy == "median"
    # boosting: regions are native categories, first in the matrix; size keeps its NaN
    assert fitted_estimator(boosting).categorical_features == [0]
    assert boosting[:-1].get_feature_names_out()[0] == "region__region"
    matrix = boosting[:-1].transform(features)
    assert np.isnan(matrix[:, 1]).sum() == features["size"].isna().sum()
    assert used_columns(boosting)[0] == "region" and set(used_columns(boosting)) == set(features.columns) - {
        "key"
    }


def test_ordinal_columns_follow_the_declared_order(fitted, table) -> None:  # type: ignore[no-untyped-def]
    block = fitted.named_steps["preprocessor"].named_transformers_["grade"]
    rows = pd.DataFrame({"grade": ["low", "high", "mid", "castle", None]})
    assert block.transform(rows).ravel().tolist() == [0, 2, 1, -1, -1]  # not alphabetical


def test_boolean_words_dates_in_a_format_and_their_missing_values() -> None:
    words = pd.DataFrame({"g": ["ja", " NEIN ", True, None, "maybe", 0]})
    out = AsBoolean(("ja",), ("nein",)).fit(words).transform(words)[:, 0]
    np.testing.assert_array_equal(out, [1.0, 0.0, 1.0, np.nan, np.nan, 0.0])
    dates = pd.DataFrame({"d": ["31/12/2019", "2019-12-01", None, "junk"]})
    days = DaysSince(format="%d/%m/%Y").fit(dates)
    assert days.reference_dates_ == ["2019-12-31"]
    np.testing.assert_array_equal(days.transform(dates)[:, 0], [0.0, 30.0, np.nan, np.nan])
    assert DaysSince(missing_date="2019-12-30", format="%d/%m/%Y").fit(dates).transform(dates)[2, 0] == 1.0


def test_every_text_column_has_its_own_tfidf_and_importance(table) -> None:  # type: ignore[no-untyped-def]
    features, target = table
    forest = build_inference_pipeline(train_params("random_forest", FAMILIES["random_forest"], spec=SPEC))
    grouped = grouped_importances(forest.fit(features, target))
    assert {"title", "notes", "garden", "built"} <= set(grouped) and not any("__" in k for k in grouped)
    assert grouped["title"] > grouped["notes"]  # only the title says "sea"
    assert sum(grouped.values()) == pytest.approx(1.0)


def test_predictions_use_the_columns_and_survive_missing_and_unknown_values(fitted, table) -> None:  # type: ignore[no-untyped-def]
    features, target = table
    held_out = features.iloc[400:]
    error = np.abs(fitted.predict(held_out) - target.iloc[400:]).mean()
    assert error < 0.5 * np.abs(target.iloc[400:] - target.iloc[:400].mean()).mean()
    odd = held_out.head(4).astype(object).copy()
    odd.loc[odd.index[0], :] = None
    odd.loc[odd.index[1], ["region", "grade", "garden", "built"]] = ["mars", "castle", "maybe", "junk"]
    assert np.isfinite(fitted.predict(odd)).all()
    assert np.isfinite(fitted.predict(pd.DataFrame({"size": [80.0]}))).all()  # absent columns


def test_generated_pipelines_load_with_skops_trusting_only_our_types(fitted, table) -> None:  # type: ignore[no-untyped-def]
    from skops.io import dumps, loads

    from modelmill.registry.export import TRUSTED_TYPES, untrusted_types

    features, _ = table
    assert untrusted_types(fitted) == []
    restored = loads(dumps(fitted), trusted=list(TRUSTED_TYPES))
    np.testing.assert_array_equal(restored.predict(features), fitted.predict(features))


def test_onnx_graph_of_a_generated_pipeline_predicts_like_sklearn(fitted, table) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from modelmill.features.onnx import feeds, to_onnx
    from modelmill.registry.onnx_export import relative_difference, session

    features, _ = table
    blob, inputs = to_onnx(fitted)
    assert {i.name: i.kind for i in inputs} == {
        "size": "float", "rooms": "float", "region": "category", "code": "category", "grade": "category",
        "garden": "boolean", "built": "date", "title": "tokens", "notes": "tokens",
    }  # fmt: skip
    rows = features.iloc[400:].astype(object).copy()
    rows.iloc[0] = None
    rows.iloc[1, rows.columns.get_indexer(["region", "grade", "garden", "built"])] = [
        "mars",
        "castle",
        "x",
        "?",
    ]
    got = session(blob).run(None, feeds(rows, inputs))[0].ravel()
    assert relative_difference(got, fitted.predict(rows)).max() < 1e-4


def test_a_treatment_the_role_cannot_take_is_a_config_error() -> None:
    spec = {**SPEC, "columns": {**SPEC["columns"], "region": {"role": "categorical", "impute": "mean"}}}
    with pytest.raises(ConfigError, match=r"'region' \(categorical\): impute: mean.*most_frequent, constant"):
        build_inference_pipeline(train_params("random_forest", {}, spec=spec))
    with pytest.raises(ConfigError, match="no 'features'"):
        build_inference_pipeline({"random_seed": 0, "estimator": "random_forest", "random_forest": {}})


def test_the_drift_reference_summarizes_columns_by_their_declared_role(table) -> None:  # type: ignore[no-untyped-def]
    from modelmill.validation.reference import build_reference

    features, _ = table
    roles = {name: column["role"] for name, column in SPEC["columns"].items()}
    reference = build_reference(features, np.zeros(3), roles)["features"]
    assert reference["code"]["kind"] == "categorical"  # integers, declared categorical
    assert reference["garden"]["kind"] == "categorical" and reference["built"]["kind"] == "date"
    assert "key" not in reference  # ignored
    assert build_reference(features, np.zeros(3))["features"]["code"]["kind"] == "numeric"  # inferred
