"""A classifier's quality on actuals: predicted labels matched with the user's labels, then scored.

Actual labels stay what the actuals file holds (strings stay strings, a 0/1 column read as
integers stays integers: never coerced to float). Predicted labels and the model's classes are
brought to the actuals' kind by their text (``1``, ``1.0`` and ``"1"`` are one label; a request
log or a scored file may hold them as text, the classes of ``proba_<class>`` columns always
are), so that scikit-learn compares equal labels as equal.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelmill.tasks import Task


def text_key(value: Any) -> str:
    """A label's text: ``1``, ``1.0``, ``np.int64(1)`` and ``"1"`` are all ``"1"``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _converter(actual: pd.Series) -> Any:
    lookup = {text_key(a): a for a in pd.unique(actual)}
    numeric = pd.api.types.is_numeric_dtype(actual) and not pd.api.types.is_bool_dtype(actual)
    integers = pd.api.types.is_integer_dtype(actual)

    def convert(value: Any) -> Any:
        key = text_key(value)
        if key in lookup:
            return lookup[key]
        if numeric:  # a label no actual has: a number of the actuals' kind when it is one
            try:
                number = float(key)
            except ValueError:
                return key
            return int(number) if integers and number.is_integer() else number
        return key

    return convert


def as_actual_kind(values: Any, actual: pd.Series) -> np.ndarray:
    """``values`` (predicted labels, classes) as labels of the kind of ``actual``."""
    convert = _converter(actual)
    series = pd.Series(np.asarray(values, dtype=object), dtype=object)
    mapping = {v: convert(v) for v in pd.unique(series)}
    out = np.empty(len(series), dtype=object)
    out[:] = [mapping[v] for v in series]
    if pd.api.types.is_numeric_dtype(actual) and not pd.api.types.is_bool_dtype(actual):
        try:
            return out.astype(actual.dtype)
        except (TypeError, ValueError):
            return out
    return out


def class_list(classes: Sequence[Any] | None, actual: pd.Series, predicted: np.ndarray) -> list[Any]:
    """The model's ``classes`` in the actuals' kind; without them (a batch of labels only), the
    sorted labels seen (scikit-learn's order, so a binary task's positive class is the last)."""
    if classes is not None:
        return list(as_actual_kind(list(classes), actual))
    seen = set(pd.unique(actual)) | set(pd.unique(pd.Series(predicted, dtype=object)))
    try:
        return sorted(seen)
    except TypeError:
        return sorted(seen, key=text_key)


def classification_scores(
    task: Task, actual: pd.Series, predicted: np.ndarray, proba: np.ndarray | None, classes: list[Any]
) -> dict[str, float]:
    """The task's metrics (those needing probabilities only with finite ``proba``), rounded;
    a metric scikit-learn cannot compute on these rows (ROC AUC of one class, a class the
    model never had in log loss) is left out, never an exception."""
    if proba is not None and (proba.shape[0] != len(actual) or not np.isfinite(proba).all()):
        proba = None
    y_true = actual.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-class periods: sklearn warns about ill-defined metrics
        scores: dict[str, float] = {}
        for with_proba in (proba,) if proba is None else (proba, None):
            try:
                scores = task.score(y_true, predicted, with_proba, classes)
                break
            except ValueError:
                continue
    return {k: round(float(v), 6) for k, v in scores.items() if np.isfinite(v)}
