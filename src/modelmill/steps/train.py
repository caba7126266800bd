"""train: fit the inference pipeline on train, score it on validation, export it.

Everything comes from the params (the contract of :mod:`modelmill.pipelines.tabular`): the
target, the spec's input columns and their treatment (:mod:`modelmill.features.pipeline`),
the validation split (the spec's ``split``, held out by the same
:func:`~modelmill.steps.data_split.split_frame` as the test set), the model family
(``estimator``, see :mod:`modelmill.features.estimators`), the task whose metrics are logged
as ``val_*`` (:mod:`modelmill.tasks`) and the name of the exported artifact (``model``).

The export is an MLflow model directory serialized with skops (no pickle) whose signature
is the spec's columns, every one optional (:mod:`modelmill.registry.export`). It also holds
``extras/metrics.json`` and ``extras/feature_importance.png`` (impurity or permutation
importance, :mod:`modelmill.features.importance`), ``extras/training_report.html`` (metrics,
importance, predicted vs actual and residuals by the spec's ``group`` column on the
validation rows; :mod:`modelmill.reports.training`), ``extras/reference.json``, the
drift-monitoring reference of the input columns (:mod:`modelmill.validation.reference`), and
the ONNX fast path ``onnx/model.onnx`` when its predictions match scikit-learn's on the
validation rows (:mod:`modelmill.registry.onnx_export`).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import ConfigError
from modelmill.datasets.io import read_stored_table
from modelmill.features.decision import fit_decision
from modelmill.features.estimators import DEFAULT, fitted_estimator
from modelmill.features.fitting import fit_pipeline
from modelmill.features.importance import IMPURITY, label
from modelmill.features.importance import importances as importances_for
from modelmill.features.pipeline import build_inference_pipeline
from modelmill.steps.data_split import split_frame
from modelmill.tasks import check_labels, get_task

if TYPE_CHECKING:
    from modelmill.runner import StepContext

PLOT = "feature_importance.png"
METRICS = "metrics.json"
REPORT = "training_report.html"
REFERENCE = "reference.json"  # drift monitoring reference, see modelmill.validation.reference


def features_and_target(frame: Any, target: str, source: str, task: str = "regression") -> tuple[Any, Any]:
    """``(features, target)`` of a stored table; a :class:`ConfigError` when the target is absent.
    A regression's numeric target is float (an integer count is a regression target all the
    same); a classifier's labels stay the user's (whole numbers read back as floats are ints)."""
    import pandas as pd

    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise ConfigError(
            f"{source} has no target column '{target}' (columns: {shown}); check the spec's target"
        )
    values = frame[target]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and task == "regression":
        values = values.astype(float)
    elif numeric and pd.api.types.is_float_dtype(values) and (values == values.round()).all():
        values = values.astype("int64")  # labels 0/1 read back as 0.0/1.0 (NaN is never == itself)
    return frame.drop(columns=[target]), values


def split_train_val(frame: Any, params: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """``(X_train, X_val, y_train, y_val)``: the validation part held out as the spec's split declares."""
    split = params.get("split") or {
        "kind": "random", "seed": params["random_seed"], "stratify": params.get("stratify_by"),
    }  # fmt: skip
    train, val = split_frame(frame, split, float(params["val_size"]))
    task = str(params.get("task", "regression"))
    x_train, y_train = features_and_target(train, params["target"], "trainval_data.csv", task)
    x_val, y_val = features_and_target(val, params["target"], "trainval_data.csv", task)
    return x_train, x_val, y_train, y_val


@dataclass(frozen=True)
class Fitted:
    """A pipeline fitted on the train part, its validation metrics and the rows behind them;
    a classifier's ``decision`` (classes, calibration, threshold) and validation probabilities."""

    pipeline: Any
    metrics: dict[str, float]
    x_train: Any
    x_val: Any
    y_val: Any
    predicted: Any = None  # on the validation rows: values or labels
    proba: Any = None  # on the validation rows (classifiers)
    decision: dict[str, Any] = field(default_factory=dict)


