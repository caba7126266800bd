"""``modelmill ui``: a read-only web UI over the workspace (FastAPI behind uvicorn)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer

from modelmill.cli._common import WorkspaceOption, handle_errors
from modelmill.cli._project import ConfigDirOption, project, workspace_of
from modelmill.core.errors import UsageError

LOOPBACK = ["127.0.0.1", "localhost"]  # Host header values a browser sends to a loopback UI


def check_port_free(host: str, port: int) -> None:
    """Fail with the fix (another --port) before uvicorn logs a traceback-like error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use: choose another with --port"
                ) from None
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@handle_errors
def ui_command(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (keep 127.0.0.1 unless you mean it)."
    ),
    port: int = typer.Option(8765, "--port", help="Port to listen on."),
    allow_writes: bool = typer.Option(
        False, "--allow-writes", help="Allow setting aliases from the UI (read-only without it)."
    ),
    mlflow_url: str = typer.Option(
        "http://127.0.0.1:5000",
        "--mlflow-url",
        help="Where 'mlflow ui' serves a local tracking store; runs link there (an http tracking URI "
        "is linked directly).",
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
) -> None:
    """Browse artifacts, lineage graphs, pipeline runs, sweeps and reports in a web browser
    (the project's workspace: main.workspace of its config, unless --workspace says)."""
    import uvicorn

    from modelmill.ui import create_app, open_existing

    ws = open_existing(workspace if workspace is not None else workspace_of(None, project(config_dir)))
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: expected 1..65535")
    check_port_free(host, port)
    app = create_app(ws, allow_writes=allow_writes, mlflow_url=mlflow_url or None,
                     allowed_hosts=LOOPBACK if host in LOOPBACK else None)  # fmt: skip
    mode = "read-write (aliases)" if allow_writes else "read-only"
    typer.echo(f"modelmill ui ({mode}) for {ws.root} on http://{host}:{port}/  (Ctrl+C stops)", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
