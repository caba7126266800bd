"""Trials in flight for a study: submit one payload at a time, get results as they finish.

Optuna asks for a trial when another finishes, so the sweep needs a streaming pool
rather than :meth:`Launcher.run`'s fixed list: in-process for ``-j 1``, one spawn process
pool for the whole study for ``-j N``, the launcher's own ``pool()`` (Ray) when it has
one, else batches through ``launcher.run``.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator
from typing import Any, Protocol

from modelmill.sweep.launchers import Launcher, LocalLauncher
from modelmill.sweep.trial import TrialResult, run_trial


class TrialPool(Protocol):
    """Trials in flight: submit payloads, get results back one at a time as they finish."""

    def submit(self, payload: dict[str, Any]) -> None: ...

    def next_result(self) -> dict[str, Any]: ...


class _InProcessPool:
    """``-j 1``: run each trial here, in submission order (deterministic, easy to debug)."""

    def __init__(self) -> None:
        self.queue: deque[dict[str, Any]] = deque()

    def submit(self, payload: dict[str, Any]) -> None:
        self.queue.append(payload)

    def next_result(self) -> dict[str, Any]:
        return run_trial(self.queue.popleft())


class _ProcessPool:
    """Like :class:`LocalLauncher`, but one pool for the whole study, fed a trial at a time."""

    def __init__(self, jobs: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.executor = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        self.pending: dict[Any, dict[str, Any]] = {}

    def submit(self, payload: dict[str, Any]) -> None:
        self.pending[self.executor.submit(run_trial, payload)] = payload

    def next_result(self) -> dict[str, Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
        future = min(done, key=lambda f: self.pending[f]["index"])
        payload = self.pending.pop(future)
        try:
            return dict(future.result())
        except Exception as exc:  # the worker process died (out of memory, a signal)
            result = TrialResult(payload["index"], payload["overrides"], payload["params"])
            result.error = f"worker process failed: {type(exc).__name__}: {exc}"
            return result.to_dict()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class _BatchPool:
    """Any other launcher: what was submitted runs as one ``launcher.run`` batch."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self.submitted: list[dict[str, Any]] = []
        self.done: deque[dict[str, Any]] = deque()

    def submit(self, payload: dict[str, Any]) -> None:
        self.submitted.append(payload)

    def next_result(self) -> dict[str, Any]:
        if not self.done:
            batch, self.submitted = self.submitted, []
            self.done.extend(self.launcher.run(batch))
        return self.done.popleft()


@contextlib.contextmanager
def open_pool(launcher: Launcher, jobs: int) -> Iterator[TrialPool]:
    """A streaming pool for ``launcher``: its own ``pool()`` if it has one (Ray), else ours."""
    if hasattr(launcher, "pool"):
        with launcher.pool() as pool:
            yield pool
    elif isinstance(launcher, LocalLauncher):
        if jobs <= 1:
            yield _InProcessPool()
            return
        processes = _ProcessPool(jobs)
        try:
            yield processes
        finally:
            processes.close()
    else:
        yield _BatchPool(launcher)