def fit_and_score(frame: Any, params: dict[str, Any]) -> Fitted:
    """Fit on the train part and score on the validation part.

    Metrics: ``val_<metric>`` for each of the task's metrics (regression: mae, rmse, r2,
    medae), ``oob_r2`` (``oob_accuracy`` for a classifier; when the family has ``oob_score_``),
    ``fit_seconds``, ``n_train``, ``n_val``.
    A classifier's target is checked first (:func:`~modelmill.tasks.check_labels`), and its
    probabilities are calibrated and its threshold chosen on the validation part
    (:func:`~modelmill.features.decision.fit_decision`): its ``val_*`` figures are those rows' after that.
    """
    task = get_task(str(params.get("task", "regression")))
    x_train, x_val, y_train, y_val = split_train_val(frame, params)
    if task.is_classifier:
        check_labels(y_train, y_val, str(params["target"]), task.kind)
    pipeline = build_inference_pipeline(params)
    started = time.perf_counter()
    fit_pipeline(pipeline, x_train, y_train, x_val, y_val)
    fit_seconds = time.perf_counter() - started
    decision = fit_decision(pipeline, x_val, y_val, params) if task.is_classifier else {}
    predicted, proba = task.predict(pipeline, x_val)
    scores = task.score(y_val, predicted, proba, decision.get("classes", ()))
    metrics: dict[str, float] = {f"val_{k}": v for k, v in scores.items()}
    metrics |= {"fit_seconds": round(fit_seconds, 3), "n_train": len(x_train), "n_val": len(x_val)}
    oob = getattr(fitted_estimator(pipeline), "oob_score_", None)
    if oob is not None:
        metrics["oob_r2" if not task.is_classifier else "oob_accuracy"] = float(oob)
    return Fitted(pipeline, metrics, x_train, x_val, y_val, predicted, proba, decision)


def plot_importances(
    importances: dict[str, float],
    path: Path,
    kind: str = IMPURITY,
    family: str = DEFAULT,
    metric: str = "mae",
) -> Path:
    """A horizontal bar chart of the importances (no pyplot: no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(importances)[::-1]
    values = [importances[n] for n in names]
    figure = Figure(figsize=(8, max(3.0, 0.35 * len(names) + 1.2)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.barh(names, values, color="#4c72b0")
    axes.set_xlabel(label(kind, metric))
    axes.set_title(f"{family.replace('_', ' ').capitalize()} feature importance")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def write_training_report(
    fitted: Fitted, importances: dict[str, float], params: dict[str, Any], path: Path
) -> Path:
    """The HTML training report of the validation rows; timings are left out so equal fits give
    an equal page. Residuals are sliced by the spec's ``group`` column (none without one)."""
    from modelmill.reports import training_report

    family = str(params.get("estimator", DEFAULT))
    shown = {k: v for k, v in fitted.metrics.items() if k != "fit_seconds"}
    group = params.get("group")
    groups = fitted.x_val[group] if group and group in fitted.x_val.columns else None
    sections, predicted = "", fitted.predicted
    if fitted.proba is not None:  # a classifier: its charts instead of predicted vs actual
        from modelmill.reports.classification import classification_sections

        sections = classification_sections(
            fitted.y_val, fitted.proba, fitted.decision["classes"],
            threshold=fitted.decision.get("threshold"), groups=groups, group_label=str(group or "group"),
        )  # fmt: skip
        predicted, groups = None, None
    report = training_report(
        shown, importances, fitted.y_val, predicted, groups, title=f"Training report: {family}",
        params=params, group_label=str(group or ""), target=str(params["target"]), sections=sections,
    )  # fmt: skip
    return report.save(path)


def write_reference_file(fitted: Fitted, params: dict[str, Any], path: Path) -> Path:
    """The monitoring reference of the spec's input columns: their raw values in train +
    validation rows, and the predictions on the held-out validation rows (in-sample
    predictions of a forest are too close to the targets)."""
    import pandas as pd

    from modelmill.validation.reference import build_reference, write_reference

    roles = {str(f["name"]): str(f["role"]) for f in params["features"]}
    rows = pd.concat([fitted.x_train, fitted.x_val])
    if params.get("id") in rows.columns:  # new rows always have new ids
        rows = rows.drop(columns=[params["id"]])
    probabilities = None
    if fitted.proba is not None:  # a classifier: labels and the probability of every class
        classes = fitted.decision["classes"]
        probabilities = {f"proba_{c}": fitted.proba[:, j] for j, c in enumerate(classes)}
    return write_reference(build_reference(rows, fitted.predicted, roles, probabilities), path)


