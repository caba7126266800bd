"""The run cache: keys, execution records, and why a step ran again.

Like DVC's run cache, a step's key is a hash of everything its outputs depend on:
code fingerprint, params, input digests and library versions. A successful execution
with the same key whose outputs still exist and verify makes the step a cache hit.

Inputs resolve to what they resolved to. A step reading an alias (``clean_sample.csv:reference``,
``MODEL:prod``) that a step of the same pipeline moved as a declared effect
(:mod:`modelmill.runner.effects`) would otherwise see a new input on the next run, only
because the previous run did what it was meant to do. The exact rule
(:func:`explained_inputs`):

1. The key is first computed from the inputs as they resolve now; a successful execution
   with that key is a hit.
2. Otherwise, for every input that names an alias (not ``latest``, not a version): when the
   newest store event of that alias is a move recorded in ``step_effects`` (an effect, made
   or replayed) by a step of the pipeline being run, the input is taken as where the alias
   pointed before that move (``previous``; absent when it was unset). If any input was
   replaced, the key is computed again from these resolutions; a successful execution with
   that key is a hit, and the step reports the inputs that execution saw.
3. Otherwise the step runs, with the inputs as they resolve now.

So the first run is a fixed point: the second, unchanged, is fully cached. A move no effect
explains (``modelmill artifacts alias``, ``modelmill promote``, an alias removed or moved
by another pipeline) is a new input: the steps reading it, and what their new outputs
change, run again. A hit replays the effects its execution recorded when the alias is not
where they left it (:meth:`~modelmill.runner.replay.EffectReplayer.replay`), so a cached run leaves
the same aliases a real one would.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import ArtifactNotFoundError
from modelmill.core.hashing import sha256_json
from modelmill.core.names import LATEST, parse_ref
from modelmill.core.types import ArtifactVersion
from modelmill.runner.effects import SCHEMA as EFFECTS_SCHEMA
from modelmill.runner.effects import EffectLog
from modelmill.runner.provenance import SCHEMA as PROVENANCE_SCHEMA
from modelmill.runner.provenance import insert as insert_provenance
from modelmill.store.db import Database
from modelmill.store.store import ArtifactStore
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
    *,
    function: str | None = None,
) -> CacheKey:
    """Build a key from its four parts, and the step function's name (``module:function``):
    two functions of one module share its code hash, so the name tells them apart."""
    components: dict[str, Any] = {
        "code": dict(code),
        "params": dict(params),
        "inputs": dict(inputs),
        "libraries": dict(libraries),
    }
    if function is not None:
        components["function"] = function
    return CacheKey(components)


_ABSENT = object()


def _show(value: Any, limit: int = 60) -> str:
    text = "(absent)" if value is _ABSENT else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Params as ``path -> value``: nested mappings joined by dots, and lists of mappings or lists
    by item (``columns[price].range``: an item with a ``name`` is named by it), so a change is
    reported where it is, not as two whole tables."""
    if isinstance(value, Mapping):
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in value.items()]
    elif isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        named = [v.get("name") if isinstance(v, Mapping) else None for v in value]
        unique = None not in named and len(set(map(str, named))) == len(named)
        items = [(f"{prefix}[{named[i] if unique else i}]", v) for i, v in enumerate(value)]
    else:
        return {prefix: value}
    found: dict[str, Any] = {}
    for key, item in items:
        found.update(_leaves(item, key))
    return found


def explain_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """One line naming what differs between two keys' components (params, inputs, code, libs)."""
    parts: list[str] = []
    if old.get("function") != new.get("function"):
        parts.append(f"function {old.get('function') or '(unknown)'} -> {new.get('function') or '(unknown)'}")
    old_p, new_p = _leaves(old.get("params", {})), _leaves(new.get("params", {}))
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


def explained_inputs(
    inputs: Mapping[str, ArtifactVersion | None],
    store: ArtifactStore,
    effects: EffectLog,
    steps: Collection[str],
) -> tuple[dict[str, ArtifactVersion | None], list[str]] | None:
    """Rule 2 of this module: the inputs with every effect-moved alias taken as it was before
    the move, and a note per replaced input; ``None`` when no input is explained that way.

    ``inputs`` maps each input key (``"clean_sample.csv:reference"``) to its resolution now;
    ``steps`` are the step names of the pipeline being run.
    """
    replaced: dict[str, ArtifactVersion | None] = {}
    notes: list[str] = []
    for key in inputs:
        ref = parse_ref(key)
        if ref.alias is None or ref.alias == LATEST or ":" not in key:
            continue
        event = store.alias_event(ref.name, ref.alias)
        effect = effects.by_event(event) if event is not None else None
        if effect is None or effect.step not in steps:
            continue
        try:
            before = store.resolve(effect.previous) if effect.previous else None
        except ArtifactNotFoundError:
            continue
        replaced[key] = before
        notes.append(f"{key} as before {effect.step}'s move to {effect.ref}")
    if not replaced:
        return None
    return {**inputs, **replaced}, notes


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
        db.ensure_schema(SCHEMA + ";" + EFFECTS_SCHEMA + ";" + PROVENANCE_SCHEMA)

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
        self.db.write(
            lambda c: self.insert(c, run_id, step, key, status, started, inputs=inputs, outputs=outputs,
                                  metrics=metrics, error=error)
        )  # fmt: skip

    @staticmethod
    def insert(
        conn: sqlite3.Connection,
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
    ) -> int:
        """:meth:`record` inside the caller's transaction (with the outputs it stores); the row id."""
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
        cur = conn.execute(
            "INSERT INTO step_executions (run_id, step, cache_key, components, status, started, "
            "seconds, inputs, outputs, metrics, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )
        return int(cur.lastrowid or 0)

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

    def start_run(self, run_id: str, config_yaml: str, provenance: Mapping[str, Any] | None = None) -> None:
        """Record that a pipeline execution began, and which process runs it (its summary
        until it finishes, so :meth:`fail_orphaned_runs` can tell when that process died),
        with the code and environment it runs (:mod:`modelmill.runner.provenance`) when given."""
        process = json.dumps({"process": current().to_dict()})

        def insert(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO pipeline_runs (run_id, started, status, config, summary) VALUES (?,?,?,?,?)",
                (run_id, time.time(), "running", config_yaml, process),
            )
            if provenance is not None:
                insert_provenance(c, run_id, dict(provenance))

        self.db.write(insert)

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
