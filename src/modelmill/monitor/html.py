"""The self-contained HTML drift report: verdicts, reference-vs-batch charts, model quality."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from modelmill.monitor.quality import Quality
from modelmill.reports import bar_chart, compare_histograms
from modelmill.reports.layout import Report, card, definition_list, page, scroll, section, table
from modelmill.validation.drift import DriftReport, output_series, output_summary
from modelmill.validation.drift_tests import category_counts, numeric_shares, numeric_values

BADGE = {"ok": "pass", "warn": "warn", "drift": "fail"}
COLUMNS = (
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "psi",
    "unseen_share",
    "missing_delta",
    "verdict",
)


def _badge(verdict: str) -> str:
    return f'<span class="badge {BADGE[verdict]}">{escape(verdict.upper())}</span>'


def _chart(name: str, summary: dict[str, Any], values: pd.Series) -> str:
    """Reference vs batch shares over the reference bins (or categories)."""
    kind = summary["kind"]
    if kind == "categorical":
        binned, _ = category_counts(summary, values)
        total = max(sum(binned.values()), 1.0)
        labels = list(binned)
        reference = [summary["frequencies"].get(k, 0.0) for k in labels]
        return bar_chart(
            labels, {"reference": reference, "batch": [binned[k] / total for k in labels]}, label=name
        )
    target = summary["length"] if kind == "text" else summary
    if not target.get("edges"):
        return ""
    shares = numeric_shares(target, numeric_values(values, kind))
    xlabel = f"{name} ({'length' if kind == 'text' else 'days since 1970' if kind == 'date' else 'value'})"
    return compare_histograms(
        target["edges"], {"reference": target["shares"], "batch": list(shares)}, xlabel=xlabel
    )


def _quality_section(quality: Quality) -> str:
    shown = ("metric", "value", "baseline", "baseline_source", "ratio_to_baseline", "n_matched",
             "n_actuals",
             "time_col")  # fmt: skip
    items = quality.to_dict()
    summary_items = {k: items[k] for k in shown} | {f"{k} (all rows)": v for k, v in quality.metrics.items()}
    columns = ["week", "n", quality.metric]  # a classifier's periods have every metric
    columns += [k for k in quality.metrics if k != quality.metric and any(k in p for p in quality.periods)]
    return section(
        "Model quality (actuals)", definition_list(summary_items) + table(quality.periods, columns)
    )


def drift_page(
    report: DriftReport,
    reference: dict[str, Any],
    batch: pd.DataFrame,
    predictions: np.ndarray | None,
    context: dict[str, Any],
    quality: Quality | None = None,
    probabilities: Mapping[str, Any] | None = None,
) -> Report:
    """The whole page; ``context`` (model, input, ...) is shown as a definition list.

    ``predictions``: a regressor's values or a classifier's labels (shown as the label
    distribution); ``probabilities``: a classifier's ``proba_<class>`` -> values (histograms)."""
    rows = []
    for f in report.features:
        row = {c: getattr(f, c) for c in COLUMNS}
        row["reasons"] = "; ".join(f.reasons)
        rows.append(row)
    body = section(
        "Summary", definition_list({"overall verdict": report.verdict, "rows": report.n_rows, **context})
    )
    body += section("Features", scroll(table(rows, [*COLUMNS, "reasons"])))
    cards = []
    outputs = output_series(reference, predictions, probabilities)
    for f in report.features:
        if f.feature in outputs:
            summary, values = output_summary(reference, f.feature), outputs[f.feature]
        else:
            summary, values = reference["features"][f.feature], batch[f.feature]
        chart = _chart(f.feature, summary, values)
        if chart:
            cards.append(card(f"{f.feature} ({f.verdict})", chart))
    body += section("Reference vs batch", f'<div class="grid">{"".join(cards)}</div>')
    if quality is not None:
        body += _quality_section(quality)
    body += section("Thresholds", definition_list(dict(report.to_dict()["thresholds"])))
    warnings = tuple(
        f"{f.feature}: {f.verdict} ({'; '.join(f.reasons)})" for f in report.features if f.reasons
    )
    title = f"Drift report: {context.get('model', '')}"
    html = page(title, body, heading=f"{escape(title)} {_badge(report.verdict)}")
    return Report(title, html, warnings)
