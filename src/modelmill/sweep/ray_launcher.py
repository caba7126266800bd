"""Trials as Ray tasks: ``modelmill sweep --launcher ray`` (the ``ray`` extra).

Each trial is one task running :func:`modelmill.sweep.trial.run_trial`, the function the
local launcher runs; results come back as tasks finish (``ray.wait``).

* ``RAY_ADDRESS`` set: connect to that cluster (and leave it running). Every node must
  have modelmill installed in the same version (tasks import it, they are not shipped
  with ``runtime_env``) and see the workspace at the same absolute path (a shared file
  system): trials read the shared steps' artifacts from it and write their models to it.
  The default MLflow store is a SQLite file in the workspace, fine on one host; on a
  cluster set ``main.tracking_uri`` to an MLflow server (or ``main.tracking=none``).
  A cluster started with token authentication (Ray's default for ``ray start`` here)
  also needs ``RAY_AUTH_MODE=token`` and its token in the driver's environment.
  Checked with ``ray start --head --num-cpus 4`` and ``RAY_ADDRESS=127.0.0.1:PORT``.
  ``RAY_ADDRESS=auto`` uses a cluster ``ray start`` started on this host.
* Otherwise: start a local Ray for the sweep and shut it down afterwards (an already
  initialised Ray, e.g. one a notebook or a test started, is used and left running).

Ray can hang on small machines when tasks hold every CPU it knows of (its own bookkeeping
then waits for a free one), so a local Ray gets ``jobs + 2`` (at least 4) *logical* CPUs,
and this launcher never has more than ``jobs`` tasks in flight: the real parallelism is
``jobs`` whatever Ray believes. Each task caps its libraries' threads with the payload's
``threads`` (``run_trial`` applies it), so ``jobs`` trials share the cores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from typing import Any

from modelmill.core.errors import ConfigError
from modelmill.sweep.launchers import default_jobs
from modelmill.sweep.trial import TrialResult, run_trial

RAY_MISSING = "--launcher ray needs the ray extra: pip install 'modelmill[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


class RayLauncher:
    """``jobs`` trials at a time as Ray tasks (one logical CPU each)."""

    def __init__(self, jobs: int | None = None) -> None:
        if importlib.util.find_spec("ray") is None:  # fail at once, not after the shared steps
            raise ConfigError(RAY_MISSING)
        if jobs is not None and jobs < 1:
            raise ConfigError(f"--jobs {jobs}: expected 1 or more parallel trials")
        self.jobs = jobs or default_jobs()

    def run(self, payloads: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield each payload's result as its task finishes."""
        waiting = list(payloads)
        if not waiting:
            return
        with self.pool() as pool:
            while waiting and pool.in_flight < self.jobs:
                pool.submit(waiting.pop(0))
            while pool.in_flight:
                yield pool.next_result()
                if waiting:
                    pool.submit(waiting.pop(0))

    @contextlib.contextmanager
    def pool(self) -> Iterator[RayPool]:
        """Ray connected for the block: submit payloads, take results as they finish.

        The streaming form :func:`modelmill.sweep.bayes.run_optuna` uses to keep ``jobs``
        trials in flight while it asks Optuna for the next one.
        """
        ray = _import_ray()
        started = False
        if not ray.is_initialized():
            self._init(ray)
            started = True
        pool = RayPool(ray)
        try:
            yield pool
        finally:
            pool.cancel()
            if started:
                ray.shutdown()

    def _init(self, ray: Any) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline machines: no prompt
        address = os.environ.get("RAY_ADDRESS")
        if address:
            _check_reachable(address)  # ray.init retries a dead address for minutes
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(  # "local": our own instance, never a `ray start` cluster found on this host
                    address="local", num_cpus=max(4, self.jobs + 2), include_dashboard=False,
                    log_to_driver=False, ignore_reinit_error=True, configure_logging=False,
                )  # fmt: skip
        except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError...
            where = f"connect to the Ray cluster at RAY_ADDRESS={address}" if address else "start a local Ray"
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"--launcher ray: cannot {where}: {detail}"
                + (". A cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
                   "(RAY_AUTH_TOKEN, or ~/.ray/auth_token)" if address else "")
            ) from None  # fmt: skip


def _check_reachable(address: str) -> None:
    """Fail fast when nothing listens at a ``host:port`` (or ``ray://host:port``) address."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # "auto", "local": Ray resolves these itself
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            f"--launcher ray: RAY_ADDRESS={address}: no Ray cluster answers there ({exc}); "
            "start one (ray start --head) or unset RAY_ADDRESS to run a local Ray"
        ) from None


class RayPool:
    """Ray tasks in flight, keyed by their object refs."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        # no retries: a trial that kills its worker fails on its own, like a local one
        self.task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
        self.pending: dict[Any, dict[str, Any]] = {}

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def submit(self, payload: dict[str, Any]) -> None:
        self.pending[self.task.remote(payload)] = payload

    def next_result(self) -> dict[str, Any]:
        """The next finished trial's result (a failed result when its worker died)."""
        [ref], _ = self.ray.wait(list(self.pending), num_returns=1)
        payload = self.pending.pop(ref)
        try:
            return dict(self.ray.get(ref))
        except Exception as exc:  # the task's worker crashed or the node went away
            result = TrialResult(payload["index"], list(payload["overrides"]), dict(payload["params"]))
            result.error = f"Ray task failed: {type(exc).__name__}: {str(exc).strip()[:500]}"
            return result.to_dict()

    def cancel(self) -> None:
        """Stop tasks still running (Ctrl-C, an error): nothing keeps a cluster busy for us."""
        for ref in self.pending:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        self.pending.clear()
