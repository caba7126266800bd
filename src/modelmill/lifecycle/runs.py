"""What the runner recorded about a past pipeline run, read back from the workspace index.

``pipeline_runs`` keeps each run's resolved config and summary (every step with the exact
input and output versions, cached steps included); ``step_executions`` keeps, for the
execution that actually produced those outputs, the cache key's parts: the step code's
fingerprint and the library versions. Together they are what reproducing a run needs.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import UsageError
from modelmill.store.workspace import Workspace


@dataclass(frozen=True)
class RecordedRun:
    """One row of ``pipeline_runs``, decoded."""

    run_id: str
    status: str
    started: float
    config_yaml: str
    summary: dict[str, Any]

    def step(self, name: str) -> dict[str, Any] | None:
        """The summary entry of step ``name`` (inputs, outputs, status), if it was selected."""
        return next((s for s in self.summary.get("steps", []) if s.get("name") == name), None)

    def output(self, step: str, artifact: str) -> str | None:
        """The exact ref of ``artifact`` that ``step`` produced (or reused from cache) in this run."""
        entry = self.step(step) or {}
        return next((o for o in entry.get("outputs", []) if o.split(":")[0] == artifact), None)


def recent_run_ids(ws: Workspace, limit: int = 5) -> list[str]:
    """The newest recorded run ids, newest first."""

    def q(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute("SELECT run_id FROM pipeline_runs ORDER BY started DESC LIMIT ?", (limit,))
        return [r["run_id"] for r in rows.fetchall()]

    return ws.db.read(q)


def load_run(ws: Workspace, run_id: str) -> RecordedRun:
    """The recorded run ``run_id``; an unknown id is a usage error naming recent ones."""

    def q(conn: sqlite3.Connection) -> sqlite3.Row | None:
        return conn.execute("SELECT * FROM pipeline_runs WHERE run_id = ?", (run_id,)).fetchone()

    row = ws.db.read(q)
    if row is None:
        recent = recent_run_ids(ws)
        known = f"recent runs: {', '.join(recent)}" if recent else "no run is recorded yet"
        raise UsageError(f"no pipeline run {run_id!r} in workspace {ws.root}; {known}")
    return RecordedRun(
        row["run_id"], row["status"], row["started"], row["config"] or "", json.loads(row["summary"] or "{}")
    )


def producing_components(ws: Workspace, step: str, outputs: list[str]) -> dict[str, Any] | None:
    """Cache-key parts (code, params, inputs, libraries) of the execution that produced ``outputs``.

    A cached step in a run points at an earlier execution; matching on the exact output
    refs finds it whichever run it was.
    """

    def q(conn: sqlite3.Connection) -> sqlite3.Row | None:
        return conn.execute(
            "SELECT components FROM step_executions WHERE step = ? AND status = 'ran' AND outputs = ? "
            "ORDER BY id DESC LIMIT 1",
            (step, json.dumps(outputs)),
        ).fetchone()

    row = ws.db.read(q)
    return json.loads(row["components"]) if row is not None else None


def diff_versions(recorded: dict[str, str], current: dict[str, str]) -> dict[str, list[str | None]]:
    """``{name: [recorded, current]}`` for every entry that differs."""
    return {
        k: [recorded.get(k), current.get(k)]
        for k in sorted(set(recorded) | set(current))
        if recorded.get(k) != current.get(k)
    }


def recorded_git_commit(ws: Workspace, cfg: Any, summary: dict[str, Any]) -> str | None:
    """The git commit MLflow recorded for the run, when it was tracked (the runner does not keep one)."""
    tracking_run_id = summary.get("tracking_run_id")
    if not tracking_run_id or str(cfg.main.get("tracking", "mlflow")) != "mlflow":
        return None
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(cfg.main.get("tracking_uri") or ws.default_tracking_uri)
        return client.get_run(tracking_run_id).data.tags.get("modelmill.git_commit")
    except Exception:  # an unreachable or pruned tracking store only loses this one fact
        return None
