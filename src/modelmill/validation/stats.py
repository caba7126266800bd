"""Statistical tests: does a new sample come from the same distribution as the reference?

Two kinds of test, each returning a :class:`~modelmill.validation.checks.CheckResult`:

* ``kl_neighbourhood_group``: the Kullback-Leibler divergence ``KL(new || reference)``, in
  bits, of the ``neighbourhood_group`` shares, with add-one (Laplace) smoothing over the
  union of the five boroughs and every category seen on either side (so a category missing
  on one side gives a finite value). Fails when ``KL >= kl_threshold``.
* ``ks_<column>``: a two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) per
  numeric column of :data:`KS_COLUMNS` (missing values dropped).

The KS decision rule. With thousands of rows KS rejects for differences nobody cares
about, and testing eight columns at ``ks_alpha`` each raises false alarms to about
``8 * ks_alpha``. So a column fails only when **both**

1. its p-value ``< ks_alpha / k``, k = number of columns tested (Bonferroni: the chance
   that two samples of one distribution fail anywhere stays below ``ks_alpha``), and
2. the KS statistic ``D >= KS_MIN_EFFECT`` (0.05: the two empirical CDFs differ by at
   least five percentage points somewhere, a shift worth stopping a pipeline for);

and each side is first capped at :data:`KS_MAX_ROWS` rows by a seeded subsample (same
verdict on every run, bounded cost). ``statistic`` in the result is the p-value and
``threshold`` the corrected alpha; ``D`` and the sample sizes are in ``details``.
Two demo samples of different seeds, or the real sample against a random half of it,
pass; prices times 1.5 (D ~ 0.25) or Queens' share doubled (D ~ 0.1 on longitude) fail.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.checks import KNOWN_GROUPS, CheckResult

KS_COLUMNS = ("price", "latitude", "longitude", "minimum_nights", "number_of_reviews",
              "reviews_per_month", "calculated_host_listings_count", "availability_365")  # fmt: skip
KS_MAX_ROWS = 5000
KS_MIN_EFFECT = 0.05
KS_SEED = 0
KL_COLUMN = "neighbourhood_group"
HIST_BINS = 20


def category_shares(new: pd.Series, ref: pd.Series, smoothing: float = 1.0) -> pd.DataFrame:
    """Smoothed shares of each category: columns ``new`` and ``reference``, one row per category."""
    categories = sorted(set(KNOWN_GROUPS) | set(new.dropna()) | set(ref.dropna()), key=str)
    counts = pd.DataFrame({
        "new": new.value_counts().reindex(categories, fill_value=0),
        "reference": ref.value_counts().reindex(categories, fill_value=0),
    }).astype(float) + smoothing  # fmt: skip
    return counts / counts.sum()


def kl_divergence(new: pd.Series, ref: pd.Series, smoothing: float = 1.0) -> float:
    """``KL(new || reference)`` in bits of two categorical samples, add-``smoothing`` counts."""
    shares = category_shares(new, ref, smoothing)
    p, q = shares["new"].to_numpy(), shares["reference"].to_numpy()
    return float(np.sum(p * np.log2(p / q)))


def check_neighbourhood_kl(data: pd.DataFrame, ref: pd.DataFrame, kl_threshold: float) -> CheckResult:
    """The borough mix of ``data`` is close to the reference's (KL below ``kl_threshold``)."""
    name = f"kl_{KL_COLUMN}"
    absent = [side for side, f in (("new", data), ("reference", ref)) if KL_COLUMN not in f.columns]
    if absent:
        return CheckResult(name, "statistical", False, None, kl_threshold,
                           f"{name}: column {KL_COLUMN} missing in {' and '.join(absent)} sample; "
                           f"threshold {kl_threshold}")  # fmt: skip
    shares = category_shares(data[KL_COLUMN], ref[KL_COLUMN])
    value = kl_divergence(data[KL_COLUMN], ref[KL_COLUMN])
    passed = value < kl_threshold
    change = (shares["new"] - shares["reference"]).abs().idxmax()
    moved = f"{change} {shares.at[change, 'reference']:.1%} -> {shares.at[change, 'new']:.1%}"
    relation = "<" if passed else ">="
    message = (f"{name}: KL(new || reference) = {value:.4f} bits {relation} threshold {kl_threshold}; "
               f"largest share change: {moved}")  # fmt: skip
    details = {
        "unit": "bits",
        "shares": {str(k): {"new": round(float(r["new"]), 6), "reference": round(float(r["reference"]), 6)}
                   for k, r in shares.iterrows()},
    }  # fmt: skip
    return CheckResult(name, "statistical", passed, round(value, 6), kl_threshold, message, details=details)


