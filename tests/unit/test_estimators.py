"""Model families: builders, target transform, metrics, importances, skops round trip, config."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelmill import config
from modelmill.core.errors import ConfigError
from modelmill.datasets.nyc_demo import generate_listings
from modelmill.features.estimators import (
    ESTIMATORS,
    build_estimator,
    check_modeling,
    fitted_estimator,
    with_target_transform,
)
from modelmill.features.importance import IMPURITY, PERMUTATION, importances
from modelmill.features.metrics import lower_is_better, regression_metrics
from modelmill.features.pipeline import build_inference_pipeline, used_columns
from modelmill.pipelines.tabular import build_pipeline
from tests.model_params import train_params

TARGET = "price"

FAMILIES = {
    "random_forest": {"n_estimators": 8, "max_depth": 6, "criterion": "squared_error", "n_jobs": 1},
    "hist_gradient_boosting": {"max_iter": 25, "loss": "absolute_error", "early_stopping": False},
}
COURSE_FOREST = {"n_estimators": 100, "max_depth": 15, "min_samples_split": 4, "min_samples_leaf": 3,
                 "n_jobs": -1, "criterion": "absolute_error", "max_features": 0.5,
                 "oob_score": True}  # fmt: skip


def params(family: str, transform: str = "none") -> dict[str, object]:
    return train_params(family, FAMILIES[family], transform)


@pytest.fixture(autouse=True, scope="module")
def _one_openmp_thread():  # type: ignore[no-untyped-def]
    """HistGradientBoosting's OpenMP threads crawl when pytest-xdist workers share 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def listings() -> tuple[pd.DataFrame, pd.Series]:
    buf = io.StringIO()
    generate_listings(700, seed=5).to_csv(buf, index=False)
    buf.seek(0)
    frame = pd.read_csv(buf)  # the dtypes a step sees
    return frame.drop(columns=[TARGET]), frame[TARGET].astype(float)


@pytest.fixture(scope="module")
def hgb_log(listings: tuple[pd.DataFrame, pd.Series]):  # type: ignore[no-untyped-def]
    features, target = listings
    return build_inference_pipeline(params("hist_gradient_boosting", "log1p")).fit(features, target)


# ----------------------------------------------------------------------------- builders
def test_every_family_builds_its_estimator_with_the_seed() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    forest = build_estimator("random_forest", {"n_estimators": 3}, 7)
    boosting = build_estimator("hist_gradient_boosting", {"max_iter": 5}, 7)
    assert isinstance(forest, RandomForestRegressor) and forest.n_estimators == 3
    assert isinstance(boosting, HistGradientBoostingRegressor) and boosting.max_iter == 5
    assert forest.random_state == boosting.random_state == 7
    assert set(ESTIMATORS) >= {"random_forest", "hist_gradient_boosting", "gradient_boosting"}
    native = build_estimator("gradient_boosting", {}, 7, categorical=[0, 2])
    assert isinstance(native, HistGradientBoostingRegressor) and native.categorical_features == [0, 2]
    # a family without native categories never gets category codes to split on as sets
    assert "categorical_features" not in build_estimator("random_forest", {}, 7, categorical=[0]).get_params()


def test_unknown_family_or_parameter_is_a_config_error_naming_the_fix() -> None:
    with pytest.raises(
        ConfigError,
        match=r"'xgboost'.*known: gradient_boosting, hist_gradient_boosting, logistic_regression, "
        r"random_forest",
    ):
        build_estimator("xgboost", {}, 0)
    with pytest.raises(ConfigError, match=r"modeling\.hist_gradient_boosting: .*max_iterations"):
        build_estimator("hist_gradient_boosting", {"max_iterations": 5}, 0)
    with pytest.raises(ConfigError, match=r"target_transform='sqrt'.*none, log1p"):
        with_target_transform(object(), "sqrt")
    with pytest.raises(ConfigError, match=r"no modeling\.hist_gradient_boosting section.*model="):
        check_modeling({"estimator": "hist_gradient_boosting", "random_forest": {}})
    with pytest.raises(ConfigError, match="no 'random_forest' section"):
        build_inference_pipeline({"max_tfidf_features": 5, "random_seed": 0})


