"""Shared CLI plumbing: one error handler, the workspace option, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from modelmill.core.errors import ModelmillError

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = typer.Option(
    None,
    "--workspace",
    "-w",
    envvar="MODELMILL_HOME",
    help="Workspace directory (default: $MODELMILL_HOME or ./.modelmill).",
)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn modelmill errors into a one-line message and their exit code (1 or 2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ModelmillError as exc:
            raise fail(str(exc), exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def open_ws(workspace: Path | None) -> Any:
    """Open the workspace named by ``--workspace`` / ``MODELMILL_HOME`` / default."""
    from modelmill.api import open_workspace

    return open_workspace(workspace)
