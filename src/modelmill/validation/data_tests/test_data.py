"""One test per data test of :mod:`modelmill.validation` (KS parametrized by column)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from modelmill.validation import checks, stats
from modelmill.validation.checks import CheckResult


def _assert(result: CheckResult) -> None:
    if not result.passed:
        pytest.fail(result.message, pytrace=False)


def test_column_names(data: pd.DataFrame) -> None:
    _assert(checks.check_column_names(data))


def test_column_dtypes(data: pd.DataFrame) -> None:
    _assert(checks.check_dtypes(data))


def test_neighbourhood_groups(data: pd.DataFrame) -> None:
    _assert(checks.check_neighbourhood_groups(data))


def test_proper_boundaries(data: pd.DataFrame, params: dict[str, Any]) -> None:
    _assert(checks.check_boundaries(data, params["longitude"], params["latitude"]))


def test_price_range(data: pd.DataFrame, params: dict[str, Any]) -> None:
    _assert(checks.check_price_range(data, params["min_price"], params["max_price"]))


def test_date_range(data: pd.DataFrame, params: dict[str, Any]) -> None:
    _assert(checks.check_date_range(data, params["min_date"], params["max_date"]))


def test_row_count(data: pd.DataFrame, params: dict[str, Any]) -> None:
    _assert(checks.check_row_count(data, params["min_rows"], params["max_rows"]))


def test_unique_ids(data: pd.DataFrame) -> None:
    _assert(checks.check_unique_ids(data))


def test_kl_neighbourhood_group(data: pd.DataFrame, ref_data: pd.DataFrame, params: dict[str, Any]) -> None:
    _assert(stats.check_neighbourhood_kl(data, ref_data, params["kl_threshold"]))


@pytest.mark.parametrize("column", stats.KS_COLUMNS)
def test_ks(data: pd.DataFrame, ref_data: pd.DataFrame, params: dict[str, Any], column: str) -> None:
    _assert(stats.check_ks(data, ref_data, column, params["ks_alpha"], len(stats.KS_COLUMNS)))
