"""The promotion gate: decide() is pure, so every case is a table row."""

from __future__ import annotations

import pytest

from modelmill.core.errors import ConfigError, UsageError
from modelmill.registry.promotion import decide

CAND = "random_forest_export:v3"
PROD = "random_forest_export:v1"


def cand(mae: float, r2: float = 0.5) -> dict[str, object]:
    return {"ref": CAND, "mae": mae, "r2": r2}


def prod(mae: float, r2: float = 0.5) -> dict[str, object]:
    return {"ref": PROD, "mae": mae, "r2": r2}


def test_no_prod_promotes() -> None:
    d = decide(cand(31.2), None, "mae", 0.0)
    assert d.promote
    assert d.prod is None and d.improvement is None
    assert d.reason.startswith("no prod model yet")
    assert d.candidate == CAND


def test_better_candidate_promotes_with_numbers_in_reason() -> None:
    d = decide(cand(31.2), prod(33.1), "mae", 0.0)
    assert d.promote
    assert d.improvement == pytest.approx(1.9)
    assert d.reason == f"test mae 31.20 < 33.10 (prod {PROD})"
    assert (d.candidate, d.prod) == (CAND, PROD)
    assert (d.candidate_value, d.prod_value) == (31.2, 33.1)


def test_worse_candidate_keeps_prod() -> None:
    d = decide(cand(33.5), prod(33.1), "mae", 0.0)
    assert not d.promote
    assert d.improvement == pytest.approx(-0.4)
    assert d.reason == "candidate test mae 33.50 is not lower than 33.10 by 0.00"


def test_equal_is_not_an_improvement_even_with_zero_threshold() -> None:
    d = decide(cand(33.1), prod(33.1), "mae", 0.0)
    assert not d.promote
    assert d.improvement == 0.0


def test_improvement_smaller_than_minimum_keeps_prod() -> None:
    d = decide(cand(32.9), prod(33.1), "mae", 0.5)
    assert not d.promote
    assert "by 0.50" in d.reason and "improvement 0.20" in d.reason


def test_improvement_at_least_minimum_promotes() -> None:
    d = decide(cand(32.5), prod(33.1), "mae", 0.5)
    assert d.promote
    assert "improvement 0.60 >= 0.50" in d.reason


def test_candidate_that_is_prod_is_already_prod() -> None:
    d = decide(cand(30.0), {"ref": CAND, "mae": 40.0}, "mae", 0.0)
    assert not d.promote
    assert d.reason == "already prod"


def test_close_numbers_are_shown_with_enough_digits() -> None:
    d = decide(cand(33.101), prod(33.104), "mae", 0.0)
    assert d.promote
    assert "33.101 < 33.104" in d.reason


def test_r2_is_higher_is_better() -> None:
    assert decide(cand(0, r2=0.7), prod(0, r2=0.6), "r2", 0.0).promote
    kept = decide(cand(0, r2=0.6), prod(0, r2=0.7), "r2", 0.0)
    assert not kept.promote and "is not higher than" in kept.reason


def test_non_finite_candidate_is_never_promoted() -> None:
    assert not decide(cand(float("nan")), None, "mae", 0.0).promote
    assert not decide(cand(float("nan")), prod(33.1), "mae", 0.0).promote


def test_bad_metric_or_threshold_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"promotion\.metric"):
        decide(cand(1), None, "accuracy", 0.0)
    with pytest.raises(ConfigError, match="min_improvement"):
        decide(cand(1), prod(2), "mae", -1.0)
    with pytest.raises(UsageError, match="no 'rmse' metric"):
        decide(cand(1), prod(2), "rmse", 0.0)


def test_decision_serialises() -> None:
    data = decide(cand(31.2), prod(33.1)).to_dict()
    assert data["promote"] is True and data["metric"] == "mae" and data["prod"] == PROD


@pytest.mark.parametrize("metric", ["rmse", "medae"])
def test_error_metrics_are_lower_is_better(metric: str) -> None:
    better = decide({"ref": CAND, metric: 40.0}, {"ref": PROD, metric: 42.0}, metric, 1.0)
    assert better.promote and better.improvement == pytest.approx(2.0)
    worse = decide({"ref": CAND, metric: 42.0}, {"ref": PROD, metric: 40.0}, metric, 0.0)
    assert not worse.promote and f"test {metric} 42.00 is not lower" in worse.reason


def test_unknown_metric_lists_the_known_ones_with_their_direction() -> None:
    with pytest.raises(ConfigError, match=r"'mse'.*mae, rmse, medae \(lower is better\) or r2 \(higher"):
        decide(cand(1), prod(2), "mse", 0.0)


def test_the_task_gives_the_metrics_direction() -> None:
    """A classification score (roc_auc) is higher-is-better, a loss (log_loss) lower-is-better,
    and a metric the task lacks names promotion.metric."""
    up = decide({"ref": CAND, "roc_auc": 0.91}, {"ref": PROD, "roc_auc": 0.88}, "roc_auc", task="binary")
    assert up.promote and up.improvement == pytest.approx(0.03)
    down = decide({"ref": CAND, "log_loss": 0.30}, {"ref": PROD, "log_loss": 0.25}, "log_loss", task="binary")
    assert not down.promote and "is not lower" in down.reason
    with pytest.raises(ConfigError, match=r"promotion\.metric=mae: .*not a binary metric"):
        decide(cand(1), None, "mae", task="binary")
