"""A pipeline: steps linked by the artifacts they read and write, checked when built."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from modelmill.core.errors import PipelineDefinitionError
from modelmill.runner.step import Step


class Pipeline:
    """An ordered, validated DAG of steps."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        self.by_name = self._index_steps()
        self.producer = self._index_outputs()
        self.roles = self._index_roles()
        self._check_inputs()
        self.order = self._topological_order()

    def _index_roles(self) -> dict[str, str]:
        roles: dict[str, str] = {}
        for s in self.steps:
            if s.role is None:
                continue
            if s.role in roles:
                raise PipelineDefinitionError(
                    f"steps '{roles[s.role]}' and '{s.name}' both have role '{s.role}'; a role names one step"
                )
            roles[s.role] = s.name
        return roles

    def role(self, role: str) -> Step | None:
        """The step declared with ``role`` (``"train"``, ``"check"``...), or ``None``."""
        name = self.roles.get(role)
        return self.by_name[name] if name else None

    def require_role(self, role: str, command: str) -> Step:
        """The step with ``role``, or a :class:`PipelineDefinitionError` saying ``command`` needs one."""
        found = self.role(role)
        if found is None:
            declared = ", ".join(f"{r}={n}" for r, n in self.roles.items()) or "none"
            raise PipelineDefinitionError(
                f"{command} needs a step with role '{role}' in the pipeline (declared roles: {declared}); "
                f"declare it with step(..., role='{role}')"
            )
        return found

    def _index_steps(self) -> dict[str, Step]:
        by_name: dict[str, Step] = {}
        for s in self.steps:
            if not isinstance(s, Step):
                raise PipelineDefinitionError(f"pipeline items must be Step objects, got {s!r}")
            if s.name in by_name:
                raise PipelineDefinitionError(f"two steps are named '{s.name}'; names must be unique")
            by_name[s.name] = s
        return by_name

    def _index_outputs(self) -> dict[str, str]:
        producer: dict[str, str] = {}
        for s in self.steps:
            for out in s.outputs:
                if out.name in producer:
                    raise PipelineDefinitionError(
                        f"output '{out.name}' is produced by both '{producer[out.name]}' and "
                        f"'{s.name}'; each artifact name must have exactly one producing step"
                    )
                producer[out.name] = s.name
        return producer

    def _check_inputs(self) -> None:
        for s in self.steps:
            for inp in s.inputs:
                if inp.external or inp.pinned or inp.name in self.producer:
                    continue
                close = difflib.get_close_matches(inp.name, list(self.producer), n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise PipelineDefinitionError(
                    f"step '{s.name}' reads '{inp.name}', which no step produces.{hint} "
                    f"Produced artifacts: {', '.join(sorted(self.producer)) or 'none'}. To read an "
                    f"artifact from the store instead, declare Input('{inp.name}:latest', external=True)."
                )

    def upstream(self, s: Step) -> list[str]:
        """Names of the steps whose outputs ``s`` reads in this pipeline."""
        return [
            self.producer[i.name]
            for i in s.inputs
            if not i.external and not i.pinned and i.name in self.producer
        ]

    def _topological_order(self) -> list[str]:
        state: dict[str, int] = {}  # 1 visiting, 2 done
        order: list[str] = []

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name) :], name]
                raise PipelineDefinitionError(
                    f"the steps form a cycle: {' -> '.join(cycle)}; a pipeline must be acyclic"
                )
            state[name] = 1
            for dep in self.upstream(self.by_name[name]):
                visit(dep, [*path, name])
            state[name] = 2
            order.append(name)

        for s in self.steps:
            visit(s.name, [])
        return order

    def select(self, names: Iterable[str] | None) -> list[Step]:
        """Steps to run, in dependency order; ``None`` or ``["all"]`` selects every step."""
        wanted = list(names or [])
        if not wanted or wanted == ["all"]:
            return [self.by_name[n] for n in self.order]
        unknown = [n for n in wanted if n not in self.by_name]
        if unknown:
            close = {n: difflib.get_close_matches(n, list(self.by_name), n=2) for n in unknown}
            hints = "; ".join(
                f"'{n}' (did you mean {', '.join(c)}?)" if c else f"'{n}'" for n, c in close.items()
            )
            raise PipelineDefinitionError(
                f"unknown step {hints}. Steps of this pipeline: {', '.join(self.order)}"
            )
        return [self.by_name[n] for n in self.order if n in wanted]
