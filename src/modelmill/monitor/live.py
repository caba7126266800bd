"""Live drift over a sliding window of served requests (``/metrics`` of ``modelmill serve``).

``update`` only appends raw values to bounded ring buffers (cheap enough per request);
``scores`` bins the window against the model's reference and returns the PSI per feature
and of the predictions, at scrape time. A lock makes both safe across server threads.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelmill.validation.drift_tests import (
    categorical_psi,
    category_counts,
    numeric_psi,
    numeric_values,
)
from modelmill.validation.reference import read_reference

PREDICTION = "prediction"


def reference_path(model_dir: Path) -> Path:
    """Where the train step writes the reference in a model directory."""
    from modelmill.registry.export import EXTRAS_DIR
    from modelmill.validation.reference import FILE

    return Path(model_dir) / EXTRAS_DIR / FILE


class LiveDrift:
    """PSI per feature over the last ``window`` rows scored by the service."""

    def __init__(self, reference: dict, window: int = 1000, features: list[str] | None = None) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        known = reference.get("features", {})
        names = list(known) if features is None else [f for f in features if f in known]
        self.reference = reference
        self.window = window
        self.features: dict[str, dict[str, Any]] = {name: known[name] for name in names}
        self._rows: dict[str, deque[Any]] = {name: deque(maxlen=window) for name in self.features}
        self._predictions: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    @classmethod
    def from_model_dir(cls, model_dir: Path, window: int = 1000) -> LiveDrift | None:
        """The live drift of the model at ``model_dir``; ``None`` when it has no reference."""
        path = reference_path(model_dir)
        if not path.is_file():
            return None
        return cls(read_reference(path), window=window)

    def update(self, rows: list[dict[str, Any]], predictions: list[float]) -> None:
        """Append scored rows (absent keys are missing values) and their predictions."""
        with self._lock:
            for name, buffer in self._rows.items():
                buffer.extend(row.get(name) for row in rows)
            self._predictions.extend(float(p) for p in predictions)

    def __len__(self) -> int:
        with self._lock:
            return len(self._predictions)

    def scores(self) -> dict[str, float]:
        """PSI per feature and for ``prediction``; ``{}`` when nothing was scored yet."""
        with self._lock:
            columns = {name: list(buffer) for name, buffer in self._rows.items()}
            predictions = np.asarray(self._predictions, dtype=float)
        if predictions.size == 0 and not any(columns.values()):
            return {}
        out: dict[str, float] = {}
        for name, values in columns.items():
            score = self._psi(self.features[name], values)
            if score is not None:
                out[name] = round(score, 6)
        summary = self.reference.get(PREDICTION)
        if summary and predictions.size:
            score = numeric_psi(summary, predictions[np.isfinite(predictions)])
            if score is not None:
                out[PREDICTION] = round(score, 6)
        return out

    @staticmethod
    def _psi(summary: dict[str, Any], values: list[Any]) -> float | None:
        if not values:
            return None
        kind = summary["kind"]
        if kind == "categorical":
            binned, _ = category_counts(summary, pd.Series(values, dtype=object))
            return categorical_psi(summary, binned)
        target = summary["length"] if kind == "text" else summary
        return numeric_psi(target, numeric_values(pd.Series(values, dtype=object), kind))
