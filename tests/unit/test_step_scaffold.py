"""``modelmill step new``: the text edit of conf/config.yaml, the refusals (which write nothing),
the undo when the project no longer builds, and the generated files (modelmill.projects.step_scaffold)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modelmill.cli import app
from modelmill.core.errors import UsageError
from modelmill.projects import step_scaffold
from modelmill.projects.scaffold import init_project
from modelmill.projects.step_scaffold import add_declaration, check_name, declaration, new_step, parse_outputs
from modelmill.projects.step_templates import render_files
from tests.data_tables import diabetes

DECL = declaration("extra", ["clean_sample.csv"], {"extra.json": "extra"}, command=False)


def loads(text: str) -> dict[str, Any]:
    return dict(yaml.safe_load(text))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project as ``modelmill init`` writes it (its config has ``steps: {}``), made once."""
    root = tmp_path_factory.mktemp("template") / "diabetes"
    (root / "data").mkdir(parents=True)
    diabetes().head(120).to_csv(root / "data" / "diabetes.csv", index=False)
    init_project(root, root / "data" / "diabetes.csv", "progression")
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "project"))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the text edit: every line of the file kept, the step added where it belongs


def test_a_config_without_steps_gets_a_section_at_the_end() -> None:
    for text in ("main:\n  name: x  # a comment\n", "main:\n  name: x  # a comment"):
        edited = add_declaration(text, "extra", DECL)
        assert edited.startswith(text.rstrip("\n") + "\n\n# this project's own steps")
        assert loads(edited) == {"main": {"name": "x"}, "steps": {"extra": DECL}}


@pytest.mark.parametrize("empty", ["steps: {}", "steps:", "steps: null", "steps: {}   # none yet"])
def test_an_empty_steps_key_is_filled_in_place(empty: str) -> None:
    text = f"# top\nmain:\n  name: x\n\n{empty}\n\n# serving\nserve:\n  port: 1\n"
    edited = add_declaration(text, "extra", DECL)
    assert loads(edited) == {"main": {"name": "x"}, "steps": {"extra": DECL}, "serve": {"port": 1}}
    kept = [line for line in text.splitlines() if not line.startswith("steps")]
    assert [line for line in edited.splitlines() if line in kept] == kept  # order and bytes
    assert ("# none yet" in edited) == ("# none yet" in empty)
    assert edited.index("extra:") < edited.index("# serving")


def test_existing_steps_keep_their_lines_and_indentation() -> None:
    text = ("main:\n  name: x\nsteps:\n    first:   # mine\n        function: steps.first:run\n"
            "        outputs: {first.json: first}\n\n# what follows\nserve:\n  port: 1\n")  # fmt: skip
    edited = add_declaration(text, "extra", DECL)
    first = {"function": "steps.first:run", "outputs": {"first.json": "first"}}
    assert loads(edited)["steps"] == {"first": first, "extra": DECL}
    assert "\n    extra:\n        function: steps.extra:run\n" in edited  # the file's own indentation
    head, tail = text.split("\n\n# what follows\n")
    assert edited.startswith(head + "\n    extra:") and edited.endswith("\n\n# what follows\n" + tail)


def test_a_flow_mapping_of_steps_is_refused() -> None:
    with pytest.raises(UsageError, match="block mapping"):
        add_declaration("steps: {a: {function: 'm:run'}}\n", "extra", DECL)


def test_a_command_declaration_uses_the_runner_placeholders() -> None:
    decl = declaration("counts", ["clean_sample.csv", "ref.csv:reference"], {"counts.json": "counts"}, True)
    assert decl["command"] == (
        "sh steps/counts.sh {input:clean_sample.csv} {input:ref.csv:reference} {output:counts.json}"
    )
    assert loads(add_declaration("main: {}\n", "counts", decl))["steps"]["counts"] == decl


# -- refusals: one line naming the fix, exit 2, nothing written


@pytest.mark.parametrize("name", ["my-step", "1st", "class", "", "a" * 65, "café"])
def test_names_that_cannot_be_a_module_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="Python identifier") as error:
        check_name(name)
    assert error.value.exit_code == 2 and "\n" not in str(error.value)


