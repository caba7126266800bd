"""Which steps a sweep runs once and which it runs per trial.

A step is *shared* when its params are identical in every trial and everything it
reads comes from shared steps (or from the store): it runs once before the trials and
is a cache hit in each of them. Publishing steps (``register``) never run in a trial;
``--promote-best`` runs them for the winner only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmill import config as config_mod
from modelmill.api import load_pipeline, selected_steps
from modelmill.core.errors import ConfigError

DEFAULT_PUBLISH_STEPS = ("register",)


@dataclass(frozen=True)
class Plan:
    """Step names in pipeline order."""

    shared: list[str]
    per_trial: list[str]
    publish: list[str]
    model_step: str

    @property
    def trial_steps(self) -> list[str]:
        """What a trial asks the runner for (shared steps come back as cache hits)."""
        return [*self.shared, *self.per_trial]


def _canonical(params: Any) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def make_plan(
    trials: Sequence[Sequence[str]],
    *,
    config_dir: str | Path | None = None,
    publish: Sequence[str] = DEFAULT_PUBLISH_STEPS,
    model_step: str = "train",
) -> tuple[Plan, list[Any]]:
    """The plan and each trial's composed config (composing validates every trial's keys)."""
    configs = [config_mod.compose(list(t), config_dir=config_dir) for t in trials]
    pipelines = [load_pipeline(cfg) for cfg in configs]
    first = pipelines[0]
    if model_step not in first.by_name:
        raise ConfigError(f"the pipeline has no step '{model_step}' producing the trial's model")
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
        raise ConfigError(f"main.steps does not include '{model_step}': a sweep needs the model step")
    return Plan(shared, per_trial, [n for n in order if n in publish], model_step), configs
