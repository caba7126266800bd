"""Deterministic data tests, generated from the dataset spec's column table.

Each test takes a DataFrame (as read from CSV or Parquet) and returns a :class:`CheckResult`;
none raises on malformed data (a missing column or words in a number column are reported as failures), so
a report always lists every test. Failure messages name the test, the offending rows (ids
and bad values, at most :data:`MAX_OFFENDING`) or the statistic, and the threshold.

The tests of a spec (``params`` = :meth:`DatasetSpec.check_params
<modelmill.datasets.spec.DatasetSpec.check_params>` plus ``min_rows``/``max_rows``), in
report order (named after the column, box or rule they test):

* ``column_names``: exactly the declared columns, in order (``extra_columns: error``), or every
  declared column present (``allow``);
* ``column_dtypes``: each column holds its declared kind, and values where it may not miss
  any (:mod:`modelmill.validation.schema`);
* ``allowed_<column>``: every value in the declared list, or,
  with ``allowed: reference``, among the categories of the reference sample (no reference yet:
  the test passes and says so);
* ``box_<name>``: every row inside the box (missing coordinates count as outside);
* ``range_<column>``: numbers or dates within the
  declared range (``today`` allowed as a date bound); missing values fail only where the
  column may not miss any;
* ``row_count``: between ``min_rows`` and ``max_rows``;
* ``unique_ids``: no id twice or missing (only when the spec declares an ``id``).

A hand-written data test of a column's categories, a bounding box or a target range is one
of these, declared once in the spec (``allowed``, ``cleaning.boxes``, ``range``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from modelmill.validation.schema import column_types, parse_dates, resolve_date, type_problems

MAX_OFFENDING = 20
Columns = Sequence[Mapping[str, Any]]


@dataclass
class CheckResult:
    """The outcome of one data test.

    ``statistic`` is the value compared with ``threshold`` (a count, a KL divergence, a
    p-value); ``offending`` holds at most :data:`MAX_OFFENDING` rows (the id column, or the
    row number without one, plus the bad values) out of ``n_offending``.
    """

    name: str
    kind: Literal["deterministic", "statistical"]
    passed: bool
    statistic: float | None
    threshold: Any
    message: str
    offending: list[dict[str, Any]] = field(default_factory=list)
    n_offending: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar (numpy -> Python, NaN -> None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def offending_rows(
    frame: pd.DataFrame, mask: pd.Series, columns: list[str], id_column: str | None = None
) -> list[dict[str, Any]]:
    """The id (or the row number without an id column) and ``columns`` of the first flagged rows."""
    rows = frame.loc[mask.fillna(False).astype(bool)].head(MAX_OFFENDING)
    has_id = id_column is not None and id_column in frame.columns
    out = []
    for index, row in rows.iterrows():
        record = {"id": _plain(row[id_column])} if has_id else {"row": _plain(index)}
        record.update({c: _plain(row[c]) for c in columns if c in frame.columns})
        out.append(record)
    return out


def describe_rows(rows: list[dict[str, Any]], total: int) -> str:
    """``id 12 (amount=5), id 40 (amount=900)`` plus ``and N more`` beyond the listed rows."""
    parts = []
    for row in rows:
        (key, ident), *values = row.items()
        shown = ", ".join(f"{k}={v!r}" for k, v in values)
        parts.append(f"{key} {ident}" + (f" ({shown})" if shown else ""))
    more = f" and {total - len(rows)} more" if total > len(rows) else ""
    return ", ".join(parts) + more


def _missing(name: str, frame: pd.DataFrame, needed: list[str], threshold: Any) -> CheckResult | None:
    absent = [c for c in needed if c not in frame.columns]
    if not absent:
        return None
    return CheckResult(name, "deterministic", False, None, threshold,
                       f"{name}: column(s) {', '.join(absent)} missing; threshold {threshold}")  # fmt: skip


def _row_check(name: str, frame: pd.DataFrame, bad: pd.Series, columns: list[str], threshold: Any,
               what: str, id_column: str | None) -> CheckResult:  # fmt: skip
    """Shared shape of the row-level tests: pass when no row is flagged."""
    n_bad = int(bad.sum())
    rows = offending_rows(frame, bad, columns, id_column)
    if n_bad == 0:
        message = f"{name}: all {len(frame)} rows have {what}"
    else:
        message = (f"{name}: {n_bad} of {len(frame)} rows do not have {what} "
                   f"(threshold {threshold}): {describe_rows(rows, n_bad)}")  # fmt: skip
    return CheckResult(name, "deterministic", n_bad == 0, float(n_bad), threshold, message, rows, n_bad)


def check_column_names(frame: pd.DataFrame, expected: Sequence[str], exact: bool = True) -> CheckResult:
    """The declared columns: exactly these, in order (``exact``), or at least these (extra allowed)."""
    expected = [str(c) for c in expected]
    got = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected] if exact else []
    problems = [f"missing {missing}"] if missing else []
    problems += [f"unexpected {extra}"] if extra else []
    if exact and not problems and got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        problems.append(
            f"order differs at position {first}: got {got[first]!r}, expected {expected[first]!r}"
        )
    name, threshold = "column_names", list(expected)
    rule = f"exactly the {len(expected)} columns" if exact else f"the {len(expected)} declared columns"
    if not problems:
        what = "in order" if exact else "present"
        return CheckResult(name, "deterministic", True, 0.0, threshold,
                           f"{name}: the {len(expected)} declared columns, {what}")  # fmt: skip
    message = f"{name}: {'; '.join(problems)} (threshold: {rule} {threshold})"
    return CheckResult(name, "deterministic", False, float(len(missing) + len(extra) or 1), threshold,
                       message, n_offending=len(missing) + len(extra))  # fmt: skip


def check_dtypes(
    frame: pd.DataFrame, columns: Columns, *, as_read: bool = False, id_column: str | None = None
) -> CheckResult:
    """Every declared column holds its declared kind, and values where it may not miss any.

    Text holding numbers fails a numeric column: in a CSV digits are read as numbers, so only
    typed files (Parquet) can store them as text. See :mod:`modelmill.validation.schema`.
    """
    name = "column_dtypes"
    schema = column_types(columns)
    threshold = {spec.name: spec.kind + ("" if spec.nullable else ", not null") for spec in schema}
    problems = type_problems(frame, schema, as_read=as_read)
    if not problems:
        return CheckResult(name, "deterministic", True, 0.0, threshold,
                           f"{name}: every column holds its declared type")  # fmt: skip
    rows: list[dict[str, Any]] = []
    parts = []
    for problem in problems:
        shown = offending_rows(frame, problem.rows, [problem.column], id_column)[:3]
        rows += shown
        parts.append(problem.message(describe_rows(shown[:1], int(problem.rows.sum())) if shown else ""))
    message = f"{name}: {'; '.join(parts)}"
    return CheckResult(name, "deterministic", False, float(len(problems)), threshold, message,
                       rows[:MAX_OFFENDING], len(problems))  # fmt: skip


def check_allowed(
    frame: pd.DataFrame,
    column: Mapping[str, Any],
    reference: pd.DataFrame | None = None,
    id_column: str | None = None,
) -> CheckResult:
    """Every present value of ``column`` is allowed: the declared list, or the reference's values."""
    col = str(column["name"])
    name = f"allowed_{col}"
    allowed = column["allowed"]
    if allowed == "reference":
        if reference is None or col not in reference.columns:
            why = "no reference sample yet" if reference is None else f"the reference has no column {col}"
            return CheckResult(name, "deterministic", True, None, "reference",
                               f"{name}: {why}: the allowed values are learned from the reference; "
                               "nothing to compare with")  # fmt: skip
        known = sorted({str(v) for v in reference[col].dropna()})
        source = "the reference's"
    else:
        known = list(allowed)
        source = "the declared"
    if (failed := _missing(name, frame, [col], known)) is not None:
        return failed
    bad = frame[col].notna() & ~_among(frame[col], known)
    shown = known if len(known) <= 12 else [*known[:12], f"... {len(known)} values"]
    return _row_check(name, frame, bad, [col], shown, f"a {col} among {source} values {shown}", id_column)


