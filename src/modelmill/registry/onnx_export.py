"""The ONNX fast path, written next to every exported model: ``onnx/model.onnx`` + ``onnx/onnx.json``.

The graph is written only when it predicts like the scikit-learn pipeline: at export the
two are run on held-out rows (the validation split) and every prediction must agree within
:data:`TOLERANCE` relative; for a classifier (``task: classification``, with its ``classes``
and ``threshold``), every probability within :data:`TOLERANCE` absolute and every label
(decided from the graph's probabilities with the threshold) identical. ``onnx.json`` always
says what happened (``status``: ``ok``, ``refused`` when parity failed, ``unavailable`` when
the pipeline cannot be converted or the ``onnx`` extra is missing), with the measured
differences and the versions used, so ``/metadata`` and ``modelmill score`` can say why a
model is served by scikit-learn.

Because the files live inside the model directory, the store artifact, the registered
version and every download carry them; nothing else has to be kept in sync.
"""

from __future__ import annotations

import contextlib
import json
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

ONNX_DIR = "onnx"
MODEL_FILE = "model.onnx"
REPORT_FILE = "onnx.json"
TOLERANCE = 1e-4  # relative difference allowed between ONNX and scikit-learn predictions (absolute
# for a classifier's probabilities, whose labels must also be identical)
PARITY_ROWS = 5000  # held-out rows compared at export (all of them when fewer)
_VERSIONS = ("skl2onnx", "onnx", "onnxruntime", "scikit-learn")


