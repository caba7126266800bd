"""The C kernel's ISO dates: exactly pandas' days for ``YYYY-MM-DD``, everything else left to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelmill.datasets.nyc_demo import generate_listings
from modelmill.features import text_kernel
from modelmill.features.onnx import _days
from tests.conftest import REAL_SAMPLE

ODD = [
    "2019-02-29", "2020-02-29", "2020-02-30", "2100-02-29", "2000-02-29", "2019-13-01", "2019-00-10",
    "2019-01-00", "2019-01-32", "2019-1-01", " 2019-01-01", "2019-01-01 ", "2019/01/01", "", None,
    "1677-09-21", "1677-12-31", "1678-01-01", "2261-12-31", "2262-01-01", "2262-04-12", "0001-01-01",
    "2019-01-01T10:30", "20190101", "abcd-ef-gh", "2019-01-0x", "2019-01-01\n", "May 21 2019",
    "\uff12\uff10\uff11\uff19-01-01",  # full-width digits
]  # fmt: skip


def _both(texts: list[str | None], format: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Days through the kernel (Arrow-backed text) and through pandas alone (object text)."""
    arrow = pd.Series(texts, dtype="str")
    assert isinstance(arrow.array, pd.arrays.ArrowStringArray)
    return _days(arrow, format), _days(pd.Series(texts, dtype=object), format)


def test_iso_dates_give_pandas_days_and_odd_texts_are_left_to_pandas() -> None:
    every = pd.date_range("1678-01-01", "2261-12-31", freq="17D").strftime("%Y-%m-%d").tolist()
    leap = [f"{y}-02-29" for y in range(1680, 2261, 4)]  # 1700, 1800, 1900, 2100, 2200: no such day
    got, expected = _both(every + leap + ODD)
    np.testing.assert_array_equal(got, expected)  # NaN where pandas gives NaT
    days, done = text_kernel.iso_days(pa.array(every + leap + ODD, pa.string()))
    valid = len(every) + len(leap)
    assert done[: len(every)].all() and (~done[len(every) : valid]).sum() == 5
    assert (~done[valid:]).sum() == len(ODD) - 5  # four real dates and a None are done
    np.testing.assert_array_equal(days[done], expected[done])


def test_the_listings_review_dates_and_a_spec_format(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = generate_listings(2000, seed=4)["last_review"].tolist()
    if REAL_SAMPLE.is_file():
        texts += pd.read_csv(REAL_SAMPLE, usecols=["last_review"])["last_review"].tolist()
    texts = [None if isinstance(t, float) else str(t) for t in texts]
    got, expected = _both(texts)
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).sum() > len(texts) // 2
    european = ["21/05/2019", "2019-05-21", "31/02/2019", None]
    got, expected = _both(european, "%d/%m/%Y")
    np.testing.assert_array_equal(got, expected)
    assert got[0] == got[1] and np.isnan(got[2])
    monkeypatch.setattr(text_kernel, "_library", lambda: None)  # no compiler: pandas for every value
    assert text_kernel.iso_days(pa.array(european)) is None
    np.testing.assert_array_equal(_both(european, "%d/%m/%Y")[0], expected)
