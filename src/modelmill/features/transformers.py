"""Importable, picklable-free (skops-safe) transformers for the listings pipeline.

Every class follows the scikit-learn estimator contract: ``__init__`` only stores its
params, learned state ends in ``_``, and ``get_feature_names_out`` names the output
columns, so the classes can be cloned, grid-searched and serialized with skops (which
loads them by module path: they must live in an importable module, never ``__main__``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["AsFloat32", "DaysSinceReview", "EnsureColumns", "TextColumn", "as_frame", "parse_dates"]


def as_frame(X: Any) -> pd.DataFrame:
    """A 2-D input (DataFrame, Series, array, list) as a DataFrame without copying frames."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    array = np.asarray(X, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D input (rows x columns), got an array of shape {array.shape}")
    return pd.DataFrame(array)


def _remember_input(estimator: BaseEstimator, frame: pd.DataFrame) -> None:
    """Set ``n_features_in_`` and, for string column labels, ``feature_names_in_``."""
    estimator.n_features_in_ = frame.shape[1]
    labels = list(frame.columns)
    if labels and all(isinstance(c, str) for c in labels):
        estimator.feature_names_in_ = np.asarray(labels, dtype=object)
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_


def _check_width(estimator: BaseEstimator, frame: pd.DataFrame) -> None:
    expected = estimator.n_features_in_
    if frame.shape[1] != expected:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on {expected} column(s) but got {frame.shape[1]}"
        )


def parse_dates(column: pd.Series) -> pd.Series:
    """Dates as ``datetime64[ns]``; anything unparsable (or missing) becomes ``NaT``.

    ISO dates (``2019-05-21``, what listings hold) are parsed in one vectorized pass; only the
    values that fail it go through pandas' per-value ``format="mixed"`` parser, which gives
    the same result for ISO dates but is ~50x slower."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        text = column.astype(object).where(column.notna(), None)
        parsed = _naive(pd.to_datetime(text, errors="coerce", format="%Y-%m-%d"))
        retry = parsed.isna() & text.notna()
        if retry.any():
            parsed[retry] = _naive(pd.to_datetime(text[retry], errors="coerce", format="mixed"))
    return _naive(parsed)


def _naive(parsed: pd.Series) -> pd.Series:
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    if parsed.dtype != "datetime64[ns]":  # a date outside 1677-2262 has no nanosecond form: NaT
        parsed = parsed.where((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max))
    return parsed.astype("datetime64[ns]")


class DaysSinceReview(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Days between each date and a reference date learned at fit (the latest date seen).

    Works column by column (usually the single ``last_review`` column). Missing or
    unparsable dates are replaced by ``missing_date`` (an old date, so "never reviewed"
    looks like "reviewed very long ago"). A date later than the reference gives a
    negative number. Output: a float array, one column per input column.

    Parameters
    ----------
    missing_date:
        ISO date used for missing values (and as reference when a column has no date).
    """

    def __init__(self, missing_date: str = "2010-01-01") -> None:
        self.missing_date = missing_date

    def fit(self, X: Any, y: Any = None) -> DaysSinceReview:
        """Learn ``reference_dates_``: the latest date of each column (ISO strings)."""
        frame = as_frame(X)
        fallback = pd.Timestamp(self.missing_date)
        references = []
        for label in frame.columns:
            latest = parse_dates(frame[label]).max()
            references.append((fallback if pd.isna(latest) else latest).strftime("%Y-%m-%d"))
        self.reference_dates_ = references
        _remember_input(self, frame)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Days since each date, as floats, shape ``(n_rows, n_columns)``."""
        check_is_fitted(self, "reference_dates_")
        frame = as_frame(X)
        _check_width(self, frame)
        fallback = pd.Timestamp(self.missing_date)
        out = np.empty(frame.shape, dtype=np.float64)
        for j, label in enumerate(frame.columns):
            dates = parse_dates(frame[label]).fillna(fallback)
            delta = pd.Timestamp(self.reference_dates_[j]) - dates
            out[:, j] = delta.dt.days.to_numpy(dtype=np.float64)
        return out


class TextColumn(  # type: ignore[call-arg]
    OneToOneFeatureMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Select one text column as a 1-D array of ``str`` (what ``TfidfVectorizer`` expects).

    Missing values (``None``, ``NaN``, ``pd.NA``) become ``fill_value``; non-string
    values are converted with ``str``. Accepts a Series or a one-column frame/array, so
    it can sit right after a ``ColumnTransformer`` column selection. The 1-D output is
    never wrapped by ``set_output``.

    Parameters
    ----------
    fill_value:
        Text used for missing values.
    """

    def __init__(self, fill_value: str = "") -> None:
        self.fill_value = fill_value

    def fit(self, X: Any, y: Any = None) -> TextColumn:
        """Check there is exactly one column and remember its name."""
        frame = as_frame(X)
        if frame.shape[1] != 1:
            raise ValueError(f"TextColumn expects exactly one column, got {frame.shape[1]}")
        _remember_input(self, frame)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The column as a 1-D object array of ``str``, missing values filled."""
        check_is_fitted(self, "n_features_in_")
        frame = as_frame(X)
        _check_width(self, frame)
        column = frame.iloc[:, 0].astype(object)
        filled = column.where(column.notna(), self.fill_value)
        return np.asarray([v if isinstance(v, str) else str(v) for v in filled], dtype=object)


class EnsureColumns(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Align a frame to the columns seen at fit: absent ones are added as missing values.

    Placed first in the inference pipeline so a request may omit any (optional) column:
    an absent text column becomes ``None`` values (object dtype), an absent numeric
    column ``NaN``; the imputers downstream then treat them like any missing value.
    Columns not seen at fit are dropped, and the output keeps the fit-time order.
    Inputs without column names (arrays) pass through unchanged.
    """

    def fit(self, X: Any, y: Any = None) -> EnsureColumns:
        """Remember the column names and which of them are numeric."""
        frame = as_frame(X)
        _remember_input(self, frame)
        self.numeric_columns_ = [
            str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c].dtype)
        ]
        return self

    def transform(self, X: Any) -> Any:
        """``X`` with exactly the fit-time columns, missing ones filled with missing values."""
        check_is_fitted(self, "n_features_in_")
        if not isinstance(X, pd.DataFrame) or not hasattr(self, "feature_names_in_"):
            return X
        names = list(self.feature_names_in_)
        absent = [c for c in names if c not in X.columns]
        if not absent:
            return X[names]
        frame = X.reindex(columns=names)
        numeric = set(self.numeric_columns_)
        for column in absent:
            if column not in numeric:
                frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        return frame


class AsFloat32(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Round the feature matrix to float32, the precision tree ensembles compare features in.

    scikit-learn's forests cast their input to float32 anyway; histogram gradient boosting
    compares float64. Placed before every model, it makes every family see exactly the
    values its ONNX graph (float32 features) sees, so the two runtimes take the same branch
    at every split. The rounding (~4e-6 of a degree of longitude) changes no model quality.
    """

    def fit(self, X: Any, y: Any = None) -> AsFloat32:
        """Remember the width (no learned state besides it)."""
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``X`` as a float32 array."""
        check_is_fitted(self, "n_features_in_")
        return np.asarray(X, dtype=np.float32)
