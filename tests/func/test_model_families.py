"""Model families through the real pipeline: select, cache, compare across families, promote.

Demo data and tiny models keep it to seconds; tracking is off (the registry still works).
Every family exports ``random_forest_export``, so ``prod`` and the gate span families.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

import modelmill
from modelmill.cli import app
from modelmill.core.types import RunSummary

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
MODEL = "random_forest_export"
DATA = ["main.tracking=none", "etl.demo_rows=1200", "data_check.min_rows=200"]
FOREST = ["modeling.random_forest.n_estimators=8", "modeling.random_forest.criterion=squared_error",
          "modeling.random_forest.oob_score=false", "modeling.random_forest.max_depth=8"]  # fmt: skip
BOOSTING = ["model=hist_gradient_boosting", "modeling.hist_gradient_boosting.max_iter=40"]
DATA_STEPS = ("get_data", "basic_cleaning", "data_check", "data_split")
# the packaged spec's features: what permutation importance shuffles
NYC_FEATURES = ["room_type", "neighbourhood_group", "minimum_nights", "number_of_reviews",
                "reviews_per_month", "calculated_host_listings_count", "availability_365", "latitude",
                "longitude", "last_review", "name"]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """HistGradientBoosting's OpenMP threads crawl when pytest-xdist workers share 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        yield


def run(*overrides: str) -> RunSummary:
    summary = modelmill.run([*DATA, *overrides])
    assert summary.status == "success", [(s.name, s.error) for s in summary.steps if s.error]
    return summary


def statuses(summary: RunSummary) -> dict[str, str]:
    return {s.name: s.status for s in summary.steps}


def test_families_share_data_steps_and_compete_for_prod() -> None:
    store = modelmill.open_workspace().store
    forest = run(*FOREST)
    assert store.resolve(f"{MODEL}:prod").ref == f"{MODEL}:v0"
    meta = store.resolve(f"{MODEL}:v0").metadata
    assert meta["estimator"] == "random_forest" and meta["importance_kind"] == "impurity"
    for key in ("mae", "rmse", "r2", "medae"):
        assert forest.metrics[f"val_{key}"] > 0 and forest.metrics[f"test_{key}"] > 0, key

    boosting = run(*BOOSTING, "promotion.metric=rmse")
    states = statuses(boosting)
    assert states["get_data"] == states["basic_cleaning"] == "cached" and states["train"] == "ran"
    assert store.resolve("trainval_data.csv:latest").ref == "trainval_data.csv:v0"  # the same split
    meta = store.resolve(f"{MODEL}:v1").metadata
    assert meta["estimator"] == "hist_gradient_boosting" and meta["params"]["estimator"] == meta["estimator"]
    assert "random_forest" not in meta["params"]
    assert meta["importance_kind"] == "permutation" and set(meta["feature_importance"]) == set(NYC_FEATURES)
    assert "estimator: hist_gradient_boosting" in (store.path(f"{MODEL}:v1") / "MLmodel").read_text()
    evaluation = json.loads(store.read_text("evaluation:latest"))
    assert evaluation["prod"]["ref"] == f"{MODEL}:v0"  # the forest, judged on the same test split
    assert boosting.metrics["prod_test_rmse"] == pytest.approx(forest.metrics["test_rmse"])
    promotion = json.loads(store.read_text("promotion:latest"))
    assert promotion["metric"] == "rmse"
    assert promotion["candidate_value"] == pytest.approx(boosting.metrics["test_rmse"])
    assert promotion["prod_value"] == pytest.approx(forest.metrics["test_rmse"])
    assert promotion["promoted"] == (boosting.metrics["test_rmse"] < forest.metrics["test_rmse"])

    # back to the forest: another family's run changed none of its train params
    again = statuses(run(*FOREST))
    assert {again[s] for s in (*DATA_STEPS, "train")} == {"cached"}


def test_cli_explains_and_validates_the_model_group() -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["run", "--help"]).output
    assert "model=hist_gradient_boosting" in help_text
    wrong_family = ["model=hist_gradient_boosting", "modeling.random_forest.n_jobs=2"]
    bad = runner.invoke(app, ["run", *DATA, *wrong_family])
    assert bad.exit_code == 2 and "select it (model=random_forest)" in bad.output
    unknown = runner.invoke(app, ["run", *DATA, "promotion.metric=mape"])
    assert unknown.exit_code == 2 and "mae, rmse, medae" in unknown.output
