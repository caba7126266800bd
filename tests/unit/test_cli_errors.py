"""Every command turns any error into one ``error:`` line and a meaningful exit code, never a traceback."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import typer
import typer.main
import yaml
from typer.testing import CliRunner

from modelmill.cli import app
from modelmill.cli._common import handle_errors
from modelmill.core.errors import ConfigError


def _leaves(command: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield prefix.strip(), command.callback
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, f"{prefix} {name}")


def test_every_command_is_wrapped_by_the_error_handler() -> None:
    leaves = dict(_leaves(typer.main.get_command(app)))
    assert {"run", "promote", "score", "serve", "artifacts show", "artifacts verify"} <= set(leaves)
    unwrapped = [name for name, callback in leaves.items() if not getattr(callback, "handles_errors", False)]
    assert unwrapped == []


def _raising(exc: BaseException) -> typer.Typer:
    one = typer.Typer()

    @one.command()
    @handle_errors
    def boom() -> None:
        raise exc

    return one


def _wrapped_sqlite(text: str) -> Exception:
    """What MLflow's SQLAlchemy store raises: its own exception, the sqlite3 error as the cause."""
    try:
        try:
            raise sqlite3.DatabaseError(text)
        except sqlite3.DatabaseError as inner:
            raise RuntimeError(f"(sqlite3.DatabaseError) {text}") from inner
    except RuntimeError as outer:
        return outer


CASES = [
    (OSError(errno.ENOSPC, "No space left on device", "/ws/blobs/x"), 1, ["no space left", "/ws/blobs/x"]),
    (OSError(errno.EROFS, "Read-only file system", "/ro/index.db"), 2, ["read-only", "/ro/index.db"]),
    (PermissionError(errno.EACCES, "Permission denied", "/etc/x"), 2, ["permission denied", "/etc/x"]),
    (_wrapped_sqlite("file is not a database"), 1, ["corrupt", "mlflow.db"]),
    (sqlite3.OperationalError("database or disk is full"), 1, ["full"]),
    (yaml.YAMLError("found character '\\t'"), 2, ["invalid yaml"]),
    (KeyboardInterrupt(), 130, ["interrupted", "again"]),
    (ConfigError("unknown config key 'x'"), 2, ["unknown config key"]),
    (ZeroDivisionError("division by zero"), 1, ["unexpected ZeroDivisionError", "MODELMILL_DEBUG=1"]),
]


@pytest.mark.parametrize(("exc", "code", "words"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_errors_become_one_line_with_their_exit_code(exc: BaseException, code: int, words: list[str]) -> None:
    result = CliRunner().invoke(_raising(exc), [])
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word.lower() in lines[0].lower()


def test_debug_mode_shows_the_real_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMILL_DEBUG", "1")
    result = CliRunner().invoke(_raising(ZeroDivisionError("boom")), [])
    assert isinstance(result.exception, ZeroDivisionError)


def test_typer_exits_pass_through() -> None:
    result = CliRunner().invoke(_raising(typer.Exit(3)), [])
    assert result.exit_code == 3 and result.stderr == ""
