"""Steps a project declares in its config (``steps:``), added to the pipeline it runs.

A project extends the packaged pipeline without writing a pipeline factory: each entry of the
config's ``steps`` mapping is one step, a Python function or a command in any language, with
its inputs, outputs, params and, optionally, an environment of its own::

    steps:
      summary:
        command: "awk -F, -f steps/summary.awk {input:clean_sample.csv} > {output:summary.csv}"
        inputs: [clean_sample.csv]
        outputs: {summary.csv: summary}
      old_stats:
        function: steps.old_stats:run
        environment: steps/old_stats.requirements.txt
        inputs: [summary.csv]
        outputs: {old_stats.json: stats}
        params: {alpha: 0.05}

Inputs name artifacts other steps produce (they link the steps) or store references
(``NAME:ALIAS``, read from the store). Paths (the environment file, the files a command names)
are relative to the project folder, where commands run. ``environments:`` says how every
declared environment is installed (``offline``, ``find_links`` folders of wheels, ``installer``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError, PipelineDefinitionError
from modelmill.runner import Input, Pipeline, Step, step
from modelmill.runner.environment import StepEnvironment

KEYS = frozenset({"function", "command", "inputs", "outputs", "params", "environment", "cache", "role"})


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _inputs(name: str, value: Any) -> list[str | Input]:
    """``[a.csv, b.csv:reference]``: a reference with an alias or version is read from the store."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"steps.{name}.inputs: expected a list of artifact names, got {value!r}")
    return [Input(v, external=True) if ":" in v else v for v in value]


def _environment(name: str, entry: Mapping[str, Any], settings: Mapping[str, Any], root: Path) -> Any:
    lock = entry.get("environment")
    if lock is None:
        return None
    if not isinstance(lock, str):
        raise ConfigError(
            f"steps.{name}.environment: expected the path of a requirements.txt or pyproject.toml"
        )
    links = settings.get("find_links") or []
    return StepEnvironment.declared(
        name, lock, str(root), find_links=tuple(str(f) for f in links),
        offline=bool(settings.get("offline", False)), installer=str(settings.get("installer", "auto")),
    )  # fmt: skip


def declared_step(name: str, entry: Any, settings: Mapping[str, Any], root: Path) -> Step:
    """One entry of ``steps:`` as a :class:`~modelmill.runner.Step` (see the module docstring)."""
    entry = _plain(entry)
    if not isinstance(entry, Mapping):
        raise ConfigError(f"steps.{name}: expected a mapping with function or command, inputs, outputs...")
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise ConfigError(
            f"steps.{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}"
        )
    outputs = entry.get("outputs") or {}
    if not isinstance(outputs, Mapping):
        raise ConfigError(
            f"steps.{name}.outputs: expected a mapping of artifact name to type, e.g. {{a.csv: table}}"
        )
    return step(
        name, entry.get("function"), command=entry.get("command"), inputs=_inputs(name, entry.get("inputs")),
        outputs={str(k): str(v) for k, v in outputs.items()}, params=entry.get("params") or {},
        cache=bool(entry.get("cache", True)), role=entry.get("role"),
        environment=_environment(name, entry, settings, root), root=str(root),
    )  # fmt: skip


def with_declared_steps(pipeline: Pipeline, cfg: Any, root: Path) -> Pipeline:
    """``pipeline`` plus the config's declared steps (``cfg.steps``); itself when there are none."""
    entries = _plain(cfg.get("steps")) or {}
    if not entries:
        return pipeline
    if not isinstance(entries, Mapping):
        raise ConfigError("steps: expected a mapping of step name to its declaration")
    settings = _plain(cfg.get("environments")) or {}
    added = [declared_step(str(name), entry, settings, root) for name, entry in entries.items()]
    return Pipeline([*pipeline.steps, *added])


def project_pipeline(cfg: Any, root: Path) -> Pipeline:
    """The pipeline ``modelmill run`` executes: the ``main.pipeline`` factory
    (``'package.module:function'``) called with the config, plus the config's declared steps
    (``root``: the project folder they name files from). Every command builds it here."""
    target = str(cfg.main.pipeline)
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ConfigError(f"main.pipeline={target!r}: expected 'package.module:function'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"main.pipeline={target!r} cannot be loaded: {exc}") from None
    try:
        pipeline = factory(cfg)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{target} could not build the pipeline from this config: {exc}") from None
    if not isinstance(pipeline, Pipeline):
        raise PipelineDefinitionError(f"{target} returned {type(pipeline).__name__}, not a Pipeline")
    return with_declared_steps(pipeline, cfg, root)
