"""Command steps: a program in any language, run like any step.

A command step is a shell command (``Rscript fit.R``, ``julia clean.jl``, ``awk -f count.awk``,
a binary) with declared inputs, outputs and params. In the command, ``{input:NAME}``,
``{output:NAME}`` and ``{param:KEY}`` become shell-quoted values (as in MLflow Projects'
entry points; ``${...}`` would be an interpolation in the YAML config); the same values are in the
environment as ``MODELMILL_INPUT_<KEY>``, ``MODELMILL_OUTPUT_<KEY>`` and ``MODELMILL_PARAM_<KEY>``
(``KEY`` upper-cased, other characters ``_``), and every param as JSON in the file named by
``MODELMILL_PARAMS_FILE``. Inputs are copied out of the store as files named after their
artifact, so nothing the program does can touch the store; what it writes at each output path
is stored when it exits 0, like a Python step's outputs.

It runs through ``/bin/sh -c`` in the project folder (``Step.root``). A non-zero exit, or an
output it did not write, fails the step with the last lines the program printed on stderr.

Its cache key's code part (:func:`command_fingerprint`) is the command's text, the content
of every file of the project the command names, and the program it starts, so editing
``fit.R`` re-runs the step and editing an unrelated file does not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelmill.core.errors import ModelmillError, PipelineDefinitionError
from modelmill.core.hashing import sha256_file, sha256_text

PLACEHOLDER = re.compile(r"\$?\{(input|output|param):([^}]+)\}")  # ${...} too, from Python
SHELL_WORDS = frozenset(
    {"cd", "set", "exec", "export", "if", "for", "while", "case", "test", "[", "{", "(", ".", "eval"}
    | {"true", "false", "echo", "printf", "read", "exit"}
)
TAIL_LINES = 15


def env_key(name: str) -> str:
    """``clean_sample.csv`` -> ``CLEAN_SAMPLE_CSV``: a name as part of an environment variable."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def check_command(
    step: str, command: str, inputs: list[str], outputs: list[str], params: Mapping[str, Any]
) -> None:
    """A command's placeholders name declared inputs, outputs and params; it parses as shell words."""
    if not isinstance(command, str) or not command.strip():
        raise PipelineDefinitionError(f"step '{step}': command must be a non-empty string")
    known = {"input": inputs, "output": outputs, "param": list(params)}
    for kind, name in PLACEHOLDER.findall(command):
        if name not in known[kind]:
            raise PipelineDefinitionError(
                f"step '{step}': the command names {{{kind}:{name}}}, which the step does not declare "
                f"(declared {kind}s: {', '.join(known[kind]) or 'none'})"
            )
    try:
        shlex.split(PLACEHOLDER.sub("x", command))
    except ValueError as exc:
        raise PipelineDefinitionError(
            f"step '{step}': the command does not parse as shell words: {exc}"
        ) from None


def _words(command: str) -> list[str]:
    """The command's words with placeholders blanked (what names files and the program)."""
    try:
        return shlex.split(PLACEHOLDER.sub("", command))
    except ValueError:
        return command.split()


def program(command: str) -> str | None:
    """The program the command starts (past ``VAR=value`` words), or ``None`` for shell syntax."""
    for word in _words(command):
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            continue
        return None if word in SHELL_WORDS else word
    return None


def find_program(step: str, command: str, root: Path, path: str | None = None) -> Path | None:
    """Where the command's program is (``PATH`` first with ``path``), or an error naming it."""
    name = program(command)
    if name is None:
        return None
    if "/" in name:
        found = (root / name) if not os.path.isabs(name) else Path(name)
        if found.is_file():
            return found
        raise PipelineDefinitionError(f"step '{step}': program {name} not found (looked in {root})")
    located = shutil.which(name, path=path or os.environ.get("PATH"))
    if located is None:
        raise PipelineDefinitionError(
            f"step '{step}': command '{name}' not found on PATH; install it or give its full path"
        )
    return Path(located)


def command_fingerprint(command: str, root: Path, env_path: str | None = None) -> dict[str, str]:
    """The command's text, each project file it names (``file:steps/fit.R``) and its program."""
    found = {"command": sha256_text(command)}
    root = root.resolve()
    for word in _words(command):
        for part in {word, word.partition("=")[2]} - {""}:
            candidate = (root / part).resolve() if not os.path.isabs(part) else Path(part)
            if candidate.is_file() and candidate.is_relative_to(root):
                found[f"file:{candidate.relative_to(root)}"] = sha256_file(candidate)
    try:
        located = find_program("?", command, root, env_path)
    except PipelineDefinitionError:
        located = None
    if located is not None and not located.resolve().is_relative_to(root):
        found[f"program:{program(command)}"] = sha256_file(located.resolve())
    return found


def run_command(ctx: Any, command: str, root: Path, work: Path, env: Mapping[str, str]) -> None:
    """Run ``command`` for the step of ``ctx``: inputs copied under ``work``, outputs to ``ctx``'s."""
    work.mkdir(parents=True, exist_ok=True)
    values: dict[str, dict[str, str]] = {"input": {}, "output": {}, "param": {}}
    for key in ctx.input_keys():
        version = ctx.input_version(key)
        if version is not None:
            folder = work / "inputs" / env_key(key)
            folder.mkdir(parents=True, exist_ok=True)
            values["input"][key] = str(ctx.store.get(version.ref, folder))
    for out in ctx.step.outputs:
        values["output"][out.name] = str(ctx.output(out.name))
    for key, value in ctx.params.items():
        values["param"][key] = value if isinstance(value, str) else json.dumps(value)
    params_file = work / "params.json"
    params_file.write_text(json.dumps(ctx.params, indent=2), encoding="utf-8")
    variables = {f"MODELMILL_{kind.upper()}_{env_key(k)}": v for kind, items in values.items()
                 for k, v in items.items()}  # fmt: skip
    text = PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)].get(m.group(2), "")), command)
    stderr = work / "stderr.txt"
    with stderr.open("wb") as err:
        variables["MODELMILL_PARAMS_FILE"] = str(params_file)
        done = subprocess.run(["/bin/sh", "-c", text], cwd=root, stdout=err, stderr=subprocess.STDOUT,
                              env={**os.environ, **env, **variables})  # fmt: skip
    said = tail(stderr)
    if done.returncode != 0:
        raise ModelmillError(f"command exited with status {done.returncode}: {said}")
    missing = [o.name for o in ctx.step.outputs if not ctx.output(o.name).exists()]
    if missing:
        raise ModelmillError(
            f"command exited 0 without writing output(s) {', '.join(missing)} (write each to "
            f"{{output:NAME}} or $MODELMILL_OUTPUT_<NAME>); it printed: {said}"
        )
    for line in said.split(" | ") if said != "(nothing)" else ():
        ctx.log.info(line)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of a program's output file, joined on one line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept) if kept else "(nothing)"