def _numeric_values(frame: pd.DataFrame, column: str, max_rows: int, seed: int) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if len(values) > max_rows:
        values = values.sample(n=max_rows, random_state=seed)
    return np.asarray(values, dtype=float)


def histogram_shares(new: np.ndarray, ref: np.ndarray, bins: int = HIST_BINS) -> dict[str, Any]:
    """Shares of each sample in common bins, for the report's reference-vs-current plot.

    Edges span the pooled central 0.5-99.5 percentiles when the tails are long (e.g. price
    outliers), so values outside are counted in ``outside_*`` rather than drawn; rounded so
    the stored report is stable.
    """
    from modelmill.reports import bin_edges, hist_counts

    edges = bin_edges(np.concatenate([new, ref]), bins)
    out: dict[str, Any] = {"edges": [round(float(e), 6) for e in edges]}
    for side, values in (("new", new), ("reference", ref)):
        counts, outside = hist_counts(values, edges)
        out[side] = [round(c / max(len(values), 1), 6) for c in counts]
        out[f"outside_{side}"] = outside
    return out


def check_ks(
    data: pd.DataFrame,
    ref: pd.DataFrame,
    column: str,
    ks_alpha: float,
    n_tests: int = len(KS_COLUMNS),
    *,
    max_rows: int = KS_MAX_ROWS,
    min_effect: float = KS_MIN_EFFECT,
    seed: int = KS_SEED,
) -> CheckResult:
    """Two-sample KS test of ``column``; the module docstring gives the decision rule."""
    from scipy.stats import ks_2samp

    name, alpha = f"ks_{column}", ks_alpha / max(n_tests, 1)
    rule = f"p < {alpha:.4g} (ks_alpha {ks_alpha} / {n_tests} columns) and D >= {min_effect}"
    absent = [side for side, f in (("new", data), ("reference", ref)) if column not in f.columns]
    if absent:
        message = f"{name}: column missing in {' and '.join(absent)} sample; fails if {rule}"
        return CheckResult(name, "statistical", False, None, alpha, message)
    x = _numeric_values(data, column, max_rows, seed)
    y = _numeric_values(ref, column, max_rows, seed)
    details: dict[str, Any] = {
        "n_new": len(x), "n_reference": len(y), "max_rows": max_rows,
        "min_effect": min_effect, "ks_alpha": ks_alpha, "n_tests": n_tests,
    }  # fmt: skip
    if len(x) == 0 or len(y) == 0:
        passed = len(x) == len(y)
        sides = "either sample" if passed else ("the new sample" if len(x) == 0 else "the reference")
        return CheckResult(name, "statistical", passed, None, alpha,
                           f"{name}: no values in {sides}; fails if {rule}", details=details)  # fmt: skip
    with warnings.catch_warnings():  # "exact calculation unsuccessful": scipy falls back to asymp
        warnings.simplefilter("ignore", RuntimeWarning)
        result = ks_2samp(x, y)
    d, p = float(result.statistic), float(result.pvalue)
    details |= {"ks_statistic": round(d, 6), "median_new": float(np.median(x)),
                "median_reference": float(np.median(y)), "histogram": histogram_shares(x, y)}  # fmt: skip
    passed = not (p < alpha and d >= min_effect)
    sizes = f"D={d:.4f}, n={len(x)} vs {len(y)}"
    if passed:
        message = f"{name}: p-value {p:.4g} ({sizes}); fails only if {rule}"
    else:
        message = (f"{name}: distribution shifted: p-value {p:.3g} < threshold {alpha:.4g} "
                   f"(ks_alpha {ks_alpha} / {n_tests} columns) and D={d:.4f} >= {min_effect} "
                   f"(n={len(x)} vs {len(y)}); "
                   f"median {np.median(x):g} vs reference {np.median(y):g}")  # fmt: skip
    return CheckResult(name, "statistical", passed, p, alpha, message, details=details)


def run_stats(
    data: pd.DataFrame,
    ref: pd.DataFrame,
    kl_threshold: float,
    ks_alpha: float,
    columns: tuple[str, ...] = KS_COLUMNS,
    *,
    max_rows: int = KS_MAX_ROWS,
    min_effect: float = KS_MIN_EFFECT,
) -> list[CheckResult]:
    """The KL test, then one KS test per column (Bonferroni over ``columns``)."""
    results = [check_neighbourhood_kl(data, ref, kl_threshold)]
    results += [check_ks(data, ref, c, ks_alpha, len(columns), max_rows=max_rows, min_effect=min_effect)
                for c in columns]  # fmt: skip
    return results
