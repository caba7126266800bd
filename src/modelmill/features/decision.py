"""Probabilities that mean something, and the decision they feed: calibration and a threshold.

Both are fitted on the validation part the train step holds out, never on training rows
(a boosted model's probabilities on its own training rows are overconfident):

* ``calibration`` (``auto``, ``none``, ``sigmoid``, ``isotonic``): scikit-learn's
  ``CalibratedClassifierCV`` over the frozen fitted classifier (``FrozenEstimator``: it is not
  refitted), fitted on the validation rows. ``auto`` (the default) applies ``sigmoid`` only when
  it lowers the log loss of rows it was not fitted on: 5-fold cross-validation inside the
  validation part (:func:`helps`). A boosted classifier's probabilities are often good already,
  and a calibrator fitted on a few dozen rows can ruin them (wine, 28 validation rows: test log
  loss 0.03 -> 0.21 with sigmoid always on);
* ``threshold`` (binary only): scikit-learn's ``TunedThresholdClassifierCV`` (``cv="prefit"``,
  no refit) picks the cut-off on P(positive class) over the validation rows by a declared rule,
  ``f1`` (maximise F1 of the positive class) or ``cost`` (minimise
  ``cost_fp * false positives + cost_fn * false negatives``); the result is stored as a
  ``FixedThresholdClassifier`` so ``predict`` applies it wherever the model is loaded.

The positive class is the model's second class (``classes_[1]``, scikit-learn's order:
``1`` of 0/1, ``yes`` of no/yes, ``True``). The wrappers replace the pipeline's last step, so
``pipeline[:-1]`` is still the preprocessing and ``pipeline.classes_`` the user's labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import ConfigError
from modelmill.features.onnx_classifier import json_labels

CALIBRATIONS = ("auto", "none", "sigmoid", "isotonic")
RULES = ("f1", "cost")
MIN_ROWS_PER_CLASS = 5  # fewer validation rows of a class: calibration and threshold are noise


@dataclass(frozen=True)
class Decision:
    """The ``modeling.decision`` section: how probabilities are calibrated and thresholded."""

    calibration: str = "auto"
    threshold: str = "f1"  # the rule (binary); "0.5" or any number fixes it
    cost_fp: float = 1.0
    cost_fn: float = 1.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> Decision:
        """The section as declared; a :class:`ConfigError` naming the key and the choices."""
        section = dict(section or {})
        unknown = set(section) - {"calibration", "threshold", "cost_fp", "cost_fn"}
        if unknown:
            raise ConfigError(f"modeling.decision: unknown key(s) {', '.join(sorted(unknown))}; "
                              "expected calibration, threshold, cost_fp, cost_fn")  # fmt: skip
        decision = cls(**{k: v for k, v in section.items() if v is not None})
        for key in ("cost_fp", "cost_fn"):
            try:
                float(getattr(decision, key))
            except (TypeError, ValueError):
                raise ConfigError(f"modeling.decision.{key}={getattr(decision, key)!r}: expected a positive "
                                  "number (the cost of one such error)") from None  # fmt: skip
        if decision.calibration not in CALIBRATIONS:
            raise ConfigError(f"modeling.decision.calibration={decision.calibration!r}: expected one of "
                              f"{', '.join(CALIBRATIONS)}")  # fmt: skip
        if decision.fixed_threshold is None and str(decision.threshold) not in RULES:
            raise ConfigError(f"modeling.decision.threshold={decision.threshold!r}: expected f1, cost or "
                              "a number between 0 and 1")  # fmt: skip
        if min(float(decision.cost_fp), float(decision.cost_fn)) <= 0:
            raise ConfigError("modeling.decision.cost_fp and cost_fn must be positive (the cost of one "
                              "false positive and of one false negative)")  # fmt: skip
        return decision

    @property
    def fixed_threshold(self) -> float | None:
        try:
            value = float(self.threshold)
        except (TypeError, ValueError):
            return None
        if not 0.0 < value < 1.0:
            raise ConfigError(f"modeling.decision.threshold={value}: a fixed threshold lies between 0 and 1")
        return value


def helps(estimator: Any, x_val: Any, y_val: Any, method: str = "sigmoid") -> tuple[bool, float, float]:
    """Whether calibrating ``estimator`` with ``method`` lowers the log loss of held-out rows:
    ``(helps, log loss as is, log loss calibrated)``, the calibrated one out of fold (each
    validation row predicted by a calibrator fitted on the other folds)."""
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    labels = list(estimator.classes_)
    truth = np.asarray(y_val)
    folds = min(5, min(int(np.sum(truth == c)) for c in labels))
    calibrated = np.empty((len(truth), len(labels)))
    # by hand, not cross_val_predict: it re-encodes the labels, which the frozen model's classes_ are not
    folds_of = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for fit_rows, held_out in folds_of.split(x_val, truth):
        calibrator = CalibratedClassifierCV(FrozenEstimator(estimator), method=method)
        calibrator.fit(x_val[fit_rows], truth[fit_rows])
        calibrated[held_out] = calibrator.predict_proba(x_val[held_out])
    before = float(log_loss(y_val, estimator.predict_proba(x_val), labels=labels))
    after = float(log_loss(y_val, calibrated, labels=labels))
    return after < before, before, after


def calibrate(estimator: Any, x_val: Any, y_val: Any, method: str) -> Any:
    """``estimator`` (fitted, on the preprocessed matrix) calibrated on the validation rows."""
    if method == "none":
        return estimator
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    return CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(x_val, y_val)


def tune_threshold(estimator: Any, x_val: Any, y_val: Any, decision: Decision) -> tuple[Any, float]:
    """``(FixedThresholdClassifier, threshold)`` for a binary ``estimator`` (fitted), the threshold
    chosen on the validation rows by the decision's rule (or fixed by it)."""
    import numpy as np
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    positive = estimator.classes_[1]
    threshold = decision.fixed_threshold
    if threshold is None:
        threshold = _tuned(estimator, x_val, y_val, decision, positive)
    fixed = FixedThresholdClassifier(FrozenEstimator(estimator), threshold=threshold,
                                     pos_label=positive, response_method="predict_proba")  # fmt: skip
    # fitting a frozen estimator only records classes_: any rows of both classes will do
    classes = estimator.classes_
    return fixed.fit(np.zeros((2, _width(estimator))), classes), float(threshold)


