"""MLflow adapter: parent run per pipeline execution, nested run per step that runs.

``import mlflow`` costs about 3 s, longer than a fully cached pipeline takes, so the
adapter connects only when a step actually runs. An execution where every step was a
cache hit is logged by a detached process (``python -m modelmill.tracking.deferred``)
so the command returns at once and the parent run still appears in MLflow.

Every run is tagged with the process that opened it (:mod:`~modelmill.tracking.liveness`);
connecting closes the runs of processes that died without closing theirs, and an
interrupted pipeline ends its own as ``KILLED``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError
from modelmill.core.types import flatten
from modelmill.tracking.environment import git_commit
from modelmill.tracking.liveness import current
from modelmill.tracking.lock import environment_lock
from modelmill.tracking.orphans import close_orphans, close_own
from modelmill.tracking.preflight import redacted
from modelmill.tracking.sqlite_seed import seed_sqlite

MAX_PARAM_CHARS = 6000
# runner status -> MLflow run status
RUN_STATUS = {"ran": "FINISHED", "success": "FINISHED", "interrupted": "KILLED"}


def quiet_mlflow() -> None:
    """Silence MLflow's and alembic's INFO chatter (mlflow sets its own levels on import) and its
    per-download progress bars (a registry model is a dozen files: noise on every command's
    stderr); a user's own ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` wins."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="The ``noload`` loader strategy is deprecated")


