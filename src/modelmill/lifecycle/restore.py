"""Bring back a run's code and environment, and reproduce it there.

A run's provenance (:mod:`modelmill.runner.provenance`) names its commit, the diff that made
its tree dirty and the lock of its packages. :func:`plan` decides, before anything runs, how
much of that can come back:

* the code: a project run in a git repository whose commit this repository has is checked
  out in a temporary worktree and the diff applied; a run of the packaged config (its code is
  modelmill's own), outside git, or from before provenance is re-fitted with the code here,
  and the verdict says so;
* the environment: when the run's lock installs other packages than this interpreter has
  (``rebuild_env`` forces it), an environment is built from the lock
  (:func:`modelmill.runner.environment.ensure_environment`, reused across reproductions). A lock
  that cannot be installed (offline without the wheels) is an error before anything runs.

:func:`reproduce_restored` then runs ``modelmill reproduce --current-code`` in the checkout, as
a new process of that environment's Python, so the old code is what imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from modelmill.core.errors import EnvironmentBuildError, ReleaseError
from modelmill.lifecycle.reproduce import Reproduction
from modelmill.lifecycle.revision import run_child
from modelmill.lifecycle.runs import RecordedRun
from modelmill.lifecycle.worktree import checkout, project_in, resolve_commit
from modelmill.runner import provenance, releases
from modelmill.store.workspace import Workspace
from modelmill.tracking.gitstate import GitFailed, apply_diff, repo_root
from modelmill.tracking.lock import environment_lock, requirement_lines


@dataclass
class Plan:
    """How a run's code and environment come back (``restorable``), or why they cannot."""

    restorable: bool
    reason: str = ""
    repo: Path | None = None
    commit: str = ""
    diff: str | None = None
    project: str = "."
    python: str | None = None  # None: this interpreter
    source: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)


def _repo(git: dict[str, Any]) -> Path:
    """The repository holding the run's commit: the current one, else the one the run recorded."""
    from modelmill import config as config_mod

    for folder in ((config_mod.project_root() or Path.cwd()), Path(git.get("repo") or "")):
        repo = repo_root(folder) if folder.is_dir() else None
        if repo is not None:
            return repo
    raise ReleaseError(
        f"the run's code is git commit {git['commit'][:12]} but no git repository is here: run "
        "reproduce from the project's repository, or pass --current-code to re-fit with no checkout"
    )


def _lock_changes(recorded: str, current: str) -> dict[str, list[str]]:
    then, now = set(requirement_lines(recorded)), set(requirement_lines(current))
    return {"only_in_run": sorted(then - now), "only_here": sorted(now - then)}


def _settings(run: RecordedRun, root: Path, offline: bool | None) -> dict[str, Any]:
    """``environments:`` of the run's config (offline, find_links relative to the project)."""
    recorded = OmegaConf.to_container(OmegaConf.create(run.config_yaml or "{}"), resolve=False)
    env = dict((recorded or {}).get("environments") or {}) if isinstance(recorded, dict) else {}
    links = tuple(str((root / str(f)).absolute()) for f in env.get("find_links") or [])
    return {"offline": bool(env.get("offline", False)) if offline is None else offline,
            "find_links": links, "installer": str(env.get("installer", "auto"))}  # fmt: skip


