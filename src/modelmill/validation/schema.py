"""Declared column types of a table (from the dataset spec), and what a frame holds instead.

A :class:`ColumnType` says what one column must hold:

* ``integer``: an integer column (or floats that are all whole: how pandas reads an integer
  column with missing values); never text, booleans or dates;
* ``float``: any numeric column (integer or float), never text or booleans;
* ``string``: text or categorical values, never numbers;
* ``date``: a date or timestamp column, or text in the declared ``format`` (CSV has no date
  type: the format is its explicit parse); never numbers (``12345`` is not a date);
* ``boolean``: booleans, the integers 0/1, or (as read) words that cleaning parses;

and whether values may be missing (``nullable``). It is built from the spec's column table
(``params["columns"]``, :meth:`~modelmill.datasets.spec.DatasetSpec.cleaning_params` or
``check_params``) by :func:`column_types`.

The same declaration is tested in two states (:func:`type_problems`):

* **as read** (``as_read=True``, the get_data step, on the user's own file before anything is
  stored): a column with a declared ``parse`` (currency, percent, ...) may hold text, which
  cleaning parses and whose unparsable values it counts; a numeric column holding text
  *without* a declared parse is a failure (a typed file that lost its types: a Parquet column
  of ``"150"``); date text must follow the declared format; a missing value is not a failure
  yet (cleaning drops the rows missing a value they must have, as ``missing_<column>``, and
  counts them against ``cleaning.max_invalid_share``);
* **cleaned** (``as_read=False``: data_check on ``clean_sample.csv``, ``modelmill check``,
  the pytest data tests): every column holds its kind; date text may be ISO (what cleaning
  writes) or in the declared format.

A CSV has no types, so there "as read" is what its parser makes of it: digits are numbers, a
column with one word is text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from modelmill.datasets.parse import parse_dates as _parse_dates
from modelmill.datasets.spec import resolve_date as _spec_date

Kind = Literal["integer", "float", "string", "date", "boolean"]
ISO_DATE = "%Y-%m-%d"


@dataclass(frozen=True)
class ColumnType:
    """One declared column: name, kind, nullability, declared parse and date text format."""

    name: str
    kind: Kind
    nullable: bool = False
    parse: str | None = None  # number, currency, percent, boolean: text allowed as read
    format: str | None = None  # date: the strptime format of text values (None: ISO 8601)


def column_types(columns: Sequence[Mapping[str, Any]]) -> tuple[ColumnType, ...]:
    """The declared types of a spec's column table (``params["columns"]``), in file order."""
    return tuple(
        ColumnType(str(c["name"]), c["kind"], bool(c.get("nullable")), c.get("parse"), c.get("format"))
        for c in columns
    )


FIX = {
    "integer": "store {col} as integers",
    "float": "store {col} as numbers",
    "string": "store {col} as text",
    "date": "store {col} as dates or as {fmt} text",
    "boolean": "store {col} as booleans (True/False)",
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
        """``amount is text holding numbers, expected integer (e.g. ...): store amount as ...``."""
        example = f" (e.g. {example})" if example else ""
        return f"{self.column} is {self.found}, expected {self.expected}{example}: {self.fix}"


def _is_text(value: object) -> bool:
    return isinstance(value, str)


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


def parse_dates(series: pd.Series, spec: ColumnType, *, as_read: bool = False) -> pd.Series:
    """The column as timestamps, NaT where missing or not a date of the accepted forms.

    Text follows the declared format; once cleaned (``as_read=False``) ISO text is accepted
    too, since cleaning writes dates as ISO text whatever their format in the source.
    """
    dates, _ = _parse_dates(series, spec.format)
    if not as_read and spec.format not in (None, ISO_DATE):
        iso, _ = _parse_dates(series.where(dates.isna()), None)
        dates = dates.fillna(iso)
    return dates


def _kind_problem(series: pd.Series, spec: ColumnType, as_read: bool) -> tuple[str, pd.Series] | None:
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
    if spec.kind == "boolean" and found in ("integer", "float"):
        other = present & ~series.isin([0, 1])
        return (f"{found} other than 0/1", other) if other.any() else None
    accepted = {"integer": ("integer",), "float": ("integer", "float"), "string": ("text",),
                "date": ("date",), "boolean": ("bool",)}  # fmt: skip
    if found in accepted[spec.kind]:
        return None
    text_allowed = as_read and (spec.parse is not None or spec.kind == "boolean")
    if text_allowed and (found == "text" or found.startswith("mixed")):
        return None  # cleaning parses it and counts what does not parse
    if spec.kind == "date" and (found == "text" or found.startswith("mixed")):
        bad = present & parse_dates(series, spec, as_read=as_read).isna()
        form = spec.format or "ISO 8601"
        return (f"text not in the date format {form}", bad) if bad.any() else None
    if spec.kind in ("integer", "float") and (found == "text" or found.startswith("mixed")):
        words = present & pd.to_numeric(series, errors="coerce").isna()
        if words.any():
            return "text (values that are not numbers)", words
        return "text holding numbers", present
    if found.startswith("mixed") and spec.kind == "string":
        return found, present & ~series.map(_is_text).astype(bool)
    return found, present


def type_problems(
    frame: pd.DataFrame, schema: Sequence[ColumnType], *, as_read: bool = False
) -> list[TypeProblem]:
    """Every declared column of ``frame`` that does not hold its type, or misses values it must have.

    Absent columns are not a type problem (the column-name test reports them).
    """
    problems: list[TypeProblem] = []
    for spec in schema:
        if spec.name not in frame.columns:
            continue
        series = frame[spec.name]
        fix = FIX[spec.kind].format(col=spec.name, fmt=spec.format or ISO_DATE)
        kind = _kind_problem(series, spec, as_read)
        if kind is not None:
            if kind[0].startswith("text") and spec.kind in ("integer", "float"):
                fix += ", not text" + (" (or declare its parse in the dataset spec)" if as_read else "")
            problems.append(TypeProblem(spec.name, kind[0], spec.kind, fix, kind[1]))
            continue
        missing = series.isna()
        if not spec.nullable and not as_read and missing.any():  # as read: cleaning drops and counts them
            found = f"missing in {int(missing.sum())} of {len(series)} rows"
            problems.append(TypeProblem(spec.name, found, f"{spec.kind} with no missing value",
                                        f"fill or drop the rows without {spec.name}", missing))  # fmt: skip
    return problems


def resolve_date(value: str | Any) -> pd.Timestamp:
    """A date bound: ``YYYY-MM-DD`` or ``today`` (the day the check runs)."""
    text = str(value).strip()
    try:
        return pd.Timestamp(_spec_date(text.lower() if text.lower() == "today" else text))
    except (TypeError, ValueError):
        raise ValueError(f"not a date: {value!r} (expected YYYY-MM-DD or 'today')") from None
