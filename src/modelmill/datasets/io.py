"""Reading and writing listing tables with the dtypes every step expects."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# The columns' declared types live in modelmill.validation.schema (NYC_LISTINGS).


def read_table(path: str | os.PathLike[str], **kwargs: object) -> pd.DataFrame:
    """A CSV or Parquet file (by extension; CSV otherwise) as a DataFrame."""
    text = str(path)
    if text.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path, **kwargs)


def read_listings(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A listings CSV written by our steps: ``last_review`` stays text until cleaning parses it."""
    return read_table(Path(path))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """CSV without the index, dates as ISO strings (byte-stable for equal frames)."""
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
