"""The statistics behind drift verdicts (:mod:`modelmill.validation.drift`): PSI with smoothing,
KS against a reference stored as quantiles, chi-square and unseen values for categoricals.

See :mod:`modelmill.validation.drift` for the definitions and why they are chosen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.reference import OTHER, as_dates, bin_index

EPSILON = 1e-4  # the smallest share a bin may have in PSI (an empty bin would make it infinite)
UNSEEN = "__unseen__"


def smoothed(shares: np.ndarray) -> np.ndarray:
    """Shares floored at :data:`EPSILON` and renormalised (see the module docstring)."""
    floored = np.maximum(np.asarray(shares, dtype=float), EPSILON)
    return floored / floored.sum()


def psi(expected: Any, actual: Any) -> float:
    """Population stability index of two share vectors over the same bins."""
    e, a = smoothed(np.asarray(expected, dtype=float)), smoothed(np.asarray(actual, dtype=float))
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_shares(summary: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """Shares of ``values`` (finite ones) below the reference range, in each reference bin, and
    above it: a shift outside the training range (a constant column that changes, 1000 where
    the maximum was 10) is not hidden in the first or last bin."""
    edges = np.asarray(summary["edges"], dtype=float)
    below, above = values < edges[0], values > edges[-1]
    inside = values[~below & ~above]
    counts = np.bincount(bin_index(edges, inside), minlength=edges.size - 1).astype(float)
    return np.concatenate([[below.sum()], counts, [above.sum()]]) / max(values.size, 1)


def numeric_psi(summary: dict[str, Any], values: np.ndarray) -> float | None:
    """PSI over the reference bins plus a bin on each side of the reference range, where a new
    value from the reference's own distribution lands with probability ``1 / (m + 1)`` (``m``:
    the reference's values), so a small reference is not an alarm by itself."""
    if not summary.get("edges") or values.size == 0:
        return None
    present = float(summary.get("n") or 0) * (1.0 - float(summary.get("missing_rate") or 0.0))
    tail = 1.0 / (max(present, 1.0) + 1.0)
    inside = np.asarray(summary["shares"], dtype=float) * (1.0 - 2.0 * tail)
    return psi([tail, *inside, tail], numeric_shares(summary, values))


def reference_cdf(quantiles: np.ndarray, x: np.ndarray, left: bool = False) -> np.ndarray:
    """The reference CDF at ``x`` (``left``: just below ``x``), from its stored quantiles.

    A value repeated over several quantile levels is a step: just below it the CDF is at the
    level where it first appears, at it the level where it last appears. Between two distinct
    knots the CDF rises linearly from the last level of the lower one to the first of the upper.
    """
    levels = np.linspace(0.0, 1.0, quantiles.size)
    knots, first = np.unique(quantiles, return_index=True)
    last = quantiles.size - 1 - np.unique(quantiles[::-1], return_index=True)[1]
    low, high = levels[first], levels[last]  # the CDF just below / at each knot
    x = np.asarray(x, dtype=float)
    i = np.searchsorted(knots, x, side="left")
    exact = (i < knots.size) & (knots[np.minimum(i, knots.size - 1)] == x)
    out = np.where(i >= knots.size, 1.0, 0.0)
    between = ~exact & (i > 0) & (i < knots.size)
    j = i[between]
    fraction = (x[between] - knots[j - 1]) / (knots[j] - knots[j - 1])
    out[between] = high[j - 1] + (low[j] - high[j - 1]) * fraction
    out[exact] = (low if left else high)[i[exact]]
    return out


def ks_test(quantiles: Any, values: np.ndarray, reference_rows: int) -> tuple[float, float]:
    """KS statistic and p-value of ``values`` against the reference quantiles."""
    from scipy.stats import kstwobign

    q = np.asarray(quantiles, dtype=float)
    x = np.sort(values)
    if x.size == 0 or q.size < 2:
        return float("nan"), float("nan")
    points = np.unique(x)
    ecdf = np.searchsorted(x, points, side="right") / x.size
    ecdf_left = np.searchsorted(x, points, side="left") / x.size
    d = max(
        float(np.max(np.abs(ecdf - reference_cdf(q, points)))),
        float(np.max(np.abs(ecdf_left - reference_cdf(q, points, left=True)))),
    )
    n_eff = x.size * reference_rows / (x.size + reference_rows) if reference_rows else x.size
    return d, float(kstwobign.sf(d * np.sqrt(n_eff)))


def category_counts(summary: dict[str, Any], values: pd.Series) -> tuple[dict[str, float], dict[str, int]]:
    """Counts per reference bin (top-K, ``__other__``, ``__unseen__``) and per unseen value."""
    present = values.dropna().astype(str)
    known = set(summary.get("known", []))
    top = [k for k in summary["frequencies"] if k != OTHER]
    counts = present.value_counts()
    binned = {k: float(counts.get(k, 0)) for k in top}
    binned[OTHER] = float(sum(v for k, v in counts.items() if k in known and k not in binned))
    unseen = {str(k): int(v) for k, v in counts.items() if k not in known}
    binned[UNSEEN] = float(sum(unseen.values()))
    return binned, unseen


def categorical_psi(summary: dict[str, Any], binned: dict[str, float]) -> float | None:
    total = sum(binned.values())
    if total == 0:
        return None
    return psi(expected_shares(summary, list(binned)), [v / total for v in binned.values()])


def expected_shares(summary: dict[str, Any], keys: list[str]) -> list[float]:
    """Reference shares of ``keys``; ``__unseen__`` gets the expected unseen rate."""
    rate = float(summary.get("unseen_rate") or 0.0)
    return [rate if k == UNSEEN else (1.0 - rate) * summary["frequencies"].get(k, 0.0) for k in keys]


def chi_square(summary: dict[str, Any], binned: dict[str, float]) -> tuple[float, float]:
    """Two-sample chi-square of the known values: batch counts against the reference's counts
    (its shares times its rows), so a small reference is not taken as exact; columns with
    fewer than 5 expected rows are pooled."""
    from scipy.stats import chi2

    keys = [k for k in binned if k != UNSEEN]
    observed = np.array([binned[k] for k in keys])
    present = float(summary.get("n") or 0) * (1.0 - float(summary.get("missing_rate") or 0.0))
    reference = np.array([summary["frequencies"].get(k, 0.0) for k in keys]) * max(present, 1.0)
    table = np.vstack([reference, observed])
    if observed.sum() == 0 or reference.sum() == 0:
        return float("nan"), float("nan")
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    sparse = expected.min(axis=0) < 5
    if sparse.any():
        table = np.column_stack([table[:, ~sparse], table[:, sparse].sum(axis=1)])
        table = table[:, table.sum(axis=0) > 0]
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    if table.shape[1] < 2:
        return 0.0, 1.0
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(chi2.sf(statistic, table.shape[1] - 1))


def numeric_values(values: Any, kind: str) -> np.ndarray:
    """Finite float values of a numeric, date or free-text (length) column."""
    series = pd.Series(values)
    if kind == "date":
        series = as_dates(series)
    elif kind == "text":
        series = series.dropna().astype(str).str.len()
    array = np.asarray(pd.to_numeric(series, errors="coerce"), dtype=float)
    return array[np.isfinite(array)]
