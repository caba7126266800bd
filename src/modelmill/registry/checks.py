"""Two checks before anyone relies on a model directory: are these the registered bytes, and
does the model load and predict.

* :func:`verify_copy`: a registry download must hash (:func:`modelmill.core.hashing.sha256_path`,
  the store's directory digest) to the ``modelmill.digest`` tag recorded when it was
  registered, as a store read must hash to its index entry. A flipped byte in ``model.skops``
  or ``onnx/model.onnx`` is caught here, before anything is loaded.
* :func:`load_checked`: loads the scikit-learn pipeline and, when the runtime uses it, the
  ONNX graph, predicts the model's input example with both and compares them. Promotion
  (``modelmill promote``, the register step) and serving call the same function, so a model
  that was allowed to become ``prod`` is one the service can load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelmill.core.errors import BrokenModelError, IntegrityError, UsageError
from modelmill.core.hashing import sha256_path
from modelmill.registry.predictor import Predictor, SklearnPredictor

log = logging.getLogger("modelmill.registry")
# one row of these for the required columns when a model has no input example
_DEFAULTS = {"string": "", "double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False}


def verify_copy(path: Path, digest: str | None, uri: str, artifact: str | None) -> None:
    """Raise :class:`IntegrityError` when the files at ``path`` (a download of ``uri``) do not
    hash to ``digest``; without a digest (a version registered outside modelmill) warn only."""
    if not digest:
        log.warning("warning: %s has no modelmill.digest tag (registered outside modelmill): "
                    "its files are used unverified", uri)  # fmt: skip
        return
    actual = sha256_path(path)
    if actual != digest:
        fix = (
            f"re-register it from the store: modelmill promote {artifact} (registers a fresh copy "
            "and makes it prod)"
            if artifact
            else "register the model again"
        )
        raise IntegrityError(
            f"the registry copy of {uri} is corrupted: its files hash to sha256:{actual[:12]} but it "
            f"was registered as sha256:{digest[:12]}; {fix}"
        )


def why(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters): fits an error line."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class CheckedModel:
    """A model directory that loaded and predicted its input example."""

    path: Path
    meta: Any  # mlflow.models.Model: signature, input example, run id
    sklearn: SklearnPredictor  # always loaded: the reference for ONNX, and its fallback
    predictor: Predictor  # what ``runtime`` chose: onnxruntime, or ``sklearn`` itself
    example: Any  # the DataFrame predicted (None: no input example and no signature)
    predictions: np.ndarray


def load_checked(
    path: Path, *, label: str | None = None, runtime: str = "auto", threads: int | None = None
) -> CheckedModel:
    """Load the model at ``path`` for ``runtime`` (see :mod:`modelmill.registry.predictor`) and
    predict its input example (else one row of defaults for the signature's required columns).

    Raises :class:`BrokenModelError` (exit 1) naming ``label`` and the cause when the model
    does not load, predicts the wrong number of values or non-finite ones, or when its ONNX
    graph disagrees with scikit-learn on the example; a :class:`UsageError` for a runtime the
    model cannot use (``onnx`` without a graph).
    """
    from mlflow.models import Model

    from modelmill.registry.predictor import load_predictor, load_sklearn_predictor

    label = label or str(path)
    try:
        meta = Model.load(str(path))
        sklearn = load_sklearn_predictor(Path(path))
        predictor = load_predictor(path, runtime, threads, sklearn=sklearn)
        example = example_frame(meta, path)
    except UsageError:  # a runtime the model cannot use: the request is wrong, not the model
        raise
    except Exception as exc:
        raise BrokenModelError(f"model {label} does not load ({why(exc)})") from exc
    if example is None:
        return CheckedModel(Path(path), meta, sklearn, predictor, None, np.empty(0))
    try:
        predictions, proba = predictor.predict_full(example)
        reference, reference_proba = (
            sklearn.predict_full(example) if predictor is not sklearn else (None, None)
        )
    except Exception as exc:
        raise BrokenModelError(f"model {label} cannot predict its input example ({why(exc)})") from exc
    if proba is None:
        predictions = np.asarray(predictions, dtype=np.float64).ravel()
        check_predictions(predictions, len(example), label)
        check_parity(predictions, predictions if reference is None else reference, label)
    else:  # a classifier: finite probabilities, and ONNX's agree with scikit-learn's
        check_predictions(proba.sum(axis=1), len(example), label)
        if reference_proba is not None:
            check_parity(proba, reference_proba, label, absolute=True)
            check_labels_agree(predictions, reference, label)
    return CheckedModel(Path(path), meta, sklearn, predictor, example, predictions)


def example_frame(meta: Any, path: Path) -> Any:
    """The input example saved with the model, else one row of defaults for the required
    columns of its signature, else ``None`` (nothing to predict)."""
    import pandas as pd

    if meta.saved_input_example_info:
        example = meta.load_input_example(str(path))
        if isinstance(example, pd.DataFrame) and len(example):
            return example
    if meta.signature is None:
        return None
    specs = meta.signature.inputs.inputs
    return pd.DataFrame(
        [{s.name: _DEFAULTS.get(getattr(s.type, "name", ""), "") for s in specs if s.required}]
    )


def check_predictions(predictions: Any, rows: int, label: str) -> None:
    """One finite prediction per example row, else :class:`BrokenModelError`."""
    values = np.asarray(predictions, dtype=np.float64).ravel()
    if len(values) != rows or not np.isfinite(values).all():
        shown = np.array2string(values[:5], precision=4)
        raise BrokenModelError(f"model {label} predicted {shown} for its {rows} example rows")


def check_parity(predictions: Any, reference: Any, label: str, absolute: bool = False) -> None:
    """ONNX predictions within :data:`~modelmill.registry.onnx_export.TOLERANCE` of scikit-learn's
    (relative; ``absolute``: a classifier's probabilities, compared absolutely)."""
    from modelmill.registry.onnx_export import TOLERANCE, relative_difference

    got, want = np.asarray(predictions, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    differences = np.abs(got - want) if absolute else relative_difference(got, want)
    worst = float(np.max(differences, initial=0.0))
    if worst > TOLERANCE:
        how = "absolute" if absolute else "relative"
        raise BrokenModelError(
            f"model {label}: ONNX and scikit-learn disagree on the input example by {worst:.3g} {how} "
            f"(tolerance {TOLERANCE:g}); serve it with --runtime sklearn"
        )


def check_labels_agree(labels: Any, reference: Any, label: str) -> None:
    """A classifier's ONNX labels equal scikit-learn's on the input example."""
    differ = int(np.sum(np.asarray(labels, dtype=object) != np.asarray(reference, dtype=object)))
    if differ:
        raise BrokenModelError(
            f"model {label}: ONNX and scikit-learn predict different labels for {differ} example row(s); "
            "serve it with --runtime sklearn"
        )
