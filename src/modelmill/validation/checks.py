"""Deterministic data tests on a listings sample.

Each test takes a DataFrame (as read from CSV or Parquet) and returns a :class:`CheckResult`;
none raises on malformed data (a missing column or a text price is reported as a failure), so
a report always lists every test. Failure messages name the test, the offending rows (ids
and bad values, at most :data:`MAX_OFFENDING`) or the statistic, and the threshold.

Column types are declared in :mod:`modelmill.validation.schema` (``NYC_LISTINGS``): the test
``column_dtypes`` checks each column as read against its declared kind and nullability, and
``date_range`` checks date columns against ``data_check.min_date``/``max_date``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Literal

import pandas as pd

from modelmill.validation.schema import NYC_LISTINGS, ColumnType, parse_dates, resolve_date, type_problems

COLUMNS = tuple(spec.name for spec in NYC_LISTINGS)  # the declared columns, in file order
KNOWN_GROUPS = ("Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island")
MAX_OFFENDING = 20


@dataclass
class CheckResult:
    """The outcome of one data test.

    ``statistic`` is the value compared with ``threshold`` (a count, a KL divergence, a
    p-value); ``offending`` holds at most :data:`MAX_OFFENDING` rows (``id`` plus the bad
    values) out of ``n_offending``.
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


def default_params() -> dict[str, Any]:
    """Thresholds from the packaged ``conf/config.yaml`` (``etl`` and ``data_check``)."""
    return dict(_default_params())


@lru_cache(maxsize=1)
def _default_params() -> dict[str, Any]:
    from importlib import resources

    from omegaconf import OmegaConf

    text = resources.files("modelmill.conf").joinpath("config.yaml").read_text()
    cfg = OmegaConf.create(text)
    etl, dc = cfg.etl, cfg.data_check
    return {
        "min_price": float(etl.min_price), "max_price": float(etl.max_price),
        "longitude": [float(v) for v in etl.longitude], "latitude": [float(v) for v in etl.latitude],
        "kl_threshold": float(dc.kl_threshold), "ks_alpha": float(dc.ks_alpha),
        "min_rows": int(dc.min_rows), "max_rows": int(dc.max_rows),
        "min_date": str(dc.min_date), "max_date": str(dc.max_date),
    }  # fmt: skip


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar (numpy -> Python, NaN -> None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def offending_rows(frame: pd.DataFrame, mask: pd.Series, columns: list[str]) -> list[dict[str, Any]]:
    """``id`` (or the row number without an id column) and ``columns`` of the first flagged rows."""
    rows = frame.loc[mask.fillna(False).astype(bool)].head(MAX_OFFENDING)
    out = []
    for index, row in rows.iterrows():
        record = {"id": _plain(row["id"])} if "id" in frame.columns else {"row": _plain(index)}
        record.update({c: _plain(row[c]) for c in columns if c in frame.columns})
        out.append(record)
    return out


def describe_rows(rows: list[dict[str, Any]], total: int) -> str:
    """``id 12 (price=5), id 40 (price=900)`` plus ``and N more`` beyond the listed rows."""
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
               what: str) -> CheckResult:  # fmt: skip
    """Shared shape of the row-level tests: pass when no row is flagged."""
    n_bad = int(bad.sum())
    rows = offending_rows(frame, bad, columns)
    if n_bad == 0:
        message = f"{name}: all {len(frame)} rows have {what}"
    else:
        message = (f"{name}: {n_bad} of {len(frame)} rows do not have {what} "
                   f"(threshold {threshold}): {describe_rows(rows, n_bad)}")  # fmt: skip
    return CheckResult(name, "deterministic", n_bad == 0, float(n_bad), threshold, message, rows, n_bad)


def check_column_names(frame: pd.DataFrame, expected: tuple[str, ...] = COLUMNS) -> CheckResult:
    """Exactly the expected columns, in order."""
    got = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    problems = [f"missing {missing}"] if missing else []
    problems += [f"unexpected {extra}"] if extra else []
    if not problems and got != list(expected):
        first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        problems.append(
            f"order differs at position {first}: got {got[first]!r}, expected {expected[first]!r}"
        )
    name, threshold = "column_names", list(expected)
    if not problems:
        return CheckResult(name, "deterministic", True, 0.0, threshold,
                           f"{name}: the {len(expected)} expected columns, in order")  # fmt: skip
    message = f"{name}: {'; '.join(problems)} (threshold: exactly the {len(expected)} columns {threshold})"
    return CheckResult(name, "deterministic", False, float(len(missing) + len(extra) or 1), threshold,
                       message, n_offending=len(missing) + len(extra))  # fmt: skip


def check_dtypes(frame: pd.DataFrame, schema: tuple[ColumnType, ...] = NYC_LISTINGS) -> CheckResult:
    """Every declared column holds its declared kind as read, and values where it may not miss any.

    Text holding numbers fails a numeric column: in a CSV digits are read as numbers, so only
    typed files (Parquet) can store them as text. See :mod:`modelmill.validation.schema`.
    """
    name = "column_dtypes"
    threshold = {spec.name: spec.kind + ("" if spec.nullable else ", not null") for spec in schema}
    problems = type_problems(frame, schema)
    if not problems:
        return CheckResult(name, "deterministic", True, 0.0, threshold,
                           f"{name}: every column holds its declared type")  # fmt: skip
    rows: list[dict[str, Any]] = []
    parts = []
    for problem in problems:
        shown = offending_rows(frame, problem.rows, [problem.column])[:3]
        rows += shown
        parts.append(problem.message(describe_rows(shown[:1], int(problem.rows.sum())) if shown else ""))
    message = f"{name}: {'; '.join(parts)}"
    return CheckResult(name, "deterministic", False, float(len(problems)), threshold, message,
                       rows[:MAX_OFFENDING], len(problems))  # fmt: skip


