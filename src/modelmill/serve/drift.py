"""Live drift of the served model: ``modelmill_feature_drift_psi{feature=...}`` on ``/metrics``.

Why deferred: PSI needs the rows as plain dicts and a histogram update, which would cost the
predict path. So a request only appends references to its validated rows and predictions
to a :class:`DriftFeed` (O(1), under a lock, trimmed to about ``window`` rows since older
rows would leave the sliding window anyway); the rows are converted and handed to
:class:`modelmill.monitor.live.LiveDrift` when Prometheus scrapes. Each loaded model has its
own feed, built from the reference its train step stored next to it, so a hot swap resets
the window. Models trained before references existed get no feed and no gauge.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("modelmill.serve")

GAUGE = "modelmill_feature_drift_psi"
_HELP = "PSI of each feature (and the prediction) over the sliding window vs. the training reference"


class DriftFeed:
    """The rows of recent requests waiting for the next scrape, and the model's ``LiveDrift``."""

    def __init__(self, live: Any, window: int) -> None:
        self.live = live
        self.window = window
        self._pending: deque[tuple[Sequence[Any], Sequence[float]]] = deque()
        self._pending_rows = 0
        self._lock = threading.Lock()

    def submit(self, rows: Sequence[Any], predictions: Sequence[float]) -> None:
        """Request path: remember the batch; drop the oldest once they fall out of the window."""
        with self._lock:
            self._pending.append((rows, predictions))
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
            for batch, values in batches:
                rows.extend(_as_dict(r) for r in batch)
                predictions.extend(float(v) for v in values)
            self.live.update(rows, predictions)
        return self.live.scores()


def _as_dict(row: Any) -> dict[str, Any]:
    return row.model_dump(by_alias=True) if hasattr(row, "model_dump") else dict(row)


def load_feed(model_dir: Path, window: int) -> tuple[DriftFeed | None, str | None]:
    """The feed for a model directory, or ``None`` and why (never raises: drift is optional)."""
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
    return DriftFeed(live, window), None


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