def _among(values: pd.Series, allowed: list[Any]) -> pd.Series:
    """Which values are in ``allowed``: as numbers in a numeric column (``1.0`` is ``1``), as text
    otherwise (a reference read from CSV may spell a category its own way only in type)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(pd.Series(allowed, dtype=object), errors="coerce").dropna()
        return values.isin(numbers.tolist()).fillna(False).astype(bool)
    return values.astype("string").isin([str(v) for v in allowed]).fillna(False).astype(bool)


def check_box(frame: pd.DataFrame, box: str, ranges: Mapping[str, Sequence[float]],
              id_column: str | None = None) -> CheckResult:  # fmt: skip
    """Rows inside every range of the box (missing counts as outside)."""
    name = f"box_{box}"
    threshold = {c: list(r) for c, r in ranges.items()}
    if (failed := _missing(name, frame, list(ranges), threshold)) is not None:
        return failed
    inside = pd.Series(True, index=frame.index)
    for col, (low, high) in ranges.items():
        inside &= pd.to_numeric(frame[col], errors="coerce").between(low, high).fillna(False).astype(bool)
    what = "coordinates inside " + " x ".join(f"{c} {list(r)}" for c, r in ranges.items())
    return _row_check(name, frame, ~inside, list(ranges), threshold, what, id_column)


def check_range(frame: pd.DataFrame, column: Mapping[str, Any], id_column: str | None = None) -> CheckResult:
    """Values of ``column`` within its declared range (``None`` bound: open; dates: ``today`` allowed).

    Missing values fail only where the column may not miss any; values that are not numbers or
    dates of the declared form are left to ``column_dtypes`` for dates, and fail here for numbers.
    """
    col = str(column["name"])
    name = f"range_{col}"
    low, high = column["range"]
    threshold = [low, high]
    if (failed := _missing(name, frame, [col], threshold)) is not None:
        return failed
    shown = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    if column["kind"] == "date":
        try:
            bounds = [None if b is None else resolve_date(b) for b in (low, high)]
        except ValueError as exc:
            return CheckResult(name, "deterministic", False, None, threshold, f"{name}: bad bound: {exc}")
        [spec] = column_types([column])
        dates = parse_dates(frame[col], spec)
        bad = dates.notna() & outside_range(dates, *bounds)
        now = f" (now [{_day(bounds[0])}, {_day(bounds[1])}])" if "today" in (low, high) else ""
    else:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() if not column.get("nullable") else frame[col].notna() & values.isna()
        bad |= values.notna() & outside_range(values, low, high)
        now = ""
    # the passing message names the bounds as declared ("today", not the date): a report
    # must not change from one day to the next for the same sample
    result = _row_check(name, frame, bad, [col], threshold, f"{col} within {shown}", id_column)
    if not result.passed:
        result.message += f"; fix those values, or change the range of {col} in the dataset spec{now}"
    return result


def _day(value: pd.Timestamp | None) -> str:
    return "-inf" if value is None else str(value.date())


def outside_range(values: pd.Series, low: Any, high: Any) -> pd.Series:
    """Present values below ``low`` or above ``high`` (``None``: unbounded); missing ones are not."""
    out = pd.Series(False, index=values.index)
    if low is not None:
        out |= values < low
    if high is not None:
        out |= values > high
    return out.fillna(False).astype(bool)


def check_row_count(frame: pd.DataFrame, min_rows: int, max_rows: int) -> CheckResult:
    """Between ``min_rows`` and ``max_rows`` rows."""
    name, n, threshold = "row_count", len(frame), [min_rows, max_rows]
    passed = min_rows <= n <= max_rows
    verdict = "within" if passed else "outside"
    return CheckResult(name, "deterministic", passed, float(n), threshold,
                       f"{name}: {n} rows, {verdict} [{min_rows}, {max_rows}]")  # fmt: skip


def check_unique_ids(frame: pd.DataFrame, id_column: str = "id") -> CheckResult:
    """No id appears twice (or is missing)."""
    name, threshold = "unique_ids", f"every {id_column} unique and present"
    if (failed := _missing(name, frame, [id_column], threshold)) is not None:
        return failed
    ids = frame[id_column]
    bad = ids.duplicated(keep=False) | ids.isna()
    flagged = ids[bad]
    rows = [{"id": _plain(i), "count": int(c)}
            for i, c in flagged.value_counts(dropna=False).head(MAX_OFFENDING).items()]  # fmt: skip
    n_bad = int(bad.sum())
    if n_bad == 0:
        return CheckResult(name, "deterministic", True, 0.0, threshold, f"{name}: {len(frame)} unique ids")
    message = (f"{name}: {n_bad} rows share {flagged.nunique(dropna=False)} {id_column} value(s) "
               f"(threshold: {threshold}): {describe_rows(rows, len(rows))}")  # fmt: skip
    return CheckResult(name, "deterministic", False, float(n_bad), threshold, message, rows, n_bad)


def run_checks(
    frame: pd.DataFrame, params: Mapping[str, Any], reference: pd.DataFrame | None = None
) -> list[CheckResult]:
    """Every deterministic test of the spec, in report order (see the module docstring).

    ``reference`` is the reference sample, for ``allowed: reference`` columns; ``None`` when
    there is none yet (or it may not judge this sample: demo data never judges real data).
    """
    columns: Columns = params["columns"]
    id_column = params.get("id")
    results = [
        check_column_names(frame, [c["name"] for c in columns], params.get("extra_columns") == "error"),
        check_dtypes(frame, columns, id_column=id_column),
    ]
    results += [
        check_allowed(frame, c, reference, id_column) for c in columns if c.get("allowed") is not None
    ]
    boxes = params.get("boxes") or {}
    results += [check_box(frame, n, b["columns"], id_column) for n, b in boxes.items()]
    results += [check_range(frame, c, id_column) for c in columns if c.get("range") is not None]
    results.append(check_row_count(frame, int(params["min_rows"]), int(params["max_rows"])))
    if id_column:
        results.append(check_unique_ids(frame, id_column))
    return results
