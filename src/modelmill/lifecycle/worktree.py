"""The project's git repository, its revisions, and temporary checkouts of one.

``run --rev`` and ``reproduce`` run old code without touching the user's checkout: a
``git worktree add --detach`` of the commit in a temporary folder (it shares the repository's
objects, so it costs the files written, not a clone), removed when the block ends, however it
ends (an error, Ctrl-C). The project may sit in a subfolder of the repository:
:func:`project_in` maps it into the checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelmill import config as config_mod
from modelmill.core.errors import ReleaseError
from modelmill.tracking.gitstate import GitFailed, git, repo_root


@dataclass(frozen=True)
class ProjectRepo:
    """The project folder (``None``: the packaged config, run from ``folder``) and its repository."""

    folder: Path
    repo: Path
    project: Path | None

    @property
    def relative(self) -> Path:
        """The project folder relative to the repository's top."""
        return self.folder.resolve().relative_to(self.repo.resolve())


def project_repo(what: str) -> ProjectRepo:
    """The current project (else the current folder) and the git repository holding it; a
    :class:`ReleaseError` saying ``what`` needs one when there is none."""
    project = config_mod.project_root()
    folder = (project or Path.cwd()).absolute()
    repo = repo_root(folder)
    if repo is None:
        raise ReleaseError(
            f"{what} needs a git repository, and {folder} is not in one: run 'git init', commit the "
            "project, then try again"
        )
    return ProjectRepo(folder, repo, project)


def resolve_commit(repo: Path, rev: str) -> str:
    """The commit ``rev`` names (a tag, branch, sha...); a :class:`ReleaseError` when none."""
    if not rev or rev.startswith("-"):
        raise ReleaseError(f"revision {rev!r} is not a git revision: give a tag (v1.2.0), branch or commit")
    try:
        return git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo).strip()
    except GitFailed:
        tags = release_tags(repo)
        known = f"release tags: {', '.join(tags[-5:])}" if tags else "no release tag yet (modelmill release)"
        raise ReleaseError(
            f"revision {rev!r} does not exist in {repo}; {known}; or a branch or commit (git log)"
        ) from None


def release_tags(repo: Path) -> list[str]:
    """The repository's release tags (``vX.Y.Z``), lowest version first."""
    from modelmill.core.semver import version_of_tag

    tags = git(["tag", "--list", "v*"], repo).split()
    versions = [(v, t) for t in tags if (v := version_of_tag(t)) is not None]
    return [t for _, t in sorted(versions)]


def _remove(repo: Path, path: Path) -> None:
    try:
        git(["worktree", "remove", "--force", "--force", str(path)], repo)
    except GitFailed:
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(GitFailed):
        git(["worktree", "prune"], repo)


@contextlib.contextmanager
def checkout(repo: Path, commit: str, label: str) -> Iterator[Path]:
    """A detached work tree of ``commit`` for the block (in a temporary folder), removed after."""
    parent = Path(tempfile.mkdtemp(prefix=f"modelmill-{label}-"))
    path = parent / "tree"
    try:
        try:
            git(["worktree", "add", "--detach", "--force", str(path), commit], repo)
        except GitFailed as exc:
            raise ReleaseError(f"cannot check out {commit[:12]} in a temporary worktree: {exc}") from None
        yield path
    finally:
        if path.exists():
            _remove(repo, path)
        shutil.rmtree(parent, ignore_errors=True)


def project_in(tree: Path, relative: Path, rev: str) -> Path:
    """The project folder inside a checkout; a :class:`ReleaseError` when that revision has no
    project there (no ``conf/config.yaml``)."""
    folder = tree / relative
    if not (folder / config_mod.CONF_DIR / config_mod.CONFIG_FILE).is_file():
        where = relative.as_posix() if str(relative) != "." else "the top of the repository"
        raise ReleaseError(
            f"revision {rev} has no project at {where} (no {config_mod.CONF_DIR}/{config_mod.CONFIG_FILE}): "
            "pick a revision made after the project was committed"
        )
    return folder


def child_env(workspace: Path) -> dict[str, str]:
    """The environment of a process running old code: the current workspace, no byte code
    written into the checkout (it would read as untracked files, a dirty tree)."""
    return {**os.environ, config_mod.WORKSPACE_ENV: str(workspace), "PYTHONDONTWRITEBYTECODE": "1"}