def check_date_range(
    frame: pd.DataFrame, min_date: str, max_date: str, schema: tuple[ColumnType, ...] = NYC_LISTINGS
) -> CheckResult:
    """Dates of the declared date columns within ``[min_date, max_date]`` (``today`` allowed).

    Missing and unparsable values are left to ``column_dtypes``.
    """
    name, threshold = "date_range", [min_date, max_date]
    try:
        low, high = resolve_date(min_date), resolve_date(max_date)
    except ValueError as exc:
        return CheckResult(name, "deterministic", False, None, threshold, f"{name}: bad bound: {exc}")
    columns = [spec for spec in schema if spec.kind == "date" and spec.name in frame.columns]
    bad = pd.Series(False, index=frame.index)
    for spec in columns:
        dates = parse_dates(frame[spec.name], spec)
        bad |= dates.notna() & ~dates.between(low, high)
    names = ", ".join(spec.name for spec in columns) or "no date column"
    # the passing message names the bounds as configured ("today", not the date): a report
    # must not change from one day to the next for the same sample
    what = f"{names} within [{min_date}, {max_date}]"
    result = _row_check(name, frame, bad, [spec.name for spec in columns], threshold, what)
    if not result.passed:
        result.message += (f"; fix those dates, or change data_check.min_date/max_date "
                           f"(now [{low.date()}, {high.date()}])")  # fmt: skip
    return result


def check_neighbourhood_groups(frame: pd.DataFrame, known: tuple[str, ...] = KNOWN_GROUPS) -> CheckResult:
    """Every ``neighbourhood_group`` is one of the five boroughs."""
    name = "neighbourhood_groups"
    if (failed := _missing(name, frame, ["neighbourhood_group"], list(known))) is not None:
        return failed
    bad = ~frame["neighbourhood_group"].isin(known)
    return _row_check(name, frame, bad, ["neighbourhood_group"], list(known), f"a group in {list(known)}")


def check_boundaries(frame: pd.DataFrame, longitude: list[float], latitude: list[float]) -> CheckResult:
    """Coordinates inside the ``longitude`` x ``latitude`` box (missing counts as outside)."""
    name = "proper_boundaries"
    threshold = {"longitude": list(longitude), "latitude": list(latitude)}
    if (failed := _missing(name, frame, ["longitude", "latitude"], threshold)) is not None:
        return failed
    lon = pd.to_numeric(frame["longitude"], errors="coerce")
    lat = pd.to_numeric(frame["latitude"], errors="coerce")
    inside = lon.between(*longitude) & lat.between(*latitude)
    what = f"coordinates inside longitude {list(longitude)} x latitude {list(latitude)}"
    return _row_check(name, frame, ~inside, ["longitude", "latitude"], threshold, what)


def check_price_range(frame: pd.DataFrame, min_price: float, max_price: float) -> CheckResult:
    """``price`` within ``[min_price, max_price]`` (missing or non-numeric fails)."""
    name, threshold = "price_range", [min_price, max_price]
    if (failed := _missing(name, frame, ["price"], threshold)) is not None:
        return failed
    ok = pd.to_numeric(frame["price"], errors="coerce").between(min_price, max_price)
    return _row_check(name, frame, ~ok, ["price"], threshold, f"a price in [{min_price}, {max_price}]")


def check_row_count(frame: pd.DataFrame, min_rows: int, max_rows: int) -> CheckResult:
    """Between ``min_rows`` and ``max_rows`` rows."""
    name, n, threshold = "row_count", len(frame), [min_rows, max_rows]
    passed = min_rows <= n <= max_rows
    verdict = "within" if passed else "outside"
    return CheckResult(name, "deterministic", passed, float(n), threshold,
                       f"{name}: {n} rows, {verdict} [{min_rows}, {max_rows}]")  # fmt: skip


def check_unique_ids(frame: pd.DataFrame) -> CheckResult:
    """No ``id`` appears twice (or is missing)."""
    name, threshold = "unique_ids", "every id unique and present"
    if (failed := _missing(name, frame, ["id"], threshold)) is not None:
        return failed
    bad = frame["id"].duplicated(keep=False) | frame["id"].isna()
    flagged = frame.loc[bad, "id"]
    rows = [{"id": _plain(i), "count": int(c)}
            for i, c in flagged.value_counts(dropna=False).head(MAX_OFFENDING).items()]  # fmt: skip
    n_bad = int(bad.sum())
    if n_bad == 0:
        return CheckResult(name, "deterministic", True, 0.0, threshold, f"{name}: {len(frame)} unique ids")
    message = (f"{name}: {n_bad} rows share {flagged.nunique(dropna=False)} id value(s) "
               f"(threshold: {threshold}): {describe_rows(rows, len(rows))}")  # fmt: skip
    return CheckResult(name, "deterministic", False, float(n_bad), threshold, message, rows, n_bad)


def run_checks(frame: pd.DataFrame, params: dict[str, Any]) -> list[CheckResult]:
    """Every deterministic test, in report order; ``params`` as in :func:`default_params`
    (the date bounds default to the configured ones when absent)."""
    dates = {key: params.get(key, _default_params()[key]) for key in ("min_date", "max_date")}
    return [
        check_column_names(frame),
        check_dtypes(frame),
        check_neighbourhood_groups(frame),
        check_boundaries(frame, params["longitude"], params["latitude"]),
        check_price_range(frame, params["min_price"], params["max_price"]),
        check_date_range(frame, dates["min_date"], dates["max_date"]),
        check_row_count(frame, params["min_rows"], params["max_rows"]),
        check_unique_ids(frame),
    ]
