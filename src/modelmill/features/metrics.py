"""Regression metrics: the one list train logs (``val_*``), evaluate logs (``test_*``) and
the promotion gate compares (``promotion.metric``), with each metric's direction.

scikit-learn is imported inside :func:`regression_metrics` only, so the pipeline factory can
check ``promotion.metric`` against :data:`METRICS` cheaply.
"""

from __future__ import annotations

from typing import Any

from modelmill.core.errors import ConfigError

# name -> True when lower is better (errors in dollars), False when higher is (r2)
METRICS: dict[str, bool] = {"mae": True, "rmse": True, "medae": True, "r2": False}


def lower_is_better(metric: str) -> bool:
    """The direction of ``metric``; a :class:`ConfigError` naming the known metrics otherwise."""
    try:
        return METRICS[metric]
    except KeyError:
        lower = ", ".join(k for k, v in METRICS.items() if v)
        higher = ", ".join(k for k, v in METRICS.items() if not v)
        raise ConfigError(
            f"promotion.metric={metric!r}: expected one of {lower} (lower is better) or {higher} "
            "(higher is better)"
        ) from None


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``{"mae", "rmse", "r2", "medae"}`` of ``y_pred`` against ``y_true``."""
    from sklearn.metrics import (
        mean_absolute_error,
        median_absolute_error,
        r2_score,
        root_mean_squared_error,
    )

    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "medae": float(median_absolute_error(y_true, y_pred)),
    }
