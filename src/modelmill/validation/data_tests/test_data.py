"""One pytest test per data test of :mod:`modelmill.validation`, generated from the dataset spec
(the allowed lists, boxes, ranges and distribution tests are parametrized by its columns)."""

from __future__ import annotations

from typing import Any

import pytest

from modelmill.validation.checks import CheckResult


def _assert(result: CheckResult) -> None:
    if not result.passed:
        pytest.fail(result.message, pytrace=False)


def test_column_names(deterministic: dict[str, CheckResult]) -> None:
    _assert(deterministic["column_names"])


def test_column_dtypes(deterministic: dict[str, CheckResult]) -> None:
    _assert(deterministic["column_dtypes"])


def test_allowed(deterministic: dict[str, CheckResult], allowed_column: str) -> None:
    _assert(deterministic[f"allowed_{allowed_column}"])


def test_box(deterministic: dict[str, CheckResult], box: str) -> None:
    _assert(deterministic[f"box_{box}"])


def test_range(deterministic: dict[str, CheckResult], range_column: str) -> None:
    _assert(deterministic[f"range_{range_column}"])


def test_row_count(deterministic: dict[str, CheckResult]) -> None:
    _assert(deterministic["row_count"])


def test_unique_ids(deterministic: dict[str, CheckResult], params: dict[str, Any]) -> None:
    if not params.get("id"):
        pytest.skip("the dataset spec declares no id column")
    _assert(deterministic["unique_ids"])


def test_kl(statistical: dict[str, CheckResult], categorical_column: str) -> None:
    _assert(statistical[f"kl_{categorical_column}"])


def test_chi2(statistical: dict[str, CheckResult], categorical_column: str) -> None:
    _assert(statistical[f"chi2_{categorical_column}"])


def test_ks(statistical: dict[str, CheckResult], ks_column: str) -> None:
    _assert(statistical[f"ks_{ks_column}"])
