"""The task: what a model predicts, and everything that follows from it, in one object.

scikit-learn keeps "is this a classifier?" as data on the estimator (``is_classifier``,
``ClassifierMixin`` vs ``RegressorMixin``); modelmill keeps it on the dataset spec's ``task``,
and :func:`get_task` turns it into a :class:`Task` that supplies what every stage asks for,
instead of ``if regression`` scattered through the code:

* the metrics, each with its direction (:class:`Metric`), and the default one the promotion
  gate and sweeps rank by;
* :meth:`Task.score`, the metrics of predictions against the truth;
* :meth:`Task.prediction_columns`, the columns a batch output or a served answer carries.

* :meth:`Task.predict`, values (or labels) and, for a classifier, the probability of every
  class, from a fitted scikit-learn model or a :mod:`modelmill.registry.predictor`;
* :func:`check_labels`, what makes a target unusable for a classifier, said before training.

A classifier keeps the user's labels (strings or integers): scikit-learn encodes them inside
the model (``classes_``) and decodes its predictions; the positive class of a binary task is
``classes_[1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import ConfigError, DataCheckError
from modelmill.core.types import MAX_CLASSES


@dataclass(frozen=True)
class Metric:
    """A metric's name, its direction and whether it needs class probabilities."""

    name: str
    lower_is_better: bool
    needs_proba: bool = False

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a < b if self.lower_is_better else a > b


@dataclass(frozen=True)
class Task:
    """One kind of prediction: ``regression``, ``binary`` or ``multiclass``."""

    kind: str
    metrics: tuple[Metric, ...]
    default_metric: str

    @property
    def is_classifier(self) -> bool:
        return self.kind != "regression"

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def metric(self, name: str) -> Metric:
        """The metric called ``name``; a :class:`ConfigError` listing this task's metrics otherwise."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        lower = ", ".join(m.name for m in self.metrics if m.lower_is_better)
        higher = ", ".join(m.name for m in self.metrics if not m.lower_is_better)
        raise ConfigError(
            f"metric {name!r} is not a {self.kind} metric: expected one of {lower} (lower is better) "
            f"or {higher} (higher is better)"
        )

    def lower_is_better(self, name: str) -> bool:
        return self.metric(name).lower_is_better

    def score(
        self, y_true: Any, y_pred: Any, proba: Any = None, classes: Sequence[Any] = ()
    ) -> dict[str, float]:
        """Every metric of this task (those needing probabilities only when ``proba`` is given)."""
        if self.kind == "regression":
            return _regression_scores(y_true, y_pred)
        return _classification_scores(self.kind, y_true, y_pred, proba, list(classes))

    def predict(self, model: Any, rows: Any) -> tuple[Any, Any]:
        """``(values, probabilities)``: a regression's floats and ``None``; a classifier's labels
        and its ``(n, n_classes)`` probabilities in ``model.classes_`` order."""
        import numpy as np

        if not self.is_classifier:
            return np.asarray(model.predict(rows), dtype=np.float64).ravel(), None
        full = getattr(model, "predict_full", None)
        if full is not None:  # a modelmill predictor: one pass for both
            return full(rows)
        return np.asarray(model.predict(rows)).ravel(), np.asarray(
            model.predict_proba(rows), dtype=np.float64
        )

    def prediction_columns(self, classes: Sequence[Any] = ()) -> list[str]:
        """``prediction``, plus ``proba_<class>`` per class for a classifier."""
        return ["prediction", *(f"proba_{c}" for c in classes)] if self.is_classifier else ["prediction"]


REGRESSION = Task(
    "regression",
    (Metric("mae", True), Metric("rmse", True), Metric("medae", True), Metric("r2", False)),
    default_metric="mae",
)
BINARY = Task(
    "binary",
    (
        Metric("roc_auc", False, True),
        Metric("pr_auc", False, True),
        Metric("log_loss", True, True),
        Metric("brier", True, True),
        Metric("accuracy", False),
        Metric("balanced_accuracy", False),
        Metric("f1", False),
    ),
    default_metric="roc_auc",
)
MULTICLASS = Task(
    "multiclass",
    (
        Metric("log_loss", True, True),
        Metric("roc_auc_ovr", False, True),
        Metric("accuracy", False),
        Metric("balanced_accuracy", False),
        Metric("f1_macro", False),
        Metric("f1_weighted", False),
    ),
    default_metric="log_loss",
)
TASKS = {t.kind: t for t in (REGRESSION, BINARY, MULTICLASS)}


def get_task(kind: str) -> Task:
    """The :class:`Task` named by a spec's ``task``."""
    try:
        return TASKS[kind]
    except KeyError:
        raise ConfigError(f"task: {kind!r} is not a task: expected one of {', '.join(TASKS)}") from None


