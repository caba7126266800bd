"""Rank trials by a metric; the order is deterministic (ties: lower trial index first)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from modelmill.core.errors import ConfigError
from modelmill.sweep.trial import TrialResult
from modelmill.tasks import TASKS

SPLITS = ("val_", "test_", "oob_", "train_", "prod_test_")


def metric_key(metric: str, split: str = "val") -> str:
    """``mae`` -> ``val_mae``; a name that already names its split is kept as is."""
    if metric.startswith(SPLITS) or metric == "fit_seconds":
        return metric
    return f"{split}_{metric}"


def resolve_direction(metric: str, direction: str) -> str:
    """``minimize`` or ``maximize``; ``auto`` takes the metric's direction from the tasks
    (:mod:`modelmill.tasks`: r2, accuracy, roc_auc... are maximized, errors and log loss are
    minimized); a metric no task declares (``fit_seconds``) is minimized."""
    if direction in ("minimize", "maximize"):
        return direction
    if direction != "auto":
        raise ConfigError(f"--direction {direction!r}: expected auto, minimize or maximize")
    name = next((metric.removeprefix(p) for p in SPLITS if metric.startswith(p)), metric)
    for task in TASKS.values():
        if name in task.metric_names:
            return "minimize" if task.lower_is_better(name) else "maximize"
    return "minimize"


def rank(trials: Sequence[TrialResult], key: str, direction: str) -> list[TrialResult]:
    """Successful trials with the metric first, best first; then the others by index."""
    sign = -1.0 if direction == "maximize" else 1.0

    def order(t: TrialResult) -> tuple[int, float, int]:
        value = t.metrics.get(key)
        if t.status != "ok" or value is None or math.isnan(value):
            return (1, 0.0, t.index)
        return (0, sign * value, t.index)

    return sorted(trials, key=order)


def check_metric(trials: Sequence[TrialResult], key: str) -> None:
    """Fail clearly when no successful trial reports the metric."""
    ok = [t for t in trials if t.status == "ok"]
    if ok and all(key not in t.metrics for t in ok):
        known = sorted({k for t in ok for k in t.metrics})
        raise ConfigError(f"--metric: no trial reported '{key}'; metrics reported: {', '.join(known)}")
