"""A workspace: the directory holding one project's artifacts, index and tracking data.

Layout (default ``./.modelmill``; ``MODELMILL_HOME`` or ``main.workspace=`` move it)::

    index.db        SQLite index: versions, aliases, lineage, step executions, runs
    blobs/sha256/   content-addressed artifact bytes (read-only files)
    tmp/            staging area for atomic writes; cleaned by ``artifacts gc``
    runs/           per-run scratch directories where steps write outputs
    mlflow.db       default MLflow tracking store (runs, registry)
    mlartifacts/    MLflow artifact root

A workspace on a read-only volume (a model served from a read-only mount, a copy owned by
another user) opens read-only: every reading command works, and the first write raises
:class:`WorkspaceReadOnlyError` before anything changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelmill.core.errors import UsageError, WorkspaceReadOnlyError
from modelmill.store.db import Database
from modelmill.store.store import ArtifactStore

DEFAULT_DIR = ".modelmill"
ENV_VAR = "MODELMILL_HOME"


def default_workspace_path() -> Path:
    """``$MODELMILL_HOME`` when set, else ``./.modelmill``."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def read_only_message(root: Path) -> str:
    """What a writing command says on a read-only workspace: the problem and the two fixes."""
    return (
        f"workspace {root} is read-only and this command writes to it: mount it read-write, or copy "
        f"it (cp -a {root} NEWDIR) and point --workspace / MODELMILL_HOME at the copy"
    )


def _writable(root: Path) -> bool:
    """Whether this process may write the workspace (``access`` also reports a read-only mount)."""
    index = root / "index.db"
    return os.access(root, os.W_OK) and (not index.exists() or os.access(index, os.W_OK))


def _create(root: Path) -> None:
    if root.exists():
        raise UsageError(f"workspace {root} is not a directory: point --workspace / MODELMILL_HOME at one")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceReadOnlyError(
            f"workspace {root} does not exist and cannot be created ({exc.strerror or exc}): point "
            "--workspace / MODELMILL_HOME at an existing workspace or a writable directory"
        ) from None


class Workspace:
    """Paths and the two shared services (index, store) of one workspace."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root if root is not None else default_workspace_path()).absolute()
        if not self.root.is_dir():
            _create(self.root)
        read_only = None if _writable(self.root) else read_only_message(self.root)
        self.db = Database(self.root / "index.db", read_only=read_only)
        self.store = ArtifactStore(self.root, self.db)

    @property
    def read_only(self) -> bool:
        """Whether the workspace can only be read (a read-only volume or no write permission)."""
        return self.db.read_only is not None

    def require_writable(self) -> None:
        """Raise :class:`WorkspaceReadOnlyError` (exit 2) unless this process may write here."""
        if self.db.read_only is not None:
            raise WorkspaceReadOnlyError(self.db.read_only)

    @property
    def runs_dir(self) -> Path:
        """Scratch space for step outputs, on the same file system as the blobs."""
        return self.root / "runs"

    @property
    def default_tracking_uri(self) -> str:
        """SQLite MLflow store inside the workspace."""
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        """Where MLflow keeps run artifacts for experiments this workspace creates."""
        return self.root / "mlartifacts"

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"
