"""The EDA profile: one self-contained HTML page describing a listings frame (or any frame).

>>> from modelmill.reports import profile
>>> report = profile(df, title="sample.csv:v3")   # a notebook displays ``report`` inline
>>> report.save("profile.html"); report.warnings

Sections: overview, warnings, a table of every column (type, missing, distinct, statistics),
a histogram per numeric column, top categories per categorical column, the correlation
heatmap of the numeric columns and, when ``latitude``/``longitude`` exist, a map of the
listings coloured by price. The page is a pure function of the frame and the arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelmill.reports import layout
from modelmill.reports._columns import Thresholds, column_warnings, infer_type, summarise, top_categories
from modelmill.reports._svg import bar_chart, bin_edges, finite, hist_counts, histogram
from modelmill.reports._svg_xy import MAX_POINTS, heatmap, scatter

STAT_COLUMNS = (
    "column",
    "type",
    "missing",
    "missing %",
    "distinct",
    "min",
    "max",
    "mean",
    "std",
    "p5",
    "p25",
    "p50",
    "p75",
    "p95",
    "outliers",
)


def profile(
    df: pd.DataFrame,
    title: str = "Data profile",
    *,
    missing_threshold: float = 0.2,
    cardinality_threshold: float = 0.5,
    iqr_factor: float = 3.0,
    price_bounds: tuple[float, float] = (0.0, 10_000.0),
    max_points: int = MAX_POINTS,
    bins: int = 30,
    top_k: int = 10,
) -> layout.Report:
    """Profile ``df``; warnings flag constant, mostly-missing, high-cardinality and outlying columns.

    ``price_bounds``: prices ``<=`` the first or ``>=`` the second are reported as outliers;
    ``max_points`` caps the points of the map (a fixed-seed sample).
    """
    limits = Thresholds(missing_threshold, cardinality_threshold, iqr_factor, "price", price_bounds)
    frame = df.copy()
    frame.columns = _unique_names(frame.columns)
    kinds = {c: infer_type(frame[c]) for c in frame.columns}
    rows = [summarise(c, frame[c], kinds[c], iqr_factor) for c in frame.columns]
    warnings = [w for row in rows for w in column_warnings(row, frame[row["column"]], limits)]
    numeric = [c for c in frame.columns if kinds[c] == "numeric"]
    body = "".join(
        [
            _overview(frame, kinds),
            layout.section(
                "Warnings", layout.bullet_list(warnings, "warnings") or "<p>No warnings.</p>", "warnings"
            ),
            layout.section(
                "Columns", layout.scroll(layout.table([_public(r) for r in rows], STAT_COLUMNS)), "columns"
            ),
            _histograms(frame, numeric, bins),
            _categories(frame, [c for c in frame.columns if kinds[c] in {"categorical", "boolean"}], top_k),
            _correlations(frame, numeric),
            _map(frame, max_points),
        ]
    )
    return layout.Report(title, layout.page(title, body), tuple(warnings))


def _unique_names(columns: Any) -> list[str]:
    """Column names as distinct strings (a repeated name gets `` (2)``, `` (3)``...)."""
    seen: dict[str, int] = {}
    names = []
    for column in map(str, columns):
        seen[column] = seen.get(column, 0) + 1
        names.append(column if seen[column] == 1 else f"{column} ({seen[column]})")
    return names


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _overview(frame: pd.DataFrame, kinds: dict[str, str]) -> str:
    cells = frame.shape[0] * frame.shape[1]
    missing = int(frame.isna().sum().sum())
    try:
        duplicates = int(frame.duplicated().sum())
    except TypeError:  # unhashable cells
        duplicates = None
    by_type = {k: sum(1 for v in kinds.values() if v == k) for k in sorted(set(kinds.values()))}
    items = {
        "rows": frame.shape[0],
        "columns": frame.shape[1],
        "missing cells": f"{missing} ({missing / cells:.1%})" if cells else "0",
        "duplicate rows": duplicates,
        **{f"{k} columns": v for k, v in by_type.items()},
    }
    return layout.section("Overview", layout.definition_list(items), "overview")


def _histograms(frame: pd.DataFrame, columns: list[str], bins: int) -> str:
    if not columns:
        return ""
    cards = []
    for name in columns:
        values = finite(frame[name])
        edges = bin_edges(values, bins)
        counts, outside = hist_counts(values, edges)
        note = f'<p class="muted">{outside} values outside the 0.5-99.5 percentile range not shown</p>'
        chart = histogram(list(edges), counts, xlabel=name, label=f"histogram of {name}")
        cards.append(layout.card(name, chart + (note if outside else "")))
    return layout.section("Distributions", f'<div class="grid">{"".join(cards)}</div>', "distributions")


def _categories(frame: pd.DataFrame, columns: list[str], top_k: int) -> str:
    if not columns:
        return ""
    cards = []
    for name in columns:
        labels, counts, rest = top_categories(frame[name], top_k)
        chart = bar_chart(labels, {"count": counts}, label=f"top values of {name}", xlabel="rows")
        note = f'<p class="muted">{rest} rows in other values</p>' if rest else ""
        cards.append(layout.card(name, chart + note))
    return layout.section("Top categories", f'<div class="grid">{"".join(cards)}</div>', "categories")


def correlation(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Pearson correlations of ``columns`` (NaN where a column is constant or empty)."""
    data = frame[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return data.corr(method="pearson", min_periods=2)


def _correlations(frame: pd.DataFrame, columns: list[str]) -> str:
    if len(columns) < 2:
        return ""
    corr = correlation(frame, columns)
    chart = heatmap(corr.to_numpy(), columns, label="Pearson correlation of numeric columns")
    note = '<p class="muted">Pearson correlation; blue -1, white 0, red +1; grey: undefined.</p>'
    return layout.section("Correlations", chart + note, "correlations")


def _map(frame: pd.DataFrame, max_points: int) -> str:
    if not {"latitude", "longitude"} <= set(frame.columns):
        return ""
    price = frame["price"] if "price" in frame.columns else None
    shown = min(max_points, int((frame["latitude"].notna() & frame["longitude"].notna()).sum()))
    chart = scatter(
        frame["longitude"],
        frame["latitude"],
        color=price,
        xlabel="longitude",
        ylabel="latitude",
        color_label="price" if price is not None else "",
        max_points=max_points,
        label="listings by location",
        size=(560, 460),
    )
    note = (
        f'<p class="muted">{shown} of {len(frame)} rows drawn (fixed-seed sample)'
        f"{'; colour: price, clipped at its 2nd-98th percentiles' if price is not None else ''}.</p>"
    )
    return layout.section("Map", chart + note, "map")


__all__ = ["STAT_COLUMNS", "correlation", "profile"]