def test_log1p_wraps_the_family_and_predicts_in_dollars(hgb_log, listings) -> None:  # type: ignore[no-untyped-def]
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor

    features, _ = listings
    assert list(hgb_log.named_steps) == ["columns", "preprocessor", "float32", "hist_gradient_boosting"]
    final = hgb_log[-1]
    assert isinstance(final, TransformedTargetRegressor) and final.func is np.log1p
    assert isinstance(fitted_estimator(hgb_log), HistGradientBoostingRegressor)
    predicted = hgb_log.predict(features)
    assert np.isfinite(predicted).all() and 10 < np.median(predicted) < 400  # dollars, not log dollars
    raw = fitted_estimator(hgb_log).predict(hgb_log[:-1].transform(features))
    np.testing.assert_allclose(np.expm1(raw), predicted)


# ----------------------------------------------------------------------------- metrics
def test_regression_metrics_and_their_direction() -> None:
    scores = regression_metrics([10.0, 20.0, 30.0, 40.0], [12.0, 18.0, 30.0, 48.0])
    assert scores["mae"] == pytest.approx(3.0) and scores["medae"] == pytest.approx(2.0)
    assert scores["rmse"] == pytest.approx(np.sqrt((4 + 4 + 0 + 64) / 4))
    assert scores["r2"] == pytest.approx(1 - 72 / 500)
    assert [lower_is_better(m) for m in ("mae", "rmse", "medae", "r2")] == [True, True, True, False]
    with pytest.raises(ConfigError, match=r"promotion\.metric='mape'.*mae, rmse, medae.*r2"):
        lower_is_better("mape")


# ----------------------------------------------------------------------------- importances
def test_permutation_importance_for_families_without_impurity(tmp_path: Path, hgb_log, listings) -> None:  # type: ignore[no-untyped-def]
    from modelmill.steps.train import plot_importances

    features, target = listings
    kind, scores = importances(hgb_log, features, target, seed=3)
    assert kind == PERMUTATION and set(scores) == set(used_columns(hgb_log))
    assert list(scores.values()) == sorted(scores.values(), reverse=True)
    assert scores["room_type"] > 1.0  # shuffling the room type costs dollars of MAE
    assert importances(hgb_log, features, target, seed=3) == (kind, scores)  # seeded
    plot = plot_importances(scores, tmp_path / "plot.png", kind, "hist_gradient_boosting")
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_impurity_importance_is_kept_for_the_forest(listings) -> None:  # type: ignore[no-untyped-def]
    features, target = listings
    forest = build_inference_pipeline(params("random_forest", "log1p")).fit(features, target)
    kind, scores = importances(forest, features, target, seed=0)
    assert kind == IMPURITY and "name" in scores and sum(scores.values()) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- serialization
@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("transform", ["none", "log1p"])
def test_every_family_round_trips_through_skops(family: str, transform: str, listings) -> None:  # type: ignore[no-untyped-def]
    from skops.io import dumps, loads

    from modelmill.registry.export import TRUSTED_TYPES, untrusted_types

    features, target = listings
    model = build_inference_pipeline(params(family, transform)).fit(features, target)
    assert untrusted_types(model) == []
    restored = loads(dumps(model), trusted=list(TRUSTED_TYPES))
    np.testing.assert_array_equal(restored.predict(features), model.predict(features))


def test_saved_mlflow_model_reloads_and_predicts_identically(tmp_path: Path, hgb_log, listings) -> None:  # type: ignore[no-untyped-def]
    from modelmill.registry.export import load_pyfunc, load_sklearn, save_sklearn_model

    features, _ = listings
    path = save_sklearn_model(hgb_log, tmp_path / "model", features, metadata={"estimator": "hgb"})
    expected = hgb_log.predict(features)
    np.testing.assert_array_equal(load_sklearn(path).predict(features), expected)
    np.testing.assert_array_equal(np.asarray(load_pyfunc(path).predict(features.copy())), expected)