def _regression_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, median_absolute_error, r2_score, root_mean_squared_error

    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "medae": float(median_absolute_error(y_true, y_pred)),
    }


def _classification_scores(
    kind: str, y_true: Any, y_pred: Any, proba: Any, classes: list[Any]
) -> dict[str, float]:
    from sklearn import metrics as m

    scores = {
        "accuracy": float(m.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(m.balanced_accuracy_score(y_true, y_pred)),
    }
    if kind == "binary":
        positive = classes[-1] if classes else None
        scores["f1"] = float(m.f1_score(y_true, y_pred, pos_label=positive))
    else:
        scores["f1_macro"] = float(m.f1_score(y_true, y_pred, average="macro"))
        scores["f1_weighted"] = float(m.f1_score(y_true, y_pred, average="weighted"))
    if proba is None:
        return scores
    scores["log_loss"] = float(m.log_loss(y_true, proba, labels=classes or None))
    present = len(set(y_true)) > 1  # ranking metrics need both sides
    if kind == "binary":
        hit = [1 if v == classes[-1] else 0 for v in y_true]
        scores["brier"] = float(m.brier_score_loss(hit, proba[:, -1]))
        if present:
            scores["roc_auc"] = float(m.roc_auc_score(hit, proba[:, -1]))
            scores["pr_auc"] = float(m.average_precision_score(hit, proba[:, -1]))
    elif set(y_true) == set(classes):  # one-vs-rest needs every class in the rows
        scores["roc_auc_ovr"] = float(m.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    return scores


def per_class(y_true: Any, y_pred: Any, classes: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every class (its label as text -> figures)."""
    from sklearn.metrics import precision_recall_fscore_support

    figures = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=0.0)
    names = ("precision", "recall", "f1", "support")
    return {
        str(c): {n: float(v[i]) for n, v in zip(names, figures, strict=True)} for i, c in enumerate(classes)
    }


def check_labels(y_train: Any, y_val: Any, column: str, kind: str) -> None:
    """A :class:`DataCheckError` (exit 1) when the target cannot train a ``kind`` classifier: one
    class, more than :data:`MAX_CLASSES` levels, numbers with decimals (a regression target), a
    class of the validation part absent from the training part."""
    import numpy as np

    seen = set(np.asarray(y_train).tolist())
    problem = _label_problem(seen, column, kind)
    unseen = set(np.asarray(y_val).tolist()) - seen
    if problem is None and unseen:
        problem = (f"class(es) {sorted(map(str, unseen))} only in the validation rows, never in "
                   f"training; keep split.stratify: {column} or drop the rare class")  # fmt: skip
    if problem is not None:
        raise DataCheckError(f"target '{column}': {problem}")


def _label_problem(seen: set[Any], column: str, kind: str) -> str | None:
    if len(seen) < 2:
        return f"one class only ({next(iter(seen), None)!r}); a classifier needs two or more"
    floats = [v for v in seen if isinstance(v, float) and not float(v).is_integer()]
    if floats:
        return (f"numbers with decimals ({floats[0]!r}...) are not classes; use task: regression, "
                "or round the column in the data")  # fmt: skip
    if len(seen) > MAX_CLASSES:
        return (f"{len(seen):,} classes (more than {MAX_CLASSES}); use task: regression for a "
                "quantity, or group rare levels first")  # fmt: skip
    if kind == "binary" and len(seen) != 2:
        return f"{len(seen)} classes; task binary needs 2: use task: multiclass"
    return None
