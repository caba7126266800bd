"""basic_cleaning and get_data's type tests generated from the dataset spec: parsing raw strings,
invalid values counted per rule, the invalid share that stops a run, filters that do not count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelmill.config import compose
from modelmill.core.errors import DataCheckError
from modelmill.datasets.io import write_csv
from modelmill.datasets.nyc_demo import generate_listings
from modelmill.datasets.spec import load_spec, spec_from_config
from modelmill.steps.basic_cleaning import clean
from modelmill.steps.get_data import check_types

NYC = spec_from_config(compose())
CLEANING = NYC.cleaning_params()

# a small table that is not NYC: words, percentages, a date format, an id, a range and a box
SHOP: dict[str, Any] = {
    "name": "shop",
    "target": "sales",
    "id": "order",
    "columns": {
        "order": {"role": "ignore", "type": "integer"},
        "sales": {"role": "numeric", "parse": "currency", "range": [0, 1000]},
        "discount": {"role": "numeric", "parse": "percent", "nullable": True},
        "member": {"role": "boolean"},
        "day": {"role": "date", "format": "%d/%m/%Y"},
        "x": {"role": "numeric"},
    },
    "cleaning": {"max_invalid_share": 0.25, "boxes": {"store": {"columns": {"x": [0, 10]}}}},
}


def shop(**columns: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "order": [1, 2, 3, 4, 5, 6, 7, 8],
        "sales": ["$1,200.00", "$5.50", "€ 7", "12", "$800", "$3", "$9", "$2,000"],
        "discount": ["10%", None, "5 %", "0%", "50%", "1%", "2%", "3%"],
        "member": ["Yes", "no", "TRUE", "n", "y", "f", "t", "1"],
        "day": ["01/02/2024", "15/03/2024", "31/12/2023", "01/01/2024", "02/01/2024", "03/01/2024",
                "04/01/2024", "05/01/2024"],
        "x": [1.0, 2, 3, 4, 5, 6, 20, 7],
    })  # fmt: skip
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_raw_strings_parsed_and_filters_counted_apart() -> None:
    params = load_spec(SHOP).cleaning_params()
    cleaned, removed = clean(shop(), params)
    # $1,200.00 and $2,000 are outside the declared range, order 7 outside the box: dropped, not invalid
    assert removed == {"range_sales": 2, "box_store": 1, "duplicate_id": 0}
    assert cleaned["order"].tolist() == [2, 3, 4, 5, 6]
    assert cleaned["sales"].tolist() == [5.5, 7.0, 12.0, 800.0, 3.0]
    assert cleaned["discount"].tolist()[1:] == [0.05, 0.0, 0.5, 0.01] and pd.isna(cleaned["discount"][0])
    assert cleaned["member"].tolist() == [False, True, False, True, False]
    assert cleaned["day"].tolist() == ["2024-03-15", "2023-12-31", "2024-01-01", "2024-01-02", "2024-01-03"]


def test_unparsable_values_are_dropped_and_counted_per_rule() -> None:
    params = load_spec(SHOP).cleaning_params()
    frame = shop(sales=["$5", "cheap", "$7", "$8", "$9", "$1", "$2", "$3"],
                 member=["yes", "no", "maybe", "y", "n", "y", "n", "y"])  # fmt: skip
    cleaned, removed = clean(frame, params)
    assert removed["unparsable_sales"] == 1 and removed["unparsable_member"] == 1
    assert 2 not in cleaned["order"].tolist() and 3 not in cleaned["order"].tolist()
    assert len(cleaned) == len(frame) - sum(removed.values())


def test_too_many_invalid_rows_stop_the_run_with_one_line() -> None:
    """A price column all text never trains on an empty table (the NYC spec, 5% by default)."""
    frame = generate_listings(400, seed=3).astype({"price": object})
    frame["price"] = "call us"
    with pytest.raises(DataCheckError) as caught:
        clean(frame, CLEANING)
    message = str(caught.value)
    assert "\n" not in message and "400 of 400 rows (100.0%)" in message
    assert "unparsable_price 400" in message and "cleaning.max_invalid_share 5%" in message
    # 4% invalid is under the default share: dropped, counted, the run goes on
    frame = generate_listings(400, seed=3).astype({"price": object})
    frame.loc[frame.index[:16], "price"] = "call us"
    cleaned, removed = clean(frame, CLEANING)
    assert removed["unparsable_price"] == 16 and len(cleaned) == 400 - sum(removed.values())


def test_the_inside_airbnb_price_format_gives_the_same_clean_file(tmp_path: Path) -> None:
    frame = generate_listings(600, seed=5)
    as_text = frame.astype({"price": object})
    as_text["price"] = [f"${p:,.2f}" for p in frame["price"]]  # "$1,200.00"
    assert (as_text["price"].str.contains(",")).any()
    expected, removed = clean(frame, CLEANING)
    got, removed_text = clean(as_text, CLEANING)
    assert removed_text == removed
    # byte for byte: the same cache key downstream, whichever way the source writes its prices
    write_csv(expected, tmp_path / "numbers.csv")
    write_csv(got, tmp_path / "text.csv")
    assert (tmp_path / "numbers.csv").read_bytes() == (tmp_path / "text.csv").read_bytes()


def test_nyc_cleaning_keeps_the_rows_of_earlier_versions() -> None:
    """Price range, then the NYC box, then duplicate ids: the rules earlier versions applied."""
    frame = generate_listings(500, seed=11)
    frame.loc[0, "longitude"], frame.loc[1, "id"] = -75.0, frame.loc[2, "id"]
    keep = frame["price"].between(10, 350)
    keep &= frame["longitude"].between(-74.25, -73.5) & frame["latitude"].between(40.5, 41.2)
    expected = frame[keep]
    expected = expected[~expected["id"].duplicated()]
    cleaned, _ = clean(frame, CLEANING)
    assert cleaned["id"].tolist() == expected["id"].tolist()
    assert list(cleaned.columns) == list(frame.columns)


# ------------------------------------------------------------------ get_data: types as read
def test_types_as_read_follow_the_spec(tmp_path: Path) -> None:
    columns = CLEANING["columns"]
    frame = generate_listings(50, seed=1)
    check_types(frame, "demo", columns, "error", "id")
    priced = frame.astype({"price": object})
    priced["price"] = [f"${p:,.2f}" for p in frame["price"]]
    check_types(priced, "demo", columns, "error", "id")  # price declares parse: currency
    counted = frame.astype({"minimum_nights": object})
    counted.loc[3, "minimum_nights"] = "a week"
    with pytest.raises(DataCheckError, match=r"minimum_nights is text \(values that are not numbers\)"):
        check_types(counted, "etl.sample='x.parquet'", columns, "error", "id")


def test_extra_columns_allowed_or_an_error_as_declared() -> None:
    frame = generate_listings(20, seed=1).assign(license="none")
    with pytest.raises(DataCheckError, match=r"unexpected \['license'\]"):
        check_types(frame, "demo", CLEANING["columns"], "error", "id")
    check_types(frame, "demo", CLEANING["columns"], "allow", "id")
    cleaned, _ = clean(frame, CLEANING)
    assert "license" not in cleaned.columns  # extra columns stop at cleaning
    with pytest.raises(DataCheckError, match="declared column"):
        clean(frame.drop(columns=["room_type"]), CLEANING)


def test_params_of_earlier_versions_are_a_one_line_config_error() -> None:
    from modelmill.core.errors import ConfigError
    from modelmill.steps.data_split import split_frame

    old = {"min_price": 10, "max_price": 350, "longitude": [-74.25, -73.5], "latitude": [40.5, 41.2]}
    with pytest.raises(ConfigError, match=r"basic_cleaning: params without columns, cleaning"):
        clean(generate_listings(20, seed=1), old)
    with pytest.raises(ConfigError, match=r"data_split: params without seed"):
        split_frame(generate_listings(20, seed=1), {"random_seed": 1, "stratify_by": "none"}, 0.2)