def ensure_experiment(client: Any, name: str, artifact_root: Path | None) -> str:
    """Id of experiment ``name``, created (artifacts under ``artifact_root``) if missing."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    location = None
    if artifact_root is not None:
        artifact_root.mkdir(parents=True, exist_ok=True)
        location = artifact_root.as_uri()
    try:
        return str(client.create_experiment(name, location))
    except Exception:  # created concurrently by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


class MlflowTracker:
    """Logs to an MLflow tracking store (SQLite in the workspace by default)."""

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_root: Path,
        *,
        defer_when_idle: bool = True,
        spool_dir: Path | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.defer_when_idle = defer_when_idle
        self.spool_dir = spool_dir or artifact_root.parent / "tmp"
        self._pending: dict[str, Any] = {}
        self._client: Any = None
        self._parent: str | None = None
        self._step_run: str | None = None
        # a pipeline run nested under another MLflow run (a sweep's trial), with extra tags
        self.parent_run_id = parent_run_id
        self.tags = dict(tags or {})

    # -- Tracker interface ---------------------------------------------------
    def start_pipeline(self, run_id: str, config_yaml: str, params: dict[str, Any]) -> None:
        # the git commit is read when connecting (here, or in the detached logger, which
        # inherits the working directory): a fully cached run never pays for `git`
        self._pending = {
            "run_id": run_id,
            "config_yaml": config_yaml,
            "params": flatten(params),
            "started_ms": int(time.time() * 1000),
            "parent_run_id": self.parent_run_id,
            "tags": self.tags,
        }

    def start_step(self, step: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        client, parent = self._connect()
        run = client.create_run(
            self._experiment_id(),
            run_name=step,
            tags={
                "mlflow.parentRunId": parent,
                "modelmill.step": step,
                "modelmill.run_id": self._pending["run_id"],
                **self._code_tags(),
                **current().tags(),
                **tags,
            },
        )
        self._step_run = run.info.run_id
        self._log_params(self._step_run, flatten(params))

    def log_metrics(self, metrics: dict[str, float]) -> None:
        if self._step_run is not None:
            self._log_batch(self._step_run, metrics=metrics)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self._step_run is not None:
            self._client.log_artifact(self._step_run, str(path), artifact_path)

    def end_step(self, status: str, tags: dict[str, str]) -> None:
        if self._step_run is None:
            return
        run, self._step_run = self._step_run, None
        try:
            self._log_batch(run, tags=tags)
        finally:
            self._client.set_terminated(run, RUN_STATUS.get(status, "FAILED"))

    def end_pipeline(self, status: str, summary: dict[str, Any]) -> str | None:
        self._pending["summary"] = summary
        self._pending["status"] = status
        if status == "interrupted":
            return self._end_interrupted()
        if self._client is None and self.defer_when_idle:
            self._spawn_deferred()
            return None
        return self.finish_now()

    # -- implementation ------------------------------------------------------
    def finish_now(self) -> str:
        """Close the parent run (connecting first when nothing ran)."""
        client, parent = self._connect()
        summary = self._pending.get("summary", {})
        tags: dict[str, str] = {}
        for step in summary.get("steps", []):
            tags[f"modelmill.step.{step['name']}"] = step["status"]
            tags[f"modelmill.step.{step['name']}.outputs"] = ",".join(step["outputs"])
        status = RUN_STATUS.get(self._pending.get("status", ""), "FAILED")
        try:
            self._log_batch(parent, metrics=summary.get("metrics", {}), tags=tags)
        except BaseException:
            client.set_terminated(parent, "KILLED" if status == "KILLED" else "FAILED")
            raise
        client.set_terminated(parent, status)
        return parent

    def _end_interrupted(self) -> str | None:
        """Ctrl-C or SIGTERM: end the step and parent runs this process opened as ``KILLED``.

        Nothing was opened when nothing ran yet (the parent run is created on first use).
        """
        if self._client is None:
            return None
        if self._step_run is not None:
            self.end_step("interrupted", {})
        parent = self._parent
        if parent is not None:
            self.finish_now()
        close_own(self._client, self._experiment_id())  # a run created as the signal landed
        return parent

    def _connect(self) -> tuple[Any, str]:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            quiet_mlflow()
            seed_sqlite(self.tracking_uri, self.artifact_root)
            try:
                self._client = MlflowClient(tracking_uri=self.tracking_uri)
                close_orphans(self._client, self._experiment_id())
                self._create_parent()
            except Exception as exc:  # any backend failure: bad URI, unreachable server, bad DB
                self._client = None
                raise ConfigError(
                    f"main.tracking_uri={redacted(self.tracking_uri)!r}: cannot log to MLflow "
                    f"({type(exc).__name__}: {exc}). Fix the URI, or run with main.tracking=none."
                ) from None
        assert self._parent is not None
        return self._client, self._parent

    def _experiment_id(self) -> str:
        return ensure_experiment(self._client, self.experiment, self.artifact_root)

    def _code_tags(self) -> dict[str, str]:
        """The commit tags, unless the run's provenance already gave them (``tags``): git is
        asked once per run, and the tags name the project's repository, not the current folder's."""
        if "modelmill.git_commit" in self._pending.get("tags", {}):
            return {}
        if "git_commit" not in self._pending:
            self._pending["git_commit"], self._pending["git_dirty"] = git_commit()
        return {
            "mlflow.source.git.commit": self._pending["git_commit"],
            "modelmill.git_commit": self._pending["git_commit"],
            "modelmill.git_dirty": str(self._pending["git_dirty"]).lower(),
        }

    def _create_parent(self) -> None:
        p = self._pending
        run = self._client.create_run(
            self._experiment_id(),
            run_name=p["run_id"],
            start_time=p["started_ms"],
            tags={
                "modelmill.run_id": p["run_id"],
                "modelmill.kind": "pipeline",
                **self._code_tags(),
                **current().tags(),
                **p.get("tags", {}),
                **({"mlflow.parentRunId": p["parent_run_id"]} if p.get("parent_run_id") else {}),
            },
        )
        run_id = self._parent = str(run.info.run_id)  # known at once: an interrupt can end it
        self._log_params(run_id, p["params"])
        self._client.log_text(run_id, p["config_yaml"], "config.yaml")
        self._client.log_text(run_id, environment_lock(), "environment/requirements.txt")
        self._client.log_text(run_id, sys.version, "environment/python.txt")

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self._client.log_batch(run_id, params=items[start : start + 100])

    def _log_batch(
        self, run_id: str, metrics: dict[str, float] | None = None, tags: dict[str, str] | None = None
    ) -> None:
        """Metrics and tags in one call per 100 (each MLflow call is a SQLite transaction)."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        items: list[Any] = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        items += [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        for start in range(0, len(items), 100):
            chunk = items[start : start + 100]
            self._client.log_batch(
                run_id,
                metrics=[i for i in chunk if isinstance(i, Metric)],
                tags=[i for i in chunk if isinstance(i, RunTag)],
            )

    def _spawn_deferred(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "tracking_uri": self.tracking_uri,
            "experiment": self.experiment,
            "artifact_root": str(self.artifact_root),
            "pending": self._pending,
        }
        spool = self.spool_dir / f"deferred-tracking-{self._pending['run_id']}.json"
        spool.write_text(json.dumps(payload))
        log = open(spool.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child
        subprocess.Popen(
            [sys.executable, "-m", "modelmill.tracking.deferred", str(spool)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ},
        )
        log.close()


def replay(payload: dict[str, Any]) -> str:
    """Log a spooled, fully cached execution (run by the detached process)."""
    tracker = MlflowTracker(
        payload["tracking_uri"],
        payload["experiment"],
        Path(payload["artifact_root"]),
        defer_when_idle=False,
    )
    tracker._pending = payload["pending"]
    return tracker.finish_now()
