"""The training report of one model: metrics, feature importance, predicted vs actual, residuals.

Built from plain values (no model object, no store), so the train step, a notebook or a test
can call it::

    training_report({"val_mae": 61.2, "val_r2": 0.52}, importance=imp, y_true=y_val,
                    y_pred=model.predict(x_val), groups=x_val["region"], group_label="region")

Residual = actual - predicted: a positive mean residual means the model under-predicts there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelmill.reports import layout
from modelmill.reports._svg import bar_chart
from modelmill.reports._svg_xy import MAX_POINTS, scatter

Importance = Mapping[str, float] | tuple[Sequence[str], Sequence[float]]
MAX_FEATURES = 30


def _floats(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(
        float, na_value=np.nan
    )


def group_metrics(y_true: Any, y_pred: Any, groups: Any) -> dict[str, dict[str, float]]:
    """Per group (sorted by name): ``n``, ``mae``, ``medae``, ``mean_residual`` (actual - predicted)."""
    truth, pred = _floats(y_true), _floats(y_pred)
    labels = pd.Series(np.asarray(groups).ravel()).astype(object).where(lambda s: s.notna(), "(missing)")
    frame = pd.DataFrame({"group": labels.astype(str), "residual": truth - pred})
    frame = frame[np.isfinite(frame["residual"])]
    out: dict[str, dict[str, float]] = {}
    for name in sorted(frame["group"].unique()):
        res = frame.loc[frame["group"] == name, "residual"].to_numpy()
        out[name] = {
            "n": int(res.size),
            "mae": float(np.abs(res).mean()),
            "medae": float(np.median(np.abs(res))),
            "mean_residual": float(res.mean()),
        }
    return out


def sorted_importance(importance: Importance, limit: int = MAX_FEATURES) -> list[tuple[str, float]]:
    """(name, value) pairs, largest first (ties by name), at most ``limit``."""
    if isinstance(importance, Mapping):
        pairs = [(str(k), float(v)) for k, v in importance.items()]
    else:
        names, values = importance
        pairs = [(str(k), float(v)) for k, v in zip(names, values, strict=True)]
    pairs = [(k, 0.0 if not np.isfinite(v) else v) for k, v in pairs]
    return sorted(pairs, key=lambda kv: (-kv[1], kv[0]))[:limit]


def training_report(
    metrics: Mapping[str, Any],
    importance: Importance | None = None,
    y_true: Any = None,
    y_pred: Any = None,
    groups: Any = None,
    *,
    title: str = "Training report",
    params: Mapping[str, Any] | None = None,
    group_label: str = "group",
    target: str = "target",
    max_points: int = MAX_POINTS,
    sections: str = "",
) -> layout.Report:
    """The page; sections whose inputs are ``None`` (or empty) are left out. ``groups``: the
    value of the spec's ``group`` column (``group_label``) per row; ``target``: its name, for
    the axes and units. ``sections``: more sections' HTML, last (a classifier's charts,
    :mod:`modelmill.reports.classification`, instead of predicted vs actual)."""
    body = [
        layout.section(
            "Metrics", layout.table([{"metric": k, "value": v} for k, v in metrics.items()]), "metrics"
        )
    ]
    if params:
        body.append(layout.section("Parameters", layout.definition_list(dict(params)), "params"))
    if importance is not None:
        body.append(_importance(sorted_importance(importance)))
    if y_true is not None and y_pred is not None:
        body.append(_predicted_vs_actual(y_true, y_pred, max_points, target))
        if groups is not None:
            body.append(_residuals(group_metrics(y_true, y_pred, groups), group_label or "group", target))
    body.append(sections)
    return layout.Report(title, layout.page(title, "".join(body)))


def _importance(pairs: list[tuple[str, float]]) -> str:
    if not pairs:
        return layout.section("Feature importance", "<p>No importances.</p>", "importance")
    chart = bar_chart(
        [k for k, _ in pairs],
        {"importance": [v for _, v in pairs]},
        label="feature importance",
        xlabel="importance",
    )
    rows = [{"feature": k, "importance": round(v, 6)} for k, v in pairs]
    return layout.section("Feature importance", chart + layout.table(rows), "importance")


def _predicted_vs_actual(y_true: Any, y_pred: Any, max_points: int, target: str) -> str:
    truth, pred = _floats(y_true), _floats(y_pred)
    n = int((np.isfinite(truth) & np.isfinite(pred)).sum())
    chart = scatter(
        truth,
        pred,
        xlabel=f"actual {target}",
        ylabel=f"predicted {target}",
        diagonal=True,
        max_points=max_points,
        label="predicted vs actual",
    )
    note = f'<p class="muted">{min(n, max_points)} of {n} rows drawn; dashed line: predicted = actual.</p>'
    return layout.section("Predicted vs actual", chart + note, "predicted-vs-actual")


def _residuals(by_group: dict[str, dict[str, float]], group_label: str, target: str) -> str:
    if not by_group:
        return layout.section(f"Residuals by {group_label}", "<p>No rows.</p>", "residuals")
    rows = [{group_label: g, **{k: round(v, 4) for k, v in m.items()}} for g, m in by_group.items()]
    names = list(by_group)
    chart = bar_chart(
        names,
        {
            "MAE": [m["mae"] for m in by_group.values()],
            "mean residual": [m["mean_residual"] for m in by_group.values()],
        },
        label=f"residuals by {group_label}",
        xlabel=f"{target} (actual - predicted)",
    )
    note = '<p class="muted">residual = actual - predicted; positive: the model under-predicts.</p>'
    return layout.section(f"Residuals by {group_label}", layout.table(rows) + chart + note, "residuals")
