"""Model families: the estimator at the end of the inference pipeline, picked by name.

``modeling.estimator`` (set by the Hydra group ``model=NAME``, files in ``conf/model/``)
names a :class:`Family` in :data:`ESTIMATORS`; its keyword arguments are ``modeling.NAME``.
Every family gets the preprocessing the dataset spec declares
(:func:`~modelmill.features.pipeline.build_preprocessor`, a dense matrix, so families that
refuse sparse input work too); what a family can take natively decides what the spec leaves
open: a family that learns where missing values go gets them as NaN (others get the median),
and one with native categorical splits gets categories as codes it splits on as sets
(others get one-hot columns). A family is one entry here plus one YAML file; its
estimator's types must load with skops (``modelmill.registry.export.TRUSTED_TYPES``).

scikit-learn is imported inside the builders: the pipeline factory imports this module to
check the config, and a fully cached run should not pay for scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import ConfigError

Builder = Callable[[Mapping[str, Any], int], Any]
DEFAULT = "random_forest"
# y -> f(y) before fitting, predictions -> f^-1(pred); numpy ufuncs (skops loads them, no lambdas)
TARGET_TRANSFORMS = ("none", "log1p")


# keyword values only a regressor understands; a classifier of the same family drops them
# (the packaged model files are the NYC regression's: criterion absolute_error, loss squared_error)
REGRESSION_ONLY = {
    "criterion": ("squared_error", "absolute_error", "friedman_mse", "poisson"),
    "loss": ("squared_error", "absolute_error", "gamma", "poisson", "quantile"),
}


def random_forest(params: Mapping[str, Any], seed: int) -> Any:
    """The course's model: ``RandomForestRegressor(**params)``."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**params, random_state=seed)


def random_forest_classifier(params: Mapping[str, Any], seed: int) -> Any:
    """``RandomForestClassifier(**params)`` (``model=random_forest`` on a classification task)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**params, random_state=seed)


def hist_gradient_boosting(params: Mapping[str, Any], seed: int) -> Any:
    """``HistGradientBoostingRegressor(**params)``: fast on tens of thousands of rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**params, random_state=seed)


def hist_gradient_boosting_classifier(params: Mapping[str, Any], seed: int) -> Any:
    """``HistGradientBoostingClassifier(**params)`` (log loss; one tree per class per round)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**params, random_state=seed)


def logistic_regression(params: Mapping[str, Any], seed: int) -> Any:
    """Standardised inputs into an L2-regularised ``LogisticRegression(**params)``: the baseline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [("scale", StandardScaler()), ("logistic", LogisticRegression(**params, random_state=seed))]
    )


def _regressor_only(params: Mapping[str, Any], seed: int) -> Any:
    raise ConfigError("model=logistic_regression is a classifier; for task regression use "
                      "model=gradient_boosting or model=random_forest")  # fmt: skip


@dataclass(frozen=True)
class Family:
    """A model family: its builders (regression, classification) and what they handle natively."""

    build: Builder
    classifier: Builder | None = None  # None: the family cannot classify
    native_missing: bool = False  # learns where NaN goes: numbers need no imputer
    native_categories: bool = False  # ``categorical_features``: splits ordinal codes as sets


ESTIMATORS: dict[str, Family] = {
    "random_forest": Family(random_forest, random_forest_classifier),
    # the NYC-tuned boosting (conf/model/hist_gradient_boosting.yaml)
    "hist_gradient_boosting": Family(hist_gradient_boosting, hist_gradient_boosting_classifier,
                                     native_missing=True, native_categories=True),
    # a new project's default (conf/model/gradient_boosting.yaml)
    "gradient_boosting": Family(hist_gradient_boosting, hist_gradient_boosting_classifier,
                                native_missing=True, native_categories=True),
    # classification baseline (conf/model/logistic_regression.yaml)
    "logistic_regression": Family(_regressor_only, logistic_regression),
}  # fmt: skip


