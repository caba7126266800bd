"""``modelmill step new NAME``: one step of the project's own, runnable and tested as written.

:func:`new_step` writes into the project folder (:func:`modelmill.config.find_project`)::

    steps/NAME.py (steps/NAME.sh with command=True)   the step: run(ctx), or a POSIX sh script
    tests/test_NAME.py                                its test, for a plain ``pytest`` in the project
    conf/config.yaml                                  its declaration, under the top-level ``steps:``

The config is edited as text (one block added, every other byte kept: the comments ``init``
wrote document the project), then loaded back to check that only the new step changed. Files are
staged in a temporary folder and moved in under temporary names then renamed; the project must
then still compose (:func:`modelmill.config.compose`) and its pipeline build, else the config is
restored and every file written removed: a failure leaves nothing behind.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelmill.config import CONF_DIR, CONFIG_FILE, compose, find_project
from modelmill.core.errors import InvalidNameError, UsageError
from modelmill.core.names import parse_ref, validate_name
from modelmill.pipelines.declared import project_pipeline
from modelmill.pipelines.tabular import CLEAN
from modelmill.projects.step_templates import render_files
from modelmill.runner.step import STEP_NAME_RE

TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
STEPS_LINE = re.compile(r"steps:[ \t]*(?P<rest>[^#\n]*?)[ \t]*(?P<comment>#.*)?\r?\n?")
STEPS_HEADER = (
    "# this project's own steps (modelmill step new NAME), each run after the steps whose\n"
    "# artifacts it reads: function (module:run) or command (a shell command), not both\n"
)


@dataclass(frozen=True)
class NewStep:
    """What ``modelmill step new`` wrote."""

    project: Path
    name: str
    declaration: dict[str, Any]
    files: list[Path]

    def to_dict(self) -> dict[str, Any]:
        kind = "command" if "command" in self.declaration else "function"
        return {"project": str(self.project), "step": self.name, "kind": kind,
                "declaration": self.declaration, "files": [str(p) for p in self.files]}  # fmt: skip


def check_name(name: str) -> str:
    """``name`` when it can name a step, a module (``steps.NAME``) and a test file."""
    if not STEP_NAME_RE.fullmatch(name) or keyword.iskeyword(name):
        fixed = re.sub(r"\W", "_", name).lstrip("0123456789") or "my"
        fixed = f"{fixed}_step" if keyword.iskeyword(fixed) or fixed == "my" else fixed
        raise UsageError(f"step name {name!r}: use letters, digits and '_' (a Python identifier that is "
                         f"not a keyword, at most 64 characters), e.g. {fixed!r}")  # fmt: skip
    return name


def parse_outputs(name: str, specs: Sequence[str]) -> dict[str, str]:
    """``--output ARTIFACT:TYPE`` options as ``{artifact: type}``; none: ``{NAME.json: NAME}``."""
    outputs: dict[str, str] = {}
    for spec in specs:
        artifact, _, kind = spec.partition(":")
        if not TYPE_RE.fullmatch(kind):
            example = f"--output {name}.json:{name}"
            raise UsageError(f"--output {spec!r}: expected NAME:TYPE (artifact: type), e.g. {example}")
        try:
            outputs[validate_name(artifact)] = kind
        except InvalidNameError as exc:
            raise UsageError(f"--output {spec!r}: {exc}") from None
    return outputs or {f"{name}.json": name}


def declaration(name: str, inputs: Sequence[str], outputs: dict[str, str], command: bool) -> dict[str, Any]:
    """The step as ``conf/config.yaml`` declares it (the form the project's runner reads)."""
    if command:
        args = [f"{{input:{i}}}" for i in inputs] + [f"{{output:{o}}}" for o in outputs]
        run = {"command": " ".join(["sh", f"steps/{name}.sh", *args])}
    else:
        run = {"function": f"steps.{name}:run"}
    return {**run, "inputs": list(inputs), "outputs": dict(outputs), "params": {}, "environment": None,
            "cache": True}  # fmt: skip


def _block(name: str, decl: dict[str, Any], indent: int) -> str:
    text = yaml.safe_dump({name: decl}, sort_keys=False, default_flow_style=None, width=4096, indent=indent)
    return "".join(" " * indent + line for line in text.splitlines(keepends=True))


def add_declaration(text: str, name: str, decl: dict[str, Any]) -> str:
    """``text`` (a config.yaml) with ``steps.NAME`` added and every other line kept: at the end
    of a block ``steps:``, in place of ``steps: {}`` (or null), or as a new section at the end."""
    lines = text.splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if STEPS_LINE.fullmatch(line)]
    if not found:
        ending = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{ending}\n{STEPS_HEADER}steps:\n{_block(name, decl, 2)}"
    at = found[-1]
    match = STEPS_LINE.fullmatch(lines[at])
    assert match is not None
    if match["rest"] not in ("", "{}", "null", "~"):
        raise UsageError(f"{CONF_DIR}/{CONFIG_FILE}: write 'steps:' as a block mapping (one indented key "
                         f"per step), not {match['rest']!r}, then run modelmill step new again")  # fmt: skip
    if match["rest"]:
        lines[at] = "steps:" + (f"  {match['comment']}" if match["comment"] else "") + "\n"
    last, indent = at, 0
    for i in range(at + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            if not lines[i][0].isspace():
                break  # the next section
            last, indent = i, indent or len(lines[i]) - len(lines[i].lstrip(" "))
    lines[last] = lines[last] if lines[last].endswith("\n") else lines[last] + "\n"
    lines.insert(last + 1, _block(name, decl, indent or 2))
    return "".join(lines)


def _load(text: str, where: Path) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise UsageError(f"{where} is not a mapping of sections: fix it, then run modelmill step new again")
    if not isinstance(doc.get("steps") or {}, dict):
        raise UsageError(f"{where}: 'steps' must map step names to declarations, not {doc['steps']!r}")
    return doc


def _check_edit(before: dict[str, Any], edited: str, name: str, decl: dict[str, Any], where: Path) -> None:
    """The edited text loads as the old config plus this one step, nothing else changed."""
    if _load(edited, where) != {**before, "steps": {**(before.get("steps") or {}), name: decl}}:
        raise UsageError(f"could not add the step to {where} by a text edit (its layout is unusual): add it "
                         f"by hand under steps:\n{_block(name, decl, 2)}")  # fmt: skip


def _project_pipeline(project: Path, message: str) -> Any:
    """The project's pipeline as ``modelmill run`` builds it (``main.pipeline`` of its composed
    config, plus the config's ``steps:``): the names and artifacts taken. Any failure: ``message``."""
    try:
        return project_pipeline(compose([], config_dir=project / CONF_DIR), project)
    except Exception as exc:  # whatever the cause, the project must be fixed first
        raise UsageError(message.format(exc)) from None


def _refuse_taken(project: Path, name: str, doc: dict[str, Any], pipeline: Any) -> None:
    """A step, a module or a test of this name exists: refuse, naming where."""
    if name in (doc.get("steps") or {}):
        where = [f"{CONF_DIR}/{CONFIG_FILE} steps.{name}"]
    else:
        where = [f"the pipeline: {pipeline.by_name[name].function}"] if name in pipeline.by_name else []
    files = (f"steps/{name}.py", f"steps/{name}.sh", f"tests/test_{name}.py")
    where += [f for f in files if (project / f).exists()]
    if where:
        raise UsageError(f"step {name!r} already exists ({', '.join(where)}): choose another name")


def _check_artifacts(inputs: Sequence[str], outputs: dict[str, str], pipeline: Any) -> None:
    """Inputs are written by a step (or pinned: ``NAME:alias``); outputs by no step yet."""
    produced = set(pipeline.producer)
    for ref in inputs:
        try:
            parse_ref(ref)
        except InvalidNameError as exc:
            raise UsageError(f"--input {ref!r}: {exc}") from None
        if ":" not in ref and ref not in produced:
            known = ", ".join(sorted(produced))
            raise UsageError(f"--input {ref!r}: no step of the project writes it; use one of {known} "
                             "(or NAME:ALIAS for a stored version)")  # fmt: skip
    if taken := sorted(set(outputs) & produced):
        raise UsageError(f"--output {taken[0]!r}: another step writes it already; choose another name")


def _place(staged: Path, dest: Path) -> None:
    """Copy ``staged`` (mode included) next to ``dest`` under a temporary name, then rename it."""
    part = dest.with_name(f".{dest.name}.part")
    shutil.copy(staged, part)
    os.replace(part, dest)


def _install(root: Path, staged: Path, files: Sequence[str], config: Path) -> list[Path]:
    """Move the staged files in, then the edited config; undo it all unless the project still
    composes and its pipeline builds with the new step."""
    shutil.copy(config, staged / "original.yaml")
    written: list[Path] = []
    made: list[Path] = []
    try:
        for relative in files:
            dest = root / relative
            if not dest.parent.is_dir():
                dest.parent.mkdir(parents=True)
                made.append(dest.parent)
            _place(staged / relative, dest)
            written.append(dest)
        _place(staged / CONF_DIR / CONFIG_FILE, config)
        _project_pipeline(root, "with the new step the project does not build ({}): nothing was written")
    except BaseException:
        _place(staged / "original.yaml", config)
        for path in written:
            path.unlink(missing_ok=True)
        for folder in reversed(made):
            folder.rmdir()
        raise
    return [*written, config]


def new_step(
    name: str,
    *,
    command: bool = False,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    project: str | Path | None = None,
) -> NewStep:
    """Scaffold step ``name`` in ``project`` (default: the project of the current folder); inputs
    default to the cleaned table of the tabular pipeline, outputs to ``NAME.json``."""
    root = Path(project).absolute() if project is not None else find_project()
    if root is None or not (root / CONF_DIR / CONFIG_FILE).is_file():
        raise UsageError(f"no project in {project or Path.cwd()} or above (no {CONF_DIR}/{CONFIG_FILE}): "
                         "run this in a project folder (modelmill init makes one)")  # fmt: skip
    outs = parse_outputs(check_name(name), outputs)
    ins = list(dict.fromkeys(inputs)) or [CLEAN]
    config = root / CONF_DIR / CONFIG_FILE
    text = config.read_text(encoding="utf-8")
    doc = _load(text, config)
    pipeline = _project_pipeline(root, "the project's pipeline does not build ({}): fix it, then add a step")
    _refuse_taken(root, name, doc, pipeline)
    _check_artifacts(ins, outs, pipeline)
    decl = declaration(name, ins, outs, command)
    edited = add_declaration(text, name, decl)
    _check_edit(doc, edited, name, decl, config)
    files = render_files(name, decl)
    if not command and not (root / "steps" / "__init__.py").exists():
        files["steps/__init__.py"] = '"""This project\'s own pipeline steps."""\n'
    with tempfile.TemporaryDirectory(prefix="modelmill-step-") as tmp:
        for relative, body in {**files, f"{CONF_DIR}/{CONFIG_FILE}": edited}.items():
            (Path(tmp) / relative).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / relative).write_text(body, encoding="utf-8")
        if command:
            (Path(tmp) / f"steps/{name}.sh").chmod(0o755)
        return NewStep(root, name, decl, _install(root, Path(tmp), list(files), config))
