"""Statistical tests: does a new sample come from the same distribution as the reference?

Generated from the spec: every column with ``drift`` true (by default numeric, count and
categorical columns) gets, as :class:`~modelmill.validation.checks.CheckResult`\\ s:

* numeric, count (and date) columns: ``ks_<column>``, a two-sample Kolmogorov-Smirnov test
  (``scipy.stats.ks_2samp``; missing values dropped, dates as days);
* categorical, ordinal and boolean columns: ``kl_<column>``, the Kullback-Leibler divergence
  ``KL(new || reference)`` in bits of the category shares, with add-one (Laplace) smoothing
  over the declared ``allowed`` list and every category seen on either side (a category
  missing on one side gives a finite value), failing when ``KL >= kl_threshold`` (the
  course's test, ``data_check.kl_threshold``); and ``chi2_<column>``, a chi-square test of
  homogeneity of the two samples' category counts (``scipy.stats.chi2_contingency``).

The decision rule of the p-value tests (KS and chi-square). With thousands of rows both
reject for differences nobody cares about, and running ``m`` tests at ``ks_alpha`` each
raises false alarms to about ``m * ks_alpha``. So a test fails only when **both**

1. it is rejected by the multiple-testing correction declared in ``data_check.correction``
   over *all* p-value tests of the run: by default **Holm's step-down correction** (the
   p-values sorted ascending, the ``i``-th is compared with ``ks_alpha / (m - i + 1)`` until
   one is not below its threshold). Holm keeps the chance that two samples of one
   distribution fail anywhere below ``ks_alpha`` under any dependence between the tests
   (latitude and longitude are far from independent), like Bonferroni (``ks_alpha / m`` for
   every test), but never rejects less: the smallest p-value faces Bonferroni's threshold,
   the next ones looser ones. Šidák and Hochberg would need independence or positive
   dependence, which correlated columns do not promise. ``bonferroni`` is the simpler,
   stricter choice (every test at ``ks_alpha / m``);
2. the effect is at least :data:`MIN_EFFECT` (0.05): the KS statistic ``D`` (the two
   empirical CDFs differ by at least five percentage points somewhere), or for chi-square the
   total variation distance of the shares (half the sum of the absolute share differences:
   at least five percent of the rows would have to change category). A shift worth stopping
   a pipeline for;

and each side is first capped at :data:`KS_MAX_ROWS` rows by a seeded subsample (same
verdict on every run, bounded cost). ``statistic`` is the p-value and ``threshold`` the
corrected threshold (Holm's at the test's rank); the effect, the rank and the sample sizes
are in ``details``. Two random halves of one table pass; a target times 1.5 (D ~ 0.25) or one
region's share doubled (D ~ 0.1 on its coordinates) fail. The KL
test is a threshold on a divergence, not a p-value: it is not part of the correction.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.checks import CheckResult
from modelmill.validation.schema import column_types, parse_dates

KS_MAX_ROWS = 5000
MIN_EFFECT = 0.05
KS_MIN_EFFECT = MIN_EFFECT  # the name of earlier versions
KS_SEED = 0
HIST_BINS = 20
CATEGORICAL_ROLES = ("categorical", "ordinal", "boolean")
CORRECTIONS = ("holm", "bonferroni")


def drift_test_kind(column: Mapping[str, Any]) -> str | None:
    """``"ks"``, ``"categorical"`` (KL + chi-square) or ``None`` (no distribution test) for a column."""
    if not column.get("drift") or column.get("role") == "text":
        return None
    if column.get("role") in CATEGORICAL_ROLES or column.get("kind") in ("string", "boolean"):
        return "categorical"
    return "ks" if column.get("kind") in ("integer", "float", "date") else None


def category_shares(
    new: pd.Series, ref: pd.Series, smoothing: float = 1.0, known: Sequence[Any] = ()
) -> pd.DataFrame:
    """Smoothed shares of each category: columns ``new`` and ``reference``, one row per category
    (the ``known`` categories and every one seen on either side)."""
    new, ref = new.dropna().astype(str), ref.dropna().astype(str)
    categories = sorted({str(k) for k in known} | set(new) | set(ref))
    counts = pd.DataFrame({
        "new": new.value_counts().reindex(categories, fill_value=0),
        "reference": ref.value_counts().reindex(categories, fill_value=0),
    }).astype(float) + smoothing  # fmt: skip
    return counts / counts.sum()


def kl_divergence(new: pd.Series, ref: pd.Series, smoothing: float = 1.0, known: Sequence[Any] = ()) -> float:
    """``KL(new || reference)`` in bits of two categorical samples, add-``smoothing`` counts."""
    shares = category_shares(new, ref, smoothing, known)
    p, q = shares["new"].to_numpy(), shares["reference"].to_numpy()
    return float(np.sum(p * np.log2(p / q)))


def _absent(name: str, column: str, data: pd.DataFrame, ref: pd.DataFrame) -> str | None:
    sides = [side for side, f in (("new", data), ("reference", ref)) if column not in f.columns]
    return f"{name}: column {column} missing in {' and '.join(sides)} sample" if sides else None


def check_kl(
    data: pd.DataFrame, ref: pd.DataFrame, column: Mapping[str, Any], kl_threshold: float
) -> CheckResult:
    """The category mix of ``data`` is close to the reference's (KL below ``kl_threshold``)."""
    col = str(column["name"])
    name = f"kl_{col}"
    if (absent := _absent(name, col, data, ref)) is not None:
        return CheckResult(
            name, "statistical", False, None, kl_threshold, f"{absent}; threshold {kl_threshold}"
        )
    allowed = column.get("allowed")
    known = list(allowed) if isinstance(allowed, list | tuple) else []
    shares = category_shares(data[col], ref[col], known=known)
    value = kl_divergence(data[col], ref[col], known=known)
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


