"""Data validation: each deterministic test on crafted bad frames, the statistical tests on
same-distribution and shifted samples, and the JSON/HTML report."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelmill.datasets.nyc_demo import COLUMNS, generate_listings
from modelmill.steps.basic_cleaning import clean
from modelmill.validation import (
    KS_COLUMNS,
    MAX_OFFENDING,
    build_report,
    checks,
    default_params,
    failure_message,
    kl_divergence,
    run_checks,
    run_stats,
    stats,
    validate,
    write_report,
)
from tests.conftest import REAL_SAMPLE

PARAMS = default_params()


@lru_cache(maxsize=8)
def _clean_demo(seed: int, rows: int) -> pd.DataFrame:
    return clean(generate_listings(rows, seed), PARAMS)[0]


def demo(seed: int = 1, rows: int = 5000) -> pd.DataFrame:
    """A clean demo sample (a fresh copy, safe to modify)."""
    return _clean_demo(seed, rows).copy()


def double_share(frame: pd.DataFrame, group: str, seed: int = 0) -> pd.DataFrame:
    """The same number of rows with ``group``'s share doubled (rows resampled within groups)."""
    inside = frame[frame["neighbourhood_group"] == group]
    n_in = round(2 * len(inside))
    rest = frame[frame["neighbourhood_group"] != group].sample(len(frame) - n_in, random_state=seed)
    picked = inside.sample(n_in, replace=True, random_state=seed)
    out = pd.concat([picked, rest], ignore_index=True)
    out["id"] = np.arange(1, len(out) + 1)
    return out


def by_name(results: list[checks.CheckResult]) -> dict[str, checks.CheckResult]:
    return {r.name: r for r in results}


# ------------------------------------------------------------------ deterministic
def test_clean_demo_passes_every_deterministic_test() -> None:
    results = run_checks(demo(), PARAMS)
    assert [r.name for r in results] == [
        "column_names", "column_dtypes", "neighbourhood_groups", "proper_boundaries",
        "price_range", "date_range", "row_count", "unique_ids",
    ]  # fmt: skip
    assert all(r.passed for r in results), failure_message(results)


def test_csv_roundtrip_with_str_dtype_and_all_missing_text_column(tmp_path: Path) -> None:
    frame = demo()
    frame["last_review"] = None  # all missing: read back as float64, still acceptable
    frame.to_csv(tmp_path / "s.csv", index=False)
    read = pd.read_csv(tmp_path / "s.csv")
    assert read["last_review"].dtype == "float64"
    assert checks.check_dtypes(read).passed
    assert checks.check_dtypes(read.astype({"name": object})).passed  # object strings too
    mixed = read.astype({"host_name": object})
    mixed.loc[4, "host_name"] = 42
    result = checks.check_dtypes(mixed)
    assert not result.passed and "host_name is mixed (int, text), expected string" in result.message
    assert result.offending == [{"id": int(mixed.loc[4, "id"]), "host_name": 42}]


def test_column_names_missing_extra_and_order() -> None:
    frame = demo()
    result = checks.check_column_names(frame.drop(columns=["price"]).assign(colour="red"))
    assert not result.passed
    assert result.message.startswith("column_names:")
    assert "missing ['price']" in result.message and "unexpected ['colour']" in result.message
    assert "availability_365" in result.message  # the expected columns (threshold) are named
    swapped = list(COLUMNS)
    swapped[6], swapped[7] = swapped[7], swapped[6]
    result = checks.check_column_names(frame[swapped])
    assert not result.passed
    assert "order differs at position 6: got 'longitude', expected 'latitude'" in result.message


def test_dtypes_name_the_column_and_the_unparsable_values() -> None:
    frame = demo()
    frame["price"] = frame["price"].astype(str)
    frame.loc[3, "price"] = "cheap"
    frame["room_type"] = 1
    result = checks.check_dtypes(frame)
    assert not result.passed
    assert "price is text (values that are not numbers), expected float" in result.message
    assert "room_type is integer, expected string" in result.message
    assert {"id": int(frame.loc[3, "id"]), "price": "cheap"} in result.offending  # the non-number
    assert f"id {frame.loc[3, 'id']} (price='cheap')" in result.message


