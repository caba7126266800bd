"""Types, errors and hashing: pure code with no I/O of its own, imported by every layer."""

from modelmill.core.errors import *  # noqa: F403
from modelmill.core.errors import __all__ as _errors_all
from modelmill.core.names import ArtifactRef, parse_ref, validate_alias, validate_name
from modelmill.core.types import ArtifactVersion, RunSummary, StepResult

__all__ = [
    *_errors_all,
    "ArtifactRef",
    "ArtifactVersion",
    "RunSummary",
    "StepResult",
    "parse_ref",
    "validate_alias",
    "validate_name",
]
