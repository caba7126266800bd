"""Live drift of the served model: ``modelmill_feature_drift_psi{feature=...}`` on ``/metrics``.

Why deferred: PSI needs the rows as plain dicts and a histogram update, which would cost the
predict path. So a request only appends references to its validated rows and predictions
to a :class:`DriftFeed` (O(1), under a lock, trimmed to about ``window`` rows since older
rows would leave the sliding window anyway); the rows are converted and handed to
:class:`modelmill.monitor.live.LiveDrift` when Prometheus scrapes. Each loaded model has its
own feed, built from the reference its train step stored next to it, so a hot swap resets
the window. Models trained before references existed get no feed and no gauge.

A classifier's feed takes labels and, when given, the class probabilities: the gauge then
has ``prediction`` (the PSI of the predicted labels' distribution) and one ``proba_<class>``
per class (each class's probability against the reference's).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("modelmill.serve")

GAUGE = "modelmill_feature_drift_psi"
_HELP = "PSI of each feature (and the prediction) over the sliding window vs. the training reference"


class ClassifierOutputs:
    """A classifier's predicted labels and class probabilities over the last ``window`` rows."""

    def __init__(self, reference: dict[str, Any], window: int, classes: Sequence[Any] | None = None) -> None:
        self.labels_summary = reference["prediction"]
        self.summaries: dict[str, dict[str, Any]] = dict(reference.get("probabilities") or {})
        self.names = proba_names(self.summaries, classes)
        self._labels: deque[Any] = deque(maxlen=window)
        self._proba: dict[str, deque[float]] = {name: deque(maxlen=window) for name in self.names}
        self._lock = threading.Lock()

    def update(self, labels: Sequence[Any], probabilities: Any = None) -> None:
        """Append labels and their probabilities: an ``(n, n_classes)`` array in the model's
        ``classes`` order, or a mapping ``proba_<class>`` -> values."""
        columns = _proba_columns(probabilities, self.names)
        with self._lock:
            self._labels.extend(labels)
            for name, values in columns.items():
                if name in self._proba:
                    self._proba[name].extend(values)

    def scores(self) -> dict[str, float]:
        from modelmill.validation.drift import label_series
        from modelmill.validation.drift_tests import categorical_psi, category_counts, numeric_psi

        with self._lock:
            labels = list(self._labels)
            columns = {name: np.asarray(buffer, dtype=float) for name, buffer in self._proba.items()}
        out: dict[str, float] = {}
        if labels:
            binned, _ = category_counts(self.labels_summary, label_series(self.labels_summary, labels))
            score = categorical_psi(self.labels_summary, binned)
            if score is not None:
                out["prediction"] = round(score, 6)
        for name, values in columns.items():
            score = numeric_psi(self.summaries[name], values[np.isfinite(values)])
            if score is not None:
                out[name] = round(score, 6)
        return out


def proba_names(summaries: dict[str, Any], classes: Sequence[Any] | None = None) -> list[str]:
    """``proba_<class>`` in the model's class order: ``classes`` when known, else the reference's
    classes sorted as scikit-learn sorts them (numbers as numbers)."""
    if classes is not None:
        return [f"proba_{c}" for c in classes]
    labels = [name[len("proba_") :] for name in summaries]
    try:
        ordered = sorted(labels, key=float)
    except ValueError:
        ordered = sorted(labels)
    return [f"proba_{c}" for c in ordered]


def _proba_columns(probabilities: Any, names: list[str]) -> dict[str, list[float]]:
    if probabilities is None:
        return {}
    if isinstance(probabilities, Mapping):
        return {str(k): [float(v) for v in values] for k, values in probabilities.items()}
    array = np.asarray(probabilities, dtype=float)
    if array.ndim != 2 or array.shape[1] != len(names):  # not this model's classes: not comparable
        return {}
    return {name: array[:, j].tolist() for j, name in enumerate(names)}


