"""Reading and writing the tables the steps pass along (CSV, or Parquet by extension).

A CSV has no types: what a column holds as read is what pandas' parser makes of it (digits are
numbers, a column with one word is text). The declared types live in the dataset spec
(:mod:`modelmill.datasets.spec`); parsing raw strings into them is :mod:`modelmill.datasets.parse`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from modelmill.datasets.parse import dates_as_text


def read_table(path: str | os.PathLike[str], **kwargs: object) -> pd.DataFrame:
    """A CSV or Parquet file (by extension; CSV otherwise) as a DataFrame."""
    text = str(path)
    if text.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path, **kwargs)


def read_stored_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table written by our steps (``sample.csv``, ``clean_sample.csv``, the splits): dates stay
    ISO text until a step parses them."""
    return read_table(Path(path))


read_listings = read_stored_table  # the name of earlier versions, kept for their callers


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """CSV without the index, dates as ISO text (``YYYY-MM-DD``; with the time only in a column
    where some value has one), byte-stable for equal frames."""
    dated = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if dated:
        frame = frame.copy()
        for column in dated:
            frame[column] = dates_as_text(_naive(frame[column]))
    frame.to_csv(path, index=False)


def _naive(values: pd.Series) -> pd.Series:
    tz = getattr(values.dt, "tz", None)
    return values.dt.tz_localize(None) if tz is not None else values
