"""Where trials run: local worker processes (default) or Ray tasks.

A launcher takes the trials' payloads and yields each result as it finishes; the sweep
reports progress and builds the table from them. Both call the same importable
:func:`modelmill.sweep.trial.run_trial`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

from modelmill.core.errors import ConfigError
from modelmill.core.machine import cores
from modelmill.sweep.trial import run_trial


class Launcher(Protocol):
    """Runs trial payloads; yields result dicts in completion order."""

    jobs: int

    def run(self, payloads: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]: ...


def default_jobs() -> int:
    """The cores this process may use."""
    return cores()


class LocalLauncher:
    """``jobs`` worker processes (``spawn``: no state inherited from the parent)."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs {jobs}: expected 1 or more worker processes")
        self.jobs = jobs

    def run(self, payloads: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        if self.jobs == 1 or len(payloads) == 1:
            for payload in payloads:  # in-process: no worker start-up, easiest to debug
                yield run_trial(payload)
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(payloads)), mp_context=context)
        try:
            pending = {pool.submit(run_trial, p): p for p in payloads}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    payload = pending.pop(future)
                    yield _result_or_crash(future, payload)
        except BaseException:  # Ctrl-C: queued trials never start; running ones get the signal too
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _result_or_crash(future: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The trial's result, or a failed result when its worker process died."""
    from modelmill.sweep.trial import TrialResult

    try:
        return dict(future.result())
    except Exception as exc:  # the worker was killed (out of memory, signal)
        result = TrialResult(payload["index"], payload["overrides"], payload["params"])
        result.error = f"worker process failed: {type(exc).__name__}: {exc}"
        return result.to_dict()


def make_launcher(kind: str, jobs: int | None) -> Launcher:
    """``local`` or ``ray`` (the ``ray`` extra)."""
    if kind == "local":
        return LocalLauncher(jobs or default_jobs())
    if kind == "ray":
        from modelmill.sweep.ray_launcher import RayLauncher

        return RayLauncher(jobs)
    raise ConfigError(f"--launcher {kind!r}: expected 'local' or 'ray'")
