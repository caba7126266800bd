"""The run cache: keys, execution records, and why a step ran again.

Like DVC's run cache, a step's key is a hash of everything its outputs depend on:
code fingerprint, params, input digests and library versions. A successful execution
with the same key whose outputs still exist and verify makes the step a cache hit.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelmill.core.hashing import sha256_json
from modelmill.core.types import flatten
from modelmill.store.db import Database
from modelmill.tracking.liveness import Owner, current

SCHEMA = """
CREATE TABLE IF NOT EXISTS step_executions (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    components TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    seconds REAL NOT NULL,
    inputs TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS step_executions_by_key ON step_executions (step, cache_key);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '',
    tracking_run_id TEXT,
    summary TEXT NOT NULL DEFAULT '{}'
)
"""


@dataclass(frozen=True)
class CacheKey:
    """The parts of a key (kept so a re-run can be explained) and their hash."""

    components: dict[str, Any]

    @property
    def digest(self) -> str:
        """The key itself."""
        return sha256_json(self.components)


def make_key(
    code: Mapping[str, str],
    params: Mapping[str, Any],
    inputs: Mapping[str, str | None],
    libraries: Mapping[str, str],
) -> CacheKey:
    """Build a key from its four parts."""
    return CacheKey(
        {
            "code": dict(code),
            "params": dict(params),
            "inputs": dict(inputs),
            "libraries": dict(libraries),
        }
    )


_ABSENT = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else repr(value)


def explain_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """One line naming what differs between two keys' components (params, inputs, code, libs)."""
    parts: list[str] = []
    old_p, new_p = flatten(old.get("params", {})), flatten(new.get("params", {}))
    for k in sorted(set(old_p) | set(new_p)):
        before, after = old_p.get(k, _ABSENT), new_p.get(k, _ABSENT)
        if before != after or (k in old_p) != (k in new_p):
            parts.append(f"param {k} {_show(before)} -> {_show(after)}")
    old_i, new_i = old.get("inputs", {}), new.get("inputs", {})
    parts += [f"input {k} changed" for k in sorted(set(old_i) | set(new_i)) if old_i.get(k) != new_i.get(k)]
    old_c, new_c = old.get("code", {}), new.get("code", {})
    changed_code = [k for k in sorted(set(old_c) | set(new_c)) if old_c.get(k) != new_c.get(k)]
    if changed_code:
        more = f" and {len(changed_code) - 3} more" if len(changed_code) > 3 else ""
        parts.append(f"code changed ({', '.join(changed_code[:3])}{more})")
    old_l, new_l = old.get("libraries", {}), new.get("libraries", {})
    parts += [
        f"library {k} {old_l.get(k)} -> {new_l.get(k)}"
        for k in sorted(set(old_l) | set(new_l))
        if old_l.get(k) != new_l.get(k)
    ]
    return "; ".join(parts)


@dataclass(frozen=True)
class Execution:
    """A recorded step execution."""

    id: int
    run_id: str
    step: str
    cache_key: str
    components: dict[str, Any]
    status: str
    outputs: list[str]
    metrics: dict[str, float]


class ExecutionLog:
    """Step executions and pipeline runs, in the workspace index."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def record(
        self,
        run_id: str,
        step: str,
        key: CacheKey,
        status: str,
        started: float,
        *,
        inputs: list[str],
        outputs: list[str],
        metrics: Mapping[str, float],
        error: str = "",
    ) -> None:
        """Append one execution (successful or failed)."""
        row = (
            run_id,
            step,
            key.digest,
            json.dumps(key.components, sort_keys=True),
            status,
            started,
            time.time() - started,
            json.dumps(inputs),
            json.dumps(outputs),
            json.dumps(dict(metrics)),
            error,
        )
        self.db.write(
            lambda c: c.execute(
                "INSERT INTO step_executions (run_id, step, cache_key, components, status, started, "
                "seconds, inputs, outputs, metrics, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        )

    def candidates(self, step: str, key: str) -> list[Execution]:
        """Successful executions with this key, newest first."""
        return self._query("step = ? AND cache_key = ? AND status = 'ran'", (step, key))

    def previous(self, step: str) -> Execution | None:
        """The newest successful execution of a step, whatever its key."""
        rows = self._query("step = ? AND status = 'ran'", (step,), limit=1)
        return rows[0] if rows else None

    def _query(self, where: str, args: tuple[Any, ...], limit: int = 20) -> list[Execution]:
        def q(conn: sqlite3.Connection) -> list[Execution]:
            rows = conn.execute(
                f"SELECT * FROM step_executions WHERE {where} ORDER BY id DESC LIMIT {limit}", args
            ).fetchall()
            return [
                Execution(
                    r["id"],
                    r["run_id"],
                    r["step"],
                    r["cache_key"],
                    json.loads(r["components"]),
                    r["status"],
                    json.loads(r["outputs"]),
                    json.loads(r["metrics"]),
                )
                for r in rows
            ]

        return self.db.read(q)

    def start_run(self, run_id: str, config_yaml: str) -> None:
        """Record that a pipeline execution began, and which process runs it (its summary
        until it finishes, so :meth:`fail_orphaned_runs` can tell when that process died)."""
        process = json.dumps({"process": current().to_dict()})
        self.db.write(
            lambda c: c.execute(
                "INSERT INTO pipeline_runs (run_id, started, status, config, summary) VALUES (?,?,?,?,?)",
                (run_id, time.time(), "running", config_yaml, process),
            )
        )

    def fail_orphaned_runs(self) -> list[str]:
        """Mark ``failed`` the runs still ``running`` whose process is gone (killed); their ids."""

        def running(conn: sqlite3.Connection) -> list[tuple[str, Owner]]:
            rows = conn.execute("SELECT run_id, summary FROM pipeline_runs WHERE status = 'running'")
            found = []
            for row in rows.fetchall():
                try:
                    owner = Owner.from_dict(json.loads(row["summary"] or "{}").get("process"))
                except (ValueError, AttributeError):
                    owner = None
                if owner is not None:
                    found.append((row["run_id"], owner))
            return found

        dead = [(run_id, owner) for run_id, owner in self.db.read(running) if owner.is_dead()]

        def mark(conn: sqlite3.Connection) -> None:
            for run_id, owner in dead:
                error = f"process {owner.pid} on {owner.host} died before the run ended (killed?)"
                conn.execute(
                    "UPDATE pipeline_runs SET status = 'failed', finished = ?, summary = ? "
                    "WHERE run_id = ? AND status = 'running'",
                    (time.time(), json.dumps({"error": error, "process": owner.to_dict()}), run_id),
                )

        if dead:
            self.db.write(mark)
        return [run_id for run_id, _ in dead]

    def finish_run(self, run_id: str, status: str, summary: Mapping[str, Any]) -> None:
        """Record a pipeline execution's outcome and summary."""
        self.db.write(
            lambda c: c.execute(
                "UPDATE pipeline_runs SET finished = ?, status = ?, summary = ?, tracking_run_id = ? "
                "WHERE run_id = ?",
                (time.time(), status, json.dumps(summary), summary.get("tracking_run_id"), run_id),
            )
        )