# ----------------------------------------------------------------------------- config
def _train_params(overrides: list[str]) -> dict[str, object]:
    pipeline = build_pipeline(config.compose(overrides))
    return dict(next(s for s in pipeline.steps if s.name == "train").params)


def test_default_family_is_the_course_forest() -> None:
    train = _train_params([])
    assert train["estimator"] == "random_forest" and train["random_forest"] == COURSE_FOREST
    assert train["target_transform"] == "none" and "hist_gradient_boosting" not in train
    forest = _train_params(["modeling.random_forest.max_features=0.33"])["random_forest"]
    assert forest == {**COURSE_FOREST, "max_features": 0.33}  # type: ignore[dict-item]


def test_model_group_selects_the_family_and_only_its_params_reach_train() -> None:
    train = _train_params(["model=hist_gradient_boosting", "modeling.hist_gradient_boosting.max_iter=50"])
    assert train["estimator"] == "hist_gradient_boosting" and "random_forest" not in train
    assert train["hist_gradient_boosting"]["max_iter"] == 50  # type: ignore[index]
    # the order of the overrides does not matter
    swapped = ["modeling.hist_gradient_boosting.max_iter=50", "model=hist_gradient_boosting"]
    assert _train_params(swapped) == train
    # the data steps' params do not depend on the family: switching never re-runs them
    boosting, forest = (build_pipeline(config.compose(o)) for o in (swapped, []))
    assert [s.params for s in boosting.steps if s.name != "train"] == [
        s.params for s in forest.steps if s.name != "train"
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=hist_gradient_boosting", "modeling.random_forest.max_features=0.3"],
         r"unknown config key 'modeling\.random_forest\.max_features' \(with model=hist_gradient_boosting\)"
         r".*select it \(model=random_forest\)"),
        (["modeling.hist_gradient_boosting.max_iter=50"], r"select it \(model=hist_gradient_boosting\)"),
        (["model=xgboost"], r"(?s)Could not find 'model/xgboost'.*hist_gradient_boosting"),
        (["modeling.estimator=hist_gradient_boosting"], r"family with model=hist_gradient_boosting"),
        (["promotion.metric=accuracy"], r"'accuracy' is not a regression metric"),
        (["modeling.target_transform=log"], r"target_transform='log'"),
    ],
)  # fmt: skip
def test_bad_model_config_is_refused_before_any_step_runs(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_pipeline(config.compose(overrides))
    assert "Config search path" not in str(info.value)


def test_a_config_dir_without_the_model_group_uses_the_packaged_one(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("modelmill.conf").joinpath("config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(text.replace("demo_rows: 5000", "demo_rows: 777"))
    cfg = config.compose(["model=hist_gradient_boosting"], config_dir=tmp_path)
    assert cfg.etl.demo_rows == 777 and cfg.modeling.estimator == "hist_gradient_boosting"
    assert config.compose([], config_dir=tmp_path).modeling.random_forest == COURSE_FOREST


def test_gradient_boosting_is_scikit_learns_estimator_stopped_on_validation_with_native_categories() -> None:
    """model=gradient_boosting (a new project's default): HistGradientBoosting with its own
    defaults but early stopping (up to 1000 trees, patience 20; the validation part is the
    project's, modelmill.features.fitting), the spec's categories as native splits, no target
    transform of its own."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    train = _train_params(["model=gradient_boosting"])
    assert train["estimator"] == "gradient_boosting" and train["target_transform"] == "none"
    defaults = HistGradientBoostingRegressor().get_params()
    chosen = dict(train["gradient_boosting"])  # type: ignore[call-overload]
    changed = {k: v for k, v in chosen.items() if defaults[k] != v}
    assert changed == {"max_iter": 1000, "early_stopping": True, "n_iter_no_change": 20}
    categorical = [{"name": "c", "role": "categorical"}, {"name": "x", "role": "numeric"}]
    family = {"estimator": "gradient_boosting", "gradient_boosting": {}}
    pipeline = build_inference_pipeline({"features": categorical, "random_seed": 0, **family})
    assert fitted_estimator(pipeline).categorical_features == [0]
