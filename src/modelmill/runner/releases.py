"""Release records in the workspace index, and the release a run's model came from.

``modelmill release`` writes the git tag and one row here (:class:`ReleaseRecord`): the
version, its commit, the notes and the models that code produced. A run belongs to a release
when its recorded code is exactly the release's commit (a clean tree). That is decided when the
question is asked (:func:`origin`), not only when the run starts: the usual order is to run,
check the model, then release the commit that made it, so the run predates its tag.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from modelmill.runner import provenance
from modelmill.store.workspace import Workspace

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    version TEXT PRIMARY KEY,
    tag TEXT NOT NULL,
    git_commit TEXT NOT NULL,
    created REAL NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS releases_by_commit ON releases (git_commit)
"""


@dataclass
class ReleaseRecord:
    """One release: its tag and commit, the notes, and the models its code produced."""

    version: str
    tag: str
    commit: str
    created: float
    repo: str = ""
    project: str = "."
    previous: str | None = None  # the release before it (the notes start there)
    notes: list[str] = field(default_factory=list)  # commit subjects since ``previous``
    models: list[dict[str, Any]] = field(default_factory=list)  # ref, run_id, promoted, prod

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ensure(ws: Workspace) -> None:
    ws.db.ensure_schema(SCHEMA + ";" + provenance.SCHEMA)


def add(ws: Workspace, record: ReleaseRecord) -> None:
    """Store ``record`` (replacing a record of the same version: its tag was re-created)."""
    _ensure(ws)
    ws.db.write(
        lambda c: c.execute(
            "INSERT OR REPLACE INTO releases (version, tag, git_commit, created, data) VALUES (?,?,?,?,?)",
            (record.version, record.tag, record.commit, record.created, json.dumps(record.to_dict())),
        )
    )


def _query(ws: Workspace, where: str = "", args: tuple[Any, ...] = ()) -> list[ReleaseRecord]:
    def q(conn: sqlite3.Connection) -> list[ReleaseRecord]:
        rows = conn.execute(f"SELECT data FROM releases {where} ORDER BY created", args).fetchall()
        return [ReleaseRecord(**json.loads(r["data"])) for r in rows]

    try:
        return ws.db.read(q)
    except Exception:  # an index without the table (read-only, from before releases): none
        return []


def all_releases(ws: Workspace) -> list[ReleaseRecord]:
    """Every recorded release, oldest first."""
    return _query(ws)


def at_commit(ws: Workspace, commit: str) -> list[ReleaseRecord]:
    """The releases of exactly ``commit``, oldest first."""
    return _query(ws, "WHERE git_commit = ?", (commit,))


def origin(ws: Workspace, run_id: str | None) -> dict[str, Any] | None:
    """Where run ``run_id``'s code came from: ``{run_id, commit, dirty, release, diff, lock}``;
    ``release`` is the newest release of that exact commit (clean tree), else the release tag the
    run saw at start, else ``None``. ``None`` when the run recorded no provenance."""
    if not run_id:
        return None
    found = provenance.read(ws, run_id)
    if found is None:
        return None
    git = found.get("git") or {}
    release = git.get("release")
    if git.get("commit") and not git.get("dirty"):
        recorded = at_commit(ws, git["commit"])
        release = recorded[-1].tag if recorded else release
    return {
        "run_id": run_id, "commit": git.get("commit"), "dirty": git.get("dirty"), "release": release,
        "diff": git.get("diff"), "lock": found.get("lock"),
    }  # fmt: skip
