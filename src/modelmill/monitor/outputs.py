"""The model outputs a monitoring pass compares: the batch's own or the model's.

A request log or a ``modelmill score`` output already holds them: ``prediction`` (a value, or
a classifier's label) and a classifier's ``proba_<class>`` per class; any other batch is
predicted with the model (``predict_full`` of :mod:`modelmill.registry.predictor`: labels and
probabilities in one pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.drift import is_classifier_reference

PREDICTION = "prediction"
PROBA = "proba_"
TIME_COLUMNS = ("timestamp",)


@dataclass
class ModelOutputs:
    """``values`` (a regressor's floats, a classifier's labels), a classifier's probabilities
    ``(n, n_classes)`` in ``classes`` order (``None`` when unknown), and where they came from."""

    values: np.ndarray
    origin: str
    proba: np.ndarray | None = None
    classes: list[Any] | None = None  # the model's labels (as text when read from column names)

    @property
    def probabilities(self) -> dict[str, np.ndarray] | None:
        """``proba_<class>`` -> the probabilities of that class (``None`` without them)."""
        if self.proba is None or self.classes is None:
            return None
        return {f"{PROBA}{c}": self.proba[:, j] for j, c in enumerate(self.classes)}


def _from_columns(batch: pd.DataFrame, reference: dict[str, Any]) -> ModelOutputs:
    if not is_classifier_reference(reference):
        values = pd.to_numeric(batch[PREDICTION], errors="coerce").to_numpy(dtype=float)
        return ModelOutputs(values, "input column")
    labels = batch[PREDICTION].to_numpy()
    # the model's classes, in its order, as its reference names them: a hand-made file's column
    # order or a feature that happens to start with proba_ changes nothing
    known = list(reference.get("probabilities") or {})
    columns = (
        [c for c in known if c in batch.columns]
        if known
        else [str(c) for c in batch.columns if str(c).startswith(PROBA)]
    )
    if not columns:
        return ModelOutputs(labels, "input column")
    proba = np.column_stack([pd.to_numeric(batch[c], errors="coerce").to_numpy(dtype=float) for c in columns])
    classes = [c[len(PROBA) :] for c in columns]
    return ModelOutputs(labels, f"input columns ({PREDICTION}, {', '.join(columns)})", proba, classes)


def outputs_for(
    batch: pd.DataFrame, reference: dict[str, Any], predictor: Any = None, target: str | None = None
) -> ModelOutputs:
    """The batch's ``prediction`` (and ``proba_*``) columns when it has them, else ``predictor``'s
    outputs on the batch without its ``target`` and time columns. ``predictor``: a loaded
    predictor, or a callable returning one (called only when the model is needed)."""
    classifier = is_classifier_reference(reference)
    if PREDICTION in batch.columns:
        return _from_columns(batch, reference)
    if callable(predictor) and not hasattr(predictor, "predict"):
        predictor = predictor()
    features = batch.drop(columns=[c for c in (target, *TIME_COLUMNS) if c and c in batch.columns])
    runtime = getattr(predictor, "runtime", type(predictor).__name__)
    classes = getattr(predictor, "classes", None)
    if classes is None and classifier and hasattr(predictor, "classes_"):  # a plain sklearn model
        classes = list(predictor.classes_)
    if classes is None:
        return ModelOutputs(np.asarray(predictor.predict(features), dtype=float), f"model ({runtime})")
    full = getattr(predictor, "predict_full", None)
    if full is not None:
        labels, proba = full(features)
    else:
        labels, proba = predictor.predict(features), predictor.predict_proba(features)
    proba = None if proba is None else np.asarray(proba, dtype=np.float64)
    return ModelOutputs(np.asarray(labels).ravel(), f"model ({runtime})", proba, list(classes))
