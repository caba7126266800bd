"""The one rule that turns class probabilities into labels, shared by every place that decides.

Served answers (ONNX and scikit-learn runtimes), the ONNX parity check and the reports must
name the same label for the same probabilities, so the rule lives here, below all of them:
a binary model with a stored threshold answers its second class where that class's
probability reaches the threshold (``>=``, as scikit-learn's ``FixedThresholdClassifier``);
otherwise the most probable class wins (ties: the first, as ``argmax`` and ``predict`` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def decide(
    probabilities: Any, classes: Sequence[Any] | np.ndarray, threshold: float | None = None
) -> np.ndarray:
    """The labels of ``probabilities`` (``[N, n_classes]``, columns in ``classes``' order)."""
    p, labels = np.asarray(probabilities, dtype=float), np.asarray(classes)
    if len(labels) == 2 and threshold is not None:
        return labels[(p[:, 1] >= threshold).astype(np.intp)]
    return labels[np.argmax(p, axis=1)]
