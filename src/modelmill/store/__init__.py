"""The artifact store: content-addressed, versioned, aliased artifacts with lineage."""

from modelmill.store.lineage import LineageGraph, build_lineage
from modelmill.store.store import ArtifactStore, PutRequest, VerifyProblem
from modelmill.store.workspace import Workspace, default_workspace_path

__all__ = [
    "ArtifactStore",
    "LineageGraph",
    "PutRequest",
    "VerifyProblem",
    "Workspace",
    "build_lineage",
    "default_workspace_path",
]
