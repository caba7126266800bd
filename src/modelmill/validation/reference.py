"""The training reference stored with every model: per-feature statistics, never raw rows.

Monitoring (``modelmill.validation.drift``, ``modelmill.monitor``) compares new data with
this summary only, so a model directory is enough to watch a model in production. The
format (``extras/reference.json``, ``format: modelmill-reference/1``) is::

    {"format": "modelmill-reference/1", "n_rows": 1234,
     "features": {
       "<numeric>": {"kind": "numeric", "n": .., "missing_rate": .., "mean": .., "std": ..,
                     "edges": [...], "shares": [...], "quantiles": [101 values, 0..100 %]},
       "<date>": same as numeric over days since 1970-01-01, with "kind": "date",
       "<categorical>": {"kind": "categorical", "n": .., "missing_rate": ..,
                         "frequencies": {"<top K value>": share, ..., "__other__": share},
                         "unseen_rate": ..., "known": [every value seen, sorted]},
       "<free text>": {"kind": "text", "n": .., "missing_rate": .., "length": <numeric summary>}},
     "prediction": <numeric summary of the predictions>}

A classifier's reference has ``"prediction"``: the categorical summary of the predicted
labels, and ``"probabilities"``: ``{"proba_<class>": <numeric summary>}`` per class, so drift
is checked on the predicted class distribution and on the probability of every class.

Shares are over non-missing values. ``unseen_rate`` is the Good-Turing estimate of the share
of new data taking a value never seen in training (the share of values seen exactly once):
a long-tail column (a street, a product code) always shows some new values, a region should not.
Identifier columns (``id``, ``*_id``, and the spec's ``id``, left out by the caller) are skipped:
new rows always have new ids. A dataset spec's roles decide the kinds (:data:`ROLE_KINDS`).
Values are rounded so the file is deterministic and small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMAT = "modelmill-reference/1"
FILE = "reference.json"  # in the model directory's extras/ folder
OTHER = "__other__"
BINS = 10
TOP_K = 30
MAX_CATEGORIES = 1000  # more distinct values than this (or > 50 % unique) is free text
LEVELS = np.linspace(0.0, 1.0, 101)
DIGITS = 6


def is_identifier(name: str) -> bool:
    """Ids grow with every new listing: comparing them would always say drift."""
    return name == "id" or name.endswith("_id")


def _round(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), DIGITS)


def as_dates(values: pd.Series) -> pd.Series:
    """Days since 1970-01-01 (float, NaN when missing or unparsable)."""
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    days = (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
    return days.astype(float)


def bin_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value: values outside the reference range fall in the first/last bin."""
    return np.searchsorted(edges[1:-1], values, side="right")


def numeric_summary(values: Any, kind: str = "numeric") -> dict[str, Any]:
    """Decile bin edges (deduplicated), bin shares, 101 quantiles, mean/std, missing rate."""
    array = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    present = array[np.isfinite(array)]
    summary: dict[str, Any] = {"kind": kind, "n": int(array.size)}
    summary["missing_rate"] = _round(1.0 - present.size / array.size) if array.size else 0.0
    if present.size == 0:
        return summary | {"mean": None, "std": None, "edges": [], "shares": [], "quantiles": []}
    edges = np.unique(np.round(np.quantile(present, np.linspace(0, 1, BINS + 1)), DIGITS))
    if edges.size == 1:  # a constant column: one bin
        edges = np.array([edges[0], edges[0]])
    counts = np.bincount(bin_index(edges, present), minlength=edges.size - 1)
    return summary | {
        "mean": _round(float(present.mean())),
        "std": _round(float(present.std())),
        "edges": [float(e) for e in edges],
        "shares": [_round(c / present.size) for c in counts],
        "quantiles": [_round(q) for q in np.quantile(present, LEVELS)],
    }


