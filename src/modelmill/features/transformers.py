"""Importable, pickle-free (skops-safe) transformers of the inference pipeline.

The column treatments a dataset spec asks for that scikit-learn has no class for: dates
as days since the latest training date (:class:`DaysSince`), one text column as strings
for a vectorizer (:class:`TextColumn`), category values as text (:class:`CategoryText`),
yes/no words as 0/1 (:class:`AsBoolean`), and the pipeline's two ends (:class:`EnsureColumns`,
:class:`AsFloat32`). Every class follows the scikit-learn estimator contract: ``__init__`` only stores its
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

# re-exported: the helpers live in the scikit-learn-free module the ONNX feeds import
from modelmill.features.values import EPOCH, boolean_values, category_text, category_texts, parse_dates

__all__ = [
    "AsBoolean",
    "AsFloat32",
    "CategoryText",
    "DaysSince",
    "DaysSinceReview",
    "EnsureColumns",
    "TextColumn",
    "as_frame",
    "boolean_values",
    "category_text",
    "parse_dates",
]


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


class DaysSince(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Days between each date and a reference date learned at fit (the latest date seen).

    Works column by column. A date later than the reference gives a negative number.
    Missing or unparsable dates become ``missing_date`` (e.g. an old date, so "never
    reviewed" looks like "reviewed very long ago") or, when it is ``None``, stay missing
    (NaN) for an imputer or a model that handles missing values. Output: a float array,
    one column per input column.

    Parameters
    ----------
    missing_date:
        ISO date used for missing values, or ``None`` to keep them missing (the reference of
        a column without any date is then 1970-01-01).
    format:
        ``strptime`` format of dates that are not ISO (``%d/%m/%Y``); ISO dates always parse.
    """

    format: str | None = None  # models exported before the parameter existed load without it

    def __init__(self, missing_date: str | None = None, format: str | None = None) -> None:
        self.missing_date = missing_date
        self.format = format

    def fit(self, X: Any, y: Any = None) -> DaysSince:
        """Learn ``reference_dates_``: the latest date of each column (ISO strings)."""
        frame = as_frame(X)
        fallback = pd.Timestamp(self.missing_date or EPOCH)
        references = []
        for label in frame.columns:
            latest = parse_dates(frame[label], self.format).max()
            references.append((fallback if pd.isna(latest) else latest).strftime("%Y-%m-%d"))
        self.reference_dates_ = references
        _remember_input(self, frame)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Days since each date, as floats, shape ``(n_rows, n_columns)``."""
        check_is_fitted(self, "reference_dates_")
        frame = as_frame(X)
        _check_width(self, frame)
        out = np.empty(frame.shape, dtype=np.float64)
        for j, label in enumerate(frame.columns):
            dates = parse_dates(frame[label], self.format)
            if self.missing_date is not None:
                dates = dates.fillna(pd.Timestamp(self.missing_date))
            delta = pd.Timestamp(self.reference_dates_[j]) - dates
            out[:, j] = delta.dt.days.to_numpy(dtype=np.float64, na_value=np.nan)
        return out


class DaysSinceReview(DaysSince):
    """:class:`DaysSince` under its first name, with its first default (missing reviews are
    2010-01-01): models exported before dataset specs load with skops by this class path."""

    def __init__(self, missing_date: str | None = "2010-01-01", format: str | None = None) -> None:
        super().__init__(missing_date=missing_date, format=format)


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
    A column numeric at fit that arrives as objects (``None`` in a JSON row) is read as
    numbers, unparsable values missing: scikit-learn's constant imputer does not see
    ``None`` in an object column as missing, the ONNX feeds do (:mod:`modelmill.features.onnx`).
    Columns not seen at fit are dropped, and the output keeps the fit-time order.
    Inputs without column names (arrays) pass through unchanged.
    """

    def fit(self, X: Any, y: Any = None) -> EnsureColumns:
        """Remember the column names and which of them are numeric (yes/no columns are not)."""
        frame = as_frame(X)
        _remember_input(self, frame)
        is_bool = pd.api.types.is_bool_dtype
        self.numeric_columns_ = [
            str(c) for c in frame.columns if _numeric(frame[c]) and not is_bool(frame[c].dtype)
        ]
        return self

    def transform(self, X: Any) -> Any:
        """``X`` with exactly the fit-time columns, missing ones filled with missing values."""
        check_is_fitted(self, "n_features_in_")
        if not isinstance(X, pd.DataFrame) or not hasattr(self, "feature_names_in_"):
            return X
        names = list(self.feature_names_in_)
        absent = [c for c in names if c not in X.columns]
        numeric = set(self.numeric_columns_)
        odd = [c for c in names if c in numeric and c in X.columns and not _numeric(X[c])]
        if not absent and not odd:
            return X[names]
        frame = X.reindex(columns=names)
        for column in odd:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        for column in absent:
            if column not in numeric:
                frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        return frame


def _numeric(column: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column.dtype))


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


class CategoryText(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Category values as text (:func:`category_text`), missing ones as ``""``.

    Placed before the encoders of categorical and ordinal columns so they see one type
    whatever the table holds (``4``, ``4.0``, ``"4"`` are one category) and so a missing
    value is the same ``""`` in scikit-learn and in the ONNX graph (whose string inputs
    cannot hold ``None``): a category of its own when the training rows had it, unknown
    (``-1``, or ignored by one-hot) when they had not. Output: a 2-D object array.
    """

    def fit(self, X: Any, y: Any = None) -> CategoryText:
        """Remember the width (and column names)."""
        _remember_input(self, as_frame(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Every value as text."""
        check_is_fitted(self, "n_features_in_")
        frame = as_frame(X)
        _check_width(self, frame)
        out = np.empty(frame.shape, dtype=object)
        for j in range(frame.shape[1]):
            out[:, j] = category_texts(frame.iloc[:, j])
        return out


class AsBoolean(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Yes/no columns as 1.0/0.0 (NaN when missing or not a known word), see :func:`boolean_values`.

    Parameters
    ----------
    true_values, false_values:
        The words of the spec's column (``parse: boolean``), so raw rows predict as cleaned ones.
    """

    def __init__(
        self,
        true_values: tuple[str, ...] = ("yes", "y", "true", "t", "1"),
        false_values: tuple[str, ...] = ("no", "n", "false", "f", "0"),
    ) -> None:
        self.true_values = true_values
        self.false_values = false_values

    def fit(self, X: Any, y: Any = None) -> AsBoolean:
        """Remember the width (and column names)."""
        _remember_input(self, as_frame(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """0/1 floats, NaN for missing, shape ``(n_rows, n_columns)``."""
        check_is_fitted(self, "n_features_in_")
        frame = as_frame(X)
        _check_width(self, frame)
        out = np.empty(frame.shape, dtype=np.float64)
        for j in range(frame.shape[1]):
            out[:, j] = boolean_values(
                frame.iloc[:, j].to_numpy(dtype=object), self.true_values, self.false_values
            )
        return out
