"""Classifiers in ONNX: what the graph computes, and how labels are decided from it.

A classification pipeline ends in a classifier, possibly wrapped as
:mod:`modelmill.features.decision` wraps it: ``CalibratedClassifierCV(FrozenEstimator(clf))``
and/or (binary) ``FixedThresholdClassifier(FrozenEstimator(inner), threshold=t)``. The graph
(:func:`unwrapped`, converted without ZipMap: :func:`no_zipmap`) computes the probabilities
of the model's classes, ``[N, n_classes]`` floats; the decision is taken in numpy
(:func:`modelmill.core.labels.decide`) from those
probabilities with the model's threshold, so that a threshold
that is not 0.5 is applied exactly as scikit-learn's ``FixedThresholdClassifier`` applies it
(``P(classes[1]) >= threshold``), whatever label the graph itself would output.

Imports nothing from skl2onnx or onnx: the predictors use :func:`labels_array`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5  # a binary model without FixedThresholdClassifier: P(classes[1]) >= 0.5
PROBABILITIES = "probabilities"  # the graph output the predictors read


def is_classifier(pipeline: Any) -> bool:
    """Whether the pipeline's final step is a fitted classifier (it has ``classes_``)."""
    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    return getattr(final, "classes_", None) is not None


def json_labels(classes: Sequence[Any]) -> list[Any]:
    """The classes as JSON values: ints stay ints, strings strings, NumPy scalars converted."""
    out: list[Any] = []
    for value in classes:
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, str | int | float | bool):
            value = str(value)
        out.append(value)
    return out


def labels_array(classes: Sequence[Any]) -> np.ndarray:
    """The classes as the array labels are taken from: int64 for integers, bool for booleans,
    float64 for other numbers, object (Python strings) otherwise."""
    values = json_labels(classes)
    if values and all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool)
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def final_threshold(pipeline: Any) -> float | None:
    """The threshold of a final ``FixedThresholdClassifier`` (``None`` without one)."""
    from sklearn.model_selection import FixedThresholdClassifier

    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    if isinstance(final, FixedThresholdClassifier):
        return float(final.threshold)
    return None


def decision_of(pipeline: Any) -> tuple[list[Any], float | None]:
    """``(classes, threshold)`` of a fitted classification pipeline: its classes in the
    model's order (JSON values) and the threshold on ``P(classes[1])`` the ONNX labels are
    decided with (the ``FixedThresholdClassifier``'s, else 0.5; ``None`` for multiclass).

    Raises ``ValueError`` for a threshold on another class than ``classes[1]``."""
    classes = json_labels(pipeline.classes_)
    if len(classes) != 2:
        return classes, None
    threshold = final_threshold(pipeline)
    if threshold is None:
        return classes, DEFAULT_THRESHOLD
    final = pipeline.steps[-1][1]
    positive = final.pos_label if final.pos_label is not None else pipeline.classes_[1]
    if positive != pipeline.classes_[1]:
        raise ValueError(f"the threshold applies to {positive!r}, not to classes[1] ({classes[1]!r})")
    if final.response_method not in ("predict_proba", "auto"):
        raise ValueError(f"the threshold applies to {final.response_method}, not to probabilities")
    if final.response_method == "auto" and not hasattr(final.estimator_, "predict_proba"):
        raise ValueError("the threshold applies to the decision function, not to probabilities")
    return classes, threshold


def unwrapped(final: Any) -> Any:
    """A copy of the fitted final step that skl2onnx's converters can read: a
    ``FixedThresholdClassifier`` becomes its inner model (the threshold is applied outside
    the graph, ``core.labels.decide``), a ``FrozenEstimator`` the estimator it wraps, and inside a
    ``CalibratedClassifierCV`` each calibrated classifier's frozen estimator the estimator."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    model = copy.deepcopy(final)
    while True:
        if isinstance(model, FixedThresholdClassifier):
            model = model.estimator_
        elif isinstance(model, FrozenEstimator):
            model = model.estimator
        else:
            break
    if isinstance(model, CalibratedClassifierCV):
        for calibrated in model.calibrated_classifiers_:
            while isinstance(calibrated.estimator, FrozenEstimator):
                calibrated.estimator = calibrated.estimator.estimator
        if isinstance(model.estimator, FrozenEstimator):
            model.estimator = model.estimator.estimator
    return model


def no_zipmap(model: Any) -> dict[int, dict[str, Any]]:
    """skl2onnx ``options`` turning ZipMap off for ``model`` (or the classifier ending it,
    when it is a ``Pipeline``): the graph then outputs ``label`` and ``probabilities``."""
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return {id(model): {"zipmap": False}}


def output_problem(model: Any) -> str | None:
    """What is wrong with a converted classifier's outputs (``ModelProto``), or ``None``."""
    names = [o.name for o in model.graph.output]
    if PROBABILITIES not in names:
        return f"the classifier's graph has no {PROBABILITIES} output (outputs: {', '.join(names)})"
    kind = model.graph.output[names.index(PROBABILITIES)].type.tensor_type.elem_type
    if kind not in (1, 11):  # TensorProto.FLOAT, DOUBLE (not a ZipMap sequence of maps)
        return f"the classifier's {PROBABILITIES} output is not a float tensor"
    return None


def convertible(final: Any) -> Any:
    """:func:`unwrapped` ``final``; ``NotImplementedError`` naming what the graph cannot
    reproduce, before skl2onnx fails with a less helpful message."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    model = unwrapped(final)
    if isinstance(model, CalibratedClassifierCV):
        if model.method != "sigmoid":  # skl2onnx 1.20's isotonic takes the nearest point, no interpolation
            raise NotImplementedError(f"{model.method} calibration has no exact ONNX converter (sigmoid has)")
        for calibrated in model.calibrated_classifiers_:
            if isinstance(calibrated.estimator, Pipeline):
                raise NotImplementedError(
                    "a calibrated Pipeline (e.g. scaler + logistic regression): skl2onnx's "
                    "CalibratedClassifierCV converter takes a single classifier"
                )
    return model
