"""Drift math against known answers: PSI, KS against stored quantiles, chi-square, unseen values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelmill.validation.drift import Thresholds, compare, feature_drift, worst
from modelmill.validation.drift_tests import ks_test, psi
from modelmill.validation.reference import build_reference, categorical_summary, numeric_summary

LIMITS = Thresholds()


def test_psi_known_values() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    # (0.7-0.5)ln(0.7/0.5) + (0.3-0.5)ln(0.3/0.5)
    assert psi([0.5, 0.5], [0.7, 0.3]) == pytest.approx(0.2 * np.log(1.4) + 0.2 * np.log(5 / 3), rel=1e-3)
    assert np.isfinite(psi([0.5, 0.5], [1.0, 0.0]))  # smoothing: an empty bin is not infinite


def test_identical_numeric_is_ok_and_shifted_normal_drifts() -> None:
    rng = np.random.default_rng(0)
    summary = numeric_summary(rng.normal(0, 1, 20_000))
    same = feature_drift("x", summary, pd.Series(rng.normal(0, 1, 2000)), 20_000, LIMITS)
    assert same.verdict == "ok" and same.psi < 0.02 and same.p_value > 0.01
    shifted = feature_drift("x", summary, pd.Series(rng.normal(1.0, 1, 2000)), 20_000, LIMITS)
    assert shifted.verdict == "drift" and shifted.psi > 0.25 and shifted.p_value < 1e-6
    assert shifted.statistic == pytest.approx(0.38, abs=0.05)  # sup |Phi(x) - Phi(x - 1)|


def test_ks_handles_ties_of_discrete_values() -> None:
    rng = np.random.default_rng(1)
    reference = rng.integers(1, 4, 10_000)
    d, p = ks_test(numeric_summary(reference)["quantiles"], rng.integers(1, 4, 1000).astype(float), 10_000)
    assert d < 0.06 and p > 0.01


def test_category_share_doubling_drifts() -> None:
    rng = np.random.default_rng(2)
    summary = categorical_summary(pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.6, 0.3, 0.1])))
    same = feature_drift(
        "g", summary, pd.Series(rng.choice(["a", "b", "c"], 1500, p=[0.6, 0.3, 0.1])), 5000, LIMITS
    )
    assert same.verdict == "ok"
    doubled = rng.choice(["a", "b", "c"], 1500, p=[0.4, 0.6, 0.0])
    result = feature_drift("g", summary, pd.Series(doubled), 5000, LIMITS)
    assert result.verdict == "drift" and result.test == "chi2" and result.p_value < 1e-6


def test_unseen_category_is_flagged_but_a_long_tail_is_expected() -> None:
    summary = categorical_summary(pd.Series(["a"] * 500 + ["b"] * 500))
    batch = pd.Series(["a"] * 480 + ["b"] * 480 + ["z"] * 40)
    result = feature_drift("g", summary, batch, 1000, LIMITS)
    assert result.unseen == ["z"] and result.unseen_share == pytest.approx(0.04)
    assert result.verdict == "drift" and any("unseen" in r for r in result.reasons)
    few = feature_drift("g", summary, pd.Series(["a"] * 496 + ["b"] * 496 + ["z"] * 8), 1000, LIMITS)
    assert few.verdict == "warn"
    # a column where half the training values were singletons expects new values
    tail = categorical_summary(pd.Series([f"v{i}" for i in range(500)] + ["a"] * 500))
    assert tail["unseen_rate"] == pytest.approx(0.5)
    fresh = pd.Series([f"new{i}" for i in range(480)] + ["a"] * 520)
    assert feature_drift("g", tail, fresh, 1000, LIMITS).unseen_share - tail["unseen_rate"] < 0.02


def test_missing_rate_change_drifts() -> None:
    summary = numeric_summary(np.arange(1000.0))
    values = pd.Series([np.nan] * 300 + list(range(700)), dtype=float)
    result = feature_drift("x", summary, values, 1000, LIMITS)
    assert result.missing_delta == pytest.approx(0.3) and result.verdict == "drift"


def test_reference_is_small_deterministic_and_skips_ids() -> None:
    from modelmill.datasets.nyc_demo import generate_listings

    frame = generate_listings(3000, seed=3).drop(columns=["price"])
    first = build_reference(frame, np.linspace(50, 300, 3000))
    assert json.dumps(first, sort_keys=True) == json.dumps(
        build_reference(frame, np.linspace(50, 300, 3000)), sort_keys=True
    )
    assert len(json.dumps(first)) < 100_000
    kinds = {k: v["kind"] for k, v in first["features"].items()}
    assert "id" not in kinds and "host_id" not in kinds
    assert kinds["name"] == "text" and kinds["last_review"] == "date"
    assert kinds["neighbourhood_group"] == "categorical" and kinds["latitude"] == "numeric"
    assert len(first["features"]["latitude"]["quantiles"]) == 101


def test_compare_overall_is_the_worst() -> None:
    rng = np.random.default_rng(4)
    train = pd.DataFrame({"x": rng.normal(0, 1, 5000), "g": rng.choice(["a", "b"], 5000)})
    reference = build_reference(train, rng.normal(100, 10, 5000))
    batch = pd.DataFrame({"x": rng.normal(0, 1, 1000), "g": rng.choice(["a", "b"], 1000)})
    assert compare(reference, batch, rng.normal(100, 10, 1000)).verdict == "ok"
    report = compare(reference, batch, rng.normal(130, 10, 1000))
    assert report.by_name()["prediction"].verdict == "drift" and report.verdict == "drift"
    assert worst(["ok", "warn"]) == "warn" and worst([]) == "ok"


def test_ks_against_a_reference_with_repeated_values_matches_the_exact_test() -> None:
    """A value repeated over many quantile levels (60% zeros, small counts) is a step of the
    reference CDF; treating it as a ramp made same-distribution batches look shifted."""
    from scipy.stats import ks_2samp

    from modelmill.validation.drift_tests import ks_test
    from modelmill.validation.reference import numeric_summary

    rng = np.random.default_rng(0)
    for draw in (
        lambda n: np.where(rng.random(n) < 0.6, 0.0, rng.exponential(2, n)),
        lambda n: rng.poisson(2, n).astype(float),
    ):
        reference, batch = draw(40_000), draw(100_000)
        d, _ = ks_test(numeric_summary(reference)["quantiles"], batch, 40_000)
        exact = ks_2samp(reference, batch).statistic
        assert abs(d - exact) < 0.01 and d < 0.02, (d, exact)  # was 0.60 for the zeros


def test_values_outside_the_reference_range_are_drift_even_for_a_constant_column() -> None:
    from modelmill.validation.drift import Thresholds, feature_drift
    from modelmill.validation.reference import numeric_summary

    constant = numeric_summary(np.zeros(1000))
    assert feature_drift("flag", constant, np.zeros(500), 1000, Thresholds()).verdict == "ok"
    moved = feature_drift("flag", constant, np.full(500, 365.0), 1000, Thresholds())
    assert moved.verdict == "drift" and moved.psi is not None and moved.psi > 1
    rng = np.random.default_rng(1)
    skewed = numeric_summary(np.where(rng.random(2000) < 0.92, 0, rng.integers(1, 10, 2000)).astype(float))
    assert feature_drift("s", skewed, np.full(500, 1000.0), 2000, Thresholds()).verdict == "drift"