def test_unknown_neighbourhood_group() -> None:
    frame = demo()
    frame.loc[10, "neighbourhood_group"] = "Atlantis"
    result = checks.check_neighbourhood_groups(frame)
    assert not result.passed and result.n_offending == 1
    ident = int(frame.loc[10, "id"])
    assert f"id {ident} (neighbourhood_group='Atlantis')" in result.message
    assert "Staten Island" in result.message  # the known groups = threshold


def test_listing_outside_the_box() -> None:
    frame = demo()
    frame.loc[5, "longitude"] = -75.0
    frame.loc[7, "latitude"] = np.nan
    result = checks.check_boundaries(frame, PARAMS["longitude"], PARAMS["latitude"])
    assert not result.passed and result.n_offending == 2
    ident = int(frame.loc[5, "id"])
    assert result.offending[0] == {"id": ident, "longitude": -75.0, "latitude": frame.loc[5, "latitude"]}
    assert result.offending[1]["latitude"] is None
    assert f"proper_boundaries: 2 of {len(frame)} rows" in result.message
    assert f"id {ident} (longitude=-75.0" in result.message
    assert "[-74.25, -73.5]" in result.message and "[40.5, 41.2]" in result.message


def test_price_range_lists_at_most_twenty_rows() -> None:
    frame = demo()
    frame.loc[:24, "price"] = 5000
    result = checks.check_price_range(frame, 10, 350)
    assert not result.passed
    assert result.n_offending == 25 and len(result.offending) == MAX_OFFENDING
    assert result.offending[0] == {"id": int(frame.loc[0, "id"]), "price": 5000}
    assert "price_range: 25 of" in result.message and "and 5 more" in result.message
    assert "[10, 350]" in result.message


def test_row_count_bounds() -> None:
    result = checks.check_row_count(demo().head(10), 1000, 1_000_000)
    assert not result.passed and result.statistic == 10
    assert result.message == "row_count: 10 rows, outside [1000, 1000000]"
    assert checks.check_row_count(demo().head(10), 5, 10).passed


def test_duplicate_ids() -> None:
    frame = demo()
    frame.loc[1, "id"] = frame.loc[0, "id"]
    result = checks.check_unique_ids(frame)
    assert not result.passed and result.n_offending == 2
    assert result.offending == [{"id": int(frame.loc[0, "id"]), "count": 2}]
    assert "unique_ids: 2 rows share 1 id value(s)" in result.message
    assert f"id {frame.loc[0, 'id']} (count=2)" in result.message


def test_missing_columns_fail_instead_of_raising() -> None:
    frame = demo().drop(columns=["id", "longitude", "neighbourhood_group", "price"])
    results = by_name(validate(frame, demo(2), PARAMS))
    for name in ("column_names", "neighbourhood_groups", "proper_boundaries", "price_range", "unique_ids",
                 "kl_neighbourhood_group", "ks_price", "ks_longitude"):  # fmt: skip
        assert not results[name].passed, name
        assert "missing" in results[name].message
    assert results["ks_latitude"].passed


# ------------------------------------------------------------------ statistical
def test_two_demo_seeds_pass() -> None:
    results = run_stats(demo(1), demo(2), PARAMS["kl_threshold"], PARAMS["ks_alpha"])
    assert [r.name for r in results] == ["kl_neighbourhood_group"] + [f"ks_{c}" for c in KS_COLUMNS]
    assert all(r.passed for r in results), failure_message(results)
    assert results[0].statistic is not None and results[0].statistic < 0.01


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real NYC sample not available")
def test_real_sample_halves_pass() -> None:
    real = clean(pd.read_csv(REAL_SAMPLE), PARAMS)[0]
    half = real.sample(frac=0.5, random_state=0)
    other = real.drop(half.index)
    for new, ref in ((half, real), (half, other)):
        results = run_stats(new, ref, PARAMS["kl_threshold"], PARAMS["ks_alpha"])
        assert all(r.passed for r in results), failure_message(results)
    assert all(r.passed for r in run_checks(real, PARAMS))


