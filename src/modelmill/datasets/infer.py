"""Infer a dataset spec from a sample of a table: what a person would write, and why.

``modelmill init`` starts a project from one file. Each column gets the role a person would
pick after a look at the data, with the reason in words (the reason becomes the comment next
to the column in the generated ``conf/dataset/NAME.yaml``, which is meant to be edited):

* missing or constant columns, and identifiers (unique values named like ids, or a row
  number 0, 1, 2...), are ``ignore``;
* text cells that are numbers once a currency sign, thousands separators or a percent sign
  are removed are numeric, with the ``parse`` rule that reads them; yes/no words (and 0/1)
  are ``boolean``; dates in common formats are ``date`` with their ``format``;
* other text is ``categorical`` when it repeats (few distinct values for the rows), ``text``
  when its cells are phrases (two words or more on average), else ``ignore`` (short codes
  that rarely repeat carry no signal a model can learn);
* whole numbers with two values that are not 0/1 (codes such as 1/2) are ``categorical``,
  other whole non-negative numbers ``count``, other numbers ``numeric``.

The target decides the task: a number with many distinct values is ``regression``, two
classes ``binary``, a few classes ``multiclass`` (see :data:`modelmill.core.types.MAX_CLASSES`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelmill.core.errors import UsageError
from modelmill.datasets.parse import CURRENCY_SYMBOLS, parse_number

CATEGORICAL_MAX = 50  # at most this many distinct values: categorical (when values repeat)
CATEGORICAL_SHARE = 0.05  # or at most 255 values, each seen in 20 rows on average
NATIVE_CATEGORIES = 255  # histogram gradient boosting's native categories
TEXT_WORDS = 2.0  # words per cell from which repeated-rarely text is a text feature
INTEGER_CLASSES = 10  # a whole-number target with at most this many values is a class label
BAD_SHARE = 0.01  # values that do not parse, tolerated in a numeric/date column (cleaning drops them)
TRUE_WORDS = ("yes", "y", "true", "t")
FALSE_WORDS = ("no", "n", "false", "f")
_CURRENCY = re.compile(rf"^[-+(]?\s*[{re.escape(CURRENCY_SYMBOLS)}]|[{re.escape(CURRENCY_SYMBOLS)}]\)?$")
_PERCENT = re.compile(r"^[-+]?\d[\d,]*\.?\d*\s*%$|^[-+]?\.\d+\s*%$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?|^[A-Za-z]{3,9}\.? \d|^\d{1,2} [A-Za-z]{3}")
ID_NAME = re.compile(
    r"(?i:^(?:id|uuid|guid|key|index|unnamed: ?\d+)$|[_\s.-](?:id|uuid|key)$)|[a-z](?:Id|ID)$"
)
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%SZ",
    "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y", "%d/%m/%y", "%m/%d/%y",
    "%b %d, %Y", "%d %b %Y", "%B %d, %Y", "%d %B %Y", "%Y-%m",
)  # fmt: skip
_SWAPPED = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y", "%d-%m-%Y": "%m-%d-%Y",
            "%m-%d-%Y": "%d-%m-%Y", "%d/%m/%y": "%m/%d/%y", "%m/%d/%y": "%d/%m/%y"}  # fmt: skip


@dataclass
class ColumnGuess:
    """One column's inferred declaration (the spec's column keys) and why."""

    name: str
    entry: dict[str, Any]
    reason: str
    values: pd.Series | None = field(default=None, repr=False)  # parsed values (numbers, dates, words)
    kind: str = "text"  # number | integer | boolean | date | text (what the values are, parsed)

    @property
    def role(self) -> str:
        return str(self.entry["role"])


def describe_count(count: int, rows: int, what: str = "distinct values") -> str:
    return f"{count:,} {what} in {rows:,} rows"


def guess_column(name: str, series: pd.Series) -> ColumnGuess:
    """The role (and parse rule, type, nullability) of one column of the sample."""
    rows = len(series)
    present = present_values(series)
    nullable = len(present) < rows
    if present.empty:
        return ColumnGuess(name, {"role": "ignore", "nullable": True}, f"empty: no value in {rows:,} rows")
    guess = _guess_present(name, present, rows)
    if nullable and guess.role != "ignore":
        guess.entry["nullable"] = True
        missing = rows - len(present)
        guess.reason += f"; {missing:,} missing ({_share(missing / rows)})"
        # No `impute`: the model family decides. Gradient boosting learns where missing values
        # go (a missing reviews_per_month means "no reviews", which a median would erase);
        # the other families impute the median. A user who wants one rule writes it.
    elif nullable:
        guess.entry["nullable"] = True
    return guess


def present_values(series: pd.Series) -> pd.Series:
    """The non-missing cells; text cells stripped, blank ones missing."""
    values = series.dropna()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        if not all(isinstance(v, str) for v in values.head(100)):
            return values
        values = values.astype(str).str.strip()
        values = values[values != ""]
    return values.reset_index(drop=True)


def _guess_present(name: str, present: pd.Series, rows: int) -> ColumnGuess:
    distinct = _distinct(present)
    if distinct == 1:
        return ColumnGuess(
            name, {"role": "ignore"}, f"constant: one value ({_shown(present.iloc[0])}) in {rows:,} rows"
        )
    if pd.api.types.is_bool_dtype(present.dtype):
        return ColumnGuess(name, {"role": "boolean"}, "boolean: true/false values", present, "boolean")
    if pd.api.types.is_datetime64_any_dtype(present.dtype):
        return ColumnGuess(name, {"role": "date"}, "date: stored as dates", present, "date")
    if pd.api.types.is_numeric_dtype(present.dtype):
        return _numeric(name, pd.to_numeric(present), distinct, rows, {})
    text = present.astype(str)
    if _boolean_words(text):
        return ColumnGuess(name, {"role": "boolean", "parse": "boolean"},
                           f"boolean: the words {_listed(sorted(set(text)))}", text, "boolean")  # fmt: skip
    parsed = _parse_numbers(text)
    if parsed is not None:
        numbers, rule, note = parsed
        guess = _numeric(name, numbers, distinct, rows, rule)
        guess.reason += note
        return guess
    dated = _parse_dates(text)
    if dated is not None:
        fmt, values, note = dated
        return ColumnGuess(name, {"role": "date", "format": fmt},
                           f"date: format {fmt} ({values.min():%Y-%m-%d} to {values.max():%Y-%m-%d}){note}",
                           values, "date")  # fmt: skip
    return _text(name, text, distinct, rows)


def _numeric(name: str, values: pd.Series, distinct: int, rows: int, rule: dict[str, Any]) -> ColumnGuess:
    finite = values[np.isfinite(values.astype(float))]
    integer = bool((finite == np.floor(finite)).all()) and not rule.get("_decimals")
    rule = {k: v for k, v in rule.items() if not k.startswith("_")}
    unique = distinct == len(values)
    if integer and unique and (ID_NAME.search(name) or _row_number(finite)):
        why = "named like an identifier" if ID_NAME.search(name) else "a row number (0, 1, 2...)"
        why = f"identifier: every value distinct ({rows:,} rows), {why}"
        return ColumnGuess(name, {"role": "ignore", "type": "integer"}, why, values, "integer")
    if integer and distinct == 2 and set(finite.unique().tolist()) == {0, 1} and not rule:
        return ColumnGuess(name, {"role": "boolean", "parse": "boolean"}, "boolean: the values 0 and 1",
                           values, "integer")  # fmt: skip
    if ID_NAME.search(name) and distinct >= 0.5 * len(values) and integer:
        why = f"identifier of something else: named like an id, {describe_count(distinct, rows)}"
        return ColumnGuess(name, {"role": "ignore", "type": "integer"}, why,
                           values, "integer")  # fmt: skip
    low, high = float(finite.min()), float(finite.max())
    span = f"{_number(low)} to {_number(high)}"
    if integer and distinct == 2 and not rule:  # 1/2 codes (sex, yes/no as 1/2): not a quantity
        why = f"categorical: two codes ({_number(low)}, {_number(high)}) in {rows:,} rows, not a quantity"
        return ColumnGuess(name, {"role": "categorical", "type": "integer"}, why, values, "integer")
    if integer and low >= 0 and rule.get("parse") in (None, "number"):
        why = f"count: whole numbers {span}, {describe_count(distinct, rows)}"
        return ColumnGuess(name, {"role": "count", **rule}, why, values, "integer")
    why = f"numeric: {span}, {describe_count(distinct, rows)}"
    return ColumnGuess(name, {"role": "numeric", **rule}, why,
                       values, "integer" if integer else "number")  # fmt: skip


def _row_number(values: pd.Series) -> bool:
    ordered = np.sort(values.to_numpy(dtype=float))
    return len(ordered) >= 20 and ordered[0] in (0, 1) and bool((np.diff(ordered) == 1).all())


def _text(name: str, text: pd.Series, distinct: int, rows: int) -> ColumnGuess:
    present = len(text)
    counted = describe_count(distinct, present if present != rows else rows)
    if distinct == present and ID_NAME.search(name):
        return ColumnGuess(
            name, {"role": "ignore"}, f"identifier: every value distinct, named like an id ({counted})"
        )
    share = distinct / present
    if (distinct <= CATEGORICAL_MAX and share <= 0.5) or (
        distinct <= NATIVE_CATEGORIES and share <= CATEGORICAL_SHARE
    ):
        return ColumnGuess(name, {"role": "categorical"}, f"categorical: {counted}", text, "text")
    words = float(text.str.split().str.len().mean())
    if words >= TEXT_WORDS:
        return ColumnGuess(
            name, {"role": "text"}, f"text: {counted}, {words:.1f} words per value", text, "text"
        )
    if distinct == present:
        return ColumnGuess(name, {"role": "ignore"}, f"identifier-like: every value distinct ({counted}), "
                                                     f"{words:.1f} words per value")  # fmt: skip
    return ColumnGuess(name, {"role": "ignore"}, f"too many categories: {counted} ({share:.0%} distinct), "
                       f"{words:.1f} words per value; make it categorical or text if it matters")  # fmt: skip


def _boolean_words(text: pd.Series) -> bool:
    """Whether ``text`` holds yes/no words (both kinds; the spec's default words, any case)."""
    lowered = set(text.str.lower().unique().tolist())
    return (
        lowered <= set(TRUE_WORDS + FALSE_WORDS)
        and bool(lowered & set(TRUE_WORDS))
        and bool(lowered & set(FALSE_WORDS))
    )


def _parse_numbers(text: pd.Series) -> tuple[pd.Series, dict[str, Any], str] | None:
    """Numbers from text cells and the spec's parse rule that reads them: plain, currency,
    percent or thousands. A rule is tried when most cells look like it, and kept when the
    parser cleaning uses (:func:`modelmill.datasets.parse.parse_number`) reads them."""
    plain = pd.to_numeric(text, errors="coerce")
    decimals = bool(text.str.contains(".", regex=False).any())
    if _mostly(plain):
        return plain, {"_decimals": decimals}, _bad_note(text, plain)
    for pattern, rule, what in (
        (_CURRENCY, {"parse": "currency"}, "currency amounts"),
        (_PERCENT, {"parse": "percent"}, "percentages (as shares: 45% is 0.45)"),
        (_THOUSANDS, {"parse": "number", "thousands": ","}, "numbers with thousands separators"),
    ):
        looks = text.str.contains(pattern, regex=True)
        if not _mostly(looks.where(looks)):
            continue
        style = str(rule["parse"])
        numbers, _ = parse_number(text, style=style, thousands=rule.get("thousands"))
        numbers = pd.Series(numbers.to_numpy(dtype=float, na_value=np.nan), index=text.index)
        if _mostly(numbers):
            note = f"; read from text as {what} (e.g. {_shown(text[looks.astype(bool)].iloc[0])})"
            return numbers, {**rule, "_decimals": decimals}, note + _bad_note(text, numbers)
    return None


def _mostly(values: pd.Series) -> bool:
    """At least one value, and at most :data:`BAD_SHARE` of the cells missing (did not parse)."""
    parsed = int(values.notna().sum())
    return parsed > 0 and (len(values) - parsed) <= BAD_SHARE * len(values)


def _bad_note(text: pd.Series, parsed: pd.Series) -> str:
    bad = text[parsed.isna()]
    if bad.empty:
        return ""
    return f"; {len(bad):,} values do not parse ({_listed(sorted(set(bad))[:3])}): cleaning drops those rows"


def _parse_dates(text: pd.Series) -> tuple[str, pd.Series, str] | None:
    probe = text.drop_duplicates().head(500)
    if not probe.str.match(_DATE_LIKE).mean() >= 0.9:
        return None
    distinct = text.drop_duplicates()
    for fmt in DATE_FORMATS:
        if not _mostly(pd.to_datetime(probe, format=fmt, errors="coerce")):
            continue
        parsed = pd.to_datetime(distinct, format=fmt, errors="coerce")
        if not _mostly(parsed):
            continue
        values = pd.to_datetime(text, format=fmt, errors="coerce")
        note = _bad_note(text, values)
        other = _SWAPPED.get(fmt)
        if other and pd.to_datetime(distinct, format=other, errors="coerce").notna().all():
            note += f"; every day is 12 or less: if the dates are {other}, change format"
        return fmt, values.dropna(), note
    return None


def _distinct(values: pd.Series) -> int:
    try:
        return int(values.nunique())
    except TypeError:  # unhashable cells
        return int(values.astype(str).nunique())


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text[:30] + ("..." if len(text) > 30 else ""))


def _listed(values: list[Any]) -> str:
    return ", ".join(_shown(v) for v in values[:6]) + (
        f" and {len(values) - 6} more" if len(values) > 6 else ""
    )


def _share(share: float) -> str:
    return "under 0.1%" if share < 0.001 else f"{share:.1%}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def close_matches(name: str, names: list[str]) -> str:
    """`` (did you mean: a, b?)`` or ``(columns: ...)``: the hint of a missing column."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    close += [n for n in names if n.lower() == name.lower() and n not in close]
    if close:
        return f"did you mean: {', '.join(close)}?"
    shown = ", ".join(names[:15]) + (f" and {len(names) - 15} more" if len(names) > 15 else "")
    return f"the columns are: {shown}"


def require_column(name: str, names: list[str], option: str) -> None:
    if name not in names:
        raise UsageError(f"{option} '{name}' is not a column of the table; {close_matches(name, names)}")


__all__ = ["ColumnGuess", "close_matches", "guess_column", "require_column"]
