"""An MLflow run that groups other runs (a sweep's trials nest under it).

The trials are logged by their own pipeline runs (``mlflow.parentRunId`` = this run);
this run holds what belongs to the group: the sweep's spec, the best trial's metrics
and the results table.

Like a pipeline's runs, a group run records its owner process; a group still open when
the interpreter exits (Ctrl-C, SIGTERM turned into an interrupt) is ended ``KILLED``.
"""

from __future__ import annotations

import atexit
import time
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError
from modelmill.core.types import flatten
from modelmill.tracking.environment import git_commit
from modelmill.tracking.liveness import current
from modelmill.tracking.mlflow_tracker import MAX_PARAM_CHARS, ensure_experiment, quiet_mlflow
from modelmill.tracking.orphans import close_orphans
from modelmill.tracking.preflight import DEFAULT_TIMEOUT_S, check_tracking_uri, redacted
from modelmill.tracking.sqlite_seed import seed_sqlite


class GroupRun:
    """Create with :meth:`start`, close with :meth:`finish`."""

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_root: Path | None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.timeout = timeout
        self.client: Any = None
        self.run_id: str | None = None

    def start(self, name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        """Create the run; a backend failure is a :class:`ConfigError` naming the URI."""
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        check_tracking_uri(self.tracking_uri, self.timeout)
        quiet_mlflow()
        seed_sqlite(self.tracking_uri, self.artifact_root)
        try:
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
            exp = ensure_experiment(self.client, self.experiment, self.artifact_root)
            close_orphans(self.client, exp)
            commit, dirty = git_commit()
            all_tags = {"mlflow.source.git.commit": commit, "modelmill.git_dirty": str(dirty).lower(),
                        **current().tags(), **tags}  # fmt: skip
            run = self.client.create_run(
                exp, run_name=name, start_time=int(time.time() * 1000), tags=all_tags
            )
            self.run_id = str(run.info.run_id)
            atexit.register(self._abandon)
        except Exception as exc:  # bad URI, unreachable server, bad DB
            raise ConfigError(
                f"main.tracking_uri={redacted(self.tracking_uri)!r}: cannot log to MLflow "
                f"({type(exc).__name__}: {exc}). Fix the URI, or run with main.tracking=none."
            ) from None
        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in flatten(params).items()]
        self.client.log_batch(self.run_id, params=items[:100])
        return str(self.run_id)

    def finish(
        self, ok: bool, metrics: dict[str, float], tags: dict[str, str], texts: dict[str, str]
    ) -> None:
        """Log the group's results (``texts``: artifact path -> content) and close it."""
        from mlflow.entities import Metric, RunTag

        if self.run_id is None:
            return
        now = int(time.time() * 1000)
        try:
            self.client.log_batch(
                self.run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                tags=[RunTag(k, str(v)) for k, v in tags.items()],
            )
            for path, text in texts.items():
                self.client.log_text(self.run_id, text, path)
        finally:
            atexit.unregister(self._abandon)
            self.client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")

    def _abandon(self) -> None:
        """At exit, a group that was never finished was interrupted: end it ``KILLED``."""
        try:
            if self.run_id is not None:
                self.client.set_terminated(self.run_id, "KILLED")
        except Exception:  # best-effort at exit; the next writer closes it as an orphan
            pass
