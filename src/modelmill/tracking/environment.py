"""Facts about where a run happened: code version and installed packages."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

NOT_A_REPO = "not a git repo"


def git_commit(cwd: Path | None = None) -> tuple[str, bool]:
    """``(commit sha, dirty)`` of the working tree, or ``("not a git repo", False)``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return NOT_A_REPO, False
    return sha or NOT_A_REPO, bool(status.strip())


def pip_freeze() -> str:
    """``name==version`` for every installed distribution (what ``pip freeze`` lists), sorted."""
    lines = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return "\n".join(sorted(lines, key=str.lower)) + "\n"
