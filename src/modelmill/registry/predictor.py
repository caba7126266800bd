"""Load an exported model for inference: onnxruntime when its graph passed parity, else scikit-learn.

``runtime="auto"`` (the default everywhere) uses ``onnx/model.onnx`` when the export wrote
one and onnxruntime is installed, and says why not otherwise (:attr:`Predictor.reason`);
``"onnx"`` insists (a :class:`UsageError` naming the reason); ``"sklearn"`` never uses ONNX.

Both predictors take the same inputs: a DataFrame of raw listing columns (batch scoring)
(``predict``, or ``prepare`` then ``run`` so that batch scoring can encode the next chunk
while the current one is predicted); the ONNX predictor also takes JSON-like records
(``predict_records``: online serving skips pandas entirely, ~2 ms per request).

Both have the same interface for classifiers: ``classes`` (the labels, in the model's order;
``None`` for a regressor) and ``threshold`` (on ``P(classes[1])``); ``predict``/``run``/
``predict_records`` give labels (a numpy array of the classes' kind: int64 for integers,
object for strings), ``predict_proba`` the ``(N, n_classes)`` float64 probabilities, and
``predict_full``/``run_full``/``predict_records_full`` both at once, ``(labels, probabilities)``
(``(values, None)`` for a regressor), the model run once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelmill.core.errors import UsageError
from modelmill.registry.onnx_export import MODEL_FILE, ONNX_DIR, read_report, session

RUNTIMES = ("auto", "onnx", "sklearn")
RUN_ROWS = 16_384  # rows per onnxruntime call in batch scoring (bounds the dense intermediates)


Full = tuple[np.ndarray, np.ndarray | None]  # (values or labels, probabilities or None)


def _no_probabilities(runtime: str) -> UsageError:
    return UsageError(f"this model is a regressor: it has no probabilities ({runtime} predictor)")


@dataclass
class SklearnPredictor:
    """The fitted scikit-learn pipeline (skops, trusted types from ``MLmodel``)."""

    pipeline: Any
    reason: str | None = None  # why not ONNX (None when sklearn was asked for)
    runtime: str = field(default="sklearn", init=False)
    classes: list[Any] | None = field(default=None, init=False)  # a classifier's, in the model's order
    threshold: float | None = field(default=None, init=False)  # a final FixedThresholdClassifier's
    trees: str | None = field(default=None, init=False)  # no ONNX graph, no tree evaluator to name
    _labels: np.ndarray | None = field(default=None, init=False, repr=False)  # classes as an array

    def __post_init__(self) -> None:
        from modelmill.features.onnx_classifier import (
            final_threshold,
            is_classifier,
            json_labels,
            labels_array,
        )

        if is_classifier(self.pipeline):
            self.classes = json_labels(self.pipeline.classes_)
            self.threshold = final_threshold(self.pipeline)
            self._labels = labels_array(self.classes)

    def prepare(self, frame: Any) -> Any:
        """The model's input for ``frame`` (the frame itself: the pipeline encodes it)."""
        return frame

    def run(self, prepared: Any) -> np.ndarray:
        """Predictions (float64) of a regressor, labels of a classifier (``classes``' dtype)."""
        predicted = self.pipeline.predict(prepared)
        if self._labels is None:
            return np.asarray(predicted, dtype=np.float64).ravel()
        return np.asarray(predicted, dtype=self._labels.dtype).ravel()

    def run_full(self, prepared: Any) -> Full:
        """:meth:`run` and the probabilities ``(N, n_classes)`` (``None`` for a regressor), the
        model run once: labels are decided from the probabilities as the model decides them
        (``P(classes[1]) >= threshold`` with a threshold, else the most probable class)."""
        from modelmill.core.labels import decide

        if self._labels is None:
            return self.run(prepared), None
        probabilities = np.asarray(self.pipeline.predict_proba(prepared), dtype=np.float64)
        return decide(probabilities, self._labels, self.threshold), probabilities

    def predict(self, frame: Any) -> np.ndarray:
        return self.run(frame)

    def predict_proba(self, frame: Any) -> np.ndarray:
        if self._labels is None:
            raise _no_probabilities(self.runtime)
        return np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)

    def predict_full(self, frame: Any) -> Full:
        return self.run_full(frame)