def _decision_metadata(decision: dict[str, Any]) -> dict[str, Any]:
    """A classifier's classes and threshold, in the ``MLmodel`` metadata (``/metadata`` serves them)."""
    if not decision:
        return {}
    return {"task_classes": decision["classes"], "threshold": decision.get("threshold"),
            "calibration": decision.get("calibration")}  # fmt: skip


def run(ctx: StepContext) -> None:
    """Write the model artifact ``params["model"]`` (an MLflow model directory), whatever the family."""
    from modelmill.registry.export import save_sklearn_model
    from modelmill.registry.onnx_export import read_report

    params = dict(ctx.params)
    model, family = str(params["model"]), str(params.get("estimator", DEFAULT))
    task = get_task(str(params.get("task", "regression")))
    frame = read_stored_table(ctx.input("trainval_data.csv"))
    fitted = fit_and_score(frame, params)
    metrics = fitted.metrics
    main = task.default_metric
    kind, importances = importances_for(
        fitted.pipeline, fitted.x_val, fitted.y_val, int(params["random_seed"]), main
    )
    ctx.log.info(
        "%s fitted in %.1f s on %d rows: val %s %s", family, metrics["fit_seconds"], metrics["n_train"],
        main, metrics.get(f"val_{main}", "n/a (undefined on these rows)"),
    )  # fmt: skip
    ctx.log_metrics({k: v for k, v in metrics.items() if not k.startswith("n_")})
    described = {"estimator": family, "target_transform": str(params.get("target_transform", "none"))}
    if params.get("id"):  # batch scoring's default id column, without composing the project's config
        described["id_column"] = str(params["id"])
    with tempfile.TemporaryDirectory(prefix="modelmill-train-") as tmp:
        plot = plot_importances(importances, Path(tmp) / PLOT, kind, family, main)
        ctx.log_artifact(plot)
        html = write_training_report(fitted, importances, params, Path(tmp) / REPORT)
        ctx.log_artifact(html)
        report = Path(tmp) / METRICS
        recorded = {"metrics": metrics, "feature_importance": importances, "params": params}
        recorded |= {"decision": fitted.decision} if fitted.decision else {}
        report.write_text(json.dumps(recorded, indent=2))
        reference = write_reference_file(fitted, params, Path(tmp) / REFERENCE)
        save_sklearn_model(
            fitted.pipeline,
            ctx.output(model),
            fitted.x_train,
            extra_files={PLOT: plot, METRICS: report, REPORT: html, REFERENCE: reference},
            metadata={f"val_{m}": metrics.get(f"val_{m}") for m in task.metric_names}
            | described
            | _decision_metadata(fitted.decision),
            parity_rows=fitted.x_val,
            columns=params.get("inputs"),
        )
    onnx = read_report(ctx.output(model)) or {}
    if onnx.get("status") == "ok":
        parity = onnx["parity"]
        ctx.log_metrics({f"onnx_{k}": parity[k] for k in ("max_relative_difference",) if k in parity})
    else:
        ctx.log.warning("no ONNX fast path for this model (served by scikit-learn): %s", onnx.get("reason"))
    ctx.set_metadata(
        model,
        **described,
        **{f"val_{m}": metrics.get(f"val_{m}") for m in task.metric_names},
        **({"decision": fitted.decision} if fitted.decision else {}),
        fit_seconds=metrics["fit_seconds"],
        oob_r2=metrics.get("oob_r2"),
        oob_accuracy=metrics.get("oob_accuracy"),
        n_train=metrics["n_train"],
        n_val=metrics["n_val"],
        params=params,
        importance_kind=kind,
        feature_importance={k: round(v, 6) for k, v in importances.items()},
        flavor="mlflow.sklearn",
        serialization="skops",
        onnx=onnx.get("status"),
        onnx_reason=onnx.get("reason"),
    )