def _environment(ws: Workspace, run: RecordedRun, found: dict[str, Any], root: Path, rebuild: bool,
                 offline: bool | None) -> tuple[str | None, dict[str, Any]]:  # fmt: skip
    """The Python to re-fit with (``None``: this one) and what was decided about the packages."""
    lock = found.get("lock")
    if not lock:
        return None, {"mode": "current", "reason": "the run recorded no lock"}
    changes = _lock_changes(ws.store.read_text(lock), environment_lock(root))
    differs = bool(changes["only_in_run"] or changes["only_here"])
    info: dict[str, Any] = {"lock": lock, "lock_changes": changes}
    if not (rebuild or differs):
        return None, info | {"mode": "current", "reason": "the run's lock is this environment's"}
    from modelmill.runner.environment import StepEnvironment, ensure_environment

    settings = _settings(run, root, offline)
    named = ws.root / "envs" / f"{lock.replace(':', '-')}.txt"  # errors name the lock, not its blob
    named.parent.mkdir(parents=True, exist_ok=True)
    named.write_text(ws.store.read_text(lock), encoding="utf-8")
    env = StepEnvironment(str(named), settings["find_links"], settings["offline"], settings["installer"])
    try:
        python = ensure_environment(env, ws.root / "envs")
    except EnvironmentBuildError as exc:  # before anything ran
        raise EnvironmentBuildError(
            f"run {run.run_id}'s environment cannot be rebuilt from its lock {lock}: {exc} (or pass "
            "--current-code to re-fit in this environment)"
        ) from None
    why = "--env" if rebuild and not differs else "the run's lock differs from this environment"
    return str(python), info | {"mode": "rebuilt", "python": str(python), "reason": why}


def plan(ws: Workspace, run: RecordedRun, *, rebuild_env: bool = False, offline: bool | None = None) -> Plan:
    """How run ``run`` comes back (see the module docstring); the environment is built here."""
    found = provenance.read(ws, run.run_id)
    if found is None:
        return Plan(False, "the run recorded no source (older than provenance): re-fitted with the code here")
    git = found.get("git") or {}
    if not found.get("project"):
        return Plan(False, "the run used modelmill's packaged config: its code is modelmill's own, "
                           "re-fitted with the installed version")  # fmt: skip
    if not git.get("commit"):
        return Plan(False, "the run was not in a git repository, so its code was not recorded: "
                           "re-fitted with the code here")  # fmt: skip
    repo = _repo(git)
    try:
        commit = resolve_commit(repo, git["commit"])
    except ReleaseError:
        raise ReleaseError(
            f"run {run.run_id}'s code is commit {git['commit'][:12]}, which repository {repo} does not have: "
            "fetch it (git fetch), or pass --current-code to re-fit with the code here"
        ) from None
    if git.get("dirty") and not git.get("diff"):
        raise ReleaseError(f"run {run.run_id} ran a dirty tree but its diff was not recorded; "
                           "pass --current-code to re-fit with the code here")  # fmt: skip
    python, environment = _environment(ws, run, found, repo, rebuild_env, offline)
    release = (releases.origin(ws, run.run_id) or {}).get("release")
    source = {"mode": "restored", "commit": commit, "diff": git.get("diff"), "release": release,
              "left_out": git.get("left_out") or []}  # fmt: skip
    return Plan(True, "", repo, commit, git.get("diff"), str(git.get("project") or "."), python, source,
                environment)  # fmt: skip


def reproduce_restored(
    ws: Workspace, run: RecordedRun, p: Plan, *, keep_scratch: bool = False
) -> Reproduction:
    """Re-fit ``run`` with its own code (and environment) per ``p``, in a checkout removed after."""
    assert p.repo is not None
    with checkout(p.repo, p.commit, "reproduce") as tree:
        if p.diff:
            try:
                apply_diff(tree, ws.store.path(p.diff))
            except GitFailed as exc:
                message = f"the run's diff {p.diff} does not apply to {p.commit[:12]}: {exc}"
                raise ReleaseError(message) from None
        folder = project_in(tree, Path(p.project), p.commit[:12])
        argv = ["modelmill.cli", "reproduce", run.run_id, "--current-code", "--json",
                "--workspace", str(ws.root), *(["--keep"] if keep_scratch else [])]  # fmt: skip
        out, _ = run_child(argv, folder, ws.root, p.python)
    result = Reproduction.from_dict(json.loads(out))
    result.source, result.environment = p.source, p.environment
    if p.source.get("left_out"):
        result.warnings.append(f"untracked files too large for the run's diff were not restored: "
                               f"{', '.join(p.source['left_out'])}")  # fmt: skip
    return result