def _capped(values: pd.Series, max_rows: int, seed: int) -> pd.Series:
    return values.sample(n=max_rows, random_state=seed) if len(values) > max_rows else values


def _numbers(frame: pd.DataFrame, column: Mapping[str, Any], max_rows: int, seed: int) -> np.ndarray:
    series = frame[str(column["name"])]
    if column.get("kind") == "date":
        dates = parse_dates(series, column_types([column])[0]).dropna()
        values = pd.Series(
            dates.to_numpy(dtype="datetime64[us]").astype("int64") / 86_400e6, index=dates.index
        )
    else:
        values = pd.to_numeric(series, errors="coerce").dropna()
    return np.asarray(_capped(values, max_rows, seed), dtype=float)


def histogram_shares(new: np.ndarray, ref: np.ndarray, bins: int = HIST_BINS) -> dict[str, Any]:
    """Shares of each sample in common bins, for the report's reference-vs-current plot.

    Edges span the pooled central 0.5-99.5 percentiles when the tails are long (e.g. a target's
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


@dataclass
class _PTest:
    """A p-value test before the correction: its raw outcome, decided by :func:`_decide`."""

    name: str
    p: float | None  # None: not computable (a side has no values or misses the column)
    effect: float | None
    what: str  # "D" or "TV"
    details: dict[str, Any]
    sizes: str  # "n=4000 vs 4000"
    shift: str = ""  # "median 140 vs reference 100"
    empty: str | None = None  # why no p-value: the message of an uncomputable test
    passed_empty: bool = True


def _ks(data: pd.DataFrame, ref: pd.DataFrame, column: Mapping[str, Any], max_rows: int, seed: int) -> _PTest:
    from scipy.stats import ks_2samp

    col = str(column["name"])
    name = f"ks_{col}"
    if (absent := _absent(name, col, data, ref)) is not None:
        return _PTest(name, None, None, "D", {}, "", empty=absent, passed_empty=False)
    x, y = _numbers(data, column, max_rows, seed), _numbers(ref, column, max_rows, seed)
    details: dict[str, Any] = {"n_new": len(x), "n_reference": len(y), "max_rows": max_rows}
    if len(x) == 0 or len(y) == 0:
        sides = (
            "either sample" if len(x) == len(y) else ("the new sample" if len(x) == 0 else "the reference")
        )
        return _PTest(name, None, None, "D", details, "", empty=f"{name}: no values in {sides}",
                      passed_empty=len(x) == len(y))  # fmt: skip
    with warnings.catch_warnings():  # "exact calculation unsuccessful": scipy falls back to asymp
        warnings.simplefilter("ignore", RuntimeWarning)
        result = ks_2samp(x, y)
    d, p = float(result.statistic), float(result.pvalue)
    details |= {"ks_statistic": round(d, 6), "median_new": float(np.median(x)),
                "median_reference": float(np.median(y)), "histogram": histogram_shares(x, y)}  # fmt: skip
    shift = f"median {np.median(x):g} vs reference {np.median(y):g}"
    return _PTest(name, p, d, "D", details, f"n={len(x)} vs {len(y)}", shift)


def _chi2(
    data: pd.DataFrame, ref: pd.DataFrame, column: Mapping[str, Any], max_rows: int, seed: int
) -> _PTest:
    from scipy.stats import chi2_contingency

    col = str(column["name"])
    name = f"chi2_{col}"
    if (absent := _absent(name, col, data, ref)) is not None:
        return _PTest(name, None, None, "TV", {}, "", empty=absent, passed_empty=False)
    x = _capped(data[col].dropna().astype(str), max_rows, seed)
    y = _capped(ref[col].dropna().astype(str), max_rows, seed)
    details: dict[str, Any] = {"n_new": len(x), "n_reference": len(y), "max_rows": max_rows}
    if len(x) == 0 or len(y) == 0:
        sides = (
            "either sample" if len(x) == len(y) else ("the new sample" if len(x) == 0 else "the reference")
        )
        return _PTest(name, None, None, "TV", details, "", empty=f"{name}: no values in {sides}",
                      passed_empty=len(x) == len(y))  # fmt: skip
    table = pd.DataFrame({"new": x.value_counts(), "reference": y.value_counts()}).fillna(0)
    shares = table / table.sum()
    tv = float(0.5 * (shares["new"] - shares["reference"]).abs().sum())
    if len(table) < 2:
        statistic, p, dof = 0.0, 1.0, 0
    else:
        result = chi2_contingency(table.to_numpy().T, correction=False)
        statistic, p, dof = float(result.statistic), float(result.pvalue), int(result.dof)
    details |= {"chi2": round(statistic, 6), "dof": dof, "total_variation": round(tv, 6)}
    change = (shares["new"] - shares["reference"]).abs().idxmax()
    before, after = shares.at[change, "reference"], shares.at[change, "new"]
    shift = f"largest share change: {change} {before:.1%} -> {after:.1%}"
    return _PTest(name, p, tv, "TV", details, f"n={len(x)} vs {len(y)}", shift)


def holm(pvalues: Sequence[float | None], alpha: float) -> tuple[list[bool], list[float], list[int]]:
    """Holm's step-down procedure: ``(rejected, threshold, rank)`` per test, in the given order.

    ``None`` (a test without a p-value) ranks last and is never rejected; it still counts in
    ``m`` (a missing column must not make the other tests looser).
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: (pvalues[i] is None, pvalues[i] or 0.0, i))
    rejected, threshold, rank = [False] * m, [alpha] * m, [0] * m
    going = True
    for position, i in enumerate(order, start=1):
        threshold[i], rank[i] = alpha / (m - position + 1), position
        p = pvalues[i]
        going = going and p is not None and p < threshold[i]
        rejected[i] = going
    return rejected, threshold, rank