def known() -> str:
    """The family names, for error messages."""
    return ", ".join(sorted(ESTIMATORS))


def family(name: str) -> Family:
    """The family called ``name``; a :class:`ConfigError` listing the known ones otherwise."""
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ConfigError(
            f"modeling.estimator={name!r} is not a known estimator family (known: {known()}); "
            "select one with model=NAME"
        ) from None


def build_estimator(
    name: str,
    params: Mapping[str, Any],
    seed: int,
    categorical: Sequence[int] = (),
    *,
    classifier: bool = False,
    class_weight: str | None = None,
) -> Any:
    """An unfitted estimator of family ``name``; a misspelled parameter is a :class:`ConfigError`.

    ``categorical``: the matrix columns holding category codes, for a family with native
    categorical splits (ignored by the others, which never get codes to split on as sets).
    ``classifier``: the family's classifier (a task ``binary``/``multiclass``), given
    ``class_weight`` (``balanced`` or None) and without the regression-only keyword values."""
    chosen = family(name)
    kwargs = dict(params)
    if categorical and chosen.native_categories:
        kwargs["categorical_features"] = list(categorical)
    build = chosen.build
    if classifier:
        if chosen.classifier is None:
            raise ConfigError(f"model={name} cannot classify; use model=gradient_boosting")
        build = chosen.classifier
        kwargs = {k: v for k, v in kwargs.items() if v not in REGRESSION_ONLY.get(k, ())}
        if class_weight is not None:
            kwargs["class_weight"] = class_weight
    elif class_weight is not None:
        raise ConfigError("modeling.class_weight applies to classification tasks only; remove it")
    try:
        return build(kwargs, int(seed))
    except TypeError as exc:  # an unexpected keyword argument
        raise ConfigError(
            f"modeling.{name}: {exc}; fix or remove that key (conf/model/{name}.yaml)"
        ) from None


def check_target_transform(transform: str) -> str:
    """``transform`` if it is one of :data:`TARGET_TRANSFORMS`, else a :class:`ConfigError`."""
    if transform not in TARGET_TRANSFORMS:
        raise ConfigError(
            f"modeling.target_transform={transform!r}: expected one of {', '.join(TARGET_TRANSFORMS)}"
        )
    return transform


def with_target_transform(estimator: Any, transform: str) -> Any:
    """``estimator`` fitted on ``log1p(target)`` and predicting ``expm1(...)``, or unchanged."""
    if check_target_transform(transform) == "none":
        return estimator
    import numpy as np
    from sklearn.compose import TransformedTargetRegressor

    return TransformedTargetRegressor(regressor=estimator, func=np.log1p, inverse_func=np.expm1)


def fitted_estimator(pipeline: Any) -> Any:
    """The family's fitted estimator at the end of ``pipeline``, unwrapping a target transform,
    a decision threshold and a calibration (:mod:`modelmill.features.decision`)."""
    final = pipeline[-1]
    final = getattr(final, "regressor_", final)
    while True:
        kind = type(final).__name__
        if kind == "FixedThresholdClassifier":
            final = final.estimator_
        elif kind == "FrozenEstimator":
            final = final.estimator
        elif kind == "CalibratedClassifierCV":
            final = final.calibrated_classifiers_[0].estimator
        else:
            return final


def check_modeling(modeling: Mapping[str, Any]) -> str:
    """The selected family's name, after checking the ``modeling`` config section is usable.

    Called when the pipeline is built, so a bad family or transform fails before any step runs.
    """
    name = str(modeling.get("estimator", DEFAULT))
    family(name)
    if not isinstance(modeling.get(name), Mapping):
        raise ConfigError(
            f"modeling.estimator={name!r} but there is no modeling.{name} section; select the "
            f"family with model={name} (it sets both) rather than modeling.estimator"
        )
    check_target_transform(str(modeling.get("target_transform", "none")))
    return name
