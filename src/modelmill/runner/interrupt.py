"""Ctrl-C and SIGTERM: stop where we are, say what was interrupted, exit 130.

Python turns SIGINT into :class:`KeyboardInterrupt`; :func:`sigterm_interrupts` makes
SIGTERM (``kill``, a scheduler or container stopping the job) do the same, so both take
one path: the executor ends what it opened (the workspace's run record, the MLflow runs)
and re-raises an :class:`Interrupted` that carries the one line to print. Finished steps
are already stored, so the next run resumes with them as cache hits.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from modelmill.core.types import StepResult

if TYPE_CHECKING:
    from modelmill.runner.cache import ExecutionLog
    from modelmill.tracking.base import Tracker

logger = logging.getLogger(__name__)

EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C


class Interrupted(KeyboardInterrupt):
    """An interrupt (a ``KeyboardInterrupt``, so ``except Exception`` never swallows it) with
    the message the command line prints."""

    def __init__(self, message: str | None = None, signal_name: str = "SIGINT") -> None:
        super().__init__(message or "interrupted")
        self.message = message or "interrupted"
        self.detailed = message is not None  # says what was interrupted and how to resume
        self.signal_name = signal_name


def signal_name(exc: BaseException) -> str:
    """``SIGTERM`` for a SIGTERM turned interrupt, else ``Ctrl-C`` (SIGINT)."""
    return getattr(exc, "signal_name", "SIGINT").replace("SIGINT", "Ctrl-C")


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal_name="SIGTERM")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` like Ctrl-C (main thread only;
    elsewhere signals cannot be handled and the block changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_run(
    log: ExecutionLog,
    tracker: Tracker,
    run_id: str,
    step: str | None,
    results: list[StepResult],
    exc: KeyboardInterrupt,
) -> Interrupted:
    """Record the interrupted run, end its tracking runs, and say where to resume.

    A second Ctrl-C during this clean-up abandons it: what stays open is closed as an
    orphan by the next run.
    """
    finished = [r.name for r in results if r.status in ("ran", "cached")]
    if step is None:
        where, resume = "while recording the run; every step finished and is stored", ""
    else:
        where = f"during step '{step}'"
        resume = (f"; {len(finished)} finished step(s) are stored and the next run resumes at "
                  f"'{step}' (finished steps are cache hits)")  # fmt: skip
    message = f"interrupted ({signal_name(exc)}) {where} in run {run_id}{resume}"
    summary = {"run_id": run_id, "status": "interrupted", "error": message,
               "steps": [r.to_dict() for r in results]}  # fmt: skip
    for end in (
        lambda: log.finish_run(run_id, "interrupted", summary),
        lambda: tracker.end_pipeline("interrupted", summary),
    ):
        try:
            end()
        except KeyboardInterrupt:
            break
        except Exception as error:  # never hide the interrupt behind a clean-up failure
            logger.warning("while stopping run %s: %s", run_id, error)
    return Interrupted(message, getattr(exc, "signal_name", "SIGINT"))
