"""What a running step sees: its params, verified inputs, output paths and loggers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelmill.core.errors import ArtifactNotFoundError, PipelineDefinitionError
from modelmill.core.names import parse_ref, validate_alias
from modelmill.core.types import ArtifactVersion
from modelmill.runner.effects import Effect
from modelmill.runner.step import FUNC_REF_RE, Step
from modelmill.store.store import ArtifactStore
from modelmill.tracking.base import Tracker


class StepContext:
    """Handed to every step function as its only argument."""

    def __init__(
        self,
        step: Step,
        run_id: str,
        store: ArtifactStore,
        tracker: Tracker,
        inputs: Mapping[str, ArtifactVersion | None],
        scratch: Path,
    ) -> None:
        self.step = step
        self.run_id = run_id
        self.store = store
        self.params: dict[str, Any] = dict(step.params)
        self.log = logging.getLogger(f"modelmill.step.{step.name}")
        self.metrics: dict[str, float] = {}
        self.metadata: dict[str, dict[str, Any]] = {o.name: {} for o in step.outputs}
        self.effects: dict[tuple[str, str], Effect] = {}
        self._tracker = tracker
        self._inputs = dict(inputs)
        self._scratch = scratch

    def input(self, name: str) -> Path:
        """Read-only path of an input artifact, verified against its digest."""
        version = self.input_version(name)
        if version is None:
            raise ArtifactNotFoundError(
                f"optional input '{name}' of step '{self.step.name}' does not exist yet; "
                "check ctx.has_input() first"
            )
        return self.store.path(version)

    def input_version(self, name: str) -> ArtifactVersion | None:
        """The stored version an input resolved to (``None`` for a missing optional input)."""
        if name not in self._inputs:
            raise KeyError(
                f"step '{self.step.name}' did not declare input '{name}'; "
                f"declared: {', '.join(self._inputs) or 'none'}"
            )
        return self._inputs[name]

    def input_keys(self) -> list[str]:
        """How the step names its inputs (``ctx.input(key)``), in declaration order."""
        return list(self._inputs)

    def has_input(self, name: str) -> bool:
        """Whether an (optional) input exists."""
        return self.input_version(name) is not None

    def output(self, name: str) -> Path:
        """Path where the step writes an output (a file, or a directory it creates)."""
        if name not in self.metadata:
            raise KeyError(
                f"step '{self.step.name}' did not declare output '{name}'; "
                f"declared: {', '.join(self.metadata) or 'none'}"
            )
        return self._scratch / name

    def log_metric(self, key: str, value: float) -> None:
        """Record a metric: shown in the summary and logged to the tracker."""
        self.log_metrics({key: value})

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Record several metrics at once."""
        clean = {k: float(v) for k, v in metrics.items()}
        self.metrics.update(clean)
        self._tracker.log_metrics(clean)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Attach a file (plot, report) to the step's tracking run."""
        self._tracker.log_artifact(path, artifact_path)

    def set_metadata(self, output: str, **values: Any) -> None:
        """JSON metadata stored with an output's version (row counts, schema, ...)."""
        self.output(output)
        self.metadata[output].update(values)

    def set_alias(self, artifact: str, alias: str, note: str = "", *, via: str | None = None) -> None:
        """Leave ``alias`` pointing at ``artifact`` when this step succeeds: a declared effect.

        ``artifact`` is one of the step's outputs (its new version), one of its inputs (the
        exact version it read), or any reference in the store (resolved now). The executor
        moves the alias in the transaction that stores the outputs and records the move, so
        a cache hit of this step replays it (an alias moved this way is the step's result,
        and a step reading it next time is still a cache hit; see :mod:`modelmill.runner.cache`).

        ``via`` (``"module:function"``) is for an alias the step moves itself together with
        something outside the store (register: :func:`~modelmill.registry.promotion.promote`
        moves the MLflow registry's alias too): the executor then records the step's own move,
        and a replay that finds the alias elsewhere calls ``function(workspace, ref, alias,
        note, params)`` to move both again, instead of moving the store's alias alone.
        """
        validate_alias(alias)
        if via is not None and not FUNC_REF_RE.fullmatch(via):
            raise PipelineDefinitionError(f"set_alias(via={via!r}): expected 'package.module:function'")
        target = self._target(artifact)
        if via is not None and target in self.metadata:
            raise PipelineDefinitionError(
                f"step '{self.step.name}': set_alias(via=...) needs a stored version; '{artifact}' is "
                "an output, stored only when the step ends"
            )
        self.effects[(parse_ref(target).name, alias)] = Effect(target, alias, note, via)

    def _target(self, artifact: str) -> str:
        """An output's bare name (stored with the outputs), else an exact version reference."""
        if artifact in self.metadata:
            return artifact
        keys = [k for k in self._inputs if k == artifact or k.partition(":")[0] == artifact]
        if not keys:
            return self.store.resolve(artifact).ref
        key = artifact if artifact in keys else keys[0]
        version = self._inputs[key]
        if version is None:
            raise ArtifactNotFoundError(
                f"step '{self.step.name}' cannot set an alias on its missing optional input '{key}'"
            )
        return version.ref
