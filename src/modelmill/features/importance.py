"""Feature importance for every model family.

A family with ``feature_importances_`` (the random forest) keeps the course's impurity
importances per output feature (:func:`~modelmill.features.pipeline.grouped_importances`).
A family without them (histogram gradient boosting) gets permutation importance: how much
the validation MAE grows when one raw input column is shuffled, on a seeded subsample of
the validation rows so it costs well under a second and is reproducible.
"""

from __future__ import annotations

from typing import Any

from modelmill.features.estimators import fitted_estimator
from modelmill.features.pipeline import grouped_importances, used_columns

IMPURITY = "impurity"
PERMUTATION = "permutation"
LABELS = {
    IMPURITY: "impurity importance (TF-IDF columns summed into 'name')",
    PERMUTATION: "permutation importance: validation MAE increase when shuffled ($)",
}
MAX_ROWS = 1000
REPEATS = 3


def permutation_importances(
    pipeline: Any, features: Any, target: Any, seed: int, max_rows: int = MAX_ROWS, repeats: int = REPEATS
) -> dict[str, float]:
    """Mean MAE increase per raw column the pipeline reads, largest first.

    Only the used columns are shuffled (the rest are dropped by the pipeline anyway), on
    at most ``max_rows`` validation rows drawn with ``seed``.
    """
    from sklearn.inspection import permutation_importance

    columns = [c for c in used_columns() if c in features.columns]
    rows = features[columns]
    if len(rows) > max_rows:
        rows = rows.sample(n=max_rows, random_state=seed)
    result = permutation_importance(
        pipeline, rows, target.loc[rows.index], scoring="neg_mean_absolute_error",
        n_repeats=repeats, random_state=seed, n_jobs=1,
    )  # fmt: skip
    scores = {c: float(v) for c, v in zip(columns, result.importances_mean, strict=True)}
    return dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))


def importances(pipeline: Any, features: Any, target: Any, seed: int) -> tuple[str, dict[str, float]]:
    """``(kind, importances)``: impurity when the family has them, else permutation on ``features``."""
    if hasattr(fitted_estimator(pipeline), "feature_importances_"):
        return IMPURITY, grouped_importances(pipeline)
    return PERMUTATION, permutation_importances(pipeline, features, target, seed)
