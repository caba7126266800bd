"""modelmill.monitor.quality: the task's metrics of past predictions, joined on the project's id
column, on the ``row`` numbers of ``modelmill score``, or row by row; never a named table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelmill.core.errors import UsageError
from modelmill.monitor.quality import Truth, model_quality, read_actuals

PREDICTIONS = np.array([10.0, 20.0, 30.0, 40.0])


@pytest.fixture
def batch() -> pd.DataFrame:
    return pd.DataFrame(
        {"sku": ["a", "b", "c", "d"], "when": ["2024-01-01", "2024-01-02", "2024-01-09", "2024-01-10"]}
    )


def test_actuals_join_on_the_spec_id_and_name_the_target(batch: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "actuals.csv"
    pd.DataFrame({"sku": ["d", "b", "a", "zz"], "sales": [44.0, 20.0, 12.0, 1.0]}).to_csv(path, index=False)
    truth = Truth("regression", target="sales", id="sku", metric="rmse")
    quality = model_quality(batch, PREDICTIONS, read_actuals(str(path), truth), (3.0, "test"), truth, "when")
    assert quality.metric == "rmse" and quality.n_matched == 3 and quality.n_actuals == 4
    assert quality.metrics["mae"] == pytest.approx(2.0) and quality.value == pytest.approx(
        np.sqrt(20 / 3), abs=1e-4
    )
    assert quality.worse is False and quality.lower_is_better  # 2.58 < baseline 3
    assert [p["week"] for p in quality.periods] == ["2024-01-01", "2024-01-08"]
    assert quality.to_dict()["baseline_rmse"] == 3.0


def test_row_numbers_and_row_order(batch: pd.DataFrame, tmp_path: Path) -> None:
    truth = Truth("regression", target="y")
    numbered = tmp_path / "numbered.csv"
    pd.DataFrame({"row": [3, 0], "y": [41.0, 11.0]}).to_csv(numbered, index=False)
    quality = model_quality(batch, PREDICTIONS, read_actuals(str(numbered), truth), (None, "none"), truth)
    assert quality.n_matched == 2 and quality.metrics["mae"] == pytest.approx(1.0) and quality.worse is None
    ordered = tmp_path / "ordered.csv"
    pd.DataFrame({"actual": [10.0, 20.0, 30.0, 44.0]}).to_csv(ordered, index=False)  # 'actual' accepted too
    quality = model_quality(batch, PREDICTIONS, read_actuals(str(ordered), truth), (None, "none"), truth)
    assert quality.metrics["mae"] == pytest.approx(1.0) and quality.n_matched == 4
    short = tmp_path / "short.csv"
    pd.DataFrame({"y": [1.0]}).to_csv(short, index=False)
    with pytest.raises(UsageError, match="nor as many rows as the input"):
        model_quality(batch, PREDICTIONS, read_actuals(str(short), truth), (None, "none"), truth)


def test_actuals_without_the_target_are_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    pd.DataFrame({"sku": ["a"], "price": [1.0]}).to_csv(path, index=False)
    with pytest.raises(UsageError, match="needs the target column sales \\(or actual\\)"):
        read_actuals(str(path), Truth("regression", target="sales", id="sku"))
