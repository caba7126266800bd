"""Raw values to typed values, as a column of the dataset spec declares them.

Every function here returns ``(values, unparsable)``: the typed column and a boolean mask of
the rows whose value was *present but did not parse* (``"cheap"`` in a currency column, a date
that does not follow the declared format). Missing values are never unparsable; cleaning
counts the two separately (``unparsable_<column>``, ``missing_<column>``). All of it is
vectorised: pandas string methods over the whole column, no Python loop per row, except over
the few date/timestamp *objects* a typed file may hold in an object column.

What each ``parse`` does with text (numbers already stored as numbers are kept as they are):

* ``number``: ``" 1200.5 "``, ``"-3"``, ``"(12.50)"`` (accounting negative), ``"1e3"``; with
  ``thousands`` declared, grouped digits such as ``"1,200"`` (groups of three, anything else is
  unparsable: ``"1,2,3"`` is not silently 123); ``decimal`` may be ``","`` (``"1.200,50"``).
* ``currency``: the same plus currency symbols and spaces anywhere (``"$1,200.00"``,
  ``"-€5"``, ``"12 £"``); thousands default to ``","`` (``"."`` when the decimal mark is
  ``","``).
* ``percent``: the same plus an optional ``%``; text values are *percentages*, returned as
  shares: ``"45%"`` and ``"45"`` give 0.45, as a spreadsheet stores them, so a model or a
  range sees one scale. A numeric column declared ``percent`` is taken to hold shares already.
* ``boolean``: the words of ``true_values``/``false_values`` (case and surrounding spaces
  ignored), booleans, and the numbers 1 and 0; the result has pandas' nullable ``boolean``
  type.
* dates (columns of kind ``date``): date or timestamp values as read, or text in the declared
  ``format`` (strptime; no format: ISO 8601). Numbers are never dates (``12345``). Time zones
  are dropped (the local wall time is kept).

An integer column (kind ``integer``, e.g. role ``count``) parsed from text must hold whole
numbers; ``"2.5"`` there is unparsable. A number column parsed from text whose values are all
present and whole comes out as integers, as pandas reads digits from a CSV, so ``"$74.00"``
cleans to the very same table (and cache key) as ``74``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

CURRENCY_SYMBOLS = "$€£¥₹₩₽¢₺₪₫฿₴₦₱"
SPACES = " \t\u00a0\u202f"  # and no-break spaces ("1 200 €"), as characters: RE2 runs the pattern in C
_CURRENCY = f"[{re.escape(SPACES + CURRENCY_SYMBOLS)}]"
DATE_DTYPE = "datetime64[us]"  # years 1 to 9999 fit


def _nothing(series: pd.Series) -> pd.Series:
    return pd.Series(False, index=series.index)


def _as_text(series: pd.Series) -> pd.Series:
    """Stripped text (pyarrow-backed strings: their methods run in C), empty strings as missing."""
    text = series.astype("string[pyarrow]").str.strip()
    return text.mask(text == "")


def parse_number(
    series: pd.Series,
    *,
    style: str = "number",
    thousands: str | None = None,
    decimal: str = ".",
    integer: bool = False,
) -> tuple[pd.Series, pd.Series]:
    """Numbers from numbers or text; ``style`` is ``number``, ``currency`` or ``percent``."""
    if pd.api.types.is_bool_dtype(series):
        return pd.Series(np.nan, index=series.index), series.notna()
    if pd.api.types.is_numeric_dtype(series):
        return series, _nothing(series)
    text = _as_text(series)
    present = text.notna()
    negative = text.str.fullmatch(r"\(.*\)").fillna(False).astype(bool)
    text = text.mask(negative, text.str.slice(1, -1))
    if style == "currency":
        text = text.str.replace(_CURRENCY, "", regex=True)
        thousands = thousands or ("." if decimal == "," else ",")
    if style == "percent":
        text = text.str.replace(f"[{re.escape(SPACES)}]*%$", "", regex=True)
    if thousands:
        t, d = re.escape(thousands), re.escape(decimal)
        grouped = text.str.fullmatch(rf"[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?").fillna(False).astype(bool)
        text = text.mask(text.str.contains(thousands, regex=False).fillna(False).astype(bool) & ~grouped)
        text = text.str.replace(thousands, "", regex=False)
    if decimal != ".":
        text = text.mask(text.str.contains(".", regex=False).fillna(False).astype(bool))
        text = text.str.replace(decimal, ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    values = pd.Series(np.where(negative, -numbers, numbers), index=series.index)
    if style == "percent":
        values = values / 100.0
    if integer:
        values = values.mask(values != values.round())
    unparsable = present & values.isna()
    whole = not values.isna().any() and bool((values == values.round()).all())
    if integer or (whole and style != "percent"):
        # what pandas' CSV reader makes of "74": "$74.00" must give the same clean table as 74
        return (values.astype("int64") if whole else values.astype("Int64")), unparsable
    return (values.astype("Int64") if integer else values), unparsable


def parse_boolean(
    series: pd.Series, true_values: Sequence[str], false_values: Sequence[str]
) -> tuple[pd.Series, pd.Series]:
    """``True``/``False`` (nullable ``boolean``) from booleans, 1/0 or the declared words."""
    present = series.notna()
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean"), _nothing(series)
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    if pd.api.types.is_numeric_dtype(series):
        out[series == 1], out[series == 0] = True, False
    else:
        words = _as_text(series).str.lower()
        out[words.isin([w.lower() for w in true_values]).fillna(False).astype(bool)] = True
        out[words.isin([w.lower() for w in false_values]).fillna(False).astype(bool)] = False
    return out, present & out.isna()


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date)  # datetime.datetime and pd.Timestamp are dates too


def parse_dates(series: pd.Series, fmt: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Naive timestamps (microseconds) from dates, timestamps or text in ``fmt`` (None: ISO 8601)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = pd.Series(series)
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.astype(DATE_DTYPE), _nothing(series)
    present = series.notna()
    out = pd.Series(pd.NaT, index=series.index, dtype=DATE_DTYPE)
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return out, present  # numbers are never dates
    text = present if isinstance(series.dtype, pd.StringDtype) else series.map(_is_text).astype(bool)
    if text.any():
        parsed = pd.to_datetime(series[text].str.strip(), format=fmt or "ISO8601", errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        out[text] = parsed.astype(DATE_DTYPE)
    objects = ~text & present
    if objects.any():
        objects &= series.map(_is_date).astype(bool)
    if objects.any():
        iso = series[objects].map(lambda d: d.isoformat())
        parsed = pd.to_datetime(iso, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
        out[objects] = parsed.astype(DATE_DTYPE)
    return out, present & out.isna()


def parse_column(series: pd.Series, column: Mapping[str, Any]) -> tuple[pd.Series, pd.Series]:
    """``series`` typed as ``column`` (a row of the spec's column table) declares it.

    Text columns (kind ``string``) are returned as they are, with nothing unparsable.
    """
    kind, parse = column.get("kind"), column.get("parse")
    if kind == "date":
        return parse_dates(series, column.get("format"))
    if parse == "boolean" or kind == "boolean":
        return parse_boolean(series, column.get("true_values") or (), column.get("false_values") or ())
    if parse in ("number", "currency", "percent") or kind in ("integer", "float"):
        return parse_number(
            series,
            style=parse or "number",
            thousands=column.get("thousands"),
            decimal=column.get("decimal") or ".",
            integer=kind == "integer",
        )
    return series, _nothing(series)


def dates_as_text(values: pd.Series) -> pd.Series:
    """ISO text of parsed dates: ``YYYY-MM-DD``, with the time only when some value has one."""
    has_time = bool((values.dropna() != values.dropna().dt.normalize()).any())
    return values.dt.strftime("%Y-%m-%dT%H:%M:%S" if has_time else "%Y-%m-%d")
