"""The code version a run happened at (the installed packages: :mod:`modelmill.tracking.lock`)."""

from __future__ import annotations

import subprocess
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