def relative_difference(onnx: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|onnx - reference| / max(|reference|, 1e-9)``, element-wise."""
    onnx, reference = (
        np.asarray(onnx, dtype=np.float64).ravel(),
        np.asarray(reference, dtype=np.float64).ravel(),
    )
    return np.abs(onnx - reference) / np.maximum(np.abs(reference), 1e-9)


def session(blob: bytes | str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session; ``threads`` caps the intra-op pool (1 for online serving)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # idle pool threads sleep instead of spinning: spinning steals the cores the reader,
    # the validation or other workers need (5.6 s instead of 1.9 s per 100k rows when loaded)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    source = str(blob) if isinstance(blob, Path | str) else blob
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in _VERSIONS:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = None
    return found


def check_parity(pipeline: Any, blob: bytes, inputs: list[Any], rows: Any) -> dict[str, Any]:
    """Predict ``rows`` with both runtimes; the largest differences and whether they pass."""
    from modelmill.features.onnx import feeds
    from modelmill.features.onnx_classifier import is_classifier

    rows = rows.head(PARITY_ROWS)
    if is_classifier(pipeline):
        return check_classifier_parity(pipeline, blob, inputs, rows)
    expected = np.asarray(pipeline.predict(rows), dtype=np.float64)
    got = session(blob).run(None, feeds(rows, inputs))[0]
    rel = relative_difference(got, expected)
    worst = float(rel.max()) if len(rel) else 0.0
    return {
        "rows": len(rows),
        "max_relative_difference": worst,
        "max_absolute_difference": float(np.max(np.abs(got.ravel() - expected))) if len(rel) else 0.0,
        "tolerance": TOLERANCE,
        "passed": bool(np.isfinite(worst) and worst <= TOLERANCE),
    }


def check_classifier_parity(pipeline: Any, blob: bytes, inputs: list[Any], rows: Any) -> dict[str, Any]:
    """Classifiers: the probabilities within :data:`TOLERANCE` absolute of ``predict_proba``'s,
    and the labels decided from them in numpy with the model's threshold
    (:func:`~modelmill.features.onnx_classifier.decide`) identical to ``predict``'s."""
    from modelmill.core.labels import decide
    from modelmill.features.onnx import OnnxConversionError, feeds
    from modelmill.features.onnx_classifier import PROBABILITIES, decision_of, labels_array

    classes, threshold = decision_of(pipeline)
    expected = np.asarray(pipeline.predict_proba(rows), dtype=np.float64)
    got = np.asarray(session(blob).run([PROBABILITIES], feeds(rows, inputs))[0], dtype=np.float64)
    if got.shape != expected.shape:
        raise OnnxConversionError(
            f"the graph's probabilities have shape {got.shape}, scikit-learn's {expected.shape}"
        )
    worst = float(np.max(np.abs(got - expected))) if got.size else 0.0
    labels = decide(got, labels_array(classes), threshold)
    mismatches = int(np.sum(labels != labels_array(pipeline.predict(rows))))
    return {
        "rows": len(rows),
        "max_probability_difference": worst,
        "max_absolute_difference": worst,
        "label_mismatches": mismatches,
        "tolerance": TOLERANCE,
        "passed": bool(np.isfinite(worst) and worst <= TOLERANCE and mismatches == 0),
    }


def _task(pipeline: Any) -> dict[str, Any]:
    """``task`` (and for a classifier ``classes``, ``threshold``) as the report records them."""
    from modelmill.features.onnx import OnnxConversionError
    from modelmill.features.onnx_classifier import decision_of, is_classifier

    if not is_classifier(pipeline):
        return {"task": "regression"}
    try:
        classes, threshold = decision_of(pipeline)
    except ValueError as exc:  # a threshold the graph's probabilities cannot take
        raise OnnxConversionError(str(exc)) from None
    return {"task": "classification", "classes": classes, "threshold": threshold}


def _refusal(parity: dict[str, Any]) -> str:
    if "label_mismatches" not in parity:
        return (f"ONNX predictions differ from scikit-learn's by up to "
                f"{parity['max_relative_difference']:.3g} relative (tolerance {TOLERANCE:g})")  # fmt: skip
    worst, mismatches = parity["max_probability_difference"], parity["label_mismatches"]
    return (f"ONNX probabilities differ from scikit-learn's by up to {worst:.3g} (tolerance "
            f"{TOLERANCE:g}) and {mismatches} of {parity['rows']} labels differ")  # fmt: skip


def export_onnx(pipeline: Any, rows: Any, model_dir: Path) -> dict[str, Any]:
    """Write ``model_dir/onnx/`` for ``pipeline`` and return the report (never raises for a
    pipeline that cannot be converted: the model is then served by scikit-learn)."""
    from modelmill.features.onnx import OnnxConversionError, to_onnx

    started = time.perf_counter()
    report: dict[str, Any] = {"versions": _versions()}
    try:
        report |= _task(pipeline)
        blob, inputs = to_onnx(pipeline)
        parity = check_parity(pipeline, blob, inputs, rows)
    except (OnnxConversionError, ImportError) as exc:
        report |= {"status": "unavailable", "reason": str(exc)}
    else:
        report |= {"inputs": [spec.to_dict() for spec in inputs], "parity": parity}
        if parity["passed"]:
            report["status"] = "ok"
        else:
            report |= {"status": "refused", "reason": _refusal(parity)}
    report["seconds"] = round(time.perf_counter() - started, 3)
    folder = model_dir / ONNX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if report["status"] == "ok":
        (folder / MODEL_FILE).write_bytes(blob)
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if report["status"] == "ok":
        _cut_ahead(folder / MODEL_FILE)
    return report


def _cut_ahead(path: Path) -> None:
    """Cut the graph at its trees now, into this machine's cache (see
    :mod:`~modelmill.registry.graph_cache`): the first score or serve of the model here then
    skips it (0.5 s on the course forest, plus a second importing ``onnx`` in a new process)."""
    from modelmill.registry.compiled_graph import split_graph
    from modelmill.registry.graph_cache import cached_split

    with contextlib.suppress(Exception):  # an optimisation: the load cuts it if this could not
        cached_split(path, split_graph)


def read_report(model_dir: Path) -> dict[str, Any] | None:
    """``onnx/onnx.json`` of a model directory, or ``None`` for models exported before it existed."""
    path = Path(model_dir) / ONNX_DIR / REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None
