"""Model quality once the truth is known: the task's metrics of past predictions, overall and per week.

Actuals are a CSV of the true target per row: the project's id column (or ``row``, the row
numbers ``modelmill score`` writes for a table without ids) and the target column (or
``actual``). They are joined to the monitored batch's predictions by id; a file with
neither is matched row by row when it has as many rows as the batch. The metrics are the
task's (:mod:`modelmill.tasks`: MAE, RMSE, R² and median AE for regression), the headline
one (``metric``, the promotion metric) is compared with the model's own test score, and given
per week of ``time_col`` (``timestamp`` of the service's request log, or e.g. a date column);
without one the batch is a single period.

A classifier's actuals are labels, matched with the predicted ones as the user's labels
(:mod:`modelmill.monitor.labels`); with the class probabilities (``proba_<class>`` columns,
or the model's) the metrics needing them are given too (ROC AUC, log loss, ...), and a
headline metric needing them is kept; without, the headline is the first metric that does
not. A week of one class has no ROC AUC: that figure is absent, never an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelmill.core.errors import UsageError
from modelmill.monitor.labels import as_actual_kind, class_list, classification_scores
from modelmill.tasks import Task, get_task

ACTUAL = "actual"
ROW = "row"


@dataclass(frozen=True)
class Truth:
    """What the actuals are: the task, the target column, the id to join on, the headline metric."""

    task: str = "regression"
    target: str = ACTUAL
    id: str | None = None
    metric: str | None = None  # default: the task's

    @property
    def kind(self) -> Task:
        return get_task(self.task)

    @property
    def headline(self) -> str:
        """The metric compared with the baseline when no class probabilities are known."""
        return self.headline_for(proba=False)

    def headline_for(self, proba: bool) -> str:
        """The metric compared with the baseline: the configured one (default: the task's), or,
        when it needs class probabilities and ``proba`` is false, the first one that does not."""
        task = self.kind
        wanted = self.metric or task.default_metric
        if proba or not task.metric(wanted).needs_proba:
            return wanted
        return next(m.name for m in task.metrics if not m.needs_proba)


@dataclass
class Quality:
    """The task's metrics on the joined rows, the headline one against the model's baseline."""

    metric: str
    value: float
    metrics: dict[str, float]
    lower_is_better: bool
    n_matched: int
    n_actuals: int
    baseline: float | None
    baseline_source: str
    periods: list[dict[str, Any]] = field(default_factory=list)
    time_col: str | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def worse(self) -> bool | None:
        """Whether the batch scores worse than the baseline (``None``: no baseline)."""
        if self.baseline is None:
            return None
        return self.value > self.baseline if self.lower_is_better else self.value < self.baseline

    def to_dict(self) -> dict[str, Any]:
        """The headline metric is also under its own name (``mae``, ``baseline_mae``)."""
        out = asdict(self) | {"ratio_to_baseline": None if self.ratio is None else round(self.ratio, 4)}
        return out | {self.metric: self.value, f"baseline_{self.metric}": self.baseline}


def read_actuals(path: str, truth: Truth) -> pd.DataFrame:
    """``key`` (the id, the row number or the position) and ``actual`` from the actuals CSV."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"actuals file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"actuals file {path} could not be read as CSV: {exc}") from None
    column = next((c for c in (truth.target, ACTUAL) if c in frame.columns), None)
    if column is None:
        raise UsageError(
            f"actuals file {path} needs the target column {truth.target} (or {ACTUAL}); "
            f"has {list(frame.columns)}"
        )
    values = frame[column] if truth.kind.is_classifier else pd.to_numeric(frame[column], errors="coerce")
    key = next((c for c in (truth.id, ROW) if c and c in frame.columns), None)
    out = pd.DataFrame({"actual": values})
    out.attrs["key"] = key
    out["key"] = frame[key].to_numpy() if key else np.arange(len(frame))
    return out


def _keys(batch: pd.DataFrame, actuals: pd.DataFrame, truth: Truth) -> np.ndarray:
    """The batch's join keys: its ids, its row numbers, or its positions (same length only)."""
    key = actuals.attrs.get("key")
    if key is not None and key in batch.columns:
        return batch[key].to_numpy()
    if key == ROW:
        return np.arange(len(batch))
    if key is not None:
        raise UsageError(f"--actuals joins on {key}, which is not a column of the input")
    if len(actuals) != len(batch):
        what = f"an id column ({truth.id}) or" if truth.id else "a"
        raise UsageError(
            f"the actuals file has neither {what} '{ROW}' column, nor as many rows as the input "
            f"({len(actuals)} vs {len(batch)}) to match them in order"
        )
    return np.arange(len(batch))