def _width(estimator: Any) -> int:
    return int(estimator.n_features_in_)


def _tuned(estimator: Any, x_val: Any, y_val: Any, decision: Decision, positive: Any) -> float:
    import numpy as np
    from sklearn.metrics import f1_score, make_scorer
    from sklearn.model_selection import TunedThresholdClassifierCV

    if decision.threshold == "cost":
        scorer = make_scorer(_cost, greater_is_better=False, pos_label=positive,
                             cost_fp=float(decision.cost_fp), cost_fn=float(decision.cost_fn))  # fmt: skip
    else:
        scorer = make_scorer(f1_score, pos_label=positive, zero_division=0.0)
    # the scorer's pos_label is the class whose probability is thresholded
    tuned = TunedThresholdClassifierCV(estimator, scoring=scorer, cv="prefit", refit=False,
                                       response_method="predict_proba",
                                       thresholds=np.linspace(0.01, 0.99, 99))  # fmt: skip
    return float(tuned.fit(x_val, y_val).best_threshold_)


def _cost(y_true: Any, y_pred: Any, *, pos_label: Any, cost_fp: float, cost_fn: float) -> float:
    """The total cost of the decisions: false positives and false negatives, each at its price."""
    import numpy as np

    truth, said = np.asarray(y_true) == pos_label, np.asarray(y_pred) == pos_label
    return float(cost_fp * np.sum(said & ~truth) + cost_fn * np.sum(~said & truth))


def fit_decision(pipeline: Any, x_val: Any, y_val: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Calibrate the fitted classifier at the end of ``pipeline`` and, for a binary task, choose
    its threshold, both on the validation rows; the last step is replaced by the result.

    Returns what was decided (recorded with the model): ``classes``, ``positive`` (binary),
    ``calibration``, ``threshold`` (None for multiclass), ``rule`` and a ``note`` when a class
    has fewer than :data:`MIN_ROWS_PER_CLASS` validation rows (then nothing is fitted on them:
    no calibration, and a binary model stores the threshold 0.5)."""
    import numpy as np

    decision = Decision.from_config(params.get("decision"))
    name, estimator = pipeline.steps[-1]
    classes = list(estimator.classes_)
    binary = str(params.get("task")) == "binary"
    counts = {c: int(np.sum(np.asarray(y_val) == c)) for c in classes}
    rare = [str(c) for c, n in counts.items() if n < MIN_ROWS_PER_CLASS]
    found: dict[str, Any] = {"classes": json_labels(classes), "calibration": "none",
                             "threshold": 0.5 if binary else None, "rule": "default"}  # fmt: skip
    if binary:
        found["positive"] = json_labels(classes[1:2])[0]
    if rare and binary:  # the threshold is stored all the same: every runtime decides by p >= 0.5
        model, found["threshold"] = tune_threshold(estimator, None, None, Decision(threshold="0.5"))
        pipeline.steps[-1] = (name, model)
    if rare:
        found["note"] = (f"class(es) {', '.join(rare)} have fewer than {MIN_ROWS_PER_CLASS} validation rows: "
                         "no calibration, threshold 0.5")  # fmt: skip
        return found
    matrix = pipeline[:-1].transform(x_val)
    method = decision.calibration
    if method == "auto":
        useful, before, after = helps(estimator, matrix, y_val)
        method = "sigmoid" if useful else "none"
        found["calibration_check"] = {
            "val_log_loss": round(before, 6),
            "sigmoid_cv": round(after, 6),
        }
    model = calibrate(estimator, matrix, y_val, method)
    found["calibration"] = method
    if binary:
        model, found["threshold"] = tune_threshold(model, matrix, y_val, decision)
        fixed = decision.fixed_threshold is not None
        found["rule"] = "fixed" if fixed else str(decision.threshold)
        if decision.threshold == "cost":
            found |= {"cost_fp": float(decision.cost_fp), "cost_fn": float(decision.cost_fn)}
    pipeline.steps[-1] = (name, model)
    return found
