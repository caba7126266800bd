"""The EDA profile: one self-contained HTML page describing any table.

>>> from modelmill.reports import profile
>>> report = profile(df, title="sample.csv:v3", target="y")   # a notebook displays it inline
>>> report.save("profile.html"); report.warnings

Sections: overview, the target's distribution (when one is named), warnings, a table of every
column (type, missing, distinct, statistics), a histogram per numeric column, top categories
per categorical column, the correlation heatmap of the numeric columns and, when the table
has coordinates (``coordinates``, or columns named longitude/latitude), a map of the rows
coloured by the target. The page is a pure function of the frame and the arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelmill.reports import layout
from modelmill.reports._columns import Thresholds, column_warnings, infer_type, summarise, top_categories
from modelmill.reports._svg import bar_chart, bin_edges, finite, hist_counts, histogram
from modelmill.reports._svg_xy import MAX_POINTS, heatmap, scatter

# column pairs drawn as a map when no coordinates are named: (x, y)
COORDINATE_NAMES = (("longitude", "latitude"), ("lon", "lat"), ("lng", "lat"), ("long", "lat"))
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
    target: str | None = None,
    target_range: tuple[float | None, float | None] | None = None,
    coordinates: tuple[str, str] | None = None,
    missing_threshold: float = 0.2,
    cardinality_threshold: float = 0.5,
    iqr_factor: float = 3.0,
    max_points: int = MAX_POINTS,
    bins: int = 30,
    top_k: int = 10,
) -> layout.Report:
    """Profile ``df``; warnings flag constant, mostly-missing, high-cardinality and outlying columns.

    ``target``: the column a model predicts (its distribution gets a section, and colours the
    map); ``target_range``: its declared range (the dataset spec's), values outside it are
    warned about. ``coordinates``: the (x, y) columns of the map (default: longitude/latitude
    or lon/lat when present); ``max_points`` caps its points (a fixed-seed sample).
    """
    bounds = tuple(target_range) if target_range is not None else None
    limits = Thresholds(missing_threshold, cardinality_threshold, iqr_factor, target, bounds)  # type: ignore[arg-type]
    frame = df.copy()
    frame.columns = _unique_names(frame.columns)
    kinds = {c: infer_type(frame[c]) for c in frame.columns}
    rows = [summarise(c, frame[c], kinds[c], iqr_factor) for c in frame.columns]
    warnings = [w for row in rows for w in column_warnings(row, frame[row["column"]], limits)]
    numeric = [c for c in frame.columns if kinds[c] == "numeric"]
    body = "".join(
        [
            _overview(frame, kinds),
            _target(frame, target, kinds, bins, top_k),
            layout.section(
                "Warnings", layout.bullet_list(warnings, "warnings") or "<p>No warnings.</p>", "warnings"
            ),
            layout.section(
                "Columns", layout.scroll(layout.table([_public(r) for r in rows], STAT_COLUMNS)), "columns"
            ),
            _histograms(frame, numeric, bins),
            _categories(frame, [c for c in frame.columns if kinds[c] in {"categorical", "boolean"}], top_k),
            _correlations(frame, numeric),
            _map(frame, _coordinates(frame, coordinates), target, max_points),
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


def _coordinates(frame: pd.DataFrame, named: tuple[str, str] | None) -> tuple[str, str] | None:
    """The map's (x, y) columns: the named pair when both exist, else a conventional pair."""
    pairs = [named] if named is not None else list(COORDINATE_NAMES)
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for x, y in pairs:
        if named is not None and {x, y} <= set(frame.columns):
            return x, y
        if named is None and x in lowered and y in lowered:
            return lowered[x], lowered[y]
    return None


def _target(frame: pd.DataFrame, target: str | None, kinds: dict[str, str], bins: int, top_k: int) -> str:
    """The target's distribution: a histogram (numbers) or its classes (labels)."""
    if target is None or target not in frame.columns:
        return ""
    values = frame[target]
    missing = int(values.isna().sum())
    items: dict[str, Any] = {"column": target, "type": kinds[target], "rows": len(values), "missing": missing}
    if kinds[target] == "numeric":
        numbers = finite(values)
        if numbers.size:
            items |= {
                "min": float(numbers.min()),
                "median": float(np.median(numbers)),
                "max": float(numbers.max()),
            }
        edges = bin_edges(numbers, bins)
        counts, _ = hist_counts(numbers, edges)
        chart = histogram(list(edges), counts, xlabel=target, label=f"distribution of the target {target}")
    else:
        labels, counts, rest = top_categories(values, top_k)
        items["classes"] = len(labels) + (1 if rest else 0)
        chart = bar_chart(labels, {"rows": counts}, label=f"classes of the target {target}", xlabel="rows")
    return layout.section(f"Target: {target}", layout.definition_list(items) + chart, "target")


def _map(frame: pd.DataFrame, axes: tuple[str, str] | None, target: str | None, max_points: int) -> str:
    if axes is None:
        return ""
    x, y = axes
    colour = (
        frame[target] if target in frame.columns and pd.api.types.is_numeric_dtype(frame[target]) else None
    )
    shown = min(max_points, int((frame[x].notna() & frame[y].notna()).sum()))
    chart = scatter(
        frame[x],
        frame[y],
        color=colour,
        xlabel=x,
        ylabel=y,
        color_label=str(target) if colour is not None else "",
        max_points=max_points,
        label=f"rows by {y} and {x}",
        size=(560, 460),
    )
    note = (
        f'<p class="muted">{shown} of {len(frame)} rows drawn (fixed-seed sample)'
        f"{f'; colour: {target}, clipped at its 2nd-98th percentiles' if colour is not None else ''}.</p>"
    )
    return layout.section("Map", chart + note, "map")


__all__ = ["STAT_COLUMNS", "correlation", "profile"]
