"""How raw cell values are read, shared by the pipeline's transformers and the ONNX feeds.

These helpers are pure numpy/pandas on purpose: :mod:`modelmill.features.transformers`
(scikit-learn classes) and :mod:`modelmill.features.onnx` (the feeds of the ONNX graph)
must parse a date, a category or a yes/no word identically, and the ONNX scoring path
(``modelmill score``, online serving) must not import scikit-learn and SciPy (~2 s of
start-up) just to reach them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EPOCH", "ISO", "boolean_values", "category_text", "category_texts", "parse_dates"]

EPOCH = "1970-01-01"
ISO = "%Y-%m-%d"


def parse_dates(column: pd.Series, format: str | None = None) -> pd.Series:
    """Dates as ``datetime64[ns]``; anything unparsable (or missing) becomes ``NaT``.

    ISO dates (``2019-05-21``, what cleaned tables hold) are parsed in one vectorized pass;
    the values that fail it are parsed with ``format`` (a spec's ``strptime`` format, for raw
    rows), then with pandas' per-value ``format="mixed"`` parser (~50x slower)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        text = column.astype(object).where(column.notna(), None)
        parsed = _naive(pd.to_datetime(text, errors="coerce", format=ISO))
        for fallback in (format, "mixed"):
            retry = parsed.isna() & text.notna()
            if fallback in (None, ISO) or not retry.any():
                continue
            parsed[retry] = _naive(pd.to_datetime(text[retry], errors="coerce", format=fallback))
    return _naive(parsed)


def _naive(parsed: pd.Series) -> pd.Series:
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    if parsed.dtype != "datetime64[ns]":  # a date outside 1677-2262 has no nanosecond form: NaT
        parsed = parsed.where((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max))
    return parsed.astype("datetime64[ns]")


def category_text(value: Any) -> str:
    """One category value as text, the same for a CSV cell and a JSON value: ``""`` when
    missing, ``"4"`` for ``4``, ``4.0`` (an integer column with gaps reads as floats) and ``"4"``."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def category_texts(column: pd.Series) -> np.ndarray:
    """:func:`category_text` of every value of ``column`` (1-D object array); a pandas string
    column is taken as it is, missing values ``""``, without a Python call per value."""
    if pd.api.types.is_string_dtype(column.dtype) and not pd.api.types.is_object_dtype(column.dtype):
        return column.to_numpy(dtype=object, na_value="")
    return np.asarray([category_text(v) for v in column.to_numpy(dtype=object)], dtype=object)


def boolean_values(values: Any, true_values: Any, false_values: Any) -> np.ndarray:
    """1.0 / 0.0 / NaN of each value: booleans, the numbers 1 and 0, and the words of
    ``true_values``/``false_values`` (case and surrounding spaces ignored; ``true``/``false``
    always count); anything else is missing."""
    truthy = {str(v).strip().lower() for v in true_values} | {"true"}
    falsy = {str(v).strip().lower() for v in false_values} | {"false"}
    items = np.asarray(values, dtype=object).ravel()
    out = np.full(items.shape, np.nan, dtype=np.float64)
    for i, value in enumerate(items):
        if isinstance(value, bool | np.bool_):
            out[i] = float(value)
        elif isinstance(value, int | float | np.integer | np.floating):
            out[i] = float(value) if value in (0, 1) else np.nan
        elif isinstance(value, str):
            word = value.strip().lower()
            out[i] = 1.0 if word in truthy else 0.0 if word in falsy else np.nan
    return out
