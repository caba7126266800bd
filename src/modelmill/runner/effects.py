"""Effects: the alias moves a step makes, recorded with its execution and replayed on a cache hit.

A step that moves an alias (data_check sets ``clean_sample.csv:reference`` on first use,
register moves ``MODEL:prod``) changes what a step reading that alias resolves next time.
Moved behind the runner's back, that made every first run re-run its readers on the second
run. Declared with :meth:`~modelmill.runner.context.StepContext.set_alias`, a move is an
*effect*: the executor applies it in the transaction that stores the step's outputs and
records, in ``step_effects``, the store's alias event that put it there and where the alias
pointed before. That record is what lets the cache explain the move (see
:mod:`modelmill.runner.cache`) and what a cache hit replays.
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import PipelineDefinitionError
from modelmill.core.names import parse_ref
from modelmill.store.db import Database
from modelmill.store.store import AliasMove, MovedAlias

SCHEMA = """
CREATE TABLE IF NOT EXISTS step_effects (
    id INTEGER PRIMARY KEY,
    execution_id INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    ref TEXT NOT NULL,
    previous TEXT,
    event_id INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    via TEXT,
    replay INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS step_effects_by_event ON step_effects (event_id);
CREATE INDEX IF NOT EXISTS step_effects_by_execution ON step_effects (execution_id)
"""


@dataclass(frozen=True)
class Effect:
    """An alias a step leaves behind: ``target`` (an output's name or an exact ref) gets ``alias``."""

    target: str
    alias: str
    note: str = ""
    via: str | None = None

    @property
    def name(self) -> str:
        """The artifact name whose alias moves."""
        return parse_ref(self.target).name


@dataclass(frozen=True)
class RecordedEffect:
    """One row of ``step_effects``: a move an execution made (or a cache hit replayed)."""

    execution_id: int
    run_id: str
    step: str
    name: str
    alias: str
    ref: str
    previous: str | None
    event_id: int
    note: str
    via: str | None
    replay: bool


def load_via(via: str) -> Callable[..., Any]:
    """The replay function ``via`` names (``"package.module:function"``)."""
    module, _, attr = via.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PipelineDefinitionError(f"effect replay function {via!r} cannot be loaded: {exc}") from None
    if not callable(fn):
        raise PipelineDefinitionError(f"effect replay function {via!r} is not callable")
    return fn


def alias_moves(effects: Sequence[Effect], since: int, note_prefix: str) -> list[AliasMove]:
    """The store moves that apply ``effects``; ``since`` keeps moves the step made itself."""
    return [
        AliasMove(e.target, e.alias, f"{note_prefix}{': ' + e.note if e.note else ''}", since=since)
        for e in effects
    ]


class EffectLog:
    """The ``step_effects`` table (in the workspace index, beside ``step_executions``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    @staticmethod
    def insert(
        conn: sqlite3.Connection,
        execution_id: int,
        run_id: str,
        step: str,
        effects: Sequence[Effect],
        moved: Sequence[MovedAlias],
        *,
        replay: bool = False,
    ) -> None:
        """Record ``moved`` (one per effect, same order) inside the caller's transaction."""
        flag = int(replay)
        rows = [
            (execution_id, run_id, step, m.name, m.alias, m.ref, m.previous, m.event, e.note, e.via, flag)
            for e, m in zip(effects, moved, strict=True)
        ]
        conn.executemany(
            "INSERT INTO step_effects (execution_id, run_id, step, name, alias, ref, previous, event_id, "
            "note, via, replay) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def of_execution(self, execution_id: int) -> list[RecordedEffect]:
        """The effects execution ``execution_id`` made when it ran (not its replays)."""
        return self._query("execution_id = ? AND replay = 0", (execution_id,))

    def by_event(self, event_id: int) -> RecordedEffect | None:
        """The effect whose move is the store's alias event ``event_id``, if one is."""
        rows = self._query("event_id = ?", (event_id,))
        return rows[0] if rows else None

    def _query(self, where: str, args: tuple[Any, ...]) -> list[RecordedEffect]:
        def q(conn: sqlite3.Connection) -> list[RecordedEffect]:
            rows = conn.execute(f"SELECT * FROM step_effects WHERE {where} ORDER BY id DESC", args)
            return [
                RecordedEffect(r["execution_id"], r["run_id"], r["step"], r["name"], r["alias"], r["ref"],
                               r["previous"], r["event_id"], r["note"], r["via"], bool(r["replay"]))
                for r in rows.fetchall()
            ]  # fmt: skip

        return self.db.read(q)
