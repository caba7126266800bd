"""Shared CLI plumbing: one error handler, the workspace option, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.exceptions import TyperException

from modelmill.cli._errors import debugging, describe, interrupted
from modelmill.core.errors import ModelmillError
from modelmill.runner.interrupt import EXIT_CODE, sigterm_interrupts

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


def handle_errors(fn: F | None = None, *, resume: str | None = None) -> Any:
    """Turn every error into one ``error:`` line and its exit code: modelmill's own (1 or 2),
    the operating system's, SQLite's, YAML's or MLflow's (see :mod:`modelmill.cli._errors`),
    and Ctrl-C or SIGTERM (130, saying what was interrupted and ``resume``: how to continue).
    Every command is wrapped (``tests/unit/test_cli_errors.py``); ``@handle_errors`` or
    ``@handle_errors(resume="...")``."""
    if fn is None:
        return functools.partial(handle_errors, resume=resume)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with sigterm_interrupts():
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException, SystemExit):  # typer's own control flow
            raise
        except ModelmillError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except (Exception, KeyboardInterrupt) as exc:
            if debugging():
                raise
            if isinstance(exc, KeyboardInterrupt):
                raise fail(interrupted(exc, resume), EXIT_CODE) from None
            message, code = describe(exc)
            raise fail(message, code) from None

    wrapper.handles_errors = True  # type: ignore[attr-defined]
    return wrapper


def print_json(data: Any) -> None:
    """Indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def open_ws(workspace: Path | None) -> Any:
    """Open the workspace named by ``--workspace`` / ``MODELMILL_HOME`` / default."""
    from modelmill.api import open_workspace

    return open_workspace(workspace)
