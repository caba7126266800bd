"""Early stopping watches the project's validation part (modelmill.features.fitting), on a real table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelmill.features.fitting import DEFAULT_TREES, MIN_VALIDATION_ROWS, fit_pipeline, watches_validation

Parts = tuple[Any, Any, Any, Any]


@pytest.fixture(scope="module")
def parts() -> Parts:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    train, val = train_test_split(frame, test_size=0.25, random_state=0)
    return train.drop(columns="target"), val.drop(columns="target"), train["target"], val["target"]


def _boosting(**kwargs: Any) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=1000, n_iter_no_change=20, random_state=0, **kwargs)


def test_early_stopping_scores_the_given_validation_rows(parts: Parts) -> None:
    x_train, x_val, y_train, y_val = parts
    pipeline = Pipeline([("scale", StandardScaler()), ("model", _boosting(early_stopping=True))])
    fit_pipeline(pipeline, x_train, y_train, x_val, y_val)
    model = pipeline[-1]
    assert model.n_iter_ < 1000, "it stopped early"
    # validation_score_ holds -loss on OUR validation rows (not a part carved out of x_train):
    # the last one equals the squared error of the fitted model on them, halved (sklearn's loss)
    predicted = pipeline.predict(x_val)
    assert model.validation_score_[-1] == pytest.approx(-np.mean((y_val - predicted) ** 2) / 2, rel=1e-6)
    assert len(model.train_score_) == model.n_iter_ + 1


def test_the_target_transform_sees_the_validation_target_transformed(
    parts: tuple[Any, Any, Any, Any],
) -> None:
    x_train, x_val, y_train, y_val = parts
    wrapped = TransformedTargetRegressor(regressor=_boosting(early_stopping=True), func=np.log1p,
                                         inverse_func=np.expm1)  # fmt: skip
    pipeline = Pipeline([("scale", StandardScaler()), ("model", wrapped)])
    fit_pipeline(pipeline, x_train, y_train, x_val, y_val)
    inner = pipeline[-1].regressor_
    log_predicted = np.log1p(pipeline.predict(x_val))
    expected = -np.mean((np.log1p(y_val) - log_predicted) ** 2) / 2
    assert inner.validation_score_[-1] == pytest.approx(expected, rel=1e-6)


def test_estimators_without_early_stopping_fit_on_the_train_part_only(
    parts: tuple[Any, Any, Any, Any],
) -> None:
    x_train, x_val, y_train, y_val = parts
    assert not watches_validation(_boosting(early_stopping=False))
    assert not watches_validation(RandomForestRegressor())
    assert not watches_validation(_boosting(early_stopping="auto"))  # scikit-learn's own rule
    fixed = Pipeline([("model", _boosting(early_stopping=False))])
    fit_pipeline(fixed, x_train, y_train, x_val, y_val)
    assert fixed[-1].n_iter_ == 1000
    alone = _boosting(early_stopping=False).fit(x_train, y_train)
    np.testing.assert_array_equal(fixed.predict(x_val), alone.predict(x_val))
    # a validation part too small to stop on (or none, val_size 0): scikit-learn's defaults
    few = Pipeline([("model", _boosting(early_stopping=True))])
    fit_pipeline(
        few, x_train, y_train, x_val.head(MIN_VALIDATION_ROWS - 1), y_val.head(MIN_VALIDATION_ROWS - 1)
    )
    assert few[-1].n_iter_ == DEFAULT_TREES and few[-1].early_stopping is False
    default = HistGradientBoostingRegressor(random_state=0).fit(x_train, y_train)
    np.testing.assert_array_equal(few.predict(x_val), default.predict(x_val))


def test_a_classifier_stops_only_on_enough_rows_of_its_rarest_class() -> None:
    """breast_cancer: a validation part with 40 malignant rows is too few to stop on (the
    defaults' 100 trees); one with 60 of each class stops early."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)

    def fitted(rare: int) -> HistGradientBoostingClassifier:
        rows = np.r_[np.flatnonzero(y_val.to_numpy() == 0)[:rare], np.flatnonzero(y_val.to_numpy() == 1)[:90]]
        model = HistGradientBoostingClassifier(max_iter=1000, early_stopping=True, n_iter_no_change=5,
                                               random_state=0)  # fmt: skip
        pipeline = Pipeline([("scale", StandardScaler()), ("model", model)])
        fit_pipeline(pipeline, x_train, y_train, x_val.iloc[rows], y_val.iloc[rows])
        return model

    few = fitted(MIN_VALIDATION_ROWS - 10)  # 130 validation rows, 40 of the rarer class
    assert few.early_stopping is False and few.n_iter_ == DEFAULT_TREES
    enough = fitted(MIN_VALIDATION_ROWS + 10)
    assert enough.early_stopping is True and enough.n_iter_ < 1000
