"""Live figures of one served model during a rollout: requests, errors, latency, predictions.

Why a window: the rollback limits (:mod:`modelmill.serve.rollout`) must judge what the
challenger does *now*, not averaged with its first minute, so error rate and latency
percentiles read the last ``window`` requests; the totals are kept beside them for
``modelmill rollout status``. A shadow pair (champion and challenger on the same rows) also
feeds :class:`Agreement`: how far apart their answers are on identical input, the one
comparison a canary (different rows per model) cannot give.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

import numpy as np

QUANTILES = (0.5, 0.9, 0.99)
P99_SAMPLES = 100  # fewer requests and the p99 is the slowest one (a GC pause): not judged yet


class RoleStats:
    """One model's requests in a rollout; thread-safe (the loop and worker threads observe)."""

    def __init__(self, window: int) -> None:
        self.requests = 0
        self.rows = 0
        self.errors = 0
        self._latency: deque[float] = deque(maxlen=window)  # seconds, errors included
        self._failed: deque[bool] = deque(maxlen=window)
        self._values: deque[float] = deque(maxlen=window * 10)  # a regression's predictions
        self._labels: Counter[str] = Counter()  # a classifier's predicted labels
        self._lock = threading.Lock()

    def observe(self, seconds: float, values: list[Any], proba: Any = None) -> None:
        """A successful prediction of ``values`` (a classifier's labels when ``proba`` is given)."""
        with self._lock:
            self.requests += 1
            self.rows += len(values)
            self._latency.append(seconds)
            self._failed.append(False)
            if proba is None:
                self._values.extend(float(v) for v in values)
            else:
                self._labels.update(str(v) for v in values)

    def failed(self, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.errors += 1
            self._latency.append(seconds)
            self._failed.append(True)

    @property
    def recent(self) -> int:
        """Requests in the window."""
        return len(self._failed)

    def error_rate(self) -> float:
        """Failed share of the window's requests (0 with none)."""
        with self._lock:
            return sum(self._failed) / len(self._failed) if self._failed else 0.0

    def latency_ms(self, q: float) -> float | None:
        """The ``q`` quantile of the window's prediction latency, in milliseconds."""
        with self._lock:
            if not self._latency:
                return None
            return float(np.quantile(np.fromiter(self._latency, float), q) * 1000)

    def summary(self) -> dict[str, Any]:
        """JSON-ready totals, window error rate and latency percentiles, prediction distribution."""
        latency = {f"p{round(q * 100)}_ms": _round(self.latency_ms(q)) for q in QUANTILES}
        with self._lock:
            values = np.fromiter(self._values, float)
            labels = dict(self._labels.most_common(20))
        out: dict[str, Any] = {
            "requests": self.requests, "rows": self.rows, "errors": self.errors,
            "window": self.recent, "error_rate": round(self.error_rate(), 4), **latency,
        }  # fmt: skip
        if values.size:
            qs = np.quantile(values, (0.1, 0.5, 0.9))
            spread = {"p10": _round(qs[0]), "p50": _round(qs[1]), "p90": _round(qs[2])}
            out["predictions"] = {"mean": _round(values.mean()), "std": _round(values.std()), **spread}
        elif labels:
            total = sum(labels.values())
            out["predictions"] = {"classes": {k: round(v / total, 4) for k, v in labels.items()}}
        return out


class Agreement:
    """Champion and challenger answers on the same rows (shadow mode)."""

    def __init__(self) -> None:
        self.rows = 0
        self._abs_diff = 0.0
        self._same = 0
        self._labels = False
        self._lock = threading.Lock()

    def add(self, champion: list[Any], challenger: list[Any], labels: bool) -> None:
        with self._lock:
            self.rows += len(champion)
            self._labels = labels
            if labels:
                self._same += sum(str(a) == str(b) for a, b in zip(champion, challenger, strict=True))
            else:
                self._abs_diff += float(
                    np.abs(np.asarray(champion, float) - np.asarray(challenger, float)).sum()
                )

    def summary(self) -> dict[str, Any]:
        with self._lock:
            if not self.rows:
                return {"rows": 0}
            if self._labels:
                return {"rows": self.rows, "label_agreement": round(self._same / self.rows, 4)}
            return {"rows": self.rows, "mean_abs_difference": _round(self._abs_diff / self.rows)}


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


class Figures:
    """Every model's :class:`RoleStats`, by role and version: a new challenger version starts
    from zero, and a late answer of the previous one never counts against it."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._stats: dict[tuple[str, str], RoleStats] = {}
        self._agreement: dict[str, Agreement] = {}
        self._lock = threading.Lock()

    def of(self, role: str, key: str) -> RoleStats:
        with self._lock:
            return self._stats.setdefault((role, key), RoleStats(self.window))

    def agreement(self, key: str) -> Agreement:
        with self._lock:
            return self._agreement.setdefault(key, Agreement())
