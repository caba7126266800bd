"""split_frame: random (exactly scikit-learn's rows), time and group splits (modelmill.steps.data_split)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from modelmill import ConfigError
from modelmill.core.errors import DataCheckError
from modelmill.datasets import generate_listings
from modelmill.steps.data_split import split_frame, stratify_column
from tests import data_tables


def params(kind: str = "random", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "seed": 42, "stratify": None, "column": None, "test_size": 0.2, "val_size": 0.2,
            "target": "y", "id": None, "task": "regression", **extra}  # fmt: skip


def test_random_split_selects_exactly_train_test_splits_rows() -> None:
    frame = generate_listings(600, seed=3)
    kept, held = split_frame(frame, params(stratify="neighbourhood_group"), 0.25)
    expected_kept, expected_held = train_test_split(
        frame, test_size=0.25, random_state=42, stratify=frame["neighbourhood_group"]
    )
    pd.testing.assert_frame_equal(held, expected_held)
    pd.testing.assert_frame_equal(kept, expected_kept)
    plain_kept, _ = split_frame(frame, params(), 0.25)
    assert list(plain_kept.index) == list(train_test_split(frame, test_size=0.25, random_state=42)[0].index)


def test_rare_classes_fall_back_to_an_unstratified_split() -> None:
    frame = pd.DataFrame({"x": range(10), "g": ["a"] * 9 + ["b"]})
    assert stratify_column(frame, "g") is None and stratify_column(frame, "none") is None
    kept, held = split_frame(frame, params(stratify="g"), 0.3)
    assert len(held) == 3 and len(kept) == 7
    with pytest.raises(ConfigError, match="not a column"):
        split_frame(frame, params(stratify="borough"), 0.3)


def test_time_split_tests_on_the_latest_dates_and_keeps_ties_together() -> None:
    days = ["2020-01-01"] * 4 + ["2020-01-02"] * 3 + ["2020-01-03"] * 2 + ["2020-01-04"] * 1 + [None]
    frame = pd.DataFrame({"day": days, "x": range(len(days))}).sample(frac=1, random_state=0)
    kept, held = split_frame(frame, params("time", column="day"), 0.25)
    # 11 rows, 25% = 2.75: the latest day (1 row) or the latest two (3 rows); 3 is closer
    assert sorted(held["day"]) == ["2020-01-03", "2020-01-03", "2020-01-04"]
    assert kept["day"].dropna().max() < held["day"].min()  # trained on the past only
    assert kept["day"].isna().sum() == 1  # no date, no place in time: trained on, never tested
    assert list(kept.index) == [i for i in frame.index if i in kept.index]  # the frame's order
    half_kept, half_held = split_frame(frame, params("time", column="day"), 0.5)
    assert set(half_held["day"]) == {"2020-01-02", "2020-01-03", "2020-01-04"}  # 6 of 11 rows
    assert len(half_kept) + len(half_held) == len(frame)


def test_time_split_keeps_one_date_for_training_and_refuses_a_single_date() -> None:
    frame = pd.DataFrame({"day": ["2020-01-01"] * 2 + ["2020-01-02"] * 8})
    kept, held = split_frame(frame, params("time", column="day"), 0.9)
    assert set(held["day"]) == {"2020-01-02"} and set(kept["day"]) == {"2020-01-01"}
    with pytest.raises(DataCheckError, match="'day' has 1 distinct date"):
        split_frame(frame.head(2), params("time", column="day"), 0.2)


def test_group_split_puts_no_group_on_both_sides() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"host": rng.integers(0, 40, 500), "x": rng.normal(size=500)})
    frame.loc[:9, "host"] = np.nan  # rows without a group: one group of their own
    kept, held = split_frame(frame, params("group", column="host"), 0.25)
    assert set(kept["host"].dropna()).isdisjoint(held["host"].dropna())
    assert frame["host"].isna().sum() in (kept["host"].isna().sum(), held["host"].isna().sum())
    assert len(kept) + len(held) == len(frame) and 0.1 < len(held) / len(frame) < 0.45
    again, _ = split_frame(frame, params("group", column="host"), 0.25)
    assert list(again.index) == list(kept.index)  # seeded
    with pytest.raises(DataCheckError, match="1 distinct group"):
        split_frame(frame.assign(host=1), params("group", column="host"), 0.25)


def test_a_real_table_splits_by_time() -> None:
    """vega_datasets' cars (a local file in the package): test on the latest model years."""
    cars = data_tables.cars()
    kept, held = split_frame(cars, params("time", column="Year"), 0.2)
    assert kept["Year"].max() < held["Year"].min()
    assert abs(len(held) / len(cars) - 0.2) < 0.1
