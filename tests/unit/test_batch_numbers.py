"""Batch validation parses CSV numbers with Arrow in one pass, falling back to pandas for any
column holding a value Arrow would read differently: both paths must give the same frame,
ids and rejects (values, reasons) for every cell, whichever path a column takes."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from modelmill.batch import validate
from modelmill.batch.model import ColumnSpec

COLUMNS = [ColumnSpec("n", "long"), ColumnSpec("x", "double"), ColumnSpec("s", "string")]
TRICKY = ["1", "-1", "+1", "1.5", ".5", "5.", " 7 ", "\t8\n", "\xa09", "\u2003 3", "1e5", "inf",
          "-0", "1e400", "", "  ", None, "abc", "2.0", "9007199254740993",
          "123456789012345678901234567890"]  # fmt: skip
CASES = {
    "tricky": TRICKY,
    "nan words": ["nan", "NaN", "1"],
    "clean integers": ["1", "2", "3"],
    "padded integers with a blank": ["1", " 2", None, ""],
    "floats with blanks": ["1.5", "2", "", None],
    "big ids": ["9007199254740993", "1"],
}


def _table(values: list[str | None]) -> pa.Table:
    column = pa.array(values, pa.string())
    return pa.table({"id": [str(i) for i in range(len(values))], "n": column, "x": column, "s": column})


@pytest.mark.parametrize("values", list(CASES.values()), ids=list(CASES))
def test_arrow_path_matches_the_pandas_path(
    values: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table(values)
    fast = validate.check_chunk(table, COLUMNS, "id", 10)
    monkeypatch.setattr(validate, "_parsed_text", lambda *args: None)
    slow = validate.check_chunk(table, COLUMNS, "id", 10)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    pd.testing.assert_series_equal(fast.ids, slow.ids)
    assert fast.rejects.equals(slow.rejects)


def test_big_integer_ids_keep_every_digit() -> None:
    checked = validate.check_chunk(_table(["9007199254740993", "1"]), [ColumnSpec("n", "long")], "n", 0)
    assert checked.ids.tolist() == [9007199254740993, 1]
    assert checked.rejects.num_rows == 0