def test_outputs_need_a_type() -> None:
    assert parse_outputs("s", []) == {"s.json": "s"}
    assert parse_outputs("s", ["a.csv:table", "b.json:stats"]) == {"a.csv": "table", "b.json": "stats"}
    for bad in ("a.csv", "a.csv:", "a/b:t", ":t", "a.csv:bad type"):
        with pytest.raises(UsageError, match="--output"):
            parse_outputs("s", [bad])


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("train", {}, "already exists (the pipeline: modelmill.steps.train:run)"),
        ("get_data", {"command": True}, "already exists"),
        ("taken", {}, "already exists (steps/taken.py)"),
        ("bad-name", {}, "'bad_name'"),
        ("extra", {"outputs": ["extra.json"]}, "NAME:TYPE"),
        ("extra", {"inputs": ["nowhere.csv"]}, "no step of the project writes it"),
        ("extra", {"inputs": ["no/such"]}, "invalid artifact name"),
        ("extra", {"outputs": ["clean_sample.csv:table"]}, "another step writes it already"),
    ],
)
def test_refusals_write_nothing(project: Path, name: str, options: dict[str, Any], message: str) -> None:
    (project / "steps" / "taken.py").write_text("def run(ctx): ...\n")
    before = snapshot(project)
    with pytest.raises(UsageError) as error:
        new_step(name, project=project, **options)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert snapshot(project) == before


def test_a_step_declared_in_the_config_is_taken(project: Path) -> None:
    new_step("extra", project=project)
    before = snapshot(project)
    with pytest.raises(UsageError, match=r"already exists \(conf/config.yaml steps.extra, steps/extra.py"):
        new_step("extra", project=project, command=True)
    assert snapshot(project) == before


def test_outside_a_project_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["step", "new", "extra"])  # the suite's cwd: no project above it
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no project in ") and result.stderr.count("\n") == 1
    assert not list(Path.cwd().iterdir())


def test_a_declaration_the_project_refuses_is_undone(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The project is built again once everything is in place; when that fails, the config is
    restored byte for byte and the files (and the tests/ folder made for them) removed."""
    shutil.rmtree(project / "tests", ignore_errors=True)
    real = step_scaffold.project_pipeline

    def refuse_new_steps(cfg: Any, root: Path) -> Any:
        if "extra" in (cfg.get("steps") or {}):
            raise ValueError("step 'extra': refused for the test")
        return real(cfg, root)

    monkeypatch.setattr(step_scaffold, "project_pipeline", refuse_new_steps)
    before = snapshot(project)
    with pytest.raises(UsageError, match=r"refused for the test.*nothing was written"):
        new_step("extra", project=project)
    assert snapshot(project) == before and not (project / "tests").exists()


# -- the generated files work as written


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_python_step_with_two_inputs_passes_its_test(project: Path) -> None:
    result = new_step("extra", project=project, inputs=["clean_sample.csv", "evaluation"],
                      outputs=["extra.json:extra", "more.json:more"])  # fmt: skip
    assert [p.relative_to(project).as_posix() for p in result.files] == [
        "steps/extra.py", "tests/test_extra.py", "conf/config.yaml"]  # fmt: skip
    declared = loads((project / "conf" / "config.yaml").read_text())["steps"]["extra"]
    assert declared == result.declaration
    assert declared["inputs"] == ["clean_sample.csv", "evaluation"] and list(declared["outputs"]) == [
        "extra.json", "more.json"]  # fmt: skip
    done = run_pytest(project)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_a_command_script_is_posix_sh(tmp_path: Path) -> None:
    decl = declaration("counts", ["a.csv", "b.csv"], {"one.json": "c", "two.json": "c"}, command=True)
    files = render_files("counts", decl)
    script = tmp_path / "counts.sh"
    script.write_text(files["steps/counts.sh"])
    (tmp_path / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "b.csv").write_text("only\n")
    args = ["/bin/sh", str(script), "a.csv", "b.csv", "one.json", "two.json"]
    subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)
    for name in ("one.json", "two.json"):
        assert json.loads((tmp_path / name).read_text()) == {"a.csv": {"rows": 2, "columns": 2},
                                                              "b.csv": {"rows": 0, "columns": 1}}  # fmt: skip
    wrong = subprocess.run(args[:3], cwd=tmp_path, capture_output=True, text=True)
    assert wrong.returncode == 2 and "usage: sh steps/counts.sh INPUT1 INPUT2 OUTPUT1 OUTPUT2" in wrong.stderr