@dataclass
class OnnxPredictor:
    """An onnxruntime session over ``onnx/model.onnx`` and the inputs it expects.

    A classifier's graph gives probabilities; its labels are decided here, in numpy, with
    ``threshold`` from the export report (:func:`~modelmill.features.onnx_classifier.decide`),
    never taken from the graph's own label output."""

    session: Any
    inputs: list[Any]
    parity: dict[str, Any]
    reason: str | None = None
    runtime: str = field(default="onnx", init=False)
    classes: list[Any] | None = None  # from the report: a classifier's, in the model's order
    threshold: float | None = None  # binary: on P(classes[1]); None for multiclass
    trees: str = "onnxruntime"  # who evaluates the trees: "compiled (HOW)", or onnxruntime and why
    _labels: np.ndarray | None = field(default=None, init=False, repr=False)  # classes as an array

    def __post_init__(self) -> None:
        from modelmill.features.onnx_classifier import labels_array

        self._labels = labels_array(self.classes) if self.classes is not None else None

    def prepare(self, frame: Any) -> dict[str, np.ndarray]:
        """The graph's feeds for ``frame`` (Python work, holds the GIL)."""
        from modelmill.features.onnx import feeds

        return feeds(frame, self.inputs)

    def _outputs(self, prepared: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's first output (probabilities for a classifier) per :data:`RUN_ROWS` rows."""
        from modelmill.features.onnx_classifier import PROBABILITIES

        names = None if self._labels is None else [PROBABILITIES]
        rows = len(next(iter(prepared.values()))) if prepared else 0
        return [
            self.session.run(names, {k: v[start : start + RUN_ROWS] for k, v in prepared.items()})[0]
            for start in range(0, rows, RUN_ROWS)
        ]

    def run(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        """Predict prepared feeds (native work: onnxruntime releases the GIL), at most
        :data:`RUN_ROWS` rows per call: the graph's intermediates are dense (400 TF-IDF columns
        in float64 are 320 MB per 100,000 rows), so slices keep a chunk's memory bounded.
        Values of a regressor (float64), labels of a classifier."""
        if self._labels is not None:
            return self.run_full(prepared)[0]
        parts = self._outputs(prepared)
        if not parts:
            return np.empty(0, dtype=np.float64)
        return np.asarray(np.concatenate([np.ravel(p) for p in parts]), dtype=np.float64)

    def run_full(self, prepared: dict[str, np.ndarray]) -> Full:
        """:meth:`run` and a classifier's probabilities ``(N, n_classes)`` (``None`` for a regressor)."""
        if self._labels is None:
            return self.run(prepared), None
        parts = self._outputs(prepared)
        width = len(self._labels)
        probabilities = np.concatenate(parts).astype(np.float64) if parts else np.empty((0, width))
        return self._decide(probabilities)

    def _decide(self, probabilities: np.ndarray) -> Full:
        from modelmill.core.labels import decide

        assert self._labels is not None  # a classifier's graph
        probabilities = np.asarray(probabilities, dtype=np.float64)
        return decide(probabilities, self._labels, self.threshold), probabilities

    def predict(self, frame: Any) -> np.ndarray:
        return self.run(self.prepare(frame))

    def predict_proba(self, frame: Any) -> np.ndarray:
        if self._labels is None:
            raise _no_probabilities(self.runtime)
        return self.run_full(self.prepare(frame))[1]  # type: ignore[return-value]

    def predict_full(self, frame: Any) -> Full:
        return self.run_full(self.prepare(frame))

    def predict_records(self, records: list[Mapping[str, Any]]) -> np.ndarray:
        """Predict JSON-like rows (absent keys are missing values) without building a frame."""
        from modelmill.features.onnx import feeds_from_records

        if self._labels is not None:
            return self.predict_records_full(records)[0]
        out = self.session.run(None, feeds_from_records(list(records), self.inputs))[0]
        return np.asarray(out, dtype=np.float64).ravel()

    def predict_records_full(self, records: list[Mapping[str, Any]]) -> Full:
        """:meth:`predict_records` and a classifier's probabilities (``None`` for a regressor)."""
        from modelmill.features.onnx import feeds_from_records
        from modelmill.features.onnx_classifier import PROBABILITIES

        if self._labels is None:
            return self.predict_records(records), None
        feeds = feeds_from_records(list(records), self.inputs)
        return self._decide(self.session.run([PROBABILITIES], feeds)[0])


Predictor = SklearnPredictor | OnnxPredictor


def onnx_unavailable(model_dir: Path) -> str | None:
    """Why ``model_dir`` cannot be served with ONNX, or ``None`` when it can."""
    report = read_report(model_dir)
    if report is None:
        return "the model was exported without an ONNX graph (re-train to get one)"
    if report.get("status") != "ok":
        return f"ONNX export {report.get('status')}: {report.get('reason')}"
    if not (model_dir / ONNX_DIR / MODEL_FILE).is_file():
        return f"{ONNX_DIR}/{MODEL_FILE} is missing from the model directory"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed (pip install 'modelmill[onnx]')"
    return None


def load_onnx(model_dir: Path, threads: int | None = None) -> OnnxPredictor:
    """The ONNX predictor of ``model_dir`` (call :func:`onnx_unavailable` first)."""
    from modelmill.features.onnx import OnnxInput

    report = read_report(model_dir) or {}
    inputs = [OnnxInput.from_dict(item) for item in report["inputs"]]
    graph, trees = _graph(model_dir / ONNX_DIR / MODEL_FILE, threads)
    if report.get("task") != "classification":
        return OnnxPredictor(graph, inputs, report["parity"], trees=trees)
    threshold = report.get("threshold")
    return OnnxPredictor(graph, inputs, report["parity"], classes=list(report["classes"]),
                         threshold=None if threshold is None else float(threshold), trees=trees)  # fmt: skip


def _graph(path: Path, threads: int | None) -> tuple[Any, str]:
    """The graph with its trees compiled (:mod:`modelmill.registry.compiled_graph`), else the
    whole graph in onnxruntime; and which one, with the reason."""
    from modelmill.registry.compiled_graph import GraphNotCompiled, compile_graph

    try:
        graph = compile_graph(path, threads)
    except GraphNotCompiled as exc:
        return session(path, threads), f"onnxruntime ({exc})"
    return graph, f"compiled ({graph.trees.evaluator})"


def load_sklearn_predictor(model_dir: Path, reason: str | None = None) -> SklearnPredictor:
    from modelmill.registry.export import load_sklearn
    from modelmill.tracking.mlflow_tracker import quiet_mlflow

    quiet_mlflow()
    return SklearnPredictor(load_sklearn(model_dir), reason)


def load_predictor(
    model_dir: str | Path,
    runtime: str = "auto",
    threads: int | None = None,
    *,
    sklearn: SklearnPredictor | None = None,
) -> Predictor:
    """The predictor for ``model_dir`` according to ``runtime`` (see the module docstring);
    ``sklearn``, the directory's pipeline already loaded, is returned instead of a second copy."""
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    model_dir = Path(model_dir)
    if runtime == "sklearn":
        return sklearn or load_sklearn_predictor(model_dir)
    reason = onnx_unavailable(model_dir)
    if reason is None:
        return load_onnx(model_dir, threads)
    if runtime == "onnx":
        raise UsageError(f"cannot use the ONNX runtime for {model_dir}: {reason}; use --runtime sklearn")
    if sklearn is None:
        return load_sklearn_predictor(model_dir, reason)
    sklearn.reason = reason
    return sklearn
