"""The runner: steps, pipelines (DAGs), the run cache and the executor.

The names below load on first use (PEP 562): a command that only needs
:mod:`modelmill.runner.interrupt` (every CLI verb) does not pay for the cache, the tracking
and Hydra that the executor imports (0.1 s of ``modelmill score``'s start-up). ``step`` is
the exception, bound here at once: it names both a submodule and its decorator, and the
decorator must win whichever is imported first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelmill.runner.step import Input, Output, Step, step

if TYPE_CHECKING:
    from modelmill.runner.cache import explain_change, make_key
    from modelmill.runner.context import StepContext
    from modelmill.runner.environment import StepEnvironment
    from modelmill.runner.executor import Executor
    from modelmill.runner.pipeline import Pipeline
    from modelmill.runner.progress import PlainReporter, Reporter, RichReporter, default_reporter

_WHERE = {
    "explain_change": "cache", "make_key": "cache", "StepContext": "context",
    "StepEnvironment": "environment", "Executor": "executor", "Pipeline": "pipeline",
    "PlainReporter": "progress", "Reporter": "progress", "RichReporter": "progress",
    "default_reporter": "progress",
}  # fmt: skip

__all__ = [
    "Executor",
    "Input",
    "Output",
    "Pipeline",
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "Step",
    "StepContext",
    "StepEnvironment",
    "default_reporter",
    "explain_change",
    "make_key",
    "step",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None and (name.startswith("_") or "." in name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if module is None:  # a submodule (``from modelmill.runner import provenance``) or a mistake
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
