"""Feature importance for every model family.

A family with ``feature_importances_`` (the random forest) keeps the course's impurity
importances per output feature (:func:`~modelmill.features.pipeline.grouped_importances`).
A family without them (histogram gradient boosting) gets permutation importance: how much
the validation metric worsens when one raw input column is shuffled, on a seeded subsample
of the validation rows so it costs well under a second and is reproducible. The metric is
the task's default one (``metric``, a name of :mod:`modelmill.tasks`), as scikit-learn scores it.
"""

from __future__ import annotations

from typing import Any

from modelmill.features.estimators import fitted_estimator
from modelmill.features.pipeline import grouped_importances, used_columns

IMPURITY = "impurity"
PERMUTATION = "permutation"
MAX_ROWS = 1000
REPEATS = 3
# a task's metric name -> scikit-learn's scorer (greater is better: errors are negated)
SCORERS = {
    "mae": "neg_mean_absolute_error", "rmse": "neg_root_mean_squared_error", "r2": "r2",
    "medae": "neg_median_absolute_error", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
    "f1": "f1", "f1_macro": "f1_macro", "f1_weighted": "f1_weighted", "roc_auc": "roc_auc",
    "roc_auc_ovr": "roc_auc_ovr", "pr_auc": "average_precision", "log_loss": "neg_log_loss",
    "brier": "neg_brier_score",
}  # fmt: skip
DEFAULT_METRIC = "mae"


def label(kind: str, metric: str = DEFAULT_METRIC) -> str:
    """The axis label of an importance chart."""
    if kind == IMPURITY:
        return "impurity importance (a text column's TF-IDF columns summed)"
    return f"permutation importance: validation {metric} change when shuffled"


def permutation_importances(
    pipeline: Any, features: Any, target: Any, seed: int, metric: str = DEFAULT_METRIC,
    max_rows: int = MAX_ROWS, repeats: int = REPEATS,
) -> dict[str, float]:  # fmt: skip
    """Mean score loss per raw column the pipeline reads, largest first.

    Only the used columns are shuffled (the rest are dropped by the pipeline anyway), on
    at most ``max_rows`` validation rows drawn with ``seed``.
    """
    from sklearn.inspection import permutation_importance

    columns = [c for c in used_columns(pipeline) if c in features.columns]
    rows = features[columns]
    if len(rows) > max_rows:
        rows = rows.sample(n=max_rows, random_state=seed)
    result = permutation_importance(
        pipeline, rows, target.loc[rows.index], scoring=SCORERS.get(metric, SCORERS[DEFAULT_METRIC]),
        n_repeats=repeats, random_state=seed, n_jobs=1,
    )  # fmt: skip
    scores = {c: float(v) for c, v in zip(columns, result.importances_mean, strict=True)}
    return dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))


def importances(
    pipeline: Any, features: Any, target: Any, seed: int, metric: str = DEFAULT_METRIC
) -> tuple[str, dict[str, float]]:
    """``(kind, importances)``: impurity when the family has them, else permutation on ``features``."""
    if hasattr(fitted_estimator(pipeline), "feature_importances_"):
        return IMPURITY, grouped_importances(pipeline)
    return PERMUTATION, permutation_importances(pipeline, features, target, seed, metric)