def categorical_summary(values: pd.Series, top_k: int = TOP_K) -> dict[str, Any]:
    """Top-K category shares plus ``__other__``, every known value, missing rate."""
    present = values.dropna().astype(str)
    counts = present.value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    total = max(int(present.size), 1)
    top = counts.iloc[:top_k]
    frequencies = {str(k): _round(v / total) for k, v in top.items()}
    frequencies[OTHER] = _round(float(counts.iloc[top_k:].sum()) / total)
    return {
        "kind": "categorical",
        "n": int(values.size),
        "missing_rate": _round(1.0 - present.size / values.size) if values.size else 0.0,
        "frequencies": frequencies,
        "unseen_rate": _round(float((counts == 1).sum()) / total),
        "known": sorted(str(k) for k in counts.index),
    }


def text_summary(values: pd.Series) -> dict[str, Any]:
    """Free text: only the missing rate and the distribution of lengths."""
    lengths = values.dropna().astype(str).str.len()
    return {
        "kind": "text",
        "n": int(values.size),
        "missing_rate": _round(1.0 - lengths.size / values.size) if values.size else 0.0,
        "length": numeric_summary(lengths.to_numpy(dtype=float)),
    }


def column_kind(values: pd.Series, name: str) -> str | None:
    """``numeric``/``date``/``categorical``/``text``, or ``None`` for identifiers."""
    if is_identifier(name):
        return None
    if pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    present = values.dropna().astype(str)
    if name.endswith(("_date", "_review")) or (len(present) and as_dates(present.head(50)).notna().all()):
        return "date"
    distinct = present.nunique()
    if distinct > MAX_CATEGORIES or distinct > 0.5 * max(len(present), 1):
        return "text"
    return "categorical"


def summarize(values: pd.Series, kind: str) -> dict[str, Any]:
    """The summary of one column of the given kind."""
    if kind == "numeric":
        return numeric_summary(values)
    if kind == "date":
        return numeric_summary(as_dates(values), kind="date")
    if kind == "categorical":
        return categorical_summary(values)
    return text_summary(values)


# a dataset spec's column role -> the kind of its summary (``ignore``: not summarized)
ROLE_KINDS: dict[str, str | None] = {
    "numeric": "numeric", "count": "numeric", "date": "date", "categorical": "categorical",
    "ordinal": "categorical", "boolean": "categorical", "text": "text", "ignore": None,
}  # fmt: skip


def build_reference(
    frame: pd.DataFrame,
    predictions: Any,
    roles: Mapping[str, str] | None = None,
    probabilities: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The reference of ``frame`` (raw model inputs) and ``predictions`` (held-out ones preferred).

    ``roles``: column -> its dataset spec role, which decides the summary's kind (a numeric
    code column declared categorical is summarized as categories); the other columns' kinds
    are inferred from their values (:func:`column_kind`). ``probabilities`` (a classifier's:
    ``proba_<class>`` -> values): ``predictions`` are then labels, summarized as categories."""
    features: dict[str, Any] = {}
    declared = dict(roles or {})
    for name in frame.columns:
        if str(name) in declared:
            kind = ROLE_KINDS.get(declared[str(name)], column_kind(frame[name], str(name)))
        else:
            kind = column_kind(frame[name], str(name))
        if kind is not None:
            features[str(name)] = summarize(frame[name], kind)
    return {
        "format": FORMAT,
        "n_rows": len(frame),
        "features": features,
        **_outputs(predictions, probabilities),
    }


def _outputs(predictions: Any, probabilities: Mapping[str, Any] | None) -> dict[str, Any]:
    if probabilities is None:
        return {"prediction": numeric_summary(np.asarray(predictions, dtype=float))}
    labels = pd.Series(np.asarray(predictions), dtype=object).map(str)
    return {
        "prediction": summarize(labels, "categorical"),
        "probabilities": {
            str(k): numeric_summary(np.asarray(v, dtype=float)) for k, v in probabilities.items()
        },
    }


def write_reference(reference: dict[str, Any], path: Path) -> Path:
    """Write ``reference`` as sorted, compact JSON (deterministic bytes)."""
    path.write_text(json.dumps(reference, sort_keys=True, separators=(",", ":")) + "\n")
    return path


def read_reference(path: Path) -> dict[str, Any]:
    """The reference at ``path``; ``ValueError`` when it is not one."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    return data