def bonferroni(pvalues: Sequence[float | None], alpha: float) -> tuple[list[bool], list[float], list[int]]:
    """Bonferroni: every test at ``alpha / m``; ``(rejected, threshold, rank)`` as :func:`holm` gives them."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: (pvalues[i] is None, pvalues[i] or 0.0, i))
    rank = [0] * m
    for position, i in enumerate(order, start=1):
        rank[i] = position
    threshold = alpha / max(m, 1)
    return [p is not None and p < threshold for p in pvalues], [threshold] * m, rank


def _correction_text(correction: str, alpha: float, m: int, rank: int) -> str:
    if correction == "bonferroni":
        return f"Bonferroni: alpha {alpha} / {m} tests"
    return f"Holm: alpha {alpha} / {m - rank + 1}, rank {rank} of {m} tests"


def _decide(
    tests: list[_PTest], alpha: float, min_effect: float, correction: str = "holm"
) -> list[CheckResult]:
    if correction not in CORRECTIONS:
        from modelmill.core.errors import ConfigError

        raise ConfigError(f"data_check.correction={correction!r}: use holm or bonferroni")
    correct = bonferroni if correction == "bonferroni" else holm
    rejected, thresholds, ranks = correct([t.p for t in tests], alpha)
    m = len(tests)
    out = []
    for test, reject, threshold, rank in zip(tests, rejected, thresholds, ranks, strict=True):
        holm_text = _correction_text(correction, alpha, m, rank)
        rule = f"p < {threshold:.4g} ({holm_text}) and {test.what} >= {min_effect}"
        details = test.details | {"alpha": alpha, "n_tests": m, "rank": rank, "min_effect": min_effect,
                                  "effect": test.effect, "correction": correction}  # fmt: skip
        if test.p is None:
            message = f"{test.empty}; fails if {rule}"
            out.append(CheckResult(test.name, "statistical", test.passed_empty, None, threshold, message,
                                   details=details))  # fmt: skip
            continue
        effect = f"{test.what}={test.effect or 0.0:.4f}"
        failed = reject and test.effect is not None and test.effect >= min_effect
        if failed:
            message = (f"{test.name}: distribution shifted: p-value {test.p:.3g} < threshold "
                       f"{threshold:.4g} ({holm_text}) and {effect} >= {min_effect} ({test.sizes}); "
                       f"{test.shift}")  # fmt: skip
        else:
            stopped = " (Holm stopped at a smaller p-value)" if test.p < threshold and not reject else ""
            message = (
                f"{test.name}: p-value {test.p:.4g} ({effect}, {test.sizes}){stopped}; fails only if {rule}"
            )
        out.append(
            CheckResult(test.name, "statistical", not failed, test.p, threshold, message, details=details)
        )
    return out


def run_stats(
    data: pd.DataFrame,
    ref: pd.DataFrame,
    params: Mapping[str, Any],
    *,
    max_rows: int = KS_MAX_ROWS,
    min_effect: float = MIN_EFFECT,
    seed: int = KS_SEED,
) -> list[CheckResult]:
    """Every statistical test of the spec's drift columns, in column order (``kl_``, ``chi2_``
    for a categorical column, ``ks_`` for a numeric one), corrected at ``params["ks_alpha"]`` by
    ``params["correction"]`` (``holm``, the default, or ``bonferroni``)."""
    slots: list[CheckResult | int] = []
    tests: list[_PTest] = []
    for column in params["columns"]:
        kind = drift_test_kind(column)
        if kind == "categorical":
            slots.append(check_kl(data, ref, column, float(params["kl_threshold"])))
            tests.append(_chi2(data, ref, column, max_rows, seed))
            slots.append(len(tests) - 1)
        elif kind == "ks":
            tests.append(_ks(data, ref, column, max_rows, seed))
            slots.append(len(tests) - 1)
    decided = _decide(tests, float(params["ks_alpha"]), min_effect, str(params.get("correction") or "holm"))
    return [decided[s] if isinstance(s, int) else s for s in slots]