def _score(truth: Truth, frame: pd.DataFrame) -> dict[str, float]:
    if len(frame) < 2:  # R² and friends need two rows: only the headline metric, when defined
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns that R² of one row is undefined
            value = float(truth.kind.score(frame["actual"], frame["prediction"])[truth.headline])
        return {truth.headline: value} if np.isfinite(value) else {}
    return {k: round(v, 6) for k, v in truth.kind.score(frame["actual"], frame["prediction"]).items()}


Baseline = tuple[float | None, str]


def _classifier_frame(scored: pd.DataFrame, proba: np.ndarray | None) -> tuple[pd.DataFrame, list[str]]:
    """``scored`` with a classifier's probabilities as columns ``__proba_<j>`` (carried through the join)."""
    if proba is None:
        return scored, []
    names = [f"__proba_{j}" for j in range(proba.shape[1])]
    return scored.assign(**{n: proba[:, j] for j, n in enumerate(names)}), names


def _classifier_scores(
    truth: Truth, frame: pd.DataFrame, columns: list[str], classes: list[Any]
) -> dict[str, float]:
    proba = frame[columns].to_numpy(dtype=float) if columns else None
    return classification_scores(truth.kind, frame["actual"], frame["prediction"].to_numpy(), proba, classes)


def model_quality(
    batch: pd.DataFrame,
    predictions: np.ndarray,
    actuals: pd.DataFrame,
    baseline: Baseline | Callable[[str], Baseline],
    truth: Truth,
    time_col: str | None = None,
    *,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> Quality:
    """The task's metrics overall, and per week of ``time_col``, over the rows of ``batch`` that
    have an actual (a regressor's headline metric per week; a classifier's every metric).

    A classifier's ``predictions`` are labels; ``proba`` (``(n, n_classes)`` in ``classes``
    order) gives the metrics needing probabilities, and makes the configured headline one
    of them when it is. ``baseline``: the model's own score and its source, or a function of
    the headline metric's name returning them."""
    if time_col is not None and time_col not in batch.columns:
        raise UsageError(f"--time-col {time_col} is not a column of the input")
    classifier = truth.kind.is_classifier
    scored = pd.DataFrame({"key": _keys(batch, actuals, truth), "prediction": predictions})
    scored, columns = _classifier_frame(scored, proba if classifier else None)
    if time_col is not None:
        scored["time"] = pd.to_datetime(batch[time_col].to_numpy(), errors="coerce", format="mixed")
    joined = scored.merge(actuals.drop_duplicates("key", keep="last"), on="key", how="inner")
    joined = joined[joined["actual"].notna() & joined["prediction"].notna()]
    if not classifier:
        joined = joined[np.isfinite(joined["actual"].astype(float)) & np.isfinite(joined["prediction"])]
    if joined.empty:
        raise UsageError("no row of the input matches a row of the actuals file")
    if classifier:
        joined = joined.assign(prediction=as_actual_kind(joined["prediction"], joined["actual"]))
        labels = class_list(classes, joined["actual"], joined["prediction"].to_numpy())
        metrics = _classifier_scores(truth, joined, columns, labels)
        if not metrics:
            seen = sorted(map(str, pd.unique(joined["actual"])))[:5]
            raise UsageError(
                f"the actual labels {seen} cannot be compared with the predicted ones "
                f"(classes {[str(c) for c in labels][:5]})"
            )
        metric = truth.headline_for(bool(columns))
        if metric not in metrics:  # e.g. ROC AUC of rows of one class
            metric = truth.headline_for(False)
    else:
        metric = truth.headline
        metrics = _score(truth, joined)
    periods = []
    if time_col is not None:
        week = joined["time"].dt.tz_localize(None) if joined["time"].dt.tz is not None else joined["time"]
        joined["week"] = week.dt.to_period("W-SUN").dt.start_time.dt.strftime("%Y-%m-%d")
        groups = list(joined.groupby("week", sort=True))
    else:
        groups = [("all", joined)]
    for label, group in groups:
        if classifier:
            values = _classifier_scores(truth, group, columns, labels)
            figures = {metric: None} | {k: round(v, 4) for k, v in values.items()}
            periods.append({"week": str(label), "n": len(group), **figures})
            continue
        value = _score(truth, group).get(metric)
        periods.append(
            {"week": str(label), "n": len(group), metric: None if value is None else round(value, 4)}
        )
    known = baseline(metric) if callable(baseline) else baseline
    return Quality(
        metric=metric, value=round(metrics[metric], 4), metrics=metrics,
        lower_is_better=truth.kind.lower_is_better(metric), n_matched=len(joined), n_actuals=len(actuals),
        baseline=None if known[0] is None else round(known[0], 4), baseline_source=known[1],
        periods=periods, time_col=time_col,
    )  # fmt: skip
