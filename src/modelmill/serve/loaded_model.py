"""The served model: one loaded version (:class:`LoadedModel`) and the smoke test before it serves.

:class:`LoadedModel` predicts validated request rows with the runtime chosen at load
(onnxruntime when its graph passed parity, else scikit-learn, which also answers if ONNX
fails); a classifier gives labels and the probability of every class. :func:`smoke_test`
predicts the input example through the request path before a version may serve
(:mod:`modelmill.serve.model_holder` swaps it in).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from modelmill.features.onnx_classifier import json_labels
from modelmill.serve.schema import Column, to_frame

log = logging.getLogger("modelmill.serve")


@dataclass(frozen=True)
class Target:
    """One concrete model version the configured URI resolves to."""

    name: str
    version: str
    alias: str | None
    uri: str
    training_run_id: str | None = None
    registry_run_id: str | None = None
    source: str | None = None  # registry source (runs:/...) or store ref
    resolved: Any = field(default=None, compare=False, repr=False)  # references.ResolvedModel

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def label(self) -> str:
        """``models:/NAME@prod (version 3)``, or the URI when it names the version itself."""
        return self.uri if self.alias is None else f"{self.uri} (version {self.version})"


@dataclass
class LoadedModel:
    """A model version with its request schema, ready to predict.

    ``predictor`` is onnxruntime when the export's ONNX graph passed parity (see
    ``modelmill.registry.predictor``), else the scikit-learn pipeline; ``fallback`` is the
    scikit-learn pipeline kept next to an ONNX predictor, which answers if ONNX ever fails."""

    target: Target
    predictor: Any
    columns: list[Column]
    request_model: Any
    signature: dict[str, Any]
    loaded_at: float
    load_seconds: float
    fallback: Any = None
    onnx_failures: int = 0
    drift: Any = None  # DriftFeed, None when the model has no training reference
    drift_reason: str | None = None  # why there is no live drift
    origin: dict[str, Any] | None = None  # the training run's code: commit, release (runner.releases)

    @cached_property
    def list_adapter(self) -> Any:
        """Validates a JSON list of rows against :attr:`request_model`."""
        from pydantic import TypeAdapter

        return TypeAdapter(list[self.request_model])  # type: ignore[name-defined]

    @property
    def fast(self) -> bool:
        """Whether predictions are cheap enough to run on the event loop (ONNX)."""
        return self.predictor.runtime == "onnx"

    @property
    def classes(self) -> list[Any] | None:
        """A classifier's labels in the model's order (``None`` for a regression)."""
        classes = getattr(self.predictor, "classes", None)
        return None if classes is None else list(classes)

    def predict(self, rows: list[Any]) -> list[Any]:
        """Predicted values (a classifier's labels) of validated rows."""
        return self.predict_full(rows)[0]

    def predict_full(self, rows: list[Any]) -> tuple[list[Any], Any]:
        """``(values or labels, probabilities or None)`` of validated rows: a classifier's
        ``(n, n_classes)`` probabilities in :attr:`classes` order."""
        if self.fast:
            records = [_record(r) for r in rows]
            try:
                values, proba = self.predictor.predict_records_full(records)
                if proba is not None and not np.isfinite(proba).all():
                    raise ValueError("non-finite probabilities")
                return json_labels(values), proba
            except Exception as exc:  # onnxruntime failed on valid input: scikit-learn answers
                self.onnx_failures += 1
                log.warning(
                    "ONNX prediction failed (%s: %s); answered with scikit-learn", type(exc).__name__, exc
                )
                if self.fallback is None:
                    raise
                return _listed(self.fallback.predict_full(to_frame(rows, self.columns)))
        return _listed(self.predictor.predict_full(to_frame(rows, self.columns)))

    def describe(self) -> dict[str, Any]:
        t = self.target
        return {
            "name": t.name,
            "version": t.version,
            "alias": t.alias,
            "uri": t.uri,
            "training_run_id": t.training_run_id,
            "registry_run_id": t.registry_run_id,
            "source": t.source,
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "runtime": self.predictor.runtime,
            "runtime_reason": self.predictor.reason,
            "trees": self.predictor.trees,  # compiled, or onnxruntime and why (None: scikit-learn)
            "onnx_parity": getattr(self.predictor, "parity", None),
            "onnx_failures": self.onnx_failures,
            "signature": self.signature,
            "origin": self.origin,
            **self._decision(),
        }

    def _decision(self) -> dict[str, Any]:
        """A classifier's classes and decision threshold (binary), for ``/metadata``."""
        if self.classes is None:
            return {"task": "regression"}
        threshold = getattr(self.predictor, "threshold", None)
        kind = "binary" if len(self.classes) == 2 else "multiclass"
        return {"task": kind, "classes": json_labels(self.classes), "threshold": threshold}


def smoke_test(model: LoadedModel, rows: list[Any]) -> None:
    """Predict the input example through the request path (validated rows, as a request
    sends them); with ONNX, also check it agrees with scikit-learn on it. The model itself
    was already checked by :func:`modelmill.registry.checks.load_checked`."""
    from modelmill.registry.checks import check_labels_agree, check_parity, check_predictions

    label = model.target.label
    predictions, proba = model.predict_full(rows)
    check_predictions(predictions if proba is None else np.sum(proba, axis=1), len(rows), label)
    if model.fallback is None:
        return
    reference, reference_proba = model.fallback.predict_full(to_frame(rows, model.columns))
    if proba is None:
        check_parity(np.asarray(predictions), reference, label)
    else:
        check_parity(proba, reference_proba, label, absolute=True)
        check_labels_agree(predictions, reference, label)


def _listed(found: tuple[Any, Any]) -> tuple[list[Any], Any]:
    values, proba = found
    return json_labels(values), proba


def _record(row: Any) -> dict[str, Any]:
    return row.model_dump(by_alias=True, exclude_unset=True) if hasattr(row, "model_dump") else dict(row)
