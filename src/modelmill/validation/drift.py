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

A classifier's outputs (its reference's ``prediction`` is categorical): the predicted labels
are compared as a categorical column (as text, like the reference's), each class's
probability ``proba_<class>`` as a numeric one against the reference's ``probabilities``.

Verdicts: ``drift`` needs an effect size (PSI, unseen share, missing-rate change) over its
drift threshold; a significant test alone only warns, and only with a non-trivial PSI, because
with thousands of rows any harmless difference is "significant".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.drift_tests import (
    UNSEEN,
    categorical_psi,
    category_counts,
    chi_square,
    ks_test,
    numeric_psi,
    numeric_values,
)

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


def worst(verdicts: Any) -> str:
    """The worst of ``ok`` < ``warn`` < ``drift`` (``ok`` when empty)."""
    return max(verdicts, key=ORDER.__getitem__, default="ok")


def _not_significant(result: FeatureDrift, limits: Thresholds) -> bool:
    """A distribution test ran and finds no change even at a lenient 5% (``limits.alpha`` is the
    strict level a test alone needs): a PSI above the drift line is then sampling noise."""
    return result.p_value is not None and result.p_value >= max(limits.alpha, 0.05)


def judge(result: FeatureDrift, limits: Thresholds) -> FeatureDrift:
    """Set the verdict and the reasons of ``result`` from ``limits``."""
    reasons: dict[str, list[str]] = {"drift": [], "warn": []}
    if result.psi is not None:
        if result.psi >= limits.psi_drift and _not_significant(result, limits):
            # PSI over ten bins is noisy on a few hundred rows, the more so for clumped values (a
            # boosting model's predictions on a small table): without the test's support it warns
            reasons["warn"].append(
                f"PSI {result.psi:.3f} >= {limits.psi_drift} but {result.test} p-value "
                f"{result.p_value:.2g} on {result.n} rows: not significant"
            )
        elif result.psi >= limits.psi_drift:
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


def _finite(value: float | None) -> float | None:
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
        result.psi = _finite(categorical_psi(summary, binned))
        statistic, p_value = chi_square(summary, binned)
        result.test, result.statistic, result.p_value = "chi2", _finite(statistic), _finite(p_value)
        result.unseen_share = round(binned[UNSEEN] / total, 6) if total else 0.0
        result.unseen_expected = float(summary.get("unseen_rate") or 0.0)
        result.unseen = sorted(unseen, key=lambda k: (-unseen[k], k))[:20]
    else:
        target = summary["length"] if kind == "text" else summary
        present = numeric_values(series, kind)
        result.psi = _finite(numeric_psi(target, present))
        statistic, p_value = ks_test(target.get("quantiles", []), present, reference_rows)
        result.test, result.statistic, result.p_value = "ks", _finite(statistic), _finite(p_value)
    return judge(result, limits)


@dataclass
class DriftReport:
    """Per-feature results (the prediction, then a classifier's ``proba_<class>``, last) and the
    overall verdict (the worst)."""

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


def is_classifier_reference(reference: dict[str, Any]) -> bool:
    """Whether ``reference`` is a classifier's (its ``prediction`` summary is categorical)."""
    return (reference.get("prediction") or {}).get("kind") == "categorical"


def _label_text(value: Any, known: set[str]) -> Any:
    """A predicted label as the reference's text: ``str``, but an integral float ``1.0`` read
    from a CSV with gaps is the reference's ``1`` (and an int ``1`` its ``1.0``) when so known."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return np.nan
    text = str(value.item() if isinstance(value, np.generic) else value)
    if text in known or isinstance(value, bool | np.bool_):
        return text
    if isinstance(value, float | np.floating) and float(value).is_integer():
        other = str(int(value))
    elif isinstance(value, int | np.integer):
        other = str(float(value))
    else:
        return text
    return other if other in known else text


def label_series(summary: dict[str, Any], labels: Any) -> pd.Series:
    """Predicted ``labels`` as text comparable with a categorical ``summary`` (missing kept)."""
    series = pd.Series(np.asarray(labels, dtype=object), dtype=object)
    known = set(summary.get("known") or ())
    mapping = {v: _label_text(v, known) for v in pd.unique(series.dropna())}
    return series.map(lambda v: mapping.get(v, np.nan) if pd.notna(v) else np.nan).astype(object)


def output_series(
    reference: dict[str, Any], predictions: Any = None, probabilities: Mapping[str, Any] | None = None
) -> dict[str, pd.Series]:
    """The model outputs compared with the reference, by feature name: ``prediction`` (numeric
    values of a regressor, label text of a classifier) and a classifier's ``proba_<class>``
    (those of ``probabilities`` the reference knows)."""
    out: dict[str, pd.Series] = {}
    summary = reference.get("prediction") or {}
    if predictions is not None and is_classifier_reference(reference):
        out["prediction"] = label_series(summary, predictions)
    elif predictions is not None and summary.get("edges"):
        out["prediction"] = pd.Series(np.asarray(predictions, dtype=float))
    for name in reference.get("probabilities") or {}:
        if probabilities is not None and name in probabilities:
            out[name] = pd.Series(np.asarray(probabilities[name], dtype=float))
    return out


def output_summary(reference: dict[str, Any], name: str) -> dict[str, Any]:
    """The reference summary of the output ``name`` (``prediction`` or ``proba_<class>``)."""
    return reference["prediction"] if name == "prediction" else reference["probabilities"][name]


def compare(
    reference: dict[str, Any],
    frame: pd.DataFrame,
    predictions: Any = None,
    limits: Thresholds | None = None,
    probabilities: Mapping[str, Any] | None = None,
) -> DriftReport:
    """Drift of every reference feature present in ``frame`` and of ``predictions`` (when given).

    A classifier's ``predictions`` are labels, compared as categories (chi-square and PSI),
    and ``probabilities`` (``proba_<class>`` -> values) as numbers against the reference's
    ``probabilities`` (KS and PSI). Reference features absent from ``frame`` are not checked
    (the caller decides whether that is an error: see :func:`missing_columns`).
    """
    limits = limits or Thresholds()
    rows = int(reference.get("n_rows") or 0)
    results = [
        feature_drift(name, summary, frame[name], int(summary.get("n") or rows), limits)
        for name, summary in reference["features"].items()
        if name in frame.columns
    ]
    for name, values in output_series(reference, predictions, probabilities).items():
        summary = output_summary(reference, name)
        results.append(feature_drift(name, summary, values, int(summary.get("n") or rows), limits))
    return DriftReport(results, len(frame), limits)


def missing_columns(reference: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """Reference features that ``frame`` lacks."""
    return [name for name in reference["features"] if name not in frame.columns]