class DriftFeed:
    """The rows of recent requests waiting for the next scrape, and the model's ``LiveDrift``
    (with a classifier's :class:`ClassifierOutputs`)."""

    def __init__(self, live: Any, window: int, classes: Sequence[Any] | None = None) -> None:
        self.live = live
        self.window = window
        reference = getattr(live, "reference", {}) or {}
        from modelmill.validation.drift import is_classifier_reference

        classifier = is_classifier_reference(reference)
        self.outputs = ClassifierOutputs(reference, window, classes) if classifier else None
        self._pending: deque[tuple[Sequence[Any], Sequence[Any], Any]] = deque()
        self._pending_rows = 0
        self._lock = threading.Lock()

    def submit(self, rows: Sequence[Any], predictions: Sequence[Any], probabilities: Any = None) -> None:
        """Request path: remember the batch; drop the oldest once they fall out of the window.
        ``predictions``: values, or a classifier's labels; ``probabilities``: a classifier's
        ``(n, n_classes)`` array in the model's class order (or ``proba_<class>`` -> values)."""
        with self._lock:
            self._pending.append((rows, predictions, probabilities))
            self._pending_rows += len(rows)
            while self._pending and self._pending_rows - len(self._pending[0][0]) >= self.window:
                self._pending_rows -= len(self._pending.popleft()[0])

    def scores(self) -> dict[str, float]:
        """Feed the pending rows to ``LiveDrift`` and return its PSI per feature."""
        with self._lock:
            batches, self._pending, self._pending_rows = self._pending, deque(), 0
        if batches:
            rows: list[dict[str, Any]] = []
            predictions: list[float] = []
            for batch, values, probabilities in batches:
                rows.extend(_as_dict(r) for r in batch)
                if self.outputs is None:
                    predictions.extend(float(v) for v in values)
                else:
                    self.outputs.update(list(values), probabilities)
            self.live.update(rows, predictions)
        if self.outputs is None:
            return self.live.scores()
        return self.live.scores() | self.outputs.scores()


def _as_dict(row: Any) -> dict[str, Any]:
    return row.model_dump(by_alias=True) if hasattr(row, "model_dump") else dict(row)


def load_feed(
    model_dir: Path, window: int, classes: Sequence[Any] | None = None
) -> tuple[DriftFeed | None, str | None]:
    """The feed for a model directory, or ``None`` and why (never raises: drift is optional).
    ``classes``: a classifier's, in the order of the probabilities it submits (default: the
    model's ``MLmodel`` metadata)."""
    if window <= 0:
        return None, "live drift disabled (drift_window=0)"
    try:
        from modelmill.monitor.live import LiveDrift
    except ImportError as exc:
        return None, f"live drift unavailable: {exc}"
    try:
        live = LiveDrift.from_model_dir(Path(model_dir), window=window)
    except Exception as exc:  # a bad reference must not refuse an otherwise good model
        log.warning("live drift disabled for %s: %s", model_dir, exc)
        return None, f"could not read the training reference: {type(exc).__name__}: {exc}"
    if live is None:
        return None, "the model has no training reference (trained before drift monitoring)"
    from modelmill.validation.drift import is_classifier_reference

    if classes is None and is_classifier_reference(live.reference):
        from modelmill.registry.export import model_classes

        classes = model_classes(Path(model_dir))
    return DriftFeed(live, window, classes), None


class DriftCollector:
    """Prometheus collector: the current model's PSI per feature, computed at scrape time."""

    def __init__(self, current_feed: Callable[[], DriftFeed | None]) -> None:
        self.current_feed = current_feed

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(GAUGE, _HELP, labels=["feature"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        feed = self.current_feed()
        if feed is None:
            return
        try:
            scores = feed.scores()
        except Exception:  # a scrape must still return the other metrics
            log.exception("live drift scores failed")
            return
        family = GaugeMetricFamily(GAUGE, _HELP, labels=["feature"])
        for feature, value in sorted(scores.items()):
            family.add_metric([feature], float(value))
        yield family
