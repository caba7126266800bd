"""train: fit the inference pipeline on train, score it on validation, export it.

The export (``random_forest_export``) is an MLflow model directory serialized with skops
(no pickle) whose signature accepts missing values in every column; see
``modelmill.registry.export``. It also holds ``extras/metrics.json`` and
``extras/feature_importance.png``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.datasets.io import read_listings
from modelmill.features.pipeline import TARGET, build_inference_pipeline, grouped_importances
from modelmill.steps.data_split import stratify_column

if TYPE_CHECKING:
    from modelmill.runner import StepContext

MODEL = "random_forest_export"
PLOT = "feature_importance.png"
METRICS = "metrics.json"


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


def fit_and_score(frame: Any, params: dict[str, Any]) -> tuple[Any, dict[str, float], Any]:
    """Fit on the train part; ``(pipeline, metrics, X_train)``.

    Metrics: ``val_mae``, ``val_r2``, ``oob_r2`` (when the forest has ``oob_score``),
    ``fit_seconds``, ``n_train``, ``n_val``.
    """
    from sklearn.metrics import mean_absolute_error, r2_score

    x_train, x_val, y_train, y_val = split_train_val(frame, params)
    pipeline = build_inference_pipeline(params)
    started = time.perf_counter()
    pipeline.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    predicted = pipeline.predict(x_val)
    metrics = {
        "val_mae": float(mean_absolute_error(y_val, predicted)),
        "val_r2": float(r2_score(y_val, predicted)),
        "fit_seconds": round(fit_seconds, 3),
        "n_train": len(x_train),
        "n_val": len(x_val),
    }
    oob = getattr(pipeline[-1], "oob_score_", None)
    if oob is not None:
        metrics["oob_r2"] = float(oob)
    return pipeline, metrics, x_train


def plot_importances(importances: dict[str, float], path: Path) -> Path:
    """A horizontal bar chart of the grouped importances (no pyplot: no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(importances)[::-1]
    values = [importances[n] for n in names]
    figure = Figure(figsize=(8, max(3.0, 0.35 * len(names) + 1.2)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.barh(names, values, color="#4c72b0")
    axes.set_xlabel("impurity importance (TF-IDF columns summed into 'name')")
    axes.set_title("Random forest feature importance")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def run(ctx: StepContext) -> None:
    """Write ``random_forest_export`` (an MLflow model directory)."""
    from modelmill.registry.export import save_sklearn_model

    params = dict(ctx.params)
    frame = read_listings(ctx.input("trainval_data.csv"))
    pipeline, metrics, x_train = fit_and_score(frame, params)
    importances = grouped_importances(pipeline)
    ctx.log.info(
        "fitted in %.1f s on %d rows: val MAE %.2f, R2 %.3f",
        metrics["fit_seconds"], metrics["n_train"], metrics["val_mae"], metrics["val_r2"],
    )  # fmt: skip
    ctx.log_metrics({k: v for k, v in metrics.items() if not k.startswith("n_")})
    with tempfile.TemporaryDirectory(prefix="modelmill-train-") as tmp:
        plot = plot_importances(importances, Path(tmp) / PLOT)
        ctx.log_artifact(plot)
        report = Path(tmp) / METRICS
        report.write_text(
            json.dumps({"metrics": metrics, "feature_importance": importances, "params": params}, indent=2)
        )
        save_sklearn_model(
            pipeline,
            ctx.output(MODEL),
            x_train,
            extra_files={PLOT: plot, METRICS: report},
            metadata={"val_mae": metrics["val_mae"], "val_r2": metrics["val_r2"]},
        )
    ctx.set_metadata(
        MODEL,
        val_mae=metrics["val_mae"],
        val_r2=metrics["val_r2"],
        oob_r2=metrics.get("oob_r2"),
        n_train=metrics["n_train"],
        n_val=metrics["n_val"],
        params=params,
        feature_importance={k: round(v, 6) for k, v in importances.items()},
        flavor="mlflow.sklearn",
        serialization="skops",
    )
