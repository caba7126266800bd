"""Step declarations, validated when built (not when the pipeline runs).

A step is a function ``fn(ctx: StepContext) -> None`` named by reference
(``"package.module:function"``) so the runner can hash its code and decide whether it
is cached without importing it: heavy imports happen only for steps that really run.

A step may instead be a *command* (``command="Rscript fit.R {input:clean.csv} ..."``,
:mod:`modelmill.runner.command`): a program in any language, given its inputs as files and
its params as arguments or environment variables. Either kind may declare an *environment*
(a requirements or ``pyproject.toml`` file, :mod:`modelmill.runner.environment`): it then runs
in a virtual environment of its own, so two steps of one pipeline may pin conflicting versions.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelmill.core.errors import InvalidNameError, PipelineDefinitionError
from modelmill.core.names import parse_ref, validate_name
from modelmill.runner.command import check_command
from modelmill.runner.environment import StepEnvironment

STEP_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# what a step is for, so commands find "the step that trains" without knowing its name:
# sweeps re-run from the train step, retrain and reproduce look for the check and promote ones
ROLES = ("ingest", "clean", "check", "split", "train", "evaluate", "promote")
FUNC_REF_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
StepFunc = Callable[[Any], None]


@dataclass(frozen=True)
class Input:
    """An artifact a step reads.

    A bare name (``"clean_sample.csv"``) produced by another step links the two steps;
    ``external=True`` reads from the store only (e.g. ``"clean_sample.csv:reference"``),
    and ``optional=True`` lets the step run when it does not exist yet.
    """

    ref: str
    external: bool = False
    optional: bool = False

    @property
    def name(self) -> str:
        """The artifact name part of the reference."""
        return parse_ref(self.ref).name

    @property
    def key(self) -> str:
        """How the step refers to it (``ctx.input(key)``): the name, or the full pinned ref."""
        return self.ref if self.pinned else self.name

    @property
    def pinned(self) -> bool:
        """True when the reference names a version or alias instead of a bare name."""
        return ":" in self.ref


@dataclass(frozen=True)
class Output:
    """An artifact a step writes: a name and an artifact type."""

    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class Step:
    """One node of a pipeline; build it with :func:`step`."""

    name: str
    func: str | StepFunc | None
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    cache: bool = True
    role: str | None = None
    command: str | None = None  # a command step: ``func`` is unused
    environment: StepEnvironment | None = None
    root: str | None = None  # the folder a command runs in and names files from (None: the current one)

    @property
    def function(self) -> str:
        """``module:function``, the step function's full name (part of the cache key);
        ``command`` for a command step."""
        if self.command is not None:
            return "command"
        if isinstance(self.func, str):
            return self.func
        return f"{self.func.__module__}:{getattr(self.func, '__qualname__', self.func.__name__)}"

    @property
    def module(self) -> str:
        """Module holding the step function (hashed for the cache key); ``""`` for a command."""
        if self.func is None:
            return ""
        if isinstance(self.func, str):
            return self.func.partition(":")[0]
        return str(self.func.__module__)

    def load(self) -> StepFunc:
        """Import and return the step function."""
        if self.func is None:
            raise PipelineDefinitionError(f"step '{self.name}' is a command step: it has no function")
        if not isinstance(self.func, str):
            return self.func
        module_name, _, attr = self.func.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise PipelineDefinitionError(
                f"step '{self.name}': cannot load function {self.func!r} ({exc}); expected "
                "'package.module:function' importable from the current environment"
            ) from exc
        if not callable(fn):
            raise PipelineDefinitionError(f"step '{self.name}': {self.func!r} is not callable")
        return fn


def _as_input(step_name: str, spec: str | Input) -> Input:
    item = Input(spec) if isinstance(spec, str) else spec
    if not isinstance(item, Input):
        raise PipelineDefinitionError(
            f"step '{step_name}': input {spec!r} should be an artifact reference string "
            "or Input(ref, external=..., optional=...)"
        )
    try:
        parse_ref(item.ref)
    except InvalidNameError as exc:
        raise PipelineDefinitionError(f"step '{step_name}': input {exc}") from None
    return item


def _as_outputs(step_name: str, spec: Mapping[str, str] | Sequence[Output]) -> tuple[Output, ...]:
    items = [Output(n, t) for n, t in spec.items()] if isinstance(spec, Mapping) else list(spec)
    for item in items:
        if not isinstance(item, Output) or not item.type:
            raise PipelineDefinitionError(
                f"step '{step_name}': outputs should map artifact name to type, "
                "e.g. {'clean_sample.csv': 'clean_sample'}"
            )
        try:
            validate_name(item.name)
        except InvalidNameError as exc:
            raise PipelineDefinitionError(f"step '{step_name}': output {exc}") from None
    return tuple(items)


def _check_params(step_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(dict(params))))
    except (TypeError, ValueError) as exc:
        raise PipelineDefinitionError(
            f"step '{step_name}': params must be JSON values (numbers, strings, lists, dicts) "
            f"so they can be hashed and logged: {exc}"
        ) from None


def step(
    name: str,
    func: str | StepFunc | None = None,
    *,
    inputs: Sequence[str | Input] = (),
    outputs: Mapping[str, str] | Sequence[Output] = (),
    params: Mapping[str, Any] | None = None,
    cache: bool = True,
    role: str | None = None,
    command: str | None = None,
    environment: str | StepEnvironment | None = None,
    root: str | None = None,
) -> Step:
    """Declare a step, checking every part's form now so mistakes surface at build time.

    ``cache=False`` makes the step run every time (e.g. a download whose source can change
    without its params changing); identical outputs are still deduplicated by the store,
    so the steps downstream stay cached. ``role`` (one of :data:`ROLES`) says what the step
    is for; a pipeline has at most one step per role. Give ``func`` or ``command``, not both;
    ``environment`` (a requirements file's path, relative to ``root``) runs the step in its own
    virtual environment; ``root`` is the project folder (default: the current folder).
    """
    if (func is None) == (command is None):
        raise PipelineDefinitionError(
            f"step '{name}': give either a function ('package.module:function') or a command, not "
            f"{'both' if func is not None else 'neither'}"
        )
    env = StepEnvironment.declared(name, environment, root) if isinstance(environment, str) else environment
    if role is not None and role not in ROLES:
        raise PipelineDefinitionError(f"step '{name}': role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(name, str) or not STEP_NAME_RE.fullmatch(name):
        raise PipelineDefinitionError(
            f"invalid step name {name!r}: expected a Python-identifier-like name such as 'data_check'"
        )
    if func is None:
        pass
    elif isinstance(func, str):
        if not FUNC_REF_RE.fullmatch(func):
            raise PipelineDefinitionError(
                f"step '{name}': function reference {func!r} should look like 'package.module:function'"
            )
    elif not callable(func) or getattr(func, "__name__", "") == "<lambda>":
        raise PipelineDefinitionError(
            f"step '{name}': func must be a named function or 'package.module:function', not {func!r}"
        )
    ins = tuple(_as_input(name, s) for s in inputs)
    keys = [i.key for i in ins]
    if len(set(keys)) != len(keys):
        raise PipelineDefinitionError(f"step '{name}' declares the same input twice: {keys}")
    outs = _as_outputs(name, outputs)
    checked = _check_params(name, params or {})
    if command is not None:
        check_command(name, command, keys, [o.name for o in outs], checked)
    return Step(name, func, ins, outs, checked, cache=cache, role=role,
                command=command, environment=env, root=root)  # fmt: skip
