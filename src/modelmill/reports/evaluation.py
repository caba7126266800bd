"""The evaluation report: the candidate model against the current ``prod`` model on the test set.

Inputs are the dictionaries the evaluate step already writes (``{"ref": ..., "mae": ...}``);
``prod`` is ``None`` for the first model, and may carry ``"error"`` when it could not be
scored. Deltas are candidate - prod; "better" follows each metric's direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from modelmill.reports import layout
from modelmill.reports._svg import bar_chart

# metric -> True when lower is better: the evaluate step passes its task's
# (modelmill.tasks); these are regression's, for callers that do not
DIRECTIONS: dict[str, bool] = {"mae": True, "rmse": True, "medae": True, "r2": False}
SKIP = {"ref", "error"}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def compare(
    candidate: Mapping[str, Any], prod: Mapping[str, Any] | None, directions: Mapping[str, bool] = DIRECTIONS
) -> list[dict[str, Any]]:
    """One row per numeric metric of the candidate: both values, delta and which is better."""
    rows = []
    for metric, value in candidate.items():
        cand = _number(value)
        if metric in SKIP or cand is None:
            continue
        old = _number(prod.get(metric)) if prod else None
        delta = cand - old if old is not None else None
        rows.append(
            {
                "metric": metric,
                "candidate": cand,
                "prod": old,
                "delta": delta,
                "better": _better(metric, delta, directions),
            }
        )
    return rows


def _better(metric: str, delta: float | None, directions: Mapping[str, bool]) -> str:
    if delta is None or metric not in directions:
        return "—"
    if delta == 0:
        return "equal"
    lower = directions[metric]
    return "candidate" if (delta < 0) == lower else "prod"


def evaluation_report(
    candidate: Mapping[str, Any],
    prod: Mapping[str, Any] | None = None,
    *,
    verdict: str | None = None,
    passed: bool | None = None,
    gate: Mapping[str, Any] | None = None,
    by_group: Mapping[str, Mapping[str, Mapping[str, Any] | None]] | None = None,
    group_metric: str = "mae",
    group_label: str = "group",
    context: Mapping[str, Any] | None = None,
    title: str = "Evaluation report",
    directions: Mapping[str, bool] = DIRECTIONS,
    sections: str = "",
) -> layout.Report:
    """The page. ``verdict``/``passed``/``gate``: the promotion decision, when known;
    ``by_group``: ``{group: {"candidate": {...}, "prod": {...} or None}}``, the values of the
    spec's ``group`` column (``group_label``); ``context``: extra facts shown at the top (test
    data ref, row count); ``directions``: metric -> lower is better (the task's);
    ``sections``: more sections' HTML, last (a classifier's charts on the test rows)."""
    heading = escape(title) + (
        " " + layout.badge(passed, "PROMOTE", "KEEP PROD") if passed is not None else ""
    )
    body = [_summary(candidate, prod, context)]
    if verdict is not None or gate:
        gate_html = layout.definition_list(dict(gate)) if gate else ""
        body.append(layout.section("Verdict", f"<p>{escape(verdict or '')}</p>{gate_html}", "verdict"))
    rows = compare(candidate, prod, directions)
    body.append(
        layout.section(
            "Metrics", layout.table(rows, ["metric", "candidate", "prod", "delta", "better"]), "metrics"
        )
    )
    if by_group:
        body.append(_groups(by_group, group_metric, group_label or "group", directions))
    body.append(sections)
    return layout.Report(title, layout.page(title, "".join(body), heading=heading))


def _summary(
    candidate: Mapping[str, Any], prod: Mapping[str, Any] | None, context: Mapping[str, Any] | None
) -> str:
    items: dict[str, Any] = {"candidate": candidate.get("ref", "candidate")}
    if prod is None:
        items["prod"] = "none"
        note = "<p>No <code>prod</code> model yet: this is the first model, nothing to compare with.</p>"
    else:
        items["prod"] = prod.get("ref", "prod")
        error = prod.get("error")
        note = f'<p class="badge fail">prod could not be scored: {escape(str(error))}</p>' if error else ""
    items |= dict(context or {})
    return layout.section("Models", layout.definition_list(items) + note, "models")


def _groups(
    by_group: Mapping[str, Mapping[str, Mapping[str, Any] | None]], metric: str, label: str,
    directions: Mapping[str, bool],
) -> str:  # fmt: skip
    rows, cand_values, prod_values = [], [], []
    names = sorted(by_group)
    for name in names:
        sides = by_group[name]
        cand = _number((sides.get("candidate") or {}).get(metric))
        old = _number((sides.get("prod") or {}).get(metric))
        delta = cand - old if cand is not None and old is not None else None
        rows.append(
            {
                label: name,
                f"candidate {metric}": cand,
                f"prod {metric}": old,
                "delta": delta,
                "better": _better(metric, delta, directions),
            }
        )
        cand_values.append(cand or 0.0)
        prod_values.append(old or 0.0)
    series = {"candidate": cand_values}
    if any(r[f"prod {metric}"] is not None for r in rows):
        series["prod"] = prod_values
    chart = bar_chart(names, series, label=f"{metric} by {label}", xlabel=metric)
    return layout.section(f"{metric} by {label}", layout.table(rows) + chart, "groups")
