"""The provenance of every pipeline run: the code, the packages and the interpreter it ran.

Observed when a run starts (:func:`observe`: no write, so a run refused afterwards leaves
nothing), stored once the run is accepted (:func:`record`, kept with the run by
:meth:`~modelmill.runner.cache.ExecutionLog.start_run` in ``run_provenance``):

* ``git``: the project's repository, commit, whether the tree was dirty (and what made it so),
  the release tag at that commit when the tree was clean, and, when dirty, the patch from the
  commit to the tree as the artifact ``source_diff.patch`` (:mod:`modelmill.tracking.gitstate`);
* ``lock``: the installed packages as a lock that reinstalls them, the artifact
  ``environment.lock`` (:mod:`modelmill.tracking.lock`);
* ``interpreter``: implementation, version, executable and platform.

Both artifacts are content-addressed: an unchanged lock or diff is the version stored before,
looked up by its digest first so a cached run writes nothing for them. A run outside any git
repository records ``git: null``. ``project`` is the project folder (``null`` with the packaged
config: then the pipeline's code is modelmill's own, not the folder's).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmill.store.workspace import Workspace
from modelmill.tracking.gitstate import GitFailed, GitState, read_state, source_diff
from modelmill.tracking.lock import environment_lock, interpreter

DIFF, DIFF_TYPE = "source_diff.patch", "source_diff"
LOCK, LOCK_TYPE = "environment.lock", "environment_lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS run_provenance (
    run_id TEXT PRIMARY KEY,
    git_commit TEXT,
    dirty INTEGER NOT NULL DEFAULT 0,
    release TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS run_provenance_by_commit ON run_provenance (git_commit)
"""


def _stored(ws: Workspace, content: bytes, name: str, kind: str, description: str) -> str:
    """The ref of ``content`` as artifact ``name``: the version already holding it, else a new one."""
    digest = hashlib.sha256(content).hexdigest()
    row = ws.db.read(
        lambda c: c.execute(
            "SELECT version FROM versions WHERE name = ? AND digest = ? ORDER BY version DESC LIMIT 1",
            (name, digest),
        ).fetchone()
    )
    if row is not None:
        return f"{name}:v{row['version']}"
    (ws.root / "tmp").mkdir(parents=True, exist_ok=True)
    staged = ws.store.blobs.new_tmp(suffix=f"-{name}")
    staged.write_bytes(content)
    return ws.store.put(staged, name, kind, description=description, move=True).ref


@dataclass
class Observed:
    """What :func:`observe` saw, before anything is stored (a run refused later writes nothing)."""

    project: Path | None
    state: GitState | None
    error: str | None
    patch: bytes
    left_out: list[str]
    lock: str

    def tracking_tags(self) -> dict[str, str]:
        """MLflow tags of the pipeline run: the commit of the project's repository (not of the
        folder the command ran from), dirty or not, and the release that exact code is."""
        if self.state is None:
            return {}
        return {
            "mlflow.source.git.commit": self.state.commit, "modelmill.git_commit": self.state.commit,
            "modelmill.git_dirty": str(self.state.dirty).lower(),
            "modelmill.release": self.state.release or "none",
        }  # fmt: skip


def observe(project: Path | None, workspace: Path) -> Observed:
    """The code and environment of a run of ``project`` (``None``: the packaged config, run from
    the current folder); the workspace is never code. A git failure loses only the git part."""
    folder = (project or Path.cwd()).absolute()
    state: GitState | None = None
    error: str | None = None
    patch, left_out = b"", list[str]()
    try:
        state = read_state(folder, exclude=[workspace])
        if state is not None and state.dirty:
            patch, left_out = source_diff(state)
    except (GitFailed, OSError) as exc:
        state, error = None, str(exc)
    lock = environment_lock(state.repo if state is not None else None)
    return Observed(project, state, error, patch, left_out, lock)


def record(ws: Workspace, seen: Observed) -> dict[str, Any]:
    """The provenance document of a run, its diff and lock stored in ``ws`` (see the module docstring)."""
    git: dict[str, Any] | None = {"error": seen.error} if seen.error else None
    if (state := seen.state) is not None:
        git = {
            "repo": str(state.repo), "commit": state.commit, "dirty": state.dirty, "project": state.project,
            "changed": state.changed, "untracked": state.untracked, "release": state.release,
            "tags": state.tags, "left_out": seen.left_out, "diff": None,
        }  # fmt: skip
        if state.dirty:
            note = f"uncommitted changes on {state.commit[:12]}"
            git["diff"] = _stored(ws, seen.patch, DIFF, DIFF_TYPE, note)
    return {
        "project": str(seen.project) if seen.project is not None else None,
        "git": git,
        "lock": _stored(ws, seen.lock.encode(), LOCK, LOCK_TYPE, "the installed packages, as a lock"),
        "interpreter": interpreter(),
    }


def insert(conn: sqlite3.Connection, run_id: str, provenance: dict[str, Any]) -> None:
    """Record ``provenance`` for ``run_id`` inside the caller's transaction."""
    git = provenance.get("git") or {}
    conn.execute(
        "INSERT OR REPLACE INTO run_provenance (run_id, git_commit, dirty, release, data) VALUES (?,?,?,?,?)",
        (run_id, git.get("commit"), int(bool(git.get("dirty"))), git.get("release"), json.dumps(provenance)),
    )


def read(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    """The provenance recorded for ``run_id`` (``None``: the run predates provenance, or is unknown)."""

    def q(conn: sqlite3.Connection) -> sqlite3.Row | None:
        return conn.execute("SELECT data FROM run_provenance WHERE run_id = ?", (run_id,)).fetchone()

    try:
        row = ws.db.read(q)
    except Exception:  # an index from before provenance, on a read-only volume: no table
        return None
    return json.loads(row["data"]) if row is not None else None


def clean_runs_at(ws: Workspace, commit: str) -> list[str]:
    """Ids of the runs whose code was exactly ``commit`` (a clean tree), oldest first."""

    def q(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT p.run_id FROM run_provenance p JOIN pipeline_runs r ON r.run_id = p.run_id "
            "WHERE p.git_commit = ? AND p.dirty = 0 ORDER BY r.started",
            (commit,),
        )
        return [r["run_id"] for r in rows.fetchall()]

    return ws.db.read(q)
