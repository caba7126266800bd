"""The runner: steps, pipelines (DAGs), the run cache and the executor."""

from modelmill.runner.cache import explain_change, make_key
from modelmill.runner.context import StepContext
from modelmill.runner.environment import StepEnvironment
from modelmill.runner.executor import Executor
from modelmill.runner.pipeline import Pipeline
from modelmill.runner.progress import PlainReporter, Reporter, RichReporter, default_reporter
from modelmill.runner.step import Input, Output, Step, step

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
