"""Bad batches: columns that are not what they claim, implausible dates, broken CSV lines.

Promises:

* a batch whose columns do not hold their declared types as read (numbers stored as text in a
  Parquet file, an integer in the date column, words in a numeric CSV column) stops ``modelmill
  run`` and ``modelmill retrain`` at get_data with exit 1 and one line naming the column, the
  type found, the type expected and the fix; nothing is stored, no model is trained, ``prod``
  does not move;
* a price written as text is parsed, as the dataset spec declares (``parse: currency``: the
  Inside Airbnb files write ``"$1,200.00"``); dates outside the declared range
  ``[data_check.min_date, max_date]`` (2008, Airbnb's start, to today) are dropped by cleaning
  and counted (``removed_range_last_review``), like prices outside theirs;
* ``modelmill check`` and ``pytest --pyargs modelmill.validation.data_tests`` apply the same
  tests to the file as read;
* ``modelmill score`` names the file's physical lines in its rejects, also after quoted values
  spanning lines, and a stray quote costs only its own line: the rows after it are scored.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from modelmill import Workspace

from .conftest import FAST, MODEL, assert_clean_error, cli
from .test_broken_models import registry_state

NUMERIC_AS_TEXT = ("price", "minimum_nights", "latitude", "availability_365")


def listings(rows: int = 1500) -> pd.DataFrame:
    """The fast pipeline's own demo batch: it passes every test against the trained reference."""
    from modelmill.datasets import generate_listings

    return generate_listings(rows, seed=42)


def broken_parquet(path: Path) -> Path:
    """The issue's batch: numeric columns stored as strings, ``last_review`` the integer 12345."""
    frame = listings().astype({column: str for column in NUMERIC_AS_TEXT})
    frame["last_review"] = 12345
    frame.to_parquet(path)
    return path


def state(ws: Path) -> tuple[str, tuple[int | None, int], list[str]]:
    """prod in the store and the registry, and every stored version: what must not change."""
    store = Workspace(ws).store
    return store.resolve(f"{MODEL}:prod").ref, registry_state(ws), sorted(v.ref for v in store.versions())


def test_numbers_stored_as_text_stop_the_run_before_anything_is_stored(
    trained_workspace: Path, tmp_path: Path
) -> None:
    before = state(trained_workspace)
    result = cli("run", *FAST, f"etl.sample={broken_parquet(tmp_path / 'broken.parquet')}")
    expected = ["latitude is text holding numbers, expected float", "store latitude as numbers",
                "last_review is integer, expected date"]  # fmt: skip
    line = assert_clean_error(result, 1, "get_data", *expected)
    assert "minimum_nights is text holding numbers, expected integer" in line
    assert "price is" not in line  # the spec declares how prices are written: text parses
    assert state(trained_workspace) == before


def test_retrain_on_the_broken_batch_is_stopped_and_promotes_nothing(
    trained_workspace: Path, tmp_path: Path
) -> None:
    before = state(trained_workspace)
    result = cli("retrain", str(broken_parquet(tmp_path / "broken.parquet")), *FAST)
    assert result.code == 1 and "Traceback" not in result.output, result.output
    [decision] = result.stdout.splitlines()
    assert decision.startswith("stopped by data check:") and "latitude is text holding numbers" in decision
    assert state(trained_workspace) == before


def test_words_in_a_numeric_csv_column_stop_the_run(trained_workspace: Path, tmp_path: Path) -> None:
    frame = listings().astype({"minimum_nights": object})
    frame.loc[[3, 40], "minimum_nights"] = ["two", "a week"]
    frame.to_csv(tmp_path / "words.csv", index=False)
    before = state(trained_workspace)
    result = cli("run", *FAST, f"etl.sample={tmp_path / 'words.csv'}")
    assert_clean_error(result, 1, "minimum_nights is text (values that are not numbers), expected integer",
                       f"id {frame['id'].iloc[3]} (minimum_nights='two')")  # fmt: skip
    assert state(trained_workspace) == before


@pytest.mark.parametrize("date", ["1999-06-01", "2999-01-01"])
def test_a_date_far_in_the_past_or_future_is_dropped_and_counted(tmp_path: Path, date: str) -> None:
    frame = listings()
    reviewed = frame.index[frame["last_review"].notna()][:3]
    frame.loc[reviewed, "last_review"] = date
    frame.to_csv(tmp_path / "dates.csv", index=False)
    steps = "main.steps=get_data,basic_cleaning,data_check"
    result = cli("run", *FAST, steps, f"etl.sample={tmp_path / 'dates.csv'}")
    assert result.code == 0, result.output
    assert "removed_range_last_review = 3" in result.stdout
    assert "tests_failed = 0" in result.stdout  # data_check's own date test passes on what cleaning kept
    clean = pd.read_csv(Workspace(tmp_path / "ws").store.path("clean_sample.csv"))
    assert set(frame["id"][reviewed]).isdisjoint(clean["id"])


def test_check_and_the_pytest_data_tests_see_the_types_as_read(tmp_path: Path) -> None:
    broken = broken_parquet(tmp_path / "broken.parquet")
    listings().to_parquet(tmp_path / "ref.parquet")  # a good reference, with proper types
    result = cli("check", "--csv", str(broken), "--ref", str(tmp_path / "ref.parquet"))
    assert_clean_error(result, 1, "column_dtypes", "price is text holding numbers", "last_review is integer")
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "modelmill.validation.data_tests",
            "--csv", str(broken), "--ref", str(tmp_path / "ref.parquet")]  # fmt: skip
    tests = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert tests.returncode == 1 and "FAILED" in tests.stdout and "test_column_dtypes" in tests.stdout
    assert "price is text holding numbers" in tests.stdout


def test_score_rejects_name_physical_lines_and_a_stray_quote_costs_one_line(
    trained_workspace: Path, tmp_path: Path
) -> None:
    frame = listings(60).astype({"name": object})
    frame.loc[[5, 6], "name"] = ["Sunny loft\nwith a view\nnear the park", "Two\nlines"]
    lines = frame.to_csv(index=False, lineterminator="\n").splitlines(keepends=True)
    # rows 0-4 on lines 2-6, row 5 on 7-9, row 6 on 10-11, row 7 on line 12, ...
    stray = 12
    lines[stray - 1] = lines[stray - 1].replace(",", ',"Cozy', 1)  # an opening quote never closed
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("".join(lines))
    result = cli("score", str(src), str(out), "--model", f"{MODEL}:prod", "--json")
    assert result.code == 0, result.output
    rejects = pd.read_csv(f"{out}.rejects.csv")
    assert rejects["line"].tolist() == [stray]
    assert rejects["reason"][0].startswith(f"malformed CSV line {stray}: unbalanced quote")
    assert pd.read_csv(out)["id"].tolist() == frame["id"].drop(index=7).tolist()
