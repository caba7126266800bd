"""Model families: the estimator at the end of the inference pipeline, picked by name.

``modeling.estimator`` (set by the Hydra group ``model=NAME``, files in ``conf/model/``)
names a builder in :data:`ESTIMATORS`; its keyword arguments are ``modeling.NAME``. Every
family gets the same preprocessing (:func:`~modelmill.features.pipeline.build_preprocessor`,
a dense matrix, so families that refuse sparse input work too). A family is one builder
here plus one YAML file; its estimator's types must load with skops
(``modelmill.registry.export.TRUSTED_TYPES``).

scikit-learn is imported inside the builders: the pipeline factory imports this module to
check the config, and a fully cached run should not pay for scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


ESTIMATORS: dict[str, Builder] = {
    "random_forest": random_forest,
    "hist_gradient_boosting": hist_gradient_boosting,
}


def known() -> str:
    """The family names, for error messages."""
    return ", ".join(sorted(ESTIMATORS))


def builder(name: str) -> Builder:
    """The builder of family ``name``; a :class:`ConfigError` listing the known ones otherwise."""
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ConfigError(
            f"modeling.estimator={name!r} is not a known estimator family (known: {known()}); "
            "select one with model=NAME"
        ) from None


def build_estimator(name: str, params: Mapping[str, Any], seed: int) -> Any:
    """An unfitted estimator of family ``name``; a misspelled parameter is a :class:`ConfigError`."""
    make = builder(name)
    try:
        return make(dict(params), int(seed))
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
    """``estimator`` fitted on ``log1p(price)`` and predicting ``expm1(...)``, or unchanged."""
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
    builder(name)
    if not isinstance(modeling.get(name), Mapping):
        raise ConfigError(
            f"modeling.estimator={name!r} but there is no modeling.{name} section; select the "
            f"family with model={name} (it sets both) rather than modeling.estimator"
        )
    check_target_transform(str(modeling.get("target_transform", "none")))
    return name
