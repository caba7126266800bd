"""modelmill: a tabular dataset to a tested, versioned, deployed model, reproducibly.

Public API (everything else is internal and may change)::

    open_workspace, run, lineage          the library behind the CLI
    Workspace, ArtifactStore              the artifact store
    Pipeline, step, Input, Output,
    StepContext, Executor                 declaring and running pipelines
    errors: ModelmillError and subclasses (see modelmill.core.errors)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmill.api import lineage, load_pipeline, open_workspace, run
    from modelmill.core.errors import (
        ArtifactNotFoundError,
        ConfigError,
        IntegrityError,
        InvalidNameError,
        ModelmillError,
        PipelineDefinitionError,
        StepFailedError,
        StoreBusyError,
        StoreError,
        UsageError,
    )
    from modelmill.core.names import ArtifactRef, parse_ref
    from modelmill.core.types import ArtifactVersion, RunSummary, StepResult
    from modelmill.runner import Executor, Input, Output, Pipeline, Step, StepContext, step
    from modelmill.store import ArtifactStore, LineageGraph, Workspace

# Names load on first use (PEP 562): ``import modelmill.batch.scorer`` (``modelmill score``)
# or ``modelmill.serve`` must not pay for the pipeline runner, Hydra and pydantic (~0.3 s).
_MODULES = {
    "modelmill.api": "lineage load_pipeline open_workspace run",
    "modelmill.core.errors": "ArtifactNotFoundError ConfigError IntegrityError InvalidNameError "
    "ModelmillError PipelineDefinitionError StepFailedError StoreBusyError StoreError UsageError",
    "modelmill.core.names": "ArtifactRef parse_ref",
    "modelmill.core.types": "ArtifactVersion RunSummary StepResult",
    "modelmill.runner": "Executor Input Output Pipeline Step StepContext step",
    "modelmill.store": "ArtifactStore LineageGraph Workspace",
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmill' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactRef",
    "ArtifactStore",
    "ArtifactVersion",
    "ConfigError",
    "Executor",
    "Input",
    "IntegrityError",
    "InvalidNameError",
    "LineageGraph",
    "ModelmillError",
    "Output",
    "Pipeline",
    "PipelineDefinitionError",
    "RunSummary",
    "Step",
    "StepContext",
    "StepFailedError",
    "StepResult",
    "StoreBusyError",
    "StoreError",
    "UsageError",
    "Workspace",
    "__version__",
    "lineage",
    "load_pipeline",
    "open_workspace",
    "parse_ref",
    "run",
    "step",
]
