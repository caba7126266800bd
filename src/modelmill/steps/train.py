"""train: fit the inference pipeline on train, score it on validation, export it.

The model family is ``params["estimator"]`` (default ``random_forest``; see
``modelmill.features.estimators``). The export keeps the course's name
(``random_forest_export``) for every family, so ``prod`` and the promotion gate compare
across families; the family is in its metadata. It is an MLflow model directory
serialized with skops (no pickle) whose signature accepts missing values in every column;
see ``modelmill.registry.export``. It also holds ``extras/metrics.json`` and
``extras/feature_importance.png`` (impurity or permutation importance, see
``modelmill.features.importance``), ``extras/training_report.html`` (metrics, importance,
predicted vs actual and residuals by borough on the validation rows; see
``modelmill.reports.training``), and the ONNX fast path ``onnx/model.onnx`` when its
predictions match scikit-learn's on the validation rows (``modelmill.registry.onnx_export``),
and ``extras/reference.json``, the drift-monitoring reference (``modelmill.validation.reference``).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.datasets.io import read_listings
from modelmill.features.estimators import DEFAULT, fitted_estimator
from modelmill.features.importance import IMPURITY, LABELS
from modelmill.features.importance import importances as importances_for
from modelmill.features.metrics import regression_metrics
from modelmill.features.pipeline import TARGET, build_inference_pipeline
from modelmill.steps.data_split import stratify_column

if TYPE_CHECKING:
    from modelmill.runner import StepContext

MODEL = "random_forest_export"
PLOT = "feature_importance.png"
METRICS = "metrics.json"
REPORT = "training_report.html"
REFERENCE = "reference.json"  # drift monitoring reference, see modelmill.validation.reference
GROUP = "neighbourhood_group"


def split_train_val(frame: Any, params: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """``(X_train, X_val, y_train, y_val)``: seeded, stratified like data_split."""
    from sklearn.model_selection import train_test_split

    if TARGET not in frame.columns:
        from modelmill.core.errors import ConfigError

        raise ConfigError(f"trainval_data.csv has no '{TARGET}' column; columns: {list(frame.columns)}")
    features = frame.drop(columns=[TARGET])
    target = frame[TARGET].astype(float)
    x_train, x_val, y_train, y_val = train_test_split(
        features, target, test_size=params["val_size"], random_state=params["random_seed"],
        stratify=stratify_column(features, params["stratify_by"]),
    )  # fmt: skip
    return x_train, x_val, y_train, y_val


@dataclass(frozen=True)
class Fitted:
    """A pipeline fitted on the train part, its validation metrics and the rows behind them."""

    pipeline: Any
    metrics: dict[str, float]
    x_train: Any
    x_val: Any
    y_val: Any


def fit_and_score(frame: Any, params: dict[str, Any]) -> Fitted:
    """Fit on the train part and score on the validation part.

    Metrics: ``val_mae``, ``val_rmse``, ``val_r2``, ``val_medae``, ``oob_r2`` (when the
    family has ``oob_score_``), ``fit_seconds``, ``n_train``, ``n_val``.
    """
    x_train, x_val, y_train, y_val = split_train_val(frame, params)
    pipeline = build_inference_pipeline(params)
    started = time.perf_counter()
    pipeline.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    scores = regression_metrics(y_val, pipeline.predict(x_val))
    metrics: dict[str, float] = {f"val_{k}": v for k, v in scores.items()}
    metrics |= {"fit_seconds": round(fit_seconds, 3), "n_train": len(x_train), "n_val": len(x_val)}
    oob = getattr(fitted_estimator(pipeline), "oob_score_", None)
    if oob is not None:
        metrics["oob_r2"] = float(oob)
    return Fitted(pipeline, metrics, x_train, x_val, y_val)


def plot_importances(
    importances: dict[str, float], path: Path, kind: str = IMPURITY, family: str = DEFAULT
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
    axes.set_xlabel(LABELS[kind])
    axes.set_title(f"{family.replace('_', ' ').capitalize()} feature importance")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def write_training_report(
    fitted: Fitted, importances: dict[str, float], params: dict[str, Any], path: Path
) -> Path:
    """The HTML training report of the validation rows; timings are left out so equal fits give
    an equal page."""
    from modelmill.reports import training_report

    family = str(params.get("estimator", DEFAULT))
    shown = {k: v for k, v in fitted.metrics.items() if k != "fit_seconds"}
    groups = fitted.x_val[GROUP] if GROUP in fitted.x_val.columns else None
    report = training_report(
        shown, importances, fitted.y_val, fitted.pipeline.predict(fitted.x_val), groups,
        title=f"Training report: {family}", params=params, group_label=GROUP,
    )  # fmt: skip
    return report.save(path)


def write_reference_file(fitted: Fitted, path: Path) -> Path:
    """The monitoring reference: raw inputs of train + validation rows, and the predictions on the
    held-out validation rows (in-sample predictions of a forest are too close to the targets)."""
    import pandas as pd

    from modelmill.validation.reference import build_reference, write_reference

    rows = pd.concat([fitted.x_train, fitted.x_val])
    return write_reference(build_reference(rows, fitted.pipeline.predict(fitted.x_val)), path)


def run(ctx: StepContext) -> None:
    """Write ``random_forest_export`` (an MLflow model directory), whatever the family."""
    from modelmill.registry.export import save_sklearn_model
    from modelmill.registry.onnx_export import read_report

    params = dict(ctx.params)
    family = str(params.get("estimator", DEFAULT))
    frame = read_listings(ctx.input("trainval_data.csv"))
    fitted = fit_and_score(frame, params)
    metrics = fitted.metrics
    seed = int(params["random_seed"])
    kind, importances = importances_for(fitted.pipeline, fitted.x_val, fitted.y_val, seed)
    ctx.log.info(
        "%s fitted in %.1f s on %d rows: val MAE %.2f, R2 %.3f", family,
        metrics["fit_seconds"], metrics["n_train"], metrics["val_mae"], metrics["val_r2"],
    )  # fmt: skip
    ctx.log_metrics({k: v for k, v in metrics.items() if not k.startswith("n_")})
    described = {"estimator": family, "target_transform": str(params.get("target_transform", "none"))}
    with tempfile.TemporaryDirectory(prefix="modelmill-train-") as tmp:
        plot = plot_importances(importances, Path(tmp) / PLOT, kind, family)
        ctx.log_artifact(plot)
        html = write_training_report(fitted, importances, params, Path(tmp) / REPORT)
        ctx.log_artifact(html)
        report = Path(tmp) / METRICS
        report.write_text(
            json.dumps({"metrics": metrics, "feature_importance": importances, "params": params}, indent=2)
        )
        reference = write_reference_file(fitted, Path(tmp) / REFERENCE)
        save_sklearn_model(
            fitted.pipeline,
            ctx.output(MODEL),
            fitted.x_train,
            extra_files={PLOT: plot, METRICS: report, REPORT: html, REFERENCE: reference},
            metadata={"val_mae": metrics["val_mae"], "val_r2": metrics["val_r2"], **described},
            parity_rows=fitted.x_val,
        )
    onnx = read_report(ctx.output(MODEL)) or {}
    if onnx.get("status") == "ok":
        ctx.log_metrics({"onnx_max_relative_difference": onnx["parity"]["max_relative_difference"]})
    else:
        ctx.log.warning("no ONNX fast path for this model (served by scikit-learn): %s", onnx.get("reason"))
    ctx.set_metadata(
        MODEL,
        **described,
        **{k: metrics[k] for k in ("val_mae", "val_rmse", "val_r2", "val_medae", "fit_seconds")},
        oob_r2=metrics.get("oob_r2"),
        n_train=metrics["n_train"],
        n_val=metrics["n_val"],
        params=params,
        importance_kind=kind,
        feature_importance={k: round(v, 6) for k, v in importances.items()},
        flavor="mlflow.sklearn",
        serialization="skops",
        onnx=onnx.get("status"),
    )
