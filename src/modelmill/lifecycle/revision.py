"""``modelmill run --rev REV``: run the pipeline of a release (or any git revision) again.

The revision is checked out in a temporary git worktree (:mod:`modelmill.lifecycle.worktree`)
and ``modelmill run`` runs there as a new process: the old code is imported fresh, never mixed
with modules this process already loaded. The run uses the current project's workspace (its
path is pinned with ``main.workspace=`` and ``$MODELMILL_HOME``), so every step whose code,
params and inputs are the same as in a run recorded before is a cache hit: the cache key hashes
the step's source, not where the file sits. The run's provenance records the revision's commit
and release tag, like any run, so its models carry that release. The worktree is removed when
the run ends, however it ends; Ctrl-C reaches the run (which records itself interrupted) first.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from modelmill import config as config_mod
from modelmill.core.errors import ConfigError, ModelmillError, ReleaseError
from modelmill.core.semver import version_of_tag
from modelmill.core.types import RunSummary, StepResult
from modelmill.lifecycle.worktree import checkout, child_env, project_in, project_repo, resolve_commit
from modelmill.tracking.gitstate import git

WORKSPACE_KEY = "main.workspace"


@dataclass
class RevisionRun:
    """The run of one revision: which code, and the run's summary and exit code."""

    rev: str
    commit: str
    release: str | None
    summary: RunSummary
    exit_code: int

    def to_dict(self) -> dict[str, Any]:
        return self.summary.to_dict() | {
            "revision": {"rev": self.rev, "commit": self.commit, "release": self.release}
        }


def _summary(doc: dict[str, Any]) -> RunSummary:
    steps = [
        StepResult(s["name"], s["status"], s.get("seconds", 0.0), s.get("outputs", []), s.get("inputs", []),
                   reason=s.get("reason", ""), error=s.get("error", ""))
        for s in doc.get("steps", [])
    ]  # fmt: skip
    return RunSummary(doc["run_id"], doc["status"], steps, doc.get("metrics", {}), doc.get("tracking_run_id"))


def _workspace(overrides: Sequence[str]) -> tuple[Path, list[str]]:
    """The current project's workspace, and the overrides that pin the old code's run to it."""
    given = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") == WORKSPACE_KEY]
    if given:
        return Path(given[-1].split("=", 1)[1]).absolute(), list(overrides)
    try:  # the current project's config says where its workspace is
        root = Path(str(config_mod.compose([]).main.get("workspace") or config_mod.default_workspace()))
    except ConfigError:  # being edited: its default place
        root = config_mod.default_workspace()
    return root.absolute(), [*overrides, f"{WORKSPACE_KEY}={root.absolute()}"]


def _relay(stream: IO[str], held: list[str]) -> None:
    """Progress lines go to stderr as they come; ``error:`` lines are held for the one error raised."""
    for line in stream:
        if line.startswith("error: "):
            held.append(line[len("error: "):].strip())
        else:
            sys.stderr.write(line)
            sys.stderr.flush()


def _interrupt(proc: subprocess.Popen[str]) -> None:
    """Stop the child as an interrupt: a Ctrl-C at the terminal reached it already (give it a
    moment), a SIGTERM sent to this process did not (pass one on: the child records its run
    interrupted either way); killed only if it does not end within a minute."""
    for sig, wait in ((None, 2.0), (signal.SIGTERM, 60.0)):
        if sig is not None:
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            return
    proc.kill()


def run_child(argv: list[str], cwd: Path, workspace: Path, python: str | None = None) -> tuple[str, int]:
    """Run ``python -m ARGV`` in ``cwd`` on ``workspace``: its stdout and exit code. A failure
    that printed no result raises the child's own error line with its exit code; Ctrl-C here
    interrupts the child first (it records its run interrupted), then propagates."""
    proc = subprocess.Popen([python or sys.executable, "-m", *argv], cwd=cwd, env=child_env(workspace),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    held: list[str] = []
    relay = threading.Thread(target=_relay, args=(proc.stderr, held), daemon=True)
    relay.start()
    try:
        out = proc.stdout.read() if proc.stdout else ""
        code = proc.wait()
    except KeyboardInterrupt:
        _interrupt(proc)
        relay.join(timeout=5)
        for line in held:  # the child's own account: which step, how to resume
            sys.stderr.write(f"error: {line}\n")
        raise
    finally:
        relay.join(timeout=5)
    if code != 0 and not out.strip():
        error = ModelmillError(held[-1] if held else f"{' '.join(argv[:2])} exited with code {code}")
        error.exit_code = code if code in (1, 2) else 1
        raise error
    for line in held:  # a failed step's line: the summary says it again, keep the child's words
        sys.stderr.write(f"error: {line}\n")
    return out, code


def run_revision(
    rev: str, overrides: Sequence[str] = (), *, force: bool = False, force_steps: Sequence[str] = ()
) -> RevisionRun:
    """Run the project's pipeline as it was at ``rev`` against the current workspace."""
    where = project_repo("run --rev")
    if where.project is None:
        raise ReleaseError(
            "run --rev runs a project's own code and config: run it from a project folder "
            "(one holding conf/config.yaml, see modelmill init)"
        )
    commit = resolve_commit(where.repo, rev)
    workspace, pinned = _workspace(overrides)
    tags = git(["tag", "--points-at", commit, "--list", "v*"], where.repo).split()
    with checkout(where.repo, commit, "rev") as tree:
        folder = project_in(tree, where.relative, rev)
        forced = ["--force"] if force else [a for s in force_steps for a in ("--force-step", s)]
        argv = ["modelmill.cli", "run", *pinned, *forced, "--json", "--config-dir", str(folder / "conf")]
        out, code = run_child(argv, folder, workspace)
    try:
        doc = json.loads(out)
    except ValueError:
        raise ModelmillError(f"the run of {rev} printed no summary (exit {code}): {out[-300:]}") from None
    versions = sorted((v, t) for t in tags if (v := version_of_tag(t)) is not None)
    release = rev if rev in tags else versions[-1][1] if versions else None
    return RevisionRun(rev, commit, release, _summary(doc), code)
