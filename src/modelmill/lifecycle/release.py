"""``modelmill release``: tag the project's commit as a semantic version, and record what it made.

A release is a promise that the tagged commit runs again to the same models (``modelmill run
--rev vX.Y.Z``), so it refuses what would break that: a tree with changes git does not have
(tracked edits, staged or not, and untracked files under the project folder that git would
add: a new step module not yet committed would be missing from the tag; ignored files, byte
code and the workspace do not count), a version that is not semver or not higher than the last
release tag. Every check runs before anything is written. Then, in this order:

1. an annotated tag ``vX.Y.Z`` whose message holds the release notes (the subjects of the
   commits since the previous release tag) and the models;
2. the release record in the workspace index (:mod:`modelmill.runner.releases`): the models
   the released code produced (runs recorded at exactly that commit, clean), each with whether
   it was ever promoted to ``prod`` and whether it is ``prod`` now;
3. the tag ``modelmill.release`` on those runs in MLflow, when they were tracked (best effort:
   an unreachable tracking store does not undo a release).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmill.core.errors import ArtifactNotFoundError, ReleaseError
from modelmill.core.semver import ZERO, Version, parse_version, version_of_tag
from modelmill.lifecycle.worktree import ProjectRepo, project_repo, release_tags
from modelmill.runner import provenance, releases
from modelmill.runner.cache import ExecutionLog
from modelmill.runner.releases import ReleaseRecord
from modelmill.store.workspace import Workspace
from modelmill.tracking.gitstate import GitFailed, git, read_state

MAX_NOTES = 200
SHOWN_FILES = 5


def _next_version(version: str | None, bump: str | None, last: Version | None) -> Version:
    if (version is None) == (bump is None):
        raise ReleaseError(
            "give either a VERSION (modelmill release 1.2.0) or --bump patch|minor|major, not "
            f"{'both' if version else 'neither'}"
        )
    new = parse_version(version) if version is not None else (last or ZERO).bump(str(bump))
    if last is not None and new <= last:
        raise ReleaseError(
            f"version {new} is not higher than the last release {last.tag}: give a higher one, or "
            f"--bump patch ({last.bump('patch')})"
        )
    return new


def _require_clean(where: ProjectRepo, workspace: Path) -> str:
    """HEAD's commit, when the tree is clean (see the module docstring); a ReleaseError otherwise."""
    state = read_state(where.folder, exclude=[workspace])
    if state is None:
        raise ReleaseError(f"the git repository {where.repo} has no commit yet: commit the project first")
    if state.dirty:
        files = [f"modified {p}" for p in state.changed] + [f"untracked {p}" for p in state.untracked]
        more = f" and {len(files) - SHOWN_FILES} more" if len(files) > SHOWN_FILES else ""
        raise ReleaseError(
            f"the working tree has changes git does not have ({', '.join(files[:SHOWN_FILES])}{more}): "
            "commit them (or stash them, or add untracked files to .gitignore), then release"
        )
    return state.commit


def _notes(repo: Any, last_tag: str | None) -> list[str]:
    span = [f"{last_tag}..HEAD"] if last_tag else ["HEAD"]
    subjects = git(["log", "--no-merges", "--format=%s", f"--max-count={MAX_NOTES}", *span], repo)
    return [s for s in subjects.splitlines() if s.strip()]


def _was_prod(conn: sqlite3.Connection, name: str, version: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM alias_events e JOIN versions v ON v.id = e.version_id "
        "WHERE v.name = ? AND v.version = ? AND e.alias = 'prod' LIMIT 1",
        (name, version),
    ).fetchone()
    return row is not None


def released_models(ws: Workspace, commit: str) -> list[dict[str, Any]]:
    """The models (``model_export`` artifacts) of the runs recorded at exactly ``commit``,
    each once: its ref, the run that produced or reused it, promoted ever, ``prod`` now."""
    from modelmill.api import MODEL_TYPE
    from modelmill.lifecycle.runs import load_run

    found: dict[str, dict[str, Any]] = {}
    for run_id in provenance.clean_runs_at(ws, commit):
        run = load_run(ws, run_id)
        for step in run.summary.get("steps", []):
            for ref in step.get("outputs", []):
                try:
                    version = ws.store.resolve(ref)
                except ArtifactNotFoundError:
                    continue
                if version.type != MODEL_TYPE or ref in found:
                    continue
                name, number = version.name, version.version
                promoted = ws.db.read(lambda c: _was_prod(c, name, number))  # noqa: B023 - called at once
                found[ref] = {
                    "ref": ref, "run_id": run_id, "promoted": promoted, "prod": "prod" in version.aliases,
                    "tracking_run_id": run.summary.get("tracking_run_id"),
                }  # fmt: skip
    return list(found.values())


