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


def random_forest(params: Mapping[str, Any], seed: int) -> Any:
    """The course's model: ``RandomForestRegressor(**params)``."""
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**params, random_state=seed)


def hist_gradient_boosting(params: Mapping[str, Any], seed: int) -> Any:
    """``HistGradientBoostingRegressor(**params)``: fast on tens of thousands of rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**params, random_state=seed)


@dataclass(frozen=True)
class Family:
    """A model family: its builder and what its estimator handles natively."""

    build: Builder
    native_missing: bool = False  # learns where NaN goes: numbers need no imputer
    native_categories: bool = False  # ``categorical_features``: splits ordinal codes as sets


ESTIMATORS: dict[str, Family] = {
    "random_forest": Family(random_forest),
    # the NYC-tuned boosting (conf/model/hist_gradient_boosting.yaml)
    "hist_gradient_boosting": Family(hist_gradient_boosting, native_missing=True, native_categories=True),
    # a new project's default: scikit-learn's defaults, seeded (conf/model/gradient_boosting.yaml)
    "gradient_boosting": Family(hist_gradient_boosting, native_missing=True, native_categories=True),
}


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


def build_estimator(name: str, params: Mapping[str, Any], seed: int, categorical: Sequence[int] = ()) -> Any:
    """An unfitted estimator of family ``name``; a misspelled parameter is a :class:`ConfigError`.

    ``categorical``: the matrix columns holding category codes, for a family with native
    categorical splits (ignored by the others, which never get codes to split on as sets)."""
    chosen = family(name)
    kwargs = dict(params)
    if categorical and chosen.native_categories:
        kwargs["categorical_features"] = list(categorical)
    try:
        return chosen.build(kwargs, int(seed))
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
    """The family's fitted estimator at the end of ``pipeline`` (unwrapping a target transform)."""
    final = pipeline[-1]
    return getattr(final, "regressor_", final)


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
