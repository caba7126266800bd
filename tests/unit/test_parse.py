"""Parsing raw strings into the types a dataset spec declares (modelmill.datasets.parse)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from modelmill.datasets.parse import (
    dates_as_text,
    parse_boolean,
    parse_column,
    parse_dates,
    parse_number,
)


def values_and_bad(result: tuple[pd.Series, pd.Series]) -> tuple[list[object], list[bool]]:
    values, bad = result
    return [None if pd.isna(v) else v for v in values], bad.tolist()


def test_currency_symbols_thousands_and_accounting_negatives() -> None:
    raw = pd.Series(["$1,200.00", " (12.50) ", None, "cheap", "3", "1,2,3", "-$5", "€ 7", "£1,000,000.5", ""])
    values, bad = values_and_bad(parse_number(raw, style="currency"))
    assert values == [1200.0, -12.5, None, None, 3.0, None, -5.0, 7.0, 1000000.5, None]
    # present but not a number: the word and the malformed grouping; missing and "" are not unparsable
    assert bad == [False, False, False, True, False, True, False, False, False, False]


def test_decimal_comma_and_declared_thousands() -> None:
    raw = pd.Series(["1.200,50", "3,5", "1.2", "12"])
    values, bad = values_and_bad(parse_number(raw, thousands=".", decimal=","))
    assert values == [1200.5, 3.5, None, 12.0] and bad == [False, False, True, False]
    # a plain number column does not guess a thousands separator
    assert values_and_bad(parse_number(pd.Series(["1,200"]))) == ([None], [True])


def test_percent_text_is_a_share_and_numbers_are_kept() -> None:
    values, bad = values_and_bad(parse_number(pd.Series(["45%", "45", " 3.5 %", "half"]), style="percent"))
    assert values == [0.45, 0.45, 0.035, None] and bad == [False, False, False, True]
    shares = pd.Series([0.45, 0.1])
    assert parse_number(shares, style="percent")[0] is shares  # typed numbers are already shares


def test_numbers_stay_untouched_and_integers_must_be_whole() -> None:
    ints = pd.Series([1, 2, 3])
    kept, bad = parse_number(ints, style="currency")
    assert kept is ints and not bad.any()  # the CSV bytes of a clean table do not change
    values, bad = parse_number(pd.Series(["2", "3", "2.5"]), integer=True)
    assert str(values.dtype) == "Int64" and bad.tolist() == [False, False, True]
    whole, _ = parse_number(pd.Series(["2", "3"]), integer=True)
    assert whole.dtype == "int64"
    assert parse_number(pd.Series([True, False]))[1].all()  # booleans are not numbers


def test_boolean_words_case_insensitive_and_numbers() -> None:
    values, bad = values_and_bad(
        parse_boolean(pd.Series(["Yes", "no", " TRUE ", "maybe", None]), ("yes", "true"), ("no", "false"))
    )
    assert values == [True, False, True, None, None] and bad == [False, False, False, True, False]
    values, bad = values_and_bad(parse_boolean(pd.Series([1, 0, 2]), ("yes",), ("no",)))
    assert values == [True, False, None] and bad == [False, False, True]


def test_dates_by_format_iso_objects_and_never_numbers() -> None:
    values, bad = parse_dates(pd.Series(["21/05/2019", "2019-05-21", None]), "%d/%m/%Y")
    assert values.tolist()[0] == pd.Timestamp("2019-05-21") and bad.tolist() == [False, True, False]
    mixed = pd.Series(
        [dt.date(2019, 1, 2), "2019-05-21", None, pd.Timestamp("2020-01-01", tz="UTC")], dtype=object
    )
    values, bad = parse_dates(mixed)
    assert values.tolist()[:2] == [pd.Timestamp("2019-01-02"), pd.Timestamp("2019-05-21")] and not bad.any()
    assert parse_dates(pd.Series([12345, 20190521]))[1].all()  # numbers are never dates
    aware = pd.Series(pd.to_datetime(["2019-05-21 10:00"]).tz_localize("Europe/Paris"))
    assert parse_dates(aware)[0].dt.tz is None


def test_dates_as_text_keep_the_time_only_when_there_is_one() -> None:
    days, _ = parse_dates(pd.Series(["2019-05-21", None]))
    assert dates_as_text(days).tolist()[0] == "2019-05-21" and pd.isna(dates_as_text(days).iloc[1])
    times, _ = parse_dates(pd.Series(["2019-05-21T10:30:00", "2019-05-22"]))
    assert dates_as_text(times).tolist() == ["2019-05-21T10:30:00", "2019-05-22T00:00:00"]


@pytest.mark.parametrize(
    ("column", "raw", "expected"),
    [
        ({"kind": "float", "parse": "currency"}, ["$10", "x"], [10.0, np.nan]),
        ({"kind": "integer"}, ["4", "4.5"], [4, np.nan]),
        ({"kind": "boolean", "true_values": ["si"], "false_values": ["no"]}, ["SI", "x"], [True, np.nan]),
        (
            {"kind": "date", "format": "%d.%m.%Y"},
            ["01.02.2020", "2020-02-01"],
            [pd.Timestamp("2020-02-01"), pd.NaT],
        ),
    ],
)
def test_parse_column_dispatches_on_the_declaration(
    column: dict, raw: list[str], expected: list[object]
) -> None:
    values, bad = parse_column(pd.Series(raw), column)
    assert values.iloc[0] == expected[0] and pd.isna(values.iloc[1])
    assert bad.tolist() == [False, True]


def test_text_columns_are_returned_as_they_are() -> None:
    raw = pd.Series(["a", None, "3"])
    values, bad = parse_column(raw, {"kind": "string"})
    assert values is raw and not bad.any()


@pytest.mark.slow
def test_vectorised_on_a_large_column() -> None:
    """A million currency strings parse in seconds: pyarrow's string kernels, no Python call per
    row (a regex pandas hands back to Python's ``re``, e.g. one with ``\\s``, takes ~12 s here)."""
    import time

    raw = pd.Series([f"${i:,}.50" for i in range(0, 1_000_000, 1)])
    start = time.perf_counter()
    values, bad = parse_number(raw, style="currency")
    assert time.perf_counter() - start < 10
    assert values.iloc[1234] == 1234.5 and not bad.any()
