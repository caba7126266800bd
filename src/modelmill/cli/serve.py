"""``modelmill serve``: the online prediction service (FastAPI behind uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from modelmill.cli._common import WorkspaceOption, handle_errors
from modelmill.core.errors import UsageError


@handle_errors
def serve_command(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="models:/NAME@ALIAS, models:/NAME/N or an artifact ref such as random_forest_export:v3 "
        "(default: models:/nyc_rentals@prod). An alias is watched and hot-swapped when it moves.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    max_batch: int = typer.Option(None, "--max-batch", help="Most listings per request (default 256)."),
    poll_interval: float = typer.Option(
        None, "--poll-interval", help="Seconds between checks of the model alias (default 2)."
    ),
    runtime: str = typer.Option(
        None,
        "--runtime",
        help="auto (default): onnxruntime when the model carries an ONNX graph that passed parity, "
        "else scikit-learn; onnx: refuse models without one; sklearn: never ONNX.",
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow registry to pull models:/ URIs from (default: $MLFLOW_TRACKING_URI, else the "
        "workspace's SQLite store), e.g. sqlite:////registry/mlflow.db or http://mlflow:5000.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    workspace: Path = WorkspaceOption,
) -> None:
    """Serve predictions over HTTP: /predict, /invocations (MLflow), /health, /ready, /metadata, /metrics.

    Set MODELMILL_API_KEY to require the X-API-Key header on every endpoint but /health, and
    MLFLOW_TRACKING_URI (or --tracking-uri) to pull the model from another registry.
    """
    import os

    import uvicorn
    from pydantic import ValidationError

    from modelmill.serve.app import create_app
    from modelmill.serve.settings import ServeSettings

    try:
        settings = ServeSettings.from_env(
            model=model,
            workspace=workspace,
            max_batch=max_batch,
            poll_interval=poll_interval,
            runtime=runtime,
            tracking_uri=tracking_uri,
        )
    except ValidationError as exc:
        raise UsageError("; ".join(str(e["msg"]) for e in exc.errors())) from None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in server logs
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
