"""``modelmill test``: score a stored model (default: prod) on the test split (MAE, R2)."""

from __future__ import annotations

from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, fail, handle_errors, open_ws, print_json
from modelmill.core.errors import ArtifactNotFoundError
from modelmill.core.names import parse_ref


@handle_errors
def test_command(
    model: str = typer.Option(
        "random_forest_export:prod",
        "--model",
        help="Model: NAME[:vN|:ALIAS] in the store, models:/NAME@ALIAS (or /N), or a model directory.",
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
    from modelmill.registry.references import ModelResolver

    ws = open_ws(workspace)
    resolver = ModelResolver(ws, tracking_uri)
    try:
        resolved = resolver.resolve(model)
    except ArtifactNotFoundError as exc:
        if parse_ref(model).alias is None:
            raise
        raise fail(f"no model at '{model}': {exc}. Promote one first (modelmill run, or "
                   "modelmill promote NAME:vN).", 1) from None  # fmt: skip
    data_version = ws.store.resolve(data)

    from sklearn.metrics import mean_absolute_error, r2_score

    from modelmill.datasets.io import read_listings
    from modelmill.registry.checks import load_checked

    frame = read_listings(ws.store.path(data_version))
    if target not in frame.columns:
        raise fail(f"{data_version.ref} has no target column '{target}'", 2)
    y_true = frame.pop(target)
    with resolver.fetch(resolved) as path:  # verified; a registry download is removed after loading
        checked = load_checked(path, label=resolved.label, runtime="sklearn")
    y_pred = checked.sklearn.predict(frame)
    result = {
        "model": resolved.label,
        "data": data_version.ref,
        "n": len(frame),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }
    if as_json:
        print_json(result)
        return
    typer.echo(f"{resolved.label} on {data_version.ref} ({result['n']} rows)")
    typer.echo(f"MAE {result['mae']:.4f}")
    typer.echo(f"R2  {result['r2']:.4f}")
