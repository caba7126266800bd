"""Command steps and step environments, piece by piece (the pipeline test is
tests/func/test_components.py): declarations, placeholders, fingerprints, environment builds."""

from __future__ import annotations

import ensurepip
import json
import subprocess
from pathlib import Path

import pytest

from modelmill.core.errors import EnvironmentBuildError, PipelineDefinitionError
from modelmill.runner import Executor, Pipeline, StepEnvironment, step
from modelmill.runner.command import command_fingerprint, find_program, program
from modelmill.runner.environment import COMPLETE, ensure_environment, uv_binary
from modelmill.store.workspace import Workspace

BUNDLED = Path(ensurepip.__file__).with_name("_bundled")
OLD_PIP = ensurepip.version()


def test_a_step_is_a_function_or_a_command_never_both_nor_neither() -> None:
    with pytest.raises(PipelineDefinitionError, match="not both"):
        step("s", "m.x:run", command="true")
    with pytest.raises(PipelineDefinitionError, match="not neither"):
        step("s")


def test_placeholders_must_name_what_the_step_declares() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"\{output:b.csv\}.*declared outputs: a.csv"):
        step("s", command="cp {input:x} {output:b.csv}", inputs=["x"], outputs={"a.csv": "t"})
    with pytest.raises(PipelineDefinitionError, match="does not parse"):
        step("s", command="echo 'unclosed", outputs={"a.csv": "t"})


def test_the_program_is_found_past_variable_words_and_a_missing_one_is_named(tmp_path: Path) -> None:
    assert program("LC_ALL=C awk -f x.awk {input:a}") == "awk"
    assert program("cd sub && make") is None  # shell syntax: nothing to check
    assert find_program("s", "awk 1", tmp_path) is not None
    with pytest.raises(PipelineDefinitionError, match="command 'nope-xyz' not found on PATH"):
        find_program("s", "nope-xyz --flag", tmp_path)
    with pytest.raises(PipelineDefinitionError, match=r"program \./run.sh not found"):
        find_program("s", "./run.sh", tmp_path)


def test_the_fingerprint_covers_the_command_and_the_project_files_it_names(tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    script = tmp_path / "steps" / "count.awk"
    script.write_text("{ n++ }\n")
    outside = tmp_path.parent / "outside.awk"
    outside.write_text("{ }\n")
    command = f"awk -f steps/count.awk --x={outside} {{input:a}}"
    first = command_fingerprint(command, tmp_path)
    assert "file:steps/count.awk" in first and "program:awk" in first
    assert not any(str(outside.name) in k for k in first)  # not the project's
    script.write_text("{ n += 2 }\n")
    assert command_fingerprint(command, tmp_path)["file:steps/count.awk"] != first["file:steps/count.awk"]
    assert command_fingerprint(command + " ", tmp_path)["command"] != first["command"]


def test_a_command_step_gets_quoted_values_and_environment_variables(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "a workspace")  # paths with spaces: quoted
    source = tmp_path / "input.csv"
    source.write_text("a,b\n1,2\n")
    ws.store.put(source, "input.csv", "table")
    script = (
        'printf "%s|%s|%s|%s\\n" {param:label} "$MODELMILL_PARAM_LABEL" '
        '"$(cat {input:input.csv:latest} | wc -l)" "$(cat "$MODELMILL_PARAMS_FILE")" > {output:out.txt}'
    )
    s = step("echo", command=script, inputs=["input.csv:latest"], outputs={"out.txt": "text"},
             params={"label": "two words; $(rm -rf /)", "n": 3}, root=str(tmp_path))  # fmt: skip
    summary = Executor(ws).run(Pipeline([s]))
    assert summary.status == "success", summary.steps[0].error
    label, env_label, lines, params = ws.store.path("out.txt").read_text().strip().split("|")
    assert label == env_label == "two words; $(rm -rf /)"  # quoted: never run by the shell
    assert lines.strip() == "2" and json.loads(params) == {"label": "two words; $(rm -rf /)", "n": 3}


def test_a_command_that_writes_nothing_fails_and_stores_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    s = step("quiet", command="echo working >&2", outputs={"out.txt": "text"}, root=str(tmp_path))
    summary = Executor(ws).run(Pipeline([s]))
    assert summary.status == "failed"
    assert (
        "without writing output(s) out.txt" in summary.steps[0].error and "working" in summary.steps[0].error
    )
    assert ws.store.versions("out.txt") == []


def _lock(tmp_path: Path, text: str, name: str = "requirements.txt") -> StepEnvironment:
    path = tmp_path / name
    path.write_text(text)
    return StepEnvironment(str(path), (str(BUNDLED),), offline=True)


INSTALLERS = ["pip", pytest.param("uv", marks=pytest.mark.skipif(uv_binary() is None, reason="no uv"))]


@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_environment_is_built_offline_once_with_its_pin(tmp_path: Path, installer: str) -> None:
    env = _lock(tmp_path, f"pip=={OLD_PIP}\n")
    env = StepEnvironment(env.lock, env.find_links, True, installer)
    python = ensure_environment(env, tmp_path / "envs")
    out = subprocess.run([python, "-c", "import pip; print(pip.__version__)"], capture_output=True, text=True)
    assert out.stdout.strip() == OLD_PIP
    marker = python.parent.parent / COMPLETE
    built = marker.stat().st_mtime_ns
    assert ensure_environment(env, tmp_path / "envs") == python and marker.stat().st_mtime_ns == built


def test_a_half_built_environment_is_rebuilt(tmp_path: Path) -> None:
    env = _lock(tmp_path, f"pip=={OLD_PIP}\n")
    python = ensure_environment(env, tmp_path / "envs")
    (python.parent.parent / COMPLETE).unlink()  # as if the build was killed before its end
    assert ensure_environment(env, tmp_path / "envs") == python
    assert (python.parent.parent / COMPLETE).is_file()


def test_the_digest_follows_the_lock_content(tmp_path: Path) -> None:
    a = _lock(tmp_path, f"pip=={OLD_PIP}\n", "a.txt")
    b = _lock(tmp_path, f"pip=={OLD_PIP}\n", "b.txt")
    c = _lock(tmp_path, "pip<99\n", "c.txt")
    assert a.digest() == b.digest() != c.digest()


def test_a_pyproject_lock_installs_its_dependencies(tmp_path: Path) -> None:
    env = _lock(tmp_path, f'[project]\nname = "x"\nversion = "0"\ndependencies = ["pip=={OLD_PIP}"]\n',
                "pyproject.toml")  # fmt: skip
    assert env.requirements() == [f"pip=={OLD_PIP}"]
    (tmp_path / "broken").mkdir()
    broken = _lock(tmp_path / "broken", "[project\n", "pyproject.toml")
    with pytest.raises(EnvironmentBuildError, match="not valid TOML"):
        broken.requirements()


def test_an_uninstallable_lock_is_one_error_and_leaves_no_environment(tmp_path: Path) -> None:
    env = _lock(tmp_path, "surely-not-a-package-modelmill==1.0\n")
    with pytest.raises(EnvironmentBuildError) as caught:
        ensure_environment(env, tmp_path / "envs")
    message = str(caught.value)
    assert "requirements.txt" in message and "offline" in message and "\n" not in message
    assert [p for p in (tmp_path / "envs").iterdir() if p.is_dir()] == []
