"""How a step is started: a function in this process, a command, or a function in its own
environment; and what of it the cache key covers.

The executor asks this module three things per step: to prepare (before the first step of a
run: every selected step's program is found and its environment built, so a missing program
or a lock that cannot be installed stops the run before anything ran), the code part of its
cache key, and to run it with its context.

* A plain Python step runs in this process; its key covers its module and the project modules
  it imports (:mod:`modelmill.runner.fingerprint`) and the versions of the key libraries.
* A command step (:mod:`modelmill.runner.command`) runs through ``/bin/sh``; its key covers
  the command, the project files it names and its program.
* A step with an environment (:mod:`modelmill.runner.environment`) runs in a subprocess of that
  environment's interpreter (a Python step through :file:`_envshim.py`); its key covers the
  environment's digest instead of this environment's library versions.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from modelmill.core.errors import ModelmillError
from modelmill.runner.command import command_fingerprint, find_program, run_command, tail
from modelmill.runner.context import StepContext
from modelmill.runner.environment import ensure_environment
from modelmill.runner.fingerprint import FingerprintMemo, code_fingerprint
from modelmill.runner.step import Step

SHIM = Path(__file__).with_name("_envshim.py")


def step_root(s: Step) -> Path:
    """The folder a step's command runs in and its files are named from."""
    return Path(s.root) if s.root else Path.cwd()


class Launcher:
    """Prepares and starts steps for one workspace (its environments live in ``envs_dir``)."""

    def __init__(self, envs_dir: Path, memo: FingerprintMemo | None = None) -> None:
        self.envs_dir = envs_dir
        self.memo = memo
        self.pythons: dict[str, Path] = {}

    def prepare(self, steps: Iterable[Step]) -> None:
        """Build each step's environment and find each command's program, before any step runs."""
        for s in steps:
            if s.environment is not None:
                self.pythons[s.name] = ensure_environment(s.environment, self.envs_dir)
            if s.command is not None:
                find_program(s.name, s.command, step_root(s), self._path(s))

    def code(self, s: Step) -> dict[str, str]:
        """The code part of ``s``'s cache key (see the module docstring)."""
        if s.command is not None:
            found = command_fingerprint(s.command, step_root(s), self._path(s))
        else:
            found = code_fingerprint(s.module, self.memo)
        if s.environment is not None:
            found["environment"] = s.environment.digest()
        return found

    @staticmethod
    def libraries(s: Step, libraries: Mapping[str, str]) -> Mapping[str, str]:
        """This environment's library versions matter to a step running in it, not to others."""
        return libraries if s.command is None and s.environment is None else {}

    def run(self, s: Step, ctx: StepContext, work: Path) -> None:
        """Run ``s`` with ``ctx``; ``work`` is a scratch folder of its own (inputs, logs)."""
        if s.command is not None:
            run_command(ctx, s.command, step_root(s), work, self._env(s))
        elif s.environment is not None:
            self._run_in_environment(s, ctx, work)
        else:
            s.load()(ctx)

    def _python(self, s: Step) -> Path:
        if s.name not in self.pythons:
            assert s.environment is not None
            self.pythons[s.name] = ensure_environment(s.environment, self.envs_dir)
        return self.pythons[s.name]

    def _path(self, s: Step) -> str | None:
        """``PATH`` with the step environment's scripts first (``python`` is its python)."""
        if s.environment is None:
            return None
        folder = self._python(s).parent if s.name in self.pythons else None
        return os.pathsep.join([str(folder), os.environ.get("PATH", "")]) if folder else None

    def _env(self, s: Step) -> dict[str, str]:
        if s.environment is None:
            return {}
        python = self._python(s)
        return {"PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
                "VIRTUAL_ENV": str(python.parent.parent)}  # fmt: skip

    def _run_in_environment(self, s: Step, ctx: StepContext, work: Path) -> None:
        """The step function in its environment's interpreter; metrics and metadata come back."""
        work.mkdir(parents=True, exist_ok=True)
        inputs = {k: (str(ctx.input(k)) if ctx.has_input(k) else None) for k in ctx.input_keys()}
        request = {
            "step": s.name, "function": s.function, "root": str(step_root(s)), "params": ctx.params,
            "inputs": inputs, "outputs": {o.name: str(ctx.output(o.name)) for o in s.outputs},
            "result": str(work / "result.json"),
        }  # fmt: skip
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        log = work / "output.txt"
        with log.open("wb") as sink:
            done = subprocess.run([str(self._python(s)), str(SHIM), str(work / "request.json")],
                                  cwd=step_root(s), stdout=sink, stderr=subprocess.STDOUT,
                                  env={**os.environ, **self._env(s)})  # fmt: skip
        if done.returncode != 0:
            raise ModelmillError(f"step exited with status {done.returncode} in its environment: {tail(log)}")
        result = json.loads((work / "result.json").read_text(encoding="utf-8"))
        ctx.log_metrics(result.get("metrics", {}))
        for output, values in result.get("metadata", {}).items():
            ctx.set_metadata(output, **values)
