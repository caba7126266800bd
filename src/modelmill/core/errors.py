"""The one exception tree of modelmill.

Every error a user can cause derives from :class:`ModelmillError` and carries an
``exit_code`` the CLI returns, so scripts can tell bad usage from a failed step::

    ModelmillError
    ├── UsageError (exit 2)            bad arguments, names or references
    │   ├── InvalidNameError           artifact/alias name of the wrong form
    │   ├── ConfigError                unknown key, bad override, bad config value
    │   ├── WorkspaceReadOnlyError     a command that writes was pointed at a read-only workspace
    │   ├── ReleaseError               no git repo, dirty tree, bad or lower version, unknown revision
    │   └── PipelineDefinitionError    unknown input, duplicate output, cycle, bad step
    ├── StoreError (exit 1)            the artifact store could not do what was asked
    │   ├── ArtifactNotFoundError      no such name, version or alias (exit 2)
    │   ├── IntegrityError             stored content no longer matches its digest
    │   ├── DatabaseCorruptError       index.db or MLflow's database is not a readable database
    │   └── StoreBusyError             the index stayed locked past the timeout
    ├── StepFailedError (exit 1)       a pipeline step raised; the run stopped there
    ├── DataCheckError (exit 1)        a data test (deterministic or statistical) failed
    └── BrokenModelError (exit 1)      a model does not load or cannot predict its input example
"""

from __future__ import annotations


class ModelmillError(Exception):
    """Base of every error modelmill raises on purpose."""

    exit_code = 1


class UsageError(ModelmillError):
    """The request itself is wrong: fix the command, not the data."""

    exit_code = 2


class InvalidNameError(UsageError):
    """An artifact or alias name that could escape the workspace or be ambiguous."""


class ConfigError(UsageError):
    """The composed configuration or an override is invalid."""


class PipelineDefinitionError(UsageError):
    """A pipeline or step was declared in a form the runner cannot execute."""


class StoreError(ModelmillError):
    """The artifact store failed to read or write."""


class ArtifactNotFoundError(StoreError):
    """A reference names no stored version."""

    exit_code = 2


class IntegrityError(StoreError):
    """Stored bytes no longer hash to the recorded digest."""


class StoreBusyError(StoreError):
    """Another process held the index lock for longer than the busy timeout."""


class StepFailedError(ModelmillError):
    """A step raised an exception; later steps were not run."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step '{step}' failed: {message}")
        self.step = step


class DataCheckError(ModelmillError):
    """One or more data tests failed; the message lists each with its statistic and threshold."""


class BrokenModelError(ModelmillError):
    """A model directory does not load, or cannot predict its own input example: it must not
    be promoted or served."""


class DatabaseCorruptError(StoreError):
    """A SQLite file modelmill keeps (the artifact index, MLflow's tracking and registry store)
    is not a database or is damaged; the message names the file and how to recover."""


class WorkspaceReadOnlyError(UsageError):
    """The workspace is on a read-only volume (or not writable by this user) and the command
    would write to it: reading commands work, writing ones stop before changing anything."""


class ReleaseError(UsageError):
    """A release, a revision or a run's code cannot be used as asked: not a git repository, a
    dirty tree, a version that is not semver or not higher, a revision that does not exist."""


class EnvironmentBuildError(UsageError):
    """A step's environment cannot be built from its lock (a package not installable, offline
    without the wheels): raised before any step runs, nothing half-built is kept."""


__all__ = [
    "ArtifactNotFoundError",
    "BrokenModelError",
    "ConfigError",
    "DataCheckError",
    "DatabaseCorruptError",
    "EnvironmentBuildError",
    "IntegrityError",
    "InvalidNameError",
    "ModelmillError",
    "PipelineDefinitionError",
    "ReleaseError",
    "StepFailedError",
    "StoreBusyError",
    "StoreError",
    "UsageError",
    "WorkspaceReadOnlyError",
]
