"""``modelmill serve``: the online prediction service (FastAPI behind uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import WorkspaceOption, handle_errors
from modelmill.cli._project import ConfigDirOption, project, workspace_of
from modelmill.core.errors import UsageError


@handle_errors
def serve_command(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="models:/NAME@ALIAS, models:/NAME/N or an artifact ref such as NAME:v3 (default: the "
        "project's models:/<main.model_name>@prod). An alias is watched and hot-swapped when it moves.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    max_batch: int = typer.Option(None, "--max-batch", help="Most rows per request (default 256)."),
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
    log_requests: bool = typer.Option(
        None,
        "--log-requests/--no-log-requests",
        help="Append every validated request and its prediction to rolling Parquet parts "
        "(readable by `modelmill monitor DIR`); off by default.",
    ),
    log_dir: Path = typer.Option(
        None, "--log-dir", help="Request log directory (default: <workspace>/request_log)."
    ),
    log_max_mb: float = typer.Option(
        None, "--log-max-mb", help="Request log size bound in MB; the oldest parts are deleted (default 100)."
    ),
    log_flush_rows: int = typer.Option(
        None, "--log-flush-rows", help="Buffered rows that trigger writing a part (default 1000)."
    ),
    log_flush_interval: float = typer.Option(
        None, "--log-flush-interval", help="Seconds between writes of a partial buffer (default 10)."
    ),
    drift_window: int = typer.Option(
        None,
        "--drift-window",
        help="Rows in the sliding window of the live drift gauge modelmill_feature_drift_psi on "
        "/metrics (default 1000; 0 turns it off).",
    ),
    fallback: bool = typer.Option(
        None,
        "--fallback/--no-fallback",
        help="When the model cannot be loaded at start, serve the newest older version that loads "
        "(/ready and /metadata say so) instead of answering 503; off by default (serve.fallback).",
    ),
    challenger: str = typer.Option(
        None,
        "--challenger",
        help="A model served next to --model during a rollout, e.g. models:/NAME@challenger (set by "
        "`modelmill rollout start`); followed like --model, dropped when its alias is removed.",
    ),
    mode: str = typer.Option(
        None,
        "--rollout-mode",
        help="canary (default): the challenger answers --share of the request keys; "
        "shadow: it predicts a copy of every request and never answers.",
    ),
    share: float = typer.Option(
        None, "--share", help="Share of request keys a canary answers (default 0.1)."
    ),
    rollout_key: str = typer.Option(
        None, "--rollout-key", help="Request column that routes a canary (default: the X-Rollout-Key header)."
    ),
    max_error_rate: float = typer.Option(
        None, "--max-error-rate", help="Roll the challenger back above this error rate (default 0.05)."
    ),
    max_p99_ms: float = typer.Option(
        None, "--max-p99-ms", help="Roll the challenger back above this p99 latency in ms (default 500)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    overrides: list[str] = typer.Argument(
        None, help="Config overrides of the serve section, e.g. serve.log_requests=true (flags win)."
    ),
) -> None:
    """Serve predictions over HTTP: /predict, /invocations (MLflow), /health, /ready, /metadata, /metrics.

    Set MODELMILL_API_KEY to require the X-API-Key header on every endpoint but /health, and
    MLFLOW_TRACKING_URI (or --tracking-uri) to pull the model from another registry.
    """
    import os

    import uvicorn
    from pydantic import ValidationError

    from modelmill.serve.app import create_app
    from modelmill.serve.settings import TRACKING_URI_ENV, ServeSettings

    defaults = _project(overrides or [], config_dir)
    configured = defaults.section("serve")
    log_requests = configured.get("log_requests") if log_requests is None else log_requests
    log_max_mb = configured.get("log_max_mb") if log_max_mb is None else log_max_mb
    drift_window = configured.get("drift_window") if drift_window is None else drift_window
    fallback = configured.get("fallback") if fallback is None else fallback
    rollout = _rollout(configured.get("rollout"), challenger=challenger, rollout_mode=mode,
                       challenger_share=share, rollout_key=rollout_key, max_error_rate=max_error_rate,
                       max_p99_ms=max_p99_ms)  # fmt: skip
    try:
        settings = ServeSettings.from_env(
            model=model or defaults.model_uri,
            workspace=workspace_of(workspace, defaults),
            max_batch=max_batch,
            poll_interval=poll_interval,
            runtime=runtime,
            tracking_uri=tracking_uri
            or (None if os.environ.get(TRACKING_URI_ENV) else defaults.tracking_uri),
            log_requests=log_requests,
            log_dir=log_dir,
            log_max_bytes=None if log_max_mb is None else int(log_max_mb * 1_000_000),
            log_flush_rows=log_flush_rows,
            log_flush_interval=log_flush_interval,
            drift_window=drift_window,
            fallback=fallback,
            **rollout,
        )
    except ValidationError as exc:
        raise UsageError("; ".join(str(e["msg"]) for e in exc.errors())) from None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in server logs
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


_ROLLOUT_KEYS = {"challenger": "challenger", "mode": "rollout_mode", "share": "challenger_share",
                 "key": "rollout_key", "max_error_rate": "max_error_rate", "max_p99_ms": "max_p99_ms",
                 "min_requests": "min_requests", "window": "rollout_window"}  # fmt: skip


def _rollout(configured: Any, **flags: Any) -> dict[str, Any]:
    """The rollout settings: ``serve.rollout.*`` of the config, flags winning."""
    configured = {} if configured is None else configured
    if not isinstance(configured, dict):
        raise UsageError(f"serve.rollout must be a mapping of {', '.join(_ROLLOUT_KEYS)}, got {configured!r}")
    values = {_ROLLOUT_KEYS[k]: v for k, v in configured.items() if k in _ROLLOUT_KEYS and v is not None}
    unknown = sorted(set(configured) - set(_ROLLOUT_KEYS))
    if unknown:
        raise UsageError(f"serve.rollout has no key {', '.join(unknown)} (known: {', '.join(_ROLLOUT_KEYS)})")
    return values | {k: v for k, v in flags.items() if v is not None}


def _project(overrides: list[str], config_dir: Path | None) -> Any:
    """The project's defaults with ``overrides`` (``serve.KEY=VALUE`` only) applied."""
    outside = [o for o in overrides if not o.lstrip("+~").startswith("serve.")]
    if outside:
        raise UsageError(f"modelmill serve takes only serve.* overrides, got: {' '.join(outside)}")
    return project(config_dir, overrides)
