"""Declared column types of a table, and what a frame *as read* holds instead.

A :class:`ColumnType` says what one column must hold as read from the user's file:

* ``integer``: an integer column (or floats that are all whole: how pandas reads an integer
  column with missing values); never text, booleans or dates;
* ``float``: any numeric column (integer or float), never text or booleans;
* ``string``: text or categorical values, never numbers;
* ``date``: a date or timestamp column, or text in the declared ``parse`` format (CSV has no
  date type: the format is its explicit parse); never numbers (``12345`` is not a date);

and whether values may be missing (``nullable``). Strings that hold numbers are text: a
Parquet column of ``"150"`` fails an integer column. A CSV has no types, so there "as read"
is what its parser makes of it: digits are numbers, a column with one word is text.

:func:`type_problems` applies a table of them (a *schema*) to a frame, one generic function
for any table; :data:`NYC_LISTINGS` is the NYC listings table, declared here until the
dataset spec (issue 14) generates such tables. The data test ``column_dtypes`` and the date
range test in :mod:`modelmill.validation.checks` are built on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Kind = Literal["integer", "float", "string", "date"]
ISO_DATE = "%Y-%m-%d"


@dataclass(frozen=True)
class ColumnType:
    """One declared column: name, kind, nullability and, for dates, the text format accepted."""

    name: str
    kind: Kind
    nullable: bool = False
    parse: str | None = None  # date: text values must follow this strptime format


NYC_LISTINGS: tuple[ColumnType, ...] = (
    ColumnType("id", "integer"),
    ColumnType("name", "string", nullable=True),
    ColumnType("host_id", "integer"),
    ColumnType("host_name", "string", nullable=True),
    ColumnType("neighbourhood_group", "string"),
    ColumnType("neighbourhood", "string"),
    ColumnType("latitude", "float"),
    ColumnType("longitude", "float"),
    ColumnType("room_type", "string"),
    ColumnType("price", "float"),  # money: cents are fine, text is not
    ColumnType("minimum_nights", "integer"),
    ColumnType("number_of_reviews", "integer"),
    ColumnType("last_review", "date", nullable=True, parse=ISO_DATE),
    ColumnType("reviews_per_month", "float", nullable=True),
    ColumnType("calculated_host_listings_count", "integer"),
    ColumnType("availability_365", "integer"),
)  # fmt: skip

FIX = {
    "integer": "store {col} as integers",
    "float": "store {col} as numbers",
    "string": "store {col} as text",
    "date": "store {col} as dates or as {fmt} text",
}


@dataclass
class TypeProblem:
    """A column that does not hold its declared type: what was found, which rows show it."""

    column: str
    found: str
    expected: str
    fix: str
    rows: pd.Series  # boolean mask of the rows that show the problem

    def message(self, example: str = "") -> str:
        """``price is text holding numbers, expected integer (e.g. ...): store price as ...``."""
        example = f" (e.g. {example})" if example else ""
        return f"{self.column} is {self.found}, expected {self.expected}{example}: {self.fix}"


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date)  # datetime.datetime and pd.Timestamp are dates too


INFERRED = {"string": "text", "empty": "text", "date": "date", "datetime": "date", "datetime64": "date",
            "decimal": "float", "integer": "integer", "floating": "float", "mixed-integer-float": "float",
            "boolean": "bool"}  # fmt: skip


def found_kind(series: pd.Series) -> str:
    """What a column holds, in the words of :data:`Kind` (``text``, ``bool``, ``mixed ...``)."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if isinstance(series.dtype, pd.StringDtype):
        return "text"
    values = series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype) else series
    inferred = pd.api.types.infer_dtype(values, skipna=True)  # one pass in C over object values
    if inferred in INFERRED:
        return INFERRED[inferred]
    kinds = sorted({"text" if _is_text(v) else type(v).__name__ for v in series.dropna().head(1000)})
    return "mixed (" + ", ".join(kinds) + ")"


def parse_dates(series: pd.Series, spec: ColumnType) -> pd.Series:
    """The column as timestamps (microseconds: years 1 to 9999 fit), NaT where missing or not a
    date of the declared form (numbers are never dates)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = pd.Series(series)
        return values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us]")
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return out
    text = series.notna() if isinstance(series.dtype, pd.StringDtype) else series.map(_is_text).astype(bool)
    if text.any() and spec.parse:
        out[text] = pd.to_datetime(series[text], format=spec.parse, errors="coerce").astype(out.dtype)
    dates = ~text & series.notna()
    if dates.any():
        dates &= series.map(_is_date).astype(bool)
    if dates.any():
        iso = series[dates].map(lambda d: d.isoformat())
        parsed = pd.to_datetime(iso, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
        out[dates] = parsed.astype(out.dtype)
    return out


def _kind_problem(series: pd.Series, spec: ColumnType) -> tuple[str, pd.Series] | None:
    """``(found, offending rows)`` when present values are not of ``spec.kind``."""
    present = series.notna()
    if not present.any():  # an all-missing column reads as float64 whatever it was meant to hold
        return None
    found = found_kind(series)
    if spec.kind == "integer" and found == "float":
        numbers = pd.to_numeric(series, errors="coerce")
        fractional = present & (numbers != numbers.round())
        return (f"float with fractions (e.g. {numbers[fractional].iloc[0]:g})", fractional) \
            if fractional.any() else None  # fmt: skip
    accepted = {
        "integer": ("integer",),
        "float": ("integer", "float"),
        "string": ("text",),
        "date": ("date",),
    }
    if found in accepted[spec.kind]:
        return None
    if spec.kind == "date" and found == "text":
        bad = present & parse_dates(series, spec).isna()
        return (f"text not in the date format {spec.parse}", bad) if bad.any() else None
    if spec.kind in ("integer", "float") and found == "text":
        words = present & pd.to_numeric(series, errors="coerce").isna()
        if words.any():
            return "text (values that are not numbers)", words
        return "text holding numbers", present
    if found.startswith("mixed") and spec.kind == "string":
        return found, present & ~series.map(_is_text).astype(bool)
    return found, present


def type_problems(frame: pd.DataFrame, schema: tuple[ColumnType, ...]) -> list[TypeProblem]:
    """Every declared column of ``frame`` that does not hold its type, or misses values it must have.

    Absent columns are not a type problem (the column-name test reports them).
    """
    problems: list[TypeProblem] = []
    for spec in schema:
        if spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        fix = FIX[spec.kind].format(col=spec.name, fmt=spec.parse or ISO_DATE)
        kind = _kind_problem(series, spec)
        if kind is not None:
            fix += ", not text" if kind[0].startswith("text") and spec.kind != "date" else ""
            problems.append(TypeProblem(spec.name, kind[0], spec.kind, fix, kind[1]))
            continue
        missing = series.isna()
        if not spec.nullable and missing.any():
            found = f"missing in {int(missing.sum())} of {len(series)} rows"
            problems.append(TypeProblem(spec.name, found, f"{spec.kind} with no missing value",
                                        f"fill or drop the rows without {spec.name}", missing))  # fmt: skip
    return problems


def resolve_date(value: str | dt.date, today: dt.date | None = None) -> pd.Timestamp:
    """A date bound from the config: ``YYYY-MM-DD`` or ``today`` (the day the check runs)."""
    if isinstance(value, str) and value.strip().lower() == "today":
        return pd.Timestamp(today or dt.date.today())
    try:
        return pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a date: {value!r} (expected YYYY-MM-DD or 'today')") from None
