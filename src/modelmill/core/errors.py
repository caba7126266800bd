"""The one exception tree of modelmill.

Every error a user can cause derives from :class:`ModelmillError` and carries an
``exit_code`` the CLI returns, so scripts can tell bad usage from a failed step::

    ModelmillError
    ├── UsageError (exit 2)            bad arguments, names or references
    │   ├── InvalidNameError           artifact/alias name of the wrong form
    │   ├── ConfigError                unknown key, bad override, bad config value
    │   └── PipelineDefinitionError    unknown input, duplicate output, cycle, bad step
    ├── StoreError (exit 1)            the artifact store could not do what was asked
    │   ├── ArtifactNotFoundError      no such name, version or alias (exit 2)
    │   ├── IntegrityError             stored content no longer matches its digest
    │   └── StoreBusyError             the index stayed locked past the timeout
    ├── StepFailedError (exit 1)       a pipeline step raised; the run stopped there
    └── DataCheckError (exit 1)        a data test (deterministic or statistical) failed
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


__all__ = [
    "ArtifactNotFoundError",
    "ConfigError",
    "DataCheckError",
    "IntegrityError",
    "InvalidNameError",
    "ModelmillError",
    "PipelineDefinitionError",
    "StepFailedError",
    "StoreBusyError",
    "StoreError",
    "UsageError",
]
