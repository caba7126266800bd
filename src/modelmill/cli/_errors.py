"""Errors from outside modelmill's own tree, as the one line and exit code a user should see.

modelmill raises :class:`~modelmill.core.errors.ModelmillError` on purpose; everything else
that reaches the command line (the operating system, SQLite, YAML, OmegaConf, MLflow, an
interrupt) is translated here, so that no fault a user can cause prints a traceback. The
exit codes keep their meaning: 1 the work failed, 2 the command or its environment must be
changed, 130 interrupted (:func:`interrupted`). ``MODELMILL_DEBUG=1`` re-raises instead (the
traceback is for us).
"""

from __future__ import annotations

import errno
import os
import sqlite3

DEBUG_ENV = "MODELMILL_DEBUG"
_NOTHING_KEPT = "nothing half-written was kept"


def debugging() -> bool:
    """Whether the user asked for tracebacks."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (MLflow and SQLAlchemy wrap the real cause)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _where(exc: OSError) -> str:
    return f" ({exc.filename})" if exc.filename else ""


def _os_error(exc: OSError) -> tuple[str, int]:
    where = _where(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on device{where}: free some space, or put the workspace "
                f"(MODELMILL_HOME) or the output on another disk, and run again; {_NOTHING_KEPT}",
                1)  # fmt: skip
    if exc.errno == errno.EROFS:
        return f"read-only file system{where}: write to a writable directory instead", 2
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}: check the file's owner and mode, or use another path", 2
    if exc.errno == errno.ENOENT:
        return f"no such file or directory{where}", 2
    if exc.errno == errno.EISDIR:
        return f"a directory where a file was expected{where}", 2
    return f"{exc.strerror or exc}{where}", 1


def _sqlite_text(text: str) -> tuple[str, int] | None:
    lowered = text.lower()
    if "file is not a database" in lowered or "malformed" in lowered:
        return ("a SQLite database is corrupt or not a database (the workspace's index.db or MLflow's "
                "mlflow.db): restore it from a backup, or move it aside to start a new one", 1)  # fmt: skip
    if "database or disk is full" in lowered or "disk i/o error" in lowered:
        return (f"the disk holding a SQLite database is full or failing ({text.strip()}): free some "
                f"space and run again; {_NOTHING_KEPT}", 1)  # fmt: skip
    if "readonly database" in lowered or "read-only" in lowered:
        return "a SQLite database is read-only: use a writable workspace (MODELMILL_HOME)", 2
    if "unable to open database file" in lowered:
        return ("cannot open a SQLite database (missing directory, no permission or read-only "
                "volume): check MODELMILL_HOME and main.tracking_uri", 2)  # fmt: skip
    return None


def interrupted(exc: KeyboardInterrupt, resume: str | None) -> str:
    """What Ctrl-C or SIGTERM stopped: the command's ``resume`` advice when it has one, else the
    executor's own account (which step, where the next run resumes), else a generic line."""
    from modelmill.runner.interrupt import Interrupted, signal_name

    if resume is None and isinstance(exc, Interrupted) and exc.detailed:
        return exc.message
    return f"interrupted ({signal_name(exc)}); {resume or _NOTHING_KEPT + ': run the command again'}"


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for a non-modelmill exception."""
    import yaml

    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno is not None:
            return _os_error(cause)
        if isinstance(cause, sqlite3.Error) and (found := _sqlite_text(str(cause))):
            return found
        if isinstance(cause, yaml.YAMLError):
            return f"invalid YAML: {' '.join(str(cause).split())}", 2
    if found := _sqlite_text(str(exc)):  # MLflow's SQLAlchemy store keeps only the text
        return found
    kind = type(exc).__name__
    module = type(exc).__module__.split(".")[0]
    if module == "omegaconf":
        return f"invalid configuration: {str(exc).splitlines()[0]}", 2
    if module == "mlflow":
        return f"MLflow: {str(exc).splitlines()[0] if str(exc) else kind}", 1
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (f"unexpected {kind}: {first} (a modelmill bug: please report it with the traceback "
            f"that {DEBUG_ENV}=1 prints)", 1)  # fmt: skip