def _message(record: ReleaseRecord) -> str:
    lines = [f"Release {record.version}", ""]
    since = f"since {record.previous}" if record.previous else "(first release)"
    lines += [f"Changes {since}:", *[f"- {n}" for n in record.notes or ["(no commit)"]], ""]
    models = [f"- {m['ref']} (run {m['run_id']}{', prod' if m['prod'] else ''})" for m in record.models]
    lines += ["Models:", *(models or ["- none recorded at this commit yet"])]
    return "\n".join(lines) + "\n"


def _tag(repo: Any, record: ReleaseRecord) -> None:
    try:
        git(["tag", "--annotate", f"--message={_message(record)}", record.tag, record.commit], repo)
    except GitFailed as exc:
        raise ReleaseError(
            f"git could not write tag {record.tag}: {exc} (set git's user.name and user.email if it "
            "asks who you are)"
        ) from None


def _tag_tracking_runs(ws: Workspace, record: ReleaseRecord) -> int:
    """Tag the tracked runs of the released models ``modelmill.release`` (best effort); how many."""
    runs = {m["tracking_run_id"] for m in record.models if m.get("tracking_run_id")}
    if not runs:
        return 0
    try:
        from mlflow.tracking import MlflowClient

        from modelmill.tracking.mlflow_tracker import quiet_mlflow

        quiet_mlflow()
        client = MlflowClient(ws.default_tracking_uri)
        for run in runs:
            client.set_tag(run, "modelmill.release", record.tag)
        return len(runs)
    except Exception:  # the release stands without the tags
        return 0


@dataclass
class Release:
    """What ``modelmill release`` did."""

    record: ReleaseRecord
    tracking_runs_tagged: int

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict() | {"tracking_runs_tagged": self.tracking_runs_tagged}


def release(
    version: str | None = None, *, bump: str | None = None, workspace: str | os.PathLike[str] | None = None
) -> Release:
    """Release the project's current commit as ``version`` (or the ``bump`` of the last one);
    ``workspace`` (default: the project's) is opened only once every check passed."""
    from modelmill import config as config_mod
    from modelmill.api import open_workspace

    ws_root = Path(workspace if workspace is not None else config_mod.default_workspace()).absolute()
    where = project_repo("a release")
    tags = release_tags(where.repo)
    last = version_of_tag(tags[-1]) if tags else None
    new = _next_version(version, bump, last)
    commit = _require_clean(where, ws_root)
    if new.tag in git(["tag", "--list", new.tag], where.repo).split():
        raise ReleaseError(f"tag {new.tag} already exists: release a higher version")
    ws = open_workspace(ws_root)
    ws.require_writable()
    ExecutionLog(ws.db)  # the run tables, in a workspace that has not run anything yet
    record = ReleaseRecord(
        str(new), new.tag, commit, time.time(), str(where.repo), where.relative.as_posix(),
        tags[-1] if tags else None, _notes(where.repo, tags[-1] if tags else None),
        released_models(ws, commit),
    )  # fmt: skip
    _tag(where.repo, record)
    try:
        releases.add(ws, record)
    except BaseException:
        git(["tag", "--delete", record.tag], where.repo)  # no tag without its record
        raise
    return Release(record, _tag_tracking_runs(ws, record))


def list_releases(workspace: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every release, oldest first: the workspace's records, and the repository's release tags
    that have none (made in another workspace or on another machine) from the tags themselves."""
    from modelmill import config as config_mod
    from modelmill.api import open_workspace

    root = Path(workspace if workspace is not None else config_mod.default_workspace())
    records = releases.all_releases(open_workspace(root)) if root.is_dir() else []
    recorded = {r.tag: r.to_dict() | {"recorded": True} for r in records}
    try:
        where = project_repo("listing releases")
    except ReleaseError:
        where = None
    if where is not None:
        fmt = "%(refname:short)%00%(*objectname)%00%(objectname)%00%(creatordate:unix)%00%(contents:subject)"
        for line in git(["for-each-ref", f"--format={fmt}", "refs/tags/v*"], where.repo).splitlines():
            tag, peeled, sha, date, subject = (line.split("\0") + [""] * 5)[:5]
            version = version_of_tag(tag)
            if version is None or tag in recorded:
                continue
            recorded[tag] = {"version": str(version), "tag": tag, "commit": peeled or sha,
                             "created": float(date or 0), "notes": [subject] if subject else [],
                             "models": [], "recorded": False}  # fmt: skip
    return sorted(recorded.values(), key=lambda r: parse_version(r["version"]))
