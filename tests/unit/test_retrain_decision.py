"""Which failures are the data check's decision (exit 1) and which are errors (exit 2 or 3)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modelmill.core.errors import UsageError
from modelmill.lifecycle.retrain import FAILED_EXIT, RetrainFailed, decision_line, interpret
from tests.example_pipeline.pipeline import build, build_with_effects

PIPELINE = build_with_effects()  # roles: make_numbers ingest, double clean, check check, publish promote


def _summary(step: str, error: str, exit_code: int = 1) -> SimpleNamespace:
    failed = SimpleNamespace(name=step, status="failed", error=error, exit_code=exit_code, outputs=[])
    return SimpleNamespace(run_id="r1", steps=[SimpleNamespace(name="make_numbers", status="ran"), failed])


def test_failed_data_tests_are_a_stop_decision() -> None:
    """The step with role check (here named 'check', not 'data_check') stops the retrain."""
    result = interpret(_summary("check", "DataCheckError: 1 of 16 data tests failed:\n - ks_price"), None,
                       PIPELINE)  # fmt: skip
    assert result.decision == "stopped" and result.exit_code == 1
    assert result.line == "stopped by data check: 1 of 16 data tests failed: - ks_price"


def test_column_types_failing_at_ingest_are_a_stop_decision() -> None:
    """The ingest step tests the batch's column types as read (before its CSV copy loses them)."""
    error = "DataCheckError: etl.sample='b.parquet' as read: column_dtypes: price is text holding numbers"
    result = interpret(_summary("make_numbers", error), None, PIPELINE)
    assert result.decision == "stopped" and result.exit_code == 1 and "price is text" in result.line


@pytest.mark.parametrize(
    ("step", "error", "code", "expected"),
    [
        ("check", "KeyError: 'neighbourhood_group'", 1, FAILED_EXIT),  # a crash, not a verdict
        ("check", "ArtifactNotFoundError: no clean_sample.csv:reference", 2, 2),
        ("total", "ValueError: bad params", 1, FAILED_EXIT),
        ("total", "DataCheckError: raised after the data steps", 1, FAILED_EXIT),  # not a data step
    ],
)
def test_other_failures_are_errors(step: str, error: str, code: int, expected: int) -> None:
    with pytest.raises(RetrainFailed) as caught:
        interpret(_summary(step, error, code), None, PIPELINE)
    assert caught.value.exit_code == expected and step in str(caught.value)


def test_a_pipeline_without_a_check_or_promote_step() -> None:
    """No check role: no failure is a data-check stop; no promote role: no decision to read."""
    with pytest.raises(RetrainFailed):
        interpret(_summary("make_numbers", "DataCheckError: bad types"), None, build())
    ok = SimpleNamespace(run_id="r2", steps=[SimpleNamespace(name="total", status="ran", outputs=[])],
                         metrics={})  # fmt: skip
    with pytest.raises(UsageError, match="needs a step with role 'promote'"):
        interpret(ok, None, build())


def test_the_decision_line_follows_the_metric_direction() -> None:
    r2 = {"promoted": True, "candidate": "m:v1", "metric": "r2", "candidate_value": 0.8, "prod_value": 0.7}
    assert decision_line(r2)[1] == "promoted m:v1 (test R2 0.8 > prod 0.7)"
    mae = {**r2, "metric": "mae", "candidate_value": 1.0, "prod_value": 2.0}
    assert decision_line(mae)[1] == "promoted m:v1 (test MAE 1 < prod 2)"
    kept = {**r2, "promoted": False, "candidate_value": 0.6, "prod_before": "m:v0", "min_improvement": 0}
    assert decision_line(kept)[1] == "kept prod m:v0 (candidate R2 0.6 <= prod 0.7)"
