"""Which steps a sweep runs once and which it runs per trial, found by the steps' roles.

The step with role ``train`` makes each trial's model; the step with role ``promote`` (and
whatever follows it) publishes, so it never runs in a trial: ``--promote-best`` runs it for
the winner only. A step is *shared* when its params are identical in every trial and
everything it reads comes from shared steps (or from the store): it runs once before the
trials and is a cache hit in each of them. No step name is assumed: any pipeline whose
factory declares a ``train`` step can be swept (the packaged toy pipeline included).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmill import config as config_mod
from modelmill.api import load_pipeline, model_output, selected_steps
from modelmill.core.errors import ConfigError, PipelineDefinitionError
from modelmill.runner import Pipeline


@dataclass(frozen=True)
class Plan:
    """Step names in pipeline order, and where a trial's model comes from."""

    shared: list[str]
    per_trial: list[str]
    publish: list[str]
    model_step: str
    model_artifact: str | None = None

    @property
    def trial_steps(self) -> list[str]:
        """What a trial asks the runner for (shared steps come back as cache hits)."""
        return [*self.shared, *self.per_trial]


def _canonical(params: Any) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def publishing_steps(pipeline: Pipeline) -> list[str]:
    """The ``promote`` step and every step downstream of it, in pipeline order."""
    promote = pipeline.role("promote")
    if promote is None:
        return []
    found = {promote.name}
    for name in pipeline.order:  # topological: a step's producers come before it
        if set(pipeline.upstream(pipeline.by_name[name])) & found:
            found.add(name)
    return [n for n in pipeline.order if n in found]


def make_plan(
    trials: Sequence[Sequence[str]], *, config_dir: str | Path | None = None
) -> tuple[Plan, list[Any]]:
    """The plan and each trial's composed config (composing validates every trial's keys)."""
    configs = [config_mod.compose(list(t), config_dir=config_dir) for t in trials]
    pipelines = [load_pipeline(cfg) for cfg in configs]
    first = pipelines[0]
    train = first.require_role("train", "a sweep")
    try:
        artifact: str | None = model_output(first, "a sweep")[1]
    except PipelineDefinitionError:  # several outputs, none a model_export: report the first
        artifact = None
    model_step = train.name
    publish = publishing_steps(first)
    selected = selected_steps(configs[0].main.steps)
    order = [s.name for s in first.select(selected)]
    shared: list[str] = []
    for name in order:
        if name in publish:
            continue
        params = {_canonical(p.by_name[name].params) for p in pipelines}
        upstream = set(first.upstream(first.by_name[name]))
        if len(params) == 1 and upstream <= set(shared):
            shared.append(name)
    per_trial = [n for n in order if n not in shared and n not in publish]
    if model_step not in per_trial and model_step not in shared:
        raise ConfigError(
            f"main.steps does not include '{model_step}', the step that trains (role train): a sweep needs it"
        )
    plan = Plan(shared, per_trial, [n for n in order if n in publish], model_step, artifact)
    return plan, configs