def test_prices_times_one_and_a_half_fail_ks() -> None:
    shifted = demo(2).assign(price=lambda f: f["price"] * 1.5)
    results = by_name(run_stats(shifted, demo(1), PARAMS["kl_threshold"], PARAMS["ks_alpha"]))
    failed = [n for n, r in results.items() if not r.passed]
    assert failed == ["ks_price"]
    result = results["ks_price"]
    assert result.threshold == pytest.approx(0.05 / len(KS_COLUMNS))
    assert result.statistic is not None and result.statistic < 1e-20
    assert result.message.startswith("ks_price: distribution shifted: p-value")
    assert "< threshold 0.00625 (ks_alpha 0.05 / 8 columns)" in result.message
    assert result.details["ks_statistic"] >= 0.05


def test_manhattan_share_doubled_fails_kl() -> None:
    shifted = double_share(demo(2), "Manhattan")
    result = by_name(run_stats(shifted, demo(1), 0.2, 0.05))["kl_neighbourhood_group"]
    assert not result.passed and result.statistic is not None and result.statistic > 0.2
    assert "KL(new || reference) =" in result.message and ">= threshold 0.2" in result.message
    assert "largest share change: Manhattan" in result.message


def test_queens_share_doubled_fails_on_coordinates() -> None:
    shifted = double_share(demo(2), "Queens")
    results = by_name(run_stats(shifted, demo(1), 0.2, 0.05))
    assert results["kl_neighbourhood_group"].passed  # a small borough barely moves KL ...
    assert not results["ks_longitude"].passed  # ... but its location shows up in KS


def test_kl_divergence_smoothing() -> None:
    a = pd.Series(["Bronx", "Queens", "Queens"])
    assert kl_divergence(a, a) == pytest.approx(0.0)
    only = pd.Series(["Manhattan"] * 50)
    value = kl_divergence(only, a)  # categories missing on one side stay finite
    assert np.isfinite(value) and value > 1


def test_ks_without_values() -> None:
    empty = demo().assign(reviews_per_month=np.nan)
    result = stats.check_ks(empty, demo(2), "reviews_per_month", 0.05)
    assert not result.passed and "no values in the new sample" in result.message
    assert stats.check_ks(empty, empty, "reviews_per_month", 0.05).passed


# ------------------------------------------------------------------ report
def test_report_json_and_html(tmp_path: Path) -> None:
    frame = demo()
    frame.loc[0, "neighbourhood_group"] = "<script>alert(1)</script>"
    results = validate(frame, demo(2), PARAMS)
    report = build_report(results, sample="s.csv:v1", reference="s.csv:v0", params=PARAMS, notes=["n1"])
    json_path, html_path = write_report(report, tmp_path / "out")
    doc = json.loads(json_path.read_text())
    assert doc["status"] == "failed" and doc["failed_tests"] == ["neighbourhood_groups"]
    assert doc["summary"] == {"total": 17, "passed": 16, "failed": 1}
    assert doc["tests"][2]["offending"][0]["neighbourhood_group"] == "<script>alert(1)</script>"
    html = html_path.read_text()
    for result in results:
        assert result.name in html
    assert "<style>" in html and "<script" not in html and "http" not in html.replace("https", "")
    assert "&lt;script&gt;" in html and "FAILED" in html and "n1" in html


def test_failure_message_lists_each_failed_test() -> None:
    frame = demo()
    frame.loc[0, "price"] = 0
    frame.loc[1, "id"] = frame.loc[2, "id"]
    message = failure_message(run_checks(frame, PARAMS))
    assert message.startswith("2 of 8 data tests failed:") and "\n" not in message
    assert "price_range" in message and f"id {frame.loc[0, 'id']} (price=0)" in message
    assert "unique_ids" in message
    assert failure_message(run_checks(demo(), PARAMS)) == ""


def test_default_params_come_from_config() -> None:
    assert PARAMS == {
        "min_price": 10.0, "max_price": 350.0, "longitude": [-74.25, -73.5], "latitude": [40.5, 41.2],
        "kl_threshold": 0.2, "ks_alpha": 0.05, "min_rows": 1000, "max_rows": 1_000_000,
        "min_date": "2008-01-01", "max_date": "today",
    }  # fmt: skip


