"""Load an exported model for inference: onnxruntime when its graph passed parity, else scikit-learn.

``runtime="auto"`` (the default everywhere) uses ``onnx/model.onnx`` when the export wrote
one and onnxruntime is installed, and says why not otherwise (:attr:`Predictor.reason`);
``"onnx"`` insists (a :class:`UsageError` naming the reason); ``"sklearn"`` never uses ONNX.

Both predictors take the same inputs: a DataFrame of raw listing columns (batch scoring)
(``predict``, or ``prepare`` then ``run`` so that batch scoring can encode the next chunk
while the current one is predicted); the ONNX predictor also takes JSON-like records
(``predict_records``: online serving skips pandas entirely, ~2 ms per request).
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


@dataclass
class SklearnPredictor:
    """The fitted scikit-learn pipeline (skops, trusted types from ``MLmodel``)."""

    pipeline: Any
    reason: str | None = None  # why not ONNX (None when sklearn was asked for)
    runtime: str = field(default="sklearn", init=False)

    def prepare(self, frame: Any) -> Any:
        """The model's input for ``frame`` (the frame itself: the pipeline encodes it)."""
        return frame

    def run(self, prepared: Any) -> np.ndarray:
        return np.asarray(self.pipeline.predict(prepared), dtype=np.float64).ravel()

    def predict(self, frame: Any) -> np.ndarray:
        return self.run(frame)


@dataclass
class OnnxPredictor:
    """An onnxruntime session over ``onnx/model.onnx`` and the inputs it expects."""

    session: Any
    inputs: list[Any]
    parity: dict[str, Any]
    reason: str | None = None
    runtime: str = field(default="onnx", init=False)

    def prepare(self, frame: Any) -> dict[str, np.ndarray]:
        """The graph's feeds for ``frame`` (Python work, holds the GIL)."""
        from modelmill.features.onnx import feeds

        return feeds(frame, self.inputs)

    def run(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        """Predict prepared feeds (native work: onnxruntime releases the GIL), at most
        :data:`RUN_ROWS` rows per call: the graph's intermediates are dense (400 TF-IDF columns
        in float64 are 320 MB per 100,000 rows), so slices keep a chunk's memory bounded."""
        rows = len(next(iter(prepared.values()))) if prepared else 0
        parts = [
            self.session.run(None, {k: v[start : start + RUN_ROWS] for k, v in prepared.items()})[0]
            for start in range(0, rows, RUN_ROWS)
        ]
        if not parts:
            return np.empty(0, dtype=np.float64)
        return np.asarray(np.concatenate([np.ravel(p) for p in parts]), dtype=np.float64)

    def predict(self, frame: Any) -> np.ndarray:
        return self.run(self.prepare(frame))

    def predict_records(self, records: list[Mapping[str, Any]]) -> np.ndarray:
        """Predict JSON-like rows (absent keys are missing values) without building a frame."""
        from modelmill.features.onnx import feeds_from_records

        out = self.session.run(None, feeds_from_records(list(records), self.inputs))[0]
        return np.asarray(out, dtype=np.float64).ravel()


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
    return OnnxPredictor(session(model_dir / ONNX_DIR / MODEL_FILE, threads), inputs, report["parity"])


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
