"""Which failures are the data check's decision (exit 1) and which are errors (exit 2 or 3)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modelmill.lifecycle.retrain import FAILED_EXIT, RetrainFailed, interpret


def _summary(step: str, error: str, exit_code: int = 1) -> SimpleNamespace:
    failed = SimpleNamespace(name=step, status="failed", error=error, exit_code=exit_code, outputs=[])
    return SimpleNamespace(run_id="r1", steps=[SimpleNamespace(name="get_data", status="ran"), failed])


def test_failed_data_tests_are_a_stop_decision() -> None:
    result = interpret(
        _summary("data_check", "DataCheckError: 1 of 16 data tests failed:\n - ks_price"), None
    )
    assert result.decision == "stopped" and result.exit_code == 1
    assert result.line == "stopped by data check: 1 of 16 data tests failed: - ks_price"


def test_column_types_failing_at_get_data_are_a_stop_decision() -> None:
    """get_data tests the batch's column types as read (before its CSV copy loses them)."""
    error = "DataCheckError: etl.sample='b.parquet' as read: column_dtypes: price is text holding numbers"
    result = interpret(_summary("get_data", error), None)
    assert result.decision == "stopped" and result.exit_code == 1 and "price is text" in result.line


@pytest.mark.parametrize(
    ("step", "error", "code", "expected"),
    [
        ("data_check", "KeyError: 'neighbourhood_group'", 1, FAILED_EXIT),  # a crash, not a verdict
        ("data_check", "ArtifactNotFoundError: no clean_sample.csv:reference", 2, 2),
        ("train", "ValueError: bad params", 1, FAILED_EXIT),
    ],
)
def test_other_failures_are_errors(step: str, error: str, code: int, expected: int) -> None:
    with pytest.raises(RetrainFailed) as caught:
        interpret(_summary(step, error, code), None)
    assert caught.value.exit_code == expected and step in str(caught.value)
