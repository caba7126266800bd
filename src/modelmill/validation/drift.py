"""Drift of a batch against a model's reference (``modelmill.validation.reference``).

* PSI ``sum((a - e) * ln(a / e))`` over the reference bins (numeric: decile bins; categorical:
  top-K values, ``__other__`` and an ``unseen`` bin). Empty bins would make it infinite, so
  every share is floored at :data:`EPSILON` (1e-4, i.e. a bin that is empty on one side adds
  at most ~0.001 per 1 % of mass on the other side), then renormalised.
* KS: the sup distance between the batch's empirical CDF and the reference CDF, linearly
  interpolated between the 101 stored quantiles (ties handled both sides of each step);
  the p-value uses the two-sample effective size ``n * m / (n + m)`` because the reference
  is itself a sample of ``m`` rows.
* chi-square (categoricals): a two-sample test of the known values' counts against the
  reference's (sparse bins pooled); unseen values are a separate check against the reference's
  Good-Turing unseen rate, so a long-tail column's usual new values are not an alarm.

Verdicts: ``drift`` needs an effect size (PSI, unseen share, missing-rate change) over its
drift threshold; a significant test alone only warns, and only with a non-trivial PSI, because
with thousands of rows any harmless difference is "significant".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.reference import OTHER, as_dates, bin_index

EPSILON = 1e-4
UNSEEN = "__unseen__"
ORDER = {"ok": 0, "warn": 1, "drift": 2}


@dataclass(frozen=True)
class Thresholds:
    """``monitoring.*`` in the config (see ``conf/config.yaml``)."""

    psi_warn: float = 0.1
    psi_drift: float = 0.25
    alpha: float = 0.001
    unseen_warn: float = 0.005  # unseen share above the expected unseen rate
    unseen_drift: float = 0.02
    missing_warn: float = 0.05
    missing_drift: float = 0.2
    min_rows: int = 30  # fewer rows than this: report, never drift

    @classmethod
    def from_mapping(cls, values: Any) -> Thresholds:
        known = cls.__dataclass_fields__
        return cls(**{k: type(getattr(cls(), k))(v) for k, v in dict(values or {}).items() if k in known})


@dataclass
class FeatureDrift:
    """The checks of one feature (or of ``prediction``) and their verdict."""

    feature: str
    kind: str
    n: int
    psi: float | None = None
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    missing_rate: float = 0.0
    missing_delta: float = 0.0
    unseen_share: float = 0.0
    unseen_expected: float = 0.0  # the reference's Good-Turing unseen rate
    unseen: list[str] = field(default_factory=list)
    verdict: str = "ok"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def smoothed(shares: np.ndarray) -> np.ndarray:
    """Shares floored at :data:`EPSILON` and renormalised (see the module docstring)."""
    floored = np.maximum(np.asarray(shares, dtype=float), EPSILON)
    return floored / floored.sum()


def psi(expected: Any, actual: Any) -> float:
    """Population stability index of two share vectors over the same bins."""
    e, a = smoothed(np.asarray(expected, dtype=float)), smoothed(np.asarray(actual, dtype=float))
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_shares(summary: dict[str, Any], values: np.ndarray) -> np.ndarray:
    """Shares of ``values`` (finite ones) in the reference bins."""
    edges = np.asarray(summary["edges"], dtype=float)
    counts = np.bincount(bin_index(edges, values), minlength=edges.size - 1).astype(float)
    return counts / max(values.size, 1)


def numeric_psi(summary: dict[str, Any], values: np.ndarray) -> float | None:
    if not summary.get("edges") or values.size == 0:
        return None
    return psi(summary["shares"], numeric_shares(summary, values))


def reference_cdf(quantiles: np.ndarray, x: np.ndarray, left: bool = False) -> np.ndarray:
    """The reference CDF at ``x`` (``left``: just below ``x``), from its stored quantiles."""
    levels = np.linspace(0.0, 1.0, quantiles.size)
    knots, first = np.unique(quantiles, return_index=True)
    last = quantiles.size - 1 - np.unique(quantiles[::-1], return_index=True)[1]
    below = np.interp(x, knots, levels[first], left=0.0, right=1.0)
    at = np.interp(x, knots, levels[last], left=0.0, right=1.0)
    return below if left else at


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


def worst(verdicts: Any) -> str:
    """The worst of ``ok`` < ``warn`` < ``drift`` (``ok`` when empty)."""
    return max(verdicts, key=ORDER.__getitem__, default="ok")


def judge(result: FeatureDrift, limits: Thresholds) -> FeatureDrift:
    """Set the verdict and the reasons of ``result`` from ``limits``."""
    reasons: dict[str, list[str]] = {"drift": [], "warn": []}
    if result.psi is not None:
        if result.psi >= limits.psi_drift:
            reasons["drift"].append(f"PSI {result.psi:.3f} >= {limits.psi_drift}")
        elif result.psi >= limits.psi_warn:
            reasons["warn"].append(f"PSI {result.psi:.3f} >= {limits.psi_warn}")
        elif (
            result.p_value is not None and result.p_value < limits.alpha and result.psi >= limits.psi_warn / 2
        ):
            reasons["warn"].append(f"{result.test} p-value {result.p_value:.2g} < {limits.alpha}")
    excess = result.unseen_share - result.unseen_expected
    if excess > limits.unseen_drift:
        reasons["drift"].append(
            f"unseen values {result.unseen_share:.1%} (expected {result.unseen_expected:.1%})"
        )
    elif excess > limits.unseen_warn:
        reasons["warn"].append(
            f"unseen values {result.unseen_share:.1%} (expected {result.unseen_expected:.1%})"
        )
    change = abs(result.missing_delta)
    if change >= limits.missing_drift:
        reasons["drift"].append(f"missing rate changed by {result.missing_delta:+.1%}")
    elif change >= limits.missing_warn:
        reasons["warn"].append(f"missing rate changed by {result.missing_delta:+.1%}")
    verdict = "drift" if reasons["drift"] else "warn" if reasons["warn"] else "ok"
    if verdict == "drift" and result.n < limits.min_rows:
        verdict = "warn"
        reasons["warn"].append(f"only {result.n} rows (< {limits.min_rows}): not enough to call drift")
    result.verdict, result.reasons = verdict, reasons["drift"] + reasons["warn"]
    return result


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def feature_drift(
    name: str, summary: dict[str, Any], values: Any, reference_rows: int, limits: Thresholds
) -> FeatureDrift:
    """All checks of one column against its reference summary, with a verdict."""
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    kind = summary["kind"]
    missing = float(series.isna().mean()) if len(series) else 0.0
    result = FeatureDrift(name, kind, len(series), missing_rate=round(missing, 6))
    result.missing_delta = round(missing - float(summary.get("missing_rate") or 0.0), 6)
    if kind == "categorical":
        binned, unseen = category_counts(summary, series)
        total = sum(binned.values())
        result.psi = _finite(categorical_psi(summary, binned) or float("nan"))
        statistic, p_value = chi_square(summary, binned)
        result.test, result.statistic, result.p_value = "chi2", _finite(statistic), _finite(p_value)
        result.unseen_share = round(binned[UNSEEN] / total, 6) if total else 0.0
        result.unseen_expected = float(summary.get("unseen_rate") or 0.0)
        result.unseen = sorted(unseen, key=lambda k: (-unseen[k], k))[:20]
    else:
        target = summary["length"] if kind == "text" else summary
        present = numeric_values(series, kind)
        result.psi = _finite(numeric_psi(target, present) or float("nan"))
        statistic, p_value = ks_test(target.get("quantiles", []), present, reference_rows)
        result.test, result.statistic, result.p_value = "ks", _finite(statistic), _finite(p_value)
    return judge(result, limits)


@dataclass
class DriftReport:
    """Per-feature results (the prediction last) and the overall verdict (the worst)."""

    features: list[FeatureDrift]
    n_rows: int
    thresholds: Thresholds

    @property
    def verdict(self) -> str:
        return worst(f.verdict for f in self.features)

    def by_name(self) -> dict[str, FeatureDrift]:
        return {f.feature: f for f in self.features}

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "n_rows": self.n_rows,
            "thresholds": asdict(self.thresholds),
            "features": [f.to_dict() for f in self.features],
        }


def compare(
    reference: dict[str, Any], frame: pd.DataFrame, predictions: Any = None, limits: Thresholds | None = None
) -> DriftReport:
    """Drift of every reference feature present in ``frame`` and of ``predictions`` (when given).

    Reference features absent from ``frame`` are not checked (the caller decides whether
    that is an error: see :func:`missing_columns`).
    """
    limits = limits or Thresholds()
    rows = int(reference.get("n_rows") or 0)
    results = [
        feature_drift(name, summary, frame[name], int(summary.get("n") or rows), limits)
        for name, summary in reference["features"].items()
        if name in frame.columns
    ]
    if predictions is not None and reference.get("prediction", {}).get("edges"):
        values = pd.Series(np.asarray(predictions, dtype=float))
        summary = reference["prediction"]
        results.append(feature_drift("prediction", summary, values, int(summary.get("n") or rows), limits))
    return DriftReport(results, len(frame), limits)


def missing_columns(reference: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """Reference features that ``frame`` lacks."""
    return [name for name in reference["features"] if name not in frame.columns]
