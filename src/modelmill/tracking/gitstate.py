"""The code a run ran, as git sees it: commit, dirty or not, and the diff that makes it exact.

A commit alone names the code only when the tree is clean. So the state also says what makes
it dirty and, when it is, the patch that turns the commit into the working tree: every
tracked change (staged or not, ``git diff HEAD``) and the untracked files under the project
folder that git would add (their content, as new files). With that patch applied to a checkout
of the commit, the code is back exactly. Untracked files count as dirty because a module the
pipeline imports may be one of them (a new step not added yet); ignored files, Python's byte
code and the workspace are never code. An untracked file over :data:`MAX_UNTRACKED_BYTES`
(data, most likely) is listed but not put in the patch.

Every call is a few milliseconds: ``git status`` and ``git ls-files`` for a clean tree, one
``git diff`` more for a dirty one; ``GIT_OPTIONAL_LOCKS=0`` keeps them from taking the index
lock another git command may hold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelmill.core.errors import ReleaseError
from modelmill.core.semver import version_of_tag

MAX_UNTRACKED_BYTES = 1 << 20
NEVER_CODE = ("__pycache__", ".pyc", ".pyo", ".DS_Store")
TIMEOUT_S = 30


class GitFailed(ReleaseError):
    """A git command failed (or git is missing): its stderr's last line is the message."""


def git(args: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None, binary: bool = False,
        check: bool = True) -> str:  # fmt: skip
    """``git ARGS`` in ``cwd``: its stdout (text, or latin-1 decoded bytes when ``binary``)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=TIMEOUT_S,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", **(env or {})},
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitFailed(f"git {args[0]} could not run: {exc}") from None
    if check and done.returncode != 0:
        said = [ln for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise GitFailed(f"git {args[0]}: {said[-1] if said else f'exit code {done.returncode}'}")
    return done.stdout.decode("latin-1" if binary else "utf-8", errors="replace")


def repo_root(folder: Path) -> Path | None:
    """The top of the git work tree holding ``folder``, ``None`` outside one (or without git)."""
    try:
        return Path(git(["rev-parse", "--show-toplevel"], folder).strip())
    except GitFailed:
        return None


@dataclass
class GitState:
    """One work tree's code: the commit, what differs from it, and the release tags at it."""

    repo: Path
    commit: str
    project: str  # the project folder relative to the repo (``.`` at its top)
    changed: list[str] = field(default_factory=list)  # tracked files that differ from the commit
    untracked: list[str] = field(default_factory=list)  # under the project folder, repo-relative
    tags: list[str] = field(default_factory=list)  # release tags (vX.Y.Z) at the commit, highest first

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.untracked)

    @property
    def release(self) -> str | None:
        """The release this exact code is: the highest release tag at the commit, clean trees only."""
        return self.tags[0] if self.tags and not self.dirty else None

    def label(self) -> str:
        return self.commit[:12] + ("+dirty" if self.dirty else "")


def _nul_list(text: str) -> list[str]:
    return [p for p in text.split("\0") if p]


def _changed(repo: Path) -> list[str]:
    """Tracked paths whose content differs from HEAD (staged or not), repo-relative."""
    entries = _nul_list(git(["status", "--porcelain=v1", "-z", "--untracked-files=no"], repo))
    changed, skip = [], False
    for entry in entries:
        if skip:  # the source path of a rename/copy
            skip = False
            continue
        changed.append(entry[3:])
        skip = entry[0] in "RC"
    return changed


def _untracked(repo: Path, project: Path, exclude: Sequence[Path]) -> list[str]:
    """Untracked, not ignored files under ``project`` (repo-relative), byte code and ``exclude`` left out."""
    spec = ["--", str(project)]
    for path in exclude:
        try:
            spec.append(f":(exclude){path.resolve().relative_to(repo)}")
        except ValueError:
            continue  # outside the repo: git cannot list it anyway
    found = _nul_list(git(["ls-files", "--others", "--exclude-standard", "-z", "--full-name", *spec], repo))
    return [p for p in found if not any(part.endswith(NEVER_CODE) for part in p.split("/"))]


def read_state(folder: Path, exclude: Sequence[Path] = ()) -> GitState | None:
    """The git state of the work tree holding ``folder`` (``None`` outside one or before its
    first commit); untracked files count under ``folder`` only, not under ``exclude``."""
    repo = repo_root(folder)
    if repo is None:
        return None
    try:
        commit = git(["rev-parse", "--verify", "HEAD^{commit}"], repo).strip()
    except GitFailed:
        return None  # no commit yet
    project = folder.resolve()
    rel = project.relative_to(repo.resolve()) if project.is_relative_to(repo.resolve()) else Path(".")
    tags = git(["tag", "--points-at", "HEAD"], repo).split()
    versions = sorted(((v, t) for t in tags if (v := version_of_tag(t)) is not None), reverse=True)
    return GitState(repo, commit, rel.as_posix() or ".", _changed(repo),
                    _untracked(repo, rel, exclude), [t for _, t in versions])  # fmt: skip


def source_diff(state: GitState) -> tuple[bytes, list[str]]:
    """The binary patch from ``state.commit`` to the work tree, and the untracked files left out
    of it (too large). Untracked files enter through a copy of the index (intent-to-add), so the
    repository's own index and object store are untouched."""
    repo = state.repo
    small = [p for p in state.untracked if (repo / p).stat().st_size <= MAX_UNTRACKED_BYTES]
    left_out = [p for p in state.untracked if p not in small]
    index = Path(git(["rev-parse", "--path-format=absolute", "--git-path", "index"], repo).strip())
    with tempfile.TemporaryDirectory(prefix="modelmill-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if index.is_file():  # copy2 keeps the mtime git's racy-entry check compares against
            shutil.copy2(index, env["GIT_INDEX_FILE"])
        if small:
            git(["add", "--intent-to-add", "--", *small], repo, env=env)
        patch = git(["diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--full-index"], repo,
                    env=env, binary=True)  # fmt: skip
    return patch.encode("latin-1"), left_out


def apply_diff(worktree: Path, patch: Path) -> None:
    """Apply a :func:`source_diff` patch to a checkout of its commit (raises :class:`GitFailed`)."""
    if patch.stat().st_size == 0:
        return
    git(["apply", "--binary", "--whitespace=nowarn", str(patch)], worktree)