# ------------------------------------------------------------------ declared types, dates
def test_types_are_checked_as_read_from_a_typed_file(tmp_path: Path) -> None:
    """The issue's batch: a Parquet file keeps numbers stored as text and an integer date."""
    frame = demo().astype({"price": str, "minimum_nights": str})
    frame["last_review"] = 12345
    frame.to_parquet(tmp_path / "broken.parquet")
    result = checks.check_dtypes(pd.read_parquet(tmp_path / "broken.parquet"))
    assert not result.passed and result.statistic == 3
    assert "price is text holding numbers, expected float" in result.message
    assert "minimum_nights is text holding numbers, expected integer" in result.message
    assert "store minimum_nights as integers, not text" in result.message
    assert "last_review is integer, expected date" in result.message
    assert "store last_review as dates or as %Y-%m-%d text" in result.message
    # the same values through a CSV read back: digits are numbers there, the integer date is not a date
    frame.to_csv(tmp_path / "broken.csv", index=False)
    again = checks.check_dtypes(pd.read_csv(tmp_path / "broken.csv"))
    assert "last_review is integer, expected date" in again.message and "price" not in again.message


def test_the_declared_table_is_the_generators_columns() -> None:
    assert checks.COLUMNS == COLUMNS  # modelmill.validation.schema.NYC_LISTINGS, in file order


def test_typed_files_with_proper_types_pass(tmp_path: Path) -> None:
    frame = demo()
    frame["last_review"] = pd.to_datetime(frame["last_review"])  # a timestamp column
    frame["room_type"] = frame["room_type"].astype("category")
    frame["minimum_nights"] = frame["minimum_nights"].astype("Int64")
    frame.to_parquet(tmp_path / "typed.parquet")
    assert checks.check_dtypes(pd.read_parquet(tmp_path / "typed.parquet")).passed
    as_dates = frame.assign(last_review=frame["last_review"].dt.date)  # datetime.date objects
    assert checks.check_dtypes(as_dates).passed


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("price", np.nan, "price is missing in 1 of"),
        ("minimum_nights", 2.5, "minimum_nights is float with fractions (e.g. 2.5), expected integer"),
        ("last_review", "21/05/2019", "last_review is text not in the date format %Y-%m-%d"),
    ],
)
def test_declared_kind_and_nullability(column: str, value: object, fragment: str) -> None:
    frame = demo().astype({column: object if isinstance(value, str) else float})
    frame.loc[7, column] = value
    result = checks.check_dtypes(frame)
    assert not result.passed and fragment in result.message
    assert result.offending[0]["id"] == int(frame.loc[7, "id"])
    assert checks.check_dtypes(demo().assign(name=None, reviews_per_month=np.nan)).passed  # nullable


@pytest.mark.parametrize("date", ["1999-12-31", "2999-01-01"])
def test_dates_outside_the_declared_range_fail(date: str) -> None:
    frame = demo()
    frame.loc[[1, 2], "last_review"] = date
    result = checks.check_date_range(frame, PARAMS["min_date"], PARAMS["max_date"])
    assert not result.passed and result.n_offending == 2
    assert f"id {frame.loc[1, 'id']} (last_review='{date}')" in result.message
    assert "data_check.min_date/max_date" in result.message
    assert checks.check_date_range(frame, "1990-01-01", "3000-01-01").passed
    assert checks.check_date_range(demo(), "2008-01-01", "today").message == (
        f"date_range: all {len(demo())} rows have last_review within [2008-01-01, today]"
    )  # no date in the passing message: equal samples give equal reports on any day
    assert "bad bound" in checks.check_date_range(frame, "soon", "today").message


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real NYC sample not available")
def test_real_sample_as_csv_and_typed_parquet_passes_every_test(tmp_path: Path) -> None:
    raw = pd.read_csv(REAL_SAMPLE)
    raw.assign(last_review=pd.to_datetime(raw["last_review"])).to_parquet(tmp_path / "real.parquet")
    for read in (raw, pd.read_parquet(tmp_path / "real.parquet")):
        assert checks.check_dtypes(read).passed and checks.check_column_names(read).passed
        results = run_checks(clean(read, PARAMS)[0], PARAMS)
        assert all(r.passed for r in results), failure_message(results)
