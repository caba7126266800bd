"""Data validation generated from the dataset spec: each deterministic test on crafted bad frames,
the statistical tests (Holm-corrected) on same-distribution and shifted samples, the JSON/HTML
report, and tables that are not NYC."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelmill.config import compose
from modelmill.core.errors import ConfigError
from modelmill.datasets.nyc_demo import COLUMNS, generate_listings
from modelmill.datasets.spec import load_spec, spec_from_config
from modelmill.steps.basic_cleaning import clean
from modelmill.steps.data_split import split_frame
from modelmill.validation import (
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
from tests import data_tables
from tests.conftest import REAL_SAMPLE

PARAMS = default_params()
NYC = spec_from_config(compose())
CLEANING = NYC.cleaning_params()
COLS = {c["name"]: c for c in PARAMS["columns"]}
DETERMINISTIC = ["column_names", "column_dtypes", "allowed_neighbourhood_group", "box_nyc", "range_price",
                 "range_last_review", "row_count", "unique_ids"]  # fmt: skip
KS = ["latitude", "longitude", "price", "minimum_nights", "number_of_reviews", "reviews_per_month",
      "calculated_host_listings_count", "availability_365"]  # fmt: skip
STATISTICAL = ["kl_neighbourhood_group", "chi2_neighbourhood_group"] + [f"ks_{c}" for c in KS]


@lru_cache(maxsize=8)
def _clean_demo(seed: int, rows: int) -> pd.DataFrame:
    return clean(generate_listings(rows, seed), CLEANING)[0]


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
    assert [r.name for r in results] == DETERMINISTIC
    assert all(r.passed for r in results), failure_message(results)


def test_csv_roundtrip_with_str_dtype_and_all_missing_text_column(tmp_path: Path) -> None:
    frame = demo()
    frame["last_review"] = None  # all missing: read back as float64, still acceptable
    frame.to_csv(tmp_path / "s.csv", index=False)
    read = pd.read_csv(tmp_path / "s.csv")
    assert read["last_review"].dtype == "float64"
    columns = PARAMS["columns"]
    assert checks.check_dtypes(read, columns).passed
    assert checks.check_dtypes(read.astype({"name": object}), columns).passed  # object strings too
    mixed = read.astype({"host_name": object})
    mixed.loc[4, "host_name"] = 42
    result = checks.check_dtypes(mixed, columns, id_column="id")
    assert not result.passed and "host_name is mixed (int, text), expected string" in result.message
    assert result.offending == [{"id": int(mixed.loc[4, "id"]), "host_name": 42}]


def test_column_names_missing_extra_and_order() -> None:
    frame = demo()
    result = checks.check_column_names(frame.drop(columns=["price"]).assign(colour="red"), COLUMNS)
    assert not result.passed
    assert result.message.startswith("column_names:")
    assert "missing ['price']" in result.message and "unexpected ['colour']" in result.message
    assert "availability_365" in result.message  # the expected columns (threshold) are named
    swapped = list(COLUMNS)
    swapped[6], swapped[7] = swapped[7], swapped[6]
    result = checks.check_column_names(frame[swapped], COLUMNS)
    assert not result.passed
    assert "order differs at position 6: got 'longitude', expected 'latitude'" in result.message
    # extra_columns: allow: every declared column present, in any order, extra ones welcome
    assert checks.check_column_names(frame[swapped].assign(colour="red"), COLUMNS, exact=False).passed
    missing = checks.check_column_names(frame.drop(columns=["price"]), COLUMNS, exact=False)
    assert not missing.passed and "missing ['price']" in missing.message


def test_extra_columns_follow_the_spec() -> None:
    extra = demo().assign(colour="red")
    assert not by_name(run_checks(extra, PARAMS))["column_names"].passed  # NYC: extra_columns: error
    allowing = {**PARAMS, "extra_columns": "allow"}
    assert by_name(run_checks(extra, allowing))["column_names"].passed


def test_dtypes_name_the_column_and_the_unparsable_values() -> None:
    frame = demo()
    frame["price"] = frame["price"].astype(str)
    frame.loc[3, "price"] = "cheap"
    frame["room_type"] = 1
    result = checks.check_dtypes(frame, PARAMS["columns"], id_column="id")
    assert not result.passed
    assert "price is text (values that are not numbers), expected float" in result.message
    assert "room_type is integer, expected string" in result.message
    assert {"id": int(frame.loc[3, "id"]), "price": "cheap"} in result.offending  # the non-number
    assert f"id {frame.loc[3, 'id']} (price='cheap')" in result.message


def test_a_value_outside_the_allowed_list() -> None:
    frame = demo()
    frame.loc[10, "neighbourhood_group"] = "Atlantis"
    result = checks.check_allowed(frame, COLS["neighbourhood_group"], id_column="id")
    assert result.name == "allowed_neighbourhood_group"
    assert not result.passed and result.n_offending == 1
    ident = int(frame.loc[10, "id"])
    assert f"id {ident} (neighbourhood_group='Atlantis')" in result.message
    assert "Staten Island" in result.message  # the allowed values = threshold


def test_allowed_values_learned_from_the_reference() -> None:
    cars = data_tables.cars()
    column = {"name": "Origin", "allowed": "reference", "kind": "string"}
    first = checks.check_allowed(cars, column, None)
    assert first.passed and "no reference sample yet" in first.message
    new = cars.assign(Origin=cars["Origin"].replace({"Japan": "Korea"}))
    result = checks.check_allowed(new, column, cars)
    assert not result.passed and "Origin='Korea'" in result.message and "row " in result.message
    assert result.threshold == ["Europe", "Japan", "USA"]
    assert checks.check_allowed(cars, column, cars).passed


def test_listing_outside_the_box() -> None:
    frame = demo()
    frame.loc[5, "longitude"] = -75.0
    frame.loc[7, "latitude"] = np.nan
    box = PARAMS["boxes"]["nyc"]["columns"]
    result = checks.check_box(frame, "nyc", box, "id")
    assert result.name == "box_nyc"
    assert not result.passed and result.n_offending == 2
    ident = int(frame.loc[5, "id"])
    assert result.offending[0] == {"id": ident, "longitude": -75.0, "latitude": frame.loc[5, "latitude"]}
    assert result.offending[1]["latitude"] is None
    assert f"box_nyc: 2 of {len(frame)} rows" in result.message
    assert f"id {ident} (longitude=-75.0" in result.message
    assert "[-74.25, -73.5]" in result.message and "[40.5, 41.2]" in result.message


def test_price_range_lists_at_most_twenty_rows() -> None:
    frame = demo()
    frame.loc[:24, "price"] = 5000
    result = checks.check_range(frame, COLS["price"], "id")
    assert result.name == "range_price" and not result.passed
    assert result.n_offending == 25 and len(result.offending) == MAX_OFFENDING
    assert result.offending[0] == {"id": int(frame.loc[0, "id"]), "price": 5000}
    assert "range_price: 25 of" in result.message and "and 5 more" in result.message
    assert (
        "[10.0, 350.0]" in result.message
        and "change the range of price in the dataset spec" in result.message
    )


def test_open_ranges_and_missing_values() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 7.0]})
    nullable = {"name": "x", "kind": "float", "nullable": True, "range": [None, 5]}
    assert checks.check_range(frame, nullable).n_offending == 1  # 7 > 5; missing is fine here
    required = {**nullable, "nullable": False}
    assert checks.check_range(frame, required).n_offending == 2  # and missing is not, here


def test_row_count_bounds() -> None:
    result = checks.check_row_count(demo().head(10), 1000, 1_000_000)
    assert not result.passed and result.statistic == 10
    assert result.message == "row_count: 10 rows, outside [1000, 1000000]"
    assert checks.check_row_count(demo().head(10), 5, 10).passed


def test_duplicate_ids() -> None:
    frame = demo()
    frame.loc[1, "id"] = frame.loc[0, "id"]
    result = checks.check_unique_ids(frame, "id")
    assert not result.passed and result.n_offending == 2
    assert result.offending == [{"id": int(frame.loc[0, "id"]), "count": 2}]
    assert "unique_ids: 2 rows share 1 id value(s)" in result.message
    assert f"id {frame.loc[0, 'id']} (count=2)" in result.message


def test_missing_columns_fail_instead_of_raising() -> None:
    frame = demo().drop(columns=["id", "longitude", "neighbourhood_group", "price"])
    results = by_name(validate(frame, demo(2), PARAMS))
    names = ["column_names", "allowed_neighbourhood_group", "box_nyc", "range_price", "unique_ids",
             "kl_neighbourhood_group", "chi2_neighbourhood_group", "ks_price", "ks_longitude"]  # fmt: skip
    for name in names:
        assert not results[name].passed, name
        assert "missing" in results[name].message
    assert results["ks_latitude"].passed


# ------------------------------------------------------------------ statistical
def test_two_demo_seeds_pass() -> None:
    results = run_stats(demo(1), demo(2), PARAMS)
    assert [r.name for r in results] == STATISTICAL
    assert all(r.passed for r in results), failure_message(results)
    assert results[0].statistic is not None and results[0].statistic < 0.01


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real NYC sample not available")
def test_real_sample_halves_pass() -> None:
    real = clean(pd.read_csv(REAL_SAMPLE), CLEANING)[0]
    half = real.sample(frac=0.5, random_state=0)
    other = real.drop(half.index)
    for new, ref in ((half, real), (half, other)):
        results = run_stats(new, ref, PARAMS)
        assert all(r.passed for r in results), failure_message(results)
    assert all(r.passed for r in run_checks(real, PARAMS))


def test_prices_times_one_and_a_half_fail_ks() -> None:
    shifted = demo(2).assign(price=lambda f: f["price"] * 1.5)
    results = by_name(run_stats(shifted, demo(1), PARAMS))
    failed = [n for n, r in results.items() if not r.passed]
    assert failed == ["ks_price"]
    result = results["ks_price"]
    # the smallest p-value of the 9 p-value tests (8 KS + 1 chi-square) faces Bonferroni's threshold
    assert result.threshold == pytest.approx(0.05 / 9) and result.details["rank"] == 1
    assert result.statistic is not None and result.statistic < 1e-20
    assert result.message.startswith("ks_price: distribution shifted: p-value")
    assert "< threshold 0.005556 (Holm: alpha 0.05 / 9, rank 1 of 9 tests)" in result.message
    assert result.details["ks_statistic"] >= 0.05


def test_manhattan_share_doubled_fails_kl_and_chi_square() -> None:
    shifted = double_share(demo(2), "Manhattan")
    results = by_name(run_stats(shifted, demo(1), PARAMS))
    result = results["kl_neighbourhood_group"]
    assert not result.passed and result.statistic is not None and result.statistic > 0.2
    assert "KL(new || reference) =" in result.message and ">= threshold 0.2" in result.message
    assert "largest share change: Manhattan" in result.message
    chi2 = results["chi2_neighbourhood_group"]
    assert not chi2.passed and "distribution shifted" in chi2.message and "Manhattan" in chi2.message


def test_queens_share_doubled_fails_on_coordinates_and_chi_square() -> None:
    shifted = double_share(demo(2), "Queens")
    results = by_name(run_stats(shifted, demo(1), PARAMS))
    assert results["kl_neighbourhood_group"].passed  # a small borough barely moves KL ...
    assert not results["ks_longitude"].passed  # ... but its location shows up in KS
    assert not results["chi2_neighbourhood_group"].passed  # and its count in the chi-square test
    assert results["chi2_neighbourhood_group"].details["total_variation"] >= 0.05


def test_holm_rejects_step_down_where_bonferroni_stops() -> None:
    rejected, thresholds, ranks = stats.holm([0.01, 0.2, 0.015, None], 0.05)
    # sorted: 0.01 < 0.05/4 and 0.015 < 0.05/3 (Bonferroni's 0.0125 would keep it); 0.2 > 0.05/2
    assert rejected == [True, False, True, False]
    assert thresholds == pytest.approx([0.0125, 0.025, 0.05 / 3, 0.05]) and ranks == [1, 3, 2, 4]
    assert stats.holm([0.03, 0.001], 0.05)[0] == [True, True]  # 0.001 < 0.025, then 0.03 < 0.05
    assert stats.holm([0.04, 0.04], 0.05)[0] == [False, False]  # stops at the first


def test_the_declared_correction_decides_across_columns() -> None:
    """Two shifted columns whose p-values Holm rejects step-down and Bonferroni (alpha / m) does not."""
    rng = np.random.default_rng(4)
    columns = [{"name": n, "role": "numeric", "kind": "float", "drift": True} for n in ("a", "b", "c")]
    ref = pd.DataFrame({n: rng.normal(0, 1, 400) for n in "abc"})
    new = pd.DataFrame({n: rng.normal(0, 1, 400) for n in "abc"})
    new[["a", "b"]] += 0.19  # p-values ~0.002 and ~0.02: the second is under 0.05/2, not 0.05/3
    base = {"columns": columns, "kl_threshold": 0.2, "ks_alpha": 0.05}
    holm = by_name(run_stats(new, ref, base))
    bonferroni = by_name(run_stats(new, ref, {**base, "correction": "bonferroni"}))
    low, high = sorted(holm[f"ks_{n}"].statistic for n in "ab")
    assert low < 0.05 / 3 < high < 0.05 / 2
    assert [r.passed for r in holm.values()] == [False, False, True]
    assert [r.passed for r in bonferroni.values()].count(False) == 1
    assert "Bonferroni: alpha 0.05 / 3 tests" in bonferroni["ks_a"].message
    assert bonferroni["ks_a"].details["correction"] == "bonferroni"
    with pytest.raises(ConfigError, match="holm or bonferroni"):
        run_stats(new, ref, {**base, "correction": "sidak"})


def test_a_tiny_significant_shift_is_not_an_alarm() -> None:
    """Large samples make any difference significant; the minimum effect keeps them passing."""
    rng = np.random.default_rng(0)
    column = {"name": "g", "role": "categorical", "kind": "string", "drift": True, "allowed": None}
    new = pd.DataFrame({"g": rng.choice(["a", "b"], 5000, p=[0.53, 0.47])})
    ref = pd.DataFrame({"g": rng.choice(["a", "b"], 5000, p=[0.50, 0.50])})
    params = {"columns": [column], "kl_threshold": 0.2, "ks_alpha": 0.05}
    chi2 = by_name(run_stats(new, ref, params))["chi2_g"]
    assert chi2.statistic is not None and chi2.statistic < 0.01 and chi2.passed  # p small, TV ~0.03
    assert "fails only if p < 0.05" in chi2.message and "TV >= 0.05" in chi2.message


def test_kl_divergence_smoothing() -> None:
    a = pd.Series(["Bronx", "Queens", "Queens"])
    assert kl_divergence(a, a) == pytest.approx(0.0)
    only = pd.Series(["Manhattan"] * 50)
    value = kl_divergence(only, a)  # categories missing on one side stay finite
    assert np.isfinite(value) and value > 1


def test_ks_without_values() -> None:
    empty = demo().assign(reviews_per_month=np.nan)
    params = {**PARAMS, "columns": [COLS["reviews_per_month"]]}
    [result] = run_stats(empty, demo(2), params)
    assert not result.passed and "no values in the new sample" in result.message
    assert run_stats(empty, empty, params)[0].passed


# ------------------------------------------------------------------ report
def test_report_json_and_html(tmp_path: Path) -> None:
    frame = demo()
    frame.loc[0, "neighbourhood_group"] = "<script>alert(1)</script>"
    results = validate(frame, demo(2), PARAMS)
    report = build_report(results, sample="s.csv:v1", reference="s.csv:v0", params=PARAMS, notes=["n1"])
    json_path, html_path = write_report(report, tmp_path / "out")
    doc = json.loads(json_path.read_text())
    assert doc["status"] == "failed" and doc["failed_tests"] == ["allowed_neighbourhood_group"]
    assert doc["summary"] == {"total": 18, "passed": 17, "failed": 1}
    assert doc["tests"][2]["offending"][0]["neighbourhood_group"] == "<script>alert(1)</script>"
    assert doc["params"]["columns"][0]["name"] == "id"  # the spec's whole column table
    html = html_path.read_text()
    for result in results:
        assert result.name in html
    assert "16 declared: id, name, host_id" in html  # the column table, briefly
    assert "<style>" in html and "<script" not in html and "http" not in html.replace("https", "")
    assert "&lt;script&gt;" in html and "FAILED" in html and "n1" in html


def test_failure_message_lists_each_failed_test() -> None:
    frame = demo()
    frame.loc[0, "price"] = 0
    frame.loc[1, "id"] = frame.loc[2, "id"]
    message = failure_message(run_checks(frame, PARAMS))
    assert message.startswith("2 of 8 data tests failed:") and "\n" not in message
    assert "range_price" in message and f"id {frame.loc[0, 'id']} (price=0)" in message
    assert "unique_ids" in message
    assert failure_message(run_checks(demo(), PARAMS)) == ""


def test_default_params_are_the_packaged_spec_and_thresholds() -> None:
    assert {k: PARAMS[k] for k in ("kl_threshold", "ks_alpha", "min_rows", "max_rows", "id", "target")} == {
        "kl_threshold": 0.2, "ks_alpha": 0.05, "min_rows": 1000, "max_rows": 1_000_000, "id": "id",
        "target": "price",
    }  # fmt: skip
    assert [c["name"] for c in PARAMS["columns"]] == list(COLUMNS)  # the generator's columns, in order
    assert COLS["price"]["range"] == [10.0, 350.0] and COLS["last_review"]["range"] == ["2008-01-01", "today"]
    assert PARAMS["boxes"] == {"nyc": {"columns": {"longitude": [-74.25, -73.5], "latitude": [40.5, 41.2]}}}


# ------------------------------------------------------------------ declared types, dates
def test_types_are_checked_as_read_from_a_typed_file(tmp_path: Path) -> None:
    """The issue-13 batch: a Parquet file keeps numbers stored as text and an integer date."""
    frame = demo().astype({"price": str, "minimum_nights": str})
    frame["last_review"] = 12345
    frame.to_parquet(tmp_path / "broken.parquet")
    read = pd.read_parquet(tmp_path / "broken.parquet")
    result = checks.check_dtypes(read, PARAMS["columns"])
    assert not result.passed and result.statistic == 3
    assert "price is text holding numbers, expected float" in result.message
    assert "minimum_nights is text holding numbers, expected integer" in result.message
    assert "store minimum_nights as integers, not text" in result.message
    assert "last_review is integer, expected date" in result.message
    assert "store last_review as dates or as %Y-%m-%d text" in result.message
    # as read by get_data: price declares a parse (currency), so its text is cleaning's business
    as_read = checks.check_dtypes(read, CLEANING["columns"], as_read=True)
    assert "price" not in as_read.message and as_read.statistic == 2
    assert "(or declare its parse in the dataset spec)" in as_read.message
    # the same values through a CSV read back: digits are numbers there, the integer date is not a date
    frame.to_csv(tmp_path / "broken.csv", index=False)
    again = checks.check_dtypes(pd.read_csv(tmp_path / "broken.csv"), PARAMS["columns"])
    assert "last_review is integer, expected date" in again.message and "price" not in again.message


def test_typed_files_with_proper_types_pass(tmp_path: Path) -> None:
    frame = demo()
    frame["last_review"] = pd.to_datetime(frame["last_review"])  # a timestamp column
    frame["room_type"] = frame["room_type"].astype("category")
    frame["minimum_nights"] = frame["minimum_nights"].astype("Int64")
    frame.to_parquet(tmp_path / "typed.parquet")
    assert checks.check_dtypes(pd.read_parquet(tmp_path / "typed.parquet"), PARAMS["columns"]).passed
    as_dates = frame.assign(last_review=frame["last_review"].dt.date)  # datetime.date objects
    assert checks.check_dtypes(as_dates, PARAMS["columns"]).passed


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
    result = checks.check_dtypes(frame, PARAMS["columns"], id_column="id")
    assert not result.passed and fragment in result.message
    assert result.offending[0]["id"] == int(frame.loc[7, "id"])
    nullable = demo().assign(name=None, reviews_per_month=np.nan)
    assert checks.check_dtypes(nullable, PARAMS["columns"]).passed


def test_booleans_and_a_declared_date_format() -> None:
    columns = [{"name": "flag", "kind": "boolean", "nullable": True},
               {"name": "day", "kind": "date", "format": "%d/%m/%Y"}]  # fmt: skip
    ok = pd.DataFrame({"flag": [True, None, False], "day": ["21/05/2019", "2019-05-22", "01/01/2020"]})
    assert checks.check_dtypes(ok, columns).passed  # cleaned: ISO text (what cleaning writes) too
    as_read = checks.check_dtypes(ok, columns, as_read=True)
    assert not as_read.passed and "day is text not in the date format %d/%m/%Y" in as_read.message
    words = pd.DataFrame({"flag": ["yes", "no", None], "day": ["21/05/2019"] * 3})
    assert checks.check_dtypes(words, columns, as_read=True).passed  # cleaning parses the words
    assert "flag is text, expected boolean" in checks.check_dtypes(words, columns).message
    assert (
        "flag is integer other than 0/1" in checks.check_dtypes(words.assign(flag=[0, 1, 2]), columns).message
    )


@pytest.mark.parametrize("date", ["1999-12-31", "2999-01-01"])
def test_dates_outside_the_declared_range_fail(date: str) -> None:
    frame = demo()
    frame.loc[[1, 2], "last_review"] = date
    result = checks.check_range(frame, COLS["last_review"], "id")
    assert result.name == "range_last_review" and not result.passed and result.n_offending == 2
    assert f"id {frame.loc[1, 'id']} (last_review='{date}')" in result.message
    assert "change the range of last_review in the dataset spec (now [2008-01-01, " in result.message
    assert checks.check_range(frame, {**COLS["last_review"], "range": ["1990-01-01", "3000-01-01"]}).passed
    assert checks.check_range(demo(), COLS["last_review"]).message == (
        f"range_last_review: all {len(demo())} rows have last_review within [2008-01-01, today]"
    )  # no date in the passing message: equal samples give equal reports on any day
    assert (
        "bad bound" in checks.check_range(frame, {**COLS["last_review"], "range": ["soon", "today"]}).message
    )


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real NYC sample not available")
def test_real_sample_as_csv_and_typed_parquet_passes_every_test(tmp_path: Path) -> None:
    raw = pd.read_csv(REAL_SAMPLE)
    raw.assign(last_review=pd.to_datetime(raw["last_review"])).to_parquet(tmp_path / "real.parquet")
    for read in (raw, pd.read_parquet(tmp_path / "real.parquet")):
        assert checks.check_dtypes(read, CLEANING["columns"], as_read=True).passed
        assert checks.check_column_names(read, COLUMNS).passed
        results = run_checks(clean(read, CLEANING)[0], PARAMS)
        assert all(r.passed for r in results), failure_message(results)


# ------------------------------------------------------------------ tables that are not NYC
def _spec_params(spec: dict[str, Any], **thresholds: Any) -> tuple[Any, dict[str, Any]]:
    loaded = load_spec(spec)
    check = {**loaded.check_params(), "kl_threshold": 0.2, "ks_alpha": 0.05, "min_rows": 50,
             "max_rows": 10_000, **thresholds}  # fmt: skip
    return loaded, check


def test_cars_clean_check_and_split() -> None:
    spec, params = _spec_params(data_tables.CARS_SPEC)
    raw = data_tables.cars()
    cleaned, removed = clean(raw, spec.cleaning_params())
    assert removed["missing_Miles_per_Gallon"] == 8  # no target: not a row to learn from (2% < 5%)
    assert "missing_Horsepower" not in removed  # nullable
    assert cleaned["Year"].iloc[0] == "1970-01-01"  # dates as ISO text
    results = run_checks(cleaned, params)
    assert [r.name for r in results] == ["column_names", "column_dtypes", "allowed_Origin",
                                         "range_Miles_per_Gallon", "range_Cylinders", "range_Year",
                                         "row_count"]  # fmt: skip
    assert all(r.passed for r in results), failure_message(results)
    train, test = split_frame(cleaned, spec.split_params(), spec.split.test_size)
    assert train["Year"].max() < test["Year"].min()
    halves = cleaned.sample(frac=0.5, random_state=1)
    stat = by_name(run_stats(halves, cleaned, params))
    assert set(stat) == {"kl_Origin", "chi2_Origin"} | {f"ks_{c}" for c in ("Miles_per_Gallon", "Cylinders",
                         "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration")}  # fmt: skip
    assert all(r.passed for r in stat.values()), failure_message(list(stat.values()))
    european = cleaned[cleaned["Origin"] == "Europe"]
    assert not by_name(run_stats(european, cleaned, params))["chi2_Origin"].passed


def test_diabetes_clean_check_and_a_mismatch_named() -> None:
    spec, params = _spec_params(data_tables.DIABETES_SPEC)
    raw = data_tables.diabetes()
    cleaned, removed = clean(raw, spec.cleaning_params())
    assert len(cleaned) == 442 and sum(removed.values()) == 0
    assert all(r.passed for r in run_checks(cleaned, params))
    train, test = split_frame(cleaned, spec.split_params(), 0.2)
    assert len(test) == 89 and set(train.index).isdisjoint(test.index)
    # the table does not match its spec: a category value, a renamed column, words in a number
    broken = cleaned.rename(columns={"s6": "glucose"}).astype({"bp": object})
    broken.loc[3, "sex"], broken.loc[5, "bp"] = 3, "high"
    results = by_name(run_checks(broken, params))
    message = failure_message(list(results.values()))
    assert "missing ['s6']" in message and "glucose" not in message  # extra columns allowed (default)
    assert "allowed_sex" in message and "row 3 (sex=3)" in message and "values [1, 2]" in message
    assert "bp is text (values that are not numbers), expected float" in message and "'high'" in message
