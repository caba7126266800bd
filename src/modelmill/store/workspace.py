"""A workspace: the directory holding one project's artifacts, index and tracking data.

Layout (default ``./.modelmill``; ``MODELMILL_HOME`` or ``main.workspace=`` move it)::

    index.db        SQLite index: versions, aliases, lineage, step executions, runs
    blobs/sha256/   content-addressed artifact bytes (read-only files)
    tmp/            staging area for atomic writes; cleaned by ``artifacts gc``
    runs/           per-run scratch directories where steps write outputs
    mlflow.db       default MLflow tracking store (runs, registry)
    mlartifacts/    MLflow artifact root
"""

from __future__ import annotations

import os
from pathlib import Path

from modelmill.store.db import Database
from modelmill.store.store import ArtifactStore

DEFAULT_DIR = ".modelmill"
ENV_VAR = "MODELMILL_HOME"


def default_workspace_path() -> Path:
    """``$MODELMILL_HOME`` when set, else ``./.modelmill``."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


class Workspace:
    """Paths and the two shared services (index, store) of one workspace."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root if root is not None else default_workspace_path()).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.root / "index.db")
        self.store = ArtifactStore(self.root, self.db)

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
