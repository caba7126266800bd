"""Before a step runs: what its inputs resolve to, its cache key, a hit, or why it runs again.

The rules are :mod:`modelmill.runner.cache`'s; this module applies them to one step of a
pipeline against the workspace's store and logs, so the executor only decides what to do
with the answer (replay a hit, or run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelmill.core.errors import ArtifactNotFoundError, IntegrityError
from modelmill.core.types import ArtifactVersion
from modelmill.runner.cache import (
    CacheKey,
    Execution,
    ExecutionLog,
    explain_change,
    explained_inputs,
    make_key,
)
from modelmill.runner.effects import EffectLog
from modelmill.runner.launch import Launcher
from modelmill.runner.pipeline import Pipeline
from modelmill.runner.step import Step
from modelmill.store.store import ArtifactStore

Inputs = dict[str, ArtifactVersion | None]


@dataclass
class Lookup:
    """One step's resolved inputs, its key, and the cached execution it matches (if any)."""

    inputs: Inputs
    key: CacheKey
    hit: Execution | None = None
    note: str = ""  # how the inputs were explained (rule 2), for the "cached" reason


class CacheLookup:
    """Resolves a step's inputs and finds its cache hit in one workspace."""

    def __init__(
        self, store: ArtifactStore, log: ExecutionLog, effects: EffectLog, launcher: Launcher
    ) -> None:
        self.store = store
        self.log = log
        self.effects = effects
        self.launcher = launcher

    def find(
        self,
        pipeline: Pipeline,
        s: Step,
        produced: Mapping[str, ArtifactVersion],
        libraries: Mapping[str, str],
        use_cache: bool,
    ) -> Lookup:
        """Rules 1 and 2 of :mod:`modelmill.runner.cache` (``use_cache=False``: only the key)."""
        inputs = self.resolve_inputs(pipeline, s, produced)
        found = Lookup(inputs, self.key(s, inputs, libraries))
        if not use_cache:
            return found
        found.hit = self.hit(s, found.key)
        if found.hit is None:
            explained = explained_inputs(inputs, self.store, self.effects, pipeline.by_name)
            if explained is not None:
                hit = self.hit(s, self.key(s, explained[0], libraries))
                if hit is not None:
                    found.inputs, found.hit = explained[0], hit
                    found.note = f" ({'; '.join(explained[1])})"
        return found

    def key(self, s: Step, inputs: Inputs, libraries: Mapping[str, str]) -> CacheKey:
        return make_key(
            self.launcher.code(s),
            s.params,
            {n: (v.digest if v else None) for n, v in inputs.items()},
            self.launcher.libraries(s, libraries),
            function=s.function,
        )

    def resolve_inputs(self, pipeline: Pipeline, s: Step, produced: Mapping[str, ArtifactVersion]) -> Inputs:
        """Each input: the upstream step's output of this execution, else the store's version."""
        resolved: Inputs = {}
        for inp in s.inputs:
            if not inp.external and not inp.pinned and inp.name in produced:
                resolved[inp.key] = produced[inp.name]
                continue
            try:
                resolved[inp.key] = self.store.resolve(inp.ref)
            except ArtifactNotFoundError as exc:
                if inp.optional:
                    resolved[inp.key] = None
                    continue
                producer = pipeline.producer.get(inp.name)
                hint = f" Run step '{producer}' first (main.steps={producer},{s.name})." if producer else ""
                raise ArtifactNotFoundError(f"input of step '{s.name}': {exc}{hint}") from None
        return resolved

    def hit(self, s: Step, key: CacheKey) -> Execution | None:
        """The newest successful execution with ``key`` whose outputs exist and verify."""
        for candidate in self.log.candidates(s.name, key.digest):
            try:
                for ref in candidate.outputs:
                    self.store.path(ref)  # exists and verifies
            except (ArtifactNotFoundError, IntegrityError):
                continue
            return candidate
        return None

    def why(self, s: Step, key: CacheKey) -> str:
        """Why a cacheable step with ``key`` runs: what changed since its previous execution."""
        if self.log.candidates(s.name, key.digest):
            return "outputs of the cached run are missing or corrupted"
        previous = self.log.previous(s.name)
        if previous is None:
            return "first run"
        return explain_change(previous.components, key.components) or "no cached run matches"
