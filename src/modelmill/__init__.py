"""modelmill: a tabular dataset to a tested, versioned, deployed model, reproducibly.

Public API (everything else is internal and may change)::

    open_workspace, run, lineage          the library behind the CLI
    Workspace, ArtifactStore              the artifact store
    Pipeline, step, Input, Output,
    StepContext, Executor                 declaring and running pipelines
    errors: ModelmillError and subclasses (see modelmill.core.errors)
"""

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
