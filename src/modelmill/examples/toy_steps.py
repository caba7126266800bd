"""Step functions of the example pipeline (numpy only; no pickles: the model is JSON)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from modelmill.runner import StepContext

FEATURES = ("x1", "x2", "x3")


def _write(path: Path, header: tuple[str, ...], rows: np.ndarray) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows.tolist())


def _read(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def make_data(ctx: StepContext) -> None:
    """Linear data with noise and a few wild targets for ``clean`` to remove."""
    p = ctx.params
    rng = np.random.default_rng(p["seed"])
    x = rng.normal(size=(p["rows"], len(FEATURES)))
    y = x @ np.array([30.0, -12.0, 5.0]) + 100 + rng.normal(scale=p["noise"], size=p["rows"])
    y[rng.choice(p["rows"], size=max(1, p["rows"] // 100), replace=False)] = 10_000.0
    _write(ctx.output("toy_raw.csv"), (*FEATURES, "y"), np.column_stack([x, y]))
    ctx.set_metadata("toy_raw.csv", rows=p["rows"])


def clean(ctx: StepContext) -> None:
    """Drop rows whose target is implausible."""
    data = _read(ctx.input("toy_raw.csv"))
    keep = np.abs(data[:, -1]) <= ctx.params["max_abs_target"]
    _write(ctx.output("toy_clean.csv"), (*FEATURES, "y"), data[keep])
    ctx.log_metric("rows_removed", float((~keep).sum()))


def split(ctx: StepContext) -> None:
    """Seeded shuffle split."""
    data = _read(ctx.input("toy_clean.csv"))
    order = np.random.default_rng(ctx.params["seed"]).permutation(len(data))
    n_test = round(len(data) * ctx.params["test_size"])
    _write(ctx.output("toy_test.csv"), (*FEATURES, "y"), data[order[:n_test]])
    _write(ctx.output("toy_train.csv"), (*FEATURES, "y"), data[order[n_test:]])


def _ridge(data: np.ndarray, alpha: float) -> np.ndarray:
    x = np.column_stack([np.ones(len(data)), data[:, :-1]])
    penalty = alpha * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    return np.asarray(np.linalg.solve(x.T @ x + penalty, x.T @ data[:, -1]))


def _metrics(coef: np.ndarray, data: np.ndarray) -> tuple[float, float]:
    pred = np.column_stack([np.ones(len(data)), data[:, :-1]]) @ coef
    y = data[:, -1]
    return float(np.mean(np.abs(pred - y))), float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def fit(ctx: StepContext) -> None:
    """Closed-form ridge regression; the model is its coefficients as JSON.

    The last fifth of the (already shuffled) training rows scores the fit first (``val_mae``,
    ``val_r2``: what a sweep ranks by); the model is then fitted on every training row.
    """
    data = _read(ctx.input("toy_train.csv"))
    n_val = max(1, len(data) // 5)
    val_mae, val_r2 = _metrics(_ridge(data[:-n_val], ctx.params["alpha"]), data[-n_val:])
    coef = _ridge(data, ctx.params["alpha"])
    ctx.output("toy_model.json").write_text(json.dumps({"coef": coef.tolist()}))
    ctx.log_metrics({"train_rows": float(len(data)), "val_mae": val_mae, "val_r2": val_r2})


def score(ctx: StepContext) -> None:
    """Test MAE and R2 of the fitted model."""
    coef = np.array(json.loads(ctx.input("toy_model.json").read_text())["coef"])
    mae, r2 = _metrics(coef, _read(ctx.input("toy_test.csv")))
    ctx.log_metrics({"test_mae": mae, "test_r2": r2})
    ctx.output("toy_scores.json").write_text(json.dumps({"mae": mae, "r2": r2}))
