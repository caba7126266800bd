"""The drift verdict: PSI above the drift line calls drift only when the distribution test does
not contradict it (PSI over ten bins is noisy on small samples of clumped values)."""

from __future__ import annotations

from modelmill.validation.drift import FeatureDrift, Thresholds, judge


def _result(psi: float, p_value: float | None, n: int = 150) -> FeatureDrift:
    return FeatureDrift("prediction", "numeric", n, psi=psi, test="ks", statistic=0.1, p_value=p_value)


def test_a_high_psi_the_test_supports_is_drift() -> None:
    verdict = judge(_result(0.4, 1e-6), Thresholds())
    assert verdict.verdict == "drift"
    assert verdict.reasons == ["PSI 0.400 >= 0.25"]


def test_a_high_psi_the_test_finds_no_change_in_is_only_a_warning() -> None:
    verdict = judge(_result(0.29, 0.96), Thresholds())
    assert verdict.verdict == "warn"
    assert "not significant" in verdict.reasons[0] and "150 rows" in verdict.reasons[0]


def test_a_high_psi_without_a_test_is_still_drift() -> None:
    assert judge(_result(0.4, None), Thresholds()).verdict == "drift"
