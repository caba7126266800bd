"""The task: what a model predicts, and everything that follows from it, in one object.

scikit-learn keeps "is this a classifier?" as data on the estimator (``is_classifier``,
``ClassifierMixin`` vs ``RegressorMixin``); modelmill keeps it on the dataset spec's ``task``,
and :func:`get_task` turns it into a :class:`Task` that supplies what every stage asks for,
instead of ``if regression`` scattered through the code:

* the metrics, each with its direction (:class:`Metric`), and the default one the promotion
  gate and sweeps rank by;
* :meth:`Task.score`, the metrics of predictions against the truth;
* :meth:`Task.prediction_columns`, the columns a batch output or a served answer carries.

``regression`` is served end to end; ``binary`` and ``multiclass`` declare their metrics here
(so a spec, a sweep or the promotion gate can name them) and the pipeline refuses them until
classification lands (:meth:`Task.require_supported`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import ConfigError

SUPPORTED = ("regression",)


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

    def require_supported(self) -> Task:
        """This task, or a :class:`ConfigError` when the pipeline cannot train it yet."""
        if self.kind not in SUPPORTED:
            raise ConfigError(
                f"task: {self.kind} is declared, but this version of modelmill trains "
                f"{', '.join(SUPPORTED)} models only; use task: regression"
            )
        return self

    def score(
        self, y_true: Any, y_pred: Any, proba: Any = None, classes: Sequence[Any] = ()
    ) -> dict[str, float]:
        """Every metric of this task (those needing probabilities only when ``proba`` is given)."""
        if self.kind == "regression":
            return _regression_scores(y_true, y_pred)
        return _classification_scores(self.kind, y_true, y_pred, proba, list(classes))

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
    if kind == "binary":
        hit = [1 if v == classes[-1] else 0 for v in y_true]
        scores["roc_auc"] = float(m.roc_auc_score(hit, proba[:, -1]))
        scores["pr_auc"] = float(m.average_precision_score(hit, proba[:, -1]))
        scores["brier"] = float(m.brier_score_loss(hit, proba[:, -1]))
    else:
        scores["roc_auc_ovr"] = float(
            m.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes or None)
        )
    return scores
