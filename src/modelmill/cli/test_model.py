"""``modelmill test``: score a stored model (default: prod) on the test split (MAE, R2)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, fail, handle_errors, open_ws, print_json
from modelmill.core.errors import ArtifactNotFoundError
from modelmill.core.names import parse_ref


def _load_model(ws: Any, model: str, tracking_uri: str | None) -> tuple[Any, str]:
    """The sklearn model and a label: a store ref, or a ``models:/`` URI from the registry."""
    import mlflow.sklearn

    from modelmill.tracking.mlflow_tracker import quiet_mlflow

    quiet_mlflow()
    if model.startswith("models:/"):
        from modelmill.registry.mlflow_registry import MlflowRegistry

        registry = MlflowRegistry.for_workspace(ws, tracking_uri)
        with tempfile.TemporaryDirectory(prefix="modelmill-test-") as tmp:
            return mlflow.sklearn.load_model(str(registry.download(model, Path(tmp)))), model
    version = ws.store.resolve(model)
    return mlflow.sklearn.load_model(str(ws.store.path(version))), version.ref


@handle_errors
def test_command(
    model: str = typer.Option(
        "random_forest_export:prod",
        "--model",
        help="Model: NAME[:vN|:ALIAS] in the store, or models:/NAME@ALIAS.",
    ),
    data: str = typer.Option("test_data.csv:latest", "--data", help="Test split: NAME[:vN|:ALIAS]."),
    target: str = typer.Option("price", "--target", help="Target column of the test data."),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="Registry URI for models:/ references (default: the workspace's)."
    ),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate the prod model (or --model) on the latest test split: prints MAE and R2."""
    ws = open_ws(workspace)
    if not model.startswith("models:/"):
        try:
            ws.store.resolve(model)
        except ArtifactNotFoundError as exc:
            if parse_ref(model).alias is None:
                raise
            raise fail(f"no model at '{model}': {exc}. Promote one first (modelmill run, or "
                       "modelmill promote NAME:vN).", 1) from None  # fmt: skip
    data_version = ws.store.resolve(data)

    from sklearn.metrics import mean_absolute_error, r2_score

    from modelmill.datasets.io import read_listings

    frame = read_listings(ws.store.path(data_version))
    if target not in frame.columns:
        raise fail(f"{data_version.ref} has no target column '{target}'", 2)
    y_true = frame.pop(target)
    from mlflow.exceptions import MlflowException

    try:
        estimator, label = _load_model(ws, model, tracking_uri)
    except (MlflowException, OSError) as exc:
        raise fail(f"cannot load model '{model}' ({exc}); expected a model_export artifact "
                   "or a models:/NAME@ALIAS registry URI", 2) from None  # fmt: skip
    y_pred = estimator.predict(frame)
    result = {
        "model": label,
        "data": data_version.ref,
        "n": len(frame),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }
    if as_json:
        print_json(result)
        return
    typer.echo(f"{label} on {data_version.ref} ({result['n']} rows)")
    typer.echo(f"MAE {result['mae']:.4f}")
    typer.echo(f"R2  {result['r2']:.4f}")
