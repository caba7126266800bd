"""Components: a command step in another language and a Python step pinned to an older library
(:mod:`tests.func.components`), declared in a project's config, running in one pipeline beside
the packaged steps, cached on rerun; and what a bad declaration or lock says."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from tests.data_tables import diabetes
from tests.func.components import OLD_PIP, add_components, component_steps, declare, stored
from tests.func.projects_helpers import Project, new_project, statuses


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    if metadata.version("pip") == OLD_PIP:
        pytest.skip(f"this environment's pip is ensurepip's own {OLD_PIP}: no older version to pin")
    project = new_project(tmp_path_factory.mktemp("components"), "diabetes", diabetes, "progression")
    add_components(project.directory)
    return project


def test_command_and_pinned_steps_run_with_the_pipeline_and_are_cached(project: Project) -> None:
    first = project.run()
    assert statuses(first) == dict.fromkeys(
        ["get_data", "basic_cleaning", "data_check", "data_split", "train", "evaluate", "register",
         "row_stats", "pinned"], "ran")  # fmt: skip
    report = json.loads(stored(project, "pinned.json"))
    assert report["pip"] == OLD_PIP != metadata.version("pip")  # the step saw its own, older pip
    clean = stored(project, "clean_sample.csv").strip().splitlines()
    stats = stored(project, "row_stats.csv").strip().splitlines()
    assert stats[0] == "rows,mean" and int(stats[1].split(",")[0]) == len(clean) - 1 == report["rows"]
    assert first["metrics"]["pinned_rows"] == 2 * report["rows"]
    second = project.run()
    assert set(statuses(second).values()) == {"cached"}


def test_editing_a_file_the_command_names_reruns_that_step_only(project: Project) -> None:
    project.run()
    awk = project.directory / "steps" / "count.awk"
    awk.write_text(awk.read_text() + "# an edit\n", encoding="utf-8")
    summary = project.run()
    ran = {name for name, status in statuses(summary).items() if status == "ran"}
    assert ran == {"row_stats"}  # same output: the pinned step downstream stays cached
    reasons = {s["name"]: s.get("reason", "") for s in summary["steps"]}
    assert "code changed" in reasons["row_stats"] and "count.awk" in reasons["row_stats"]


def test_a_failing_command_names_its_stderr_and_keeps_nothing(project: Project) -> None:
    steps = component_steps("no_such_column")
    steps["row_stats"]["command"] = 'awk \'BEGIN { print "bad column" > "/dev/stderr"; exit 3 }\''
    steps["row_stats"]["params"] = {}
    declare(project, steps)
    try:
        result = project.mm("run", "--json")
        assert result.code == 1
        summary = result.json()
        failed = next(s for s in summary["steps"] if s["name"] == "row_stats")
        assert (
            failed["status"] == "failed" and "status 3" in failed["error"] and "bad column" in failed["error"]
        )
        assert "Traceback" not in result.stderr
    finally:
        declare(project, component_steps("bmi"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"command": "no-such-program-xyz {input:clean_sample.csv} > {output:row_stats.csv}"},
         "command 'no-such-program-xyz' not found"),
        ({"command": "awk 1 {input:nope.csv} > {output:row_stats.csv}"}, "does not declare"),
        ({"function": "steps.x:run"}, "either a function"),
    ],
)  # fmt: skip
def test_bad_declarations_fail_before_any_step(project: Project, change: dict, message: str) -> None:
    steps = component_steps("bmi")
    steps["row_stats"].update(change)
    declare(project, steps)
    try:
        result = project.mm("run", "--force", "--json")
        assert result.code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert "get_data" not in result.stdout  # nothing ran
    finally:
        declare(project, component_steps("bmi"))


def test_a_lock_that_cannot_be_installed_offline_fails_before_any_step(project: Project) -> None:
    lock = project.directory / "steps" / "broken.requirements.txt"
    lock.write_text("surely-not-a-package-modelmill==9.9\n", encoding="utf-8")
    steps = component_steps("bmi")
    steps["pinned"]["environment"] = "steps/broken.requirements.txt"
    declare(project, steps)
    try:
        result = project.mm("run", "--json")
        assert result.code == 2, result.output
        assert "cannot install environment" in result.output and "broken.requirements.txt" in result.output
        assert "Traceback" not in result.output
        envs = project.workspace / "envs"
        assert (
            sorted(
                p.name
                for p in envs.iterdir()
                if p.is_dir() and not (p / "modelmill-environment.json").exists()
            )
            == []
        )
    finally:
        declare(project, component_steps("bmi"))
