"""Per-column summaries and warnings for the EDA profile (pure pandas/numpy, no HTML).

Types are inferred, not taken from the dtype alone: a CSV column of ISO dates is ``datetime``
and a string column with few distinct values is ``categorical`` (bars of top values) while
one with many is ``text`` (only counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelmill.reports.layout import fmt

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_CATEGORIES = 50
DATE_PROBE = 200


@dataclass(frozen=True)
class Thresholds:
    """When the profile warns; ``bounds``: the declared range of ``bounded_column`` (the target's
    ``range`` in the dataset spec): values outside it are counted (cleaning drops those rows)."""

    missing_share: float = 0.2
    cardinality_share: float = 0.5
    iqr_factor: float = 3.0
    bounded_column: str | None = None
    bounds: tuple[float | None, float | None] | None = None


def infer_type(series: pd.Series) -> str:
    """``empty``, ``boolean``, ``numeric``, ``datetime``, ``categorical`` or ``text``."""
    present = series.dropna()
    if present.empty:
        return "empty"
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    probe = present.head(DATE_PROBE)
    if all(isinstance(v, bool | np.bool_) for v in probe) and present.map(type).isin([bool, np.bool_]).all():
        return "boolean"  # an object column of True/False with gaps
    if all(isinstance(v, str) for v in probe):
        parsed = pd.to_datetime(probe, errors="coerce", format="ISO8601")
        if parsed.notna().all() and probe.str.match(r"^\d{4}-\d{2}-\d{2}").all():
            return "datetime"
    distinct = count_distinct(present)
    return "categorical" if distinct <= MAX_CATEGORIES or distinct <= 0.05 * len(present) else "text"


def count_distinct(series: pd.Series) -> int:
    """Distinct present values; unhashable cells (lists) are compared by their text."""
    try:
        return int(series.nunique(dropna=True))
    except TypeError:
        return int(series.dropna().astype(str).nunique())


def numeric_values(series: pd.Series) -> np.ndarray:
    """Finite values as floats."""
    arr = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return arr[np.isfinite(arr)]


def summarise(name: str, series: pd.Series, kind: str, iqr_factor: float = 3.0) -> dict[str, Any]:
    """One row of the columns table: counts for every column, statistics for numeric ones."""
    n = len(series)
    missing = int(series.isna().sum())
    distinct = count_distinct(series)
    row: dict[str, Any] = {
        "column": name,
        "type": kind,
        "missing": missing,
        "missing %": round(100 * missing / n, 2) if n else 0.0,
        "distinct": distinct,
    }
    if kind == "numeric":
        row |= numeric_stats(numeric_values(series), iqr_factor)
    elif kind == "datetime":
        dates = pd.to_datetime(series, errors="coerce", format="ISO8601").dropna()
        if not dates.empty:
            row |= {"min": dates.min().strftime("%Y-%m-%d"), "max": dates.max().strftime("%Y-%m-%d")}
    return row


def numeric_stats(values: np.ndarray, iqr_factor: float) -> dict[str, Any]:
    """min/max/mean/std, quantiles and the count beyond ``iqr_factor`` IQRs of the quartiles."""
    if values.size == 0:
        return {}
    q = np.quantile(values, QUANTILES)
    iqr = q[3] - q[1]
    low, high = q[1] - iqr_factor * iqr, q[3] + iqr_factor * iqr
    outliers = int(((values < low) | (values > high)).sum()) if iqr > 0 else 0
    stats: dict[str, Any] = {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
    }
    stats |= {f"p{int(level * 100)}": float(v) for level, v in zip(QUANTILES, q, strict=True)}
    stats |= {"outliers": outliers, "_fences": (float(low), float(high))}
    return stats


def top_categories(series: pd.Series, k: int = 10) -> tuple[list[str], list[int], int]:
    """The ``k`` most frequent values (ties by text), their counts and the count of the rest."""
    counts = series.dropna().astype(str).value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    top = ordered[:k]
    rest = int(sum(int(c) for _, c in ordered[k:]))
    return [str(v) for v, _ in top], [int(c) for _, c in top], rest


def column_warnings(row: dict[str, Any], series: pd.Series, limits: Thresholds) -> list[str]:
    """The warnings one column raises, most serious first."""
    name, n = row["column"], len(series)
    out: list[str] = []
    present = n - row["missing"]
    if n and present == 0:
        out.append(f"{name}: all {n} values are missing")
    elif row["distinct"] == 1 and present > 1:
        value = fmt(series.dropna().iloc[0])
        out.append(f"{name}: constant column (every present value is {value})")
    if n and present and row["missing"] / n > limits.missing_share:
        out.append(
            f"{name}: high missing share {row['missing'] / n:.1%} ({row['missing']} of {n} rows; "
            f"threshold {limits.missing_share:.0%})"
        )
    if row["type"] in {"categorical", "text"} and present:
        share = row["distinct"] / present
        if share > limits.cardinality_share and row["distinct"] > MAX_CATEGORIES:
            out.append(
                f"{name}: high cardinality, {row['distinct']} distinct values in {present} rows ({share:.0%})"
            )
    if row["type"] == "numeric":
        out += _outlier_warnings(row, series, limits)
    return out


def _outlier_warnings(row: dict[str, Any], series: pd.Series, limits: Thresholds) -> list[str]:
    name, out = row["column"], []
    if name == limits.bounded_column and limits.bounds is not None:
        values = numeric_values(series)
        low, high = limits.bounds
        declared = f"the declared range [{_bound(low)}, {_bound(high)}]"
        n_low = int((values < low).sum()) if low is not None else 0
        n_high = int((values > high).sum()) if high is not None else 0
        if n_low:
            out.append(f"{name}: {n_low} rows with {name} < {low:g}, below {declared}")
        if n_high:
            out.append(f"{name}: {n_high} rows with {name} > {high:,.6g}, above {declared}")
    if row.get("outliers"):
        lo, hi = row["_fences"]
        out.append(
            f"{name}: {row['outliers']} values outside [{lo:.4g}, {hi:.4g}] "
            f"({limits.iqr_factor:g} x IQR beyond the quartiles)"
        )
    return out


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:,.6g}"
