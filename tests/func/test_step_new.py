"""``modelmill step new`` in a project made by ``modelmill init``, as a user goes (issue 16):

    modelmill init diabetes --data diabetes.csv --target progression
    modelmill step new summary             # steps/summary.py, its test, its declaration
    modelmill step new counts --command    # steps/counts.sh (sh + awk), its test, its declaration
    pytest                                 # the generated tests pass as written
    modelmill run                          # both steps run beside the packaged ones
    modelmill run                          # again: every step cached

Nothing generated is edited. The table is scikit-learn's diabetes (442 rows, read from the package).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.data_tables import diabetes
from tests.func.projects_helpers import Project, new_project, statuses


def stored(project: Project, name: str) -> Path:
    """The path of artifact ``name:latest`` in the project's store."""
    import modelmill

    return modelmill.open_workspace(project.workspace).store.path(name)


def scaffold(project: Project) -> None:
    """Both steps through the command line: the files, the declarations, the refusals."""
    written = project.mm("step", "new", "summary", "--json").check().json()
    assert written["kind"] == "function" and written["declaration"]["function"] == "steps.summary:run"
    assert sorted(Path(p).relative_to(project.directory).as_posix() for p in written["files"]) == [
        "conf/config.yaml", "steps/summary.py", "tests/test_summary.py"]  # fmt: skip
    text = project.mm("step", "new", "counts", "--command").check().stdout
    assert "created step counts" in text and "steps/counts.sh" in text
    steps = project.config["steps"]
    assert list(steps) == ["summary", "counts"]
    assert steps["counts"]["command"] == "sh steps/counts.sh {input:clean_sample.csv} {output:counts.json}"
    assert steps["summary"]["outputs"] == {"summary.json": "summary"}
    config = (project.directory / "conf" / "config.yaml").read_bytes()
    for args, says in [(("summary",), "already exists"), (("train",), "already exists"),
                       (("my-step",), "'my_step'"), (("x", "--output", "x.json"), "NAME:TYPE")]:  # fmt: skip
        refused = project.mm("step", "new", *args).check(2)
        assert refused.stderr.count("\n") == 1 and says in refused.stderr, refused.stderr
    assert (project.directory / "conf" / "config.yaml").read_bytes() == config


def generated_tests_pass(project: Project) -> None:
    """A plain ``pytest`` in the project folder, in another process, as a user runs it (without
    this environment's plugins, schemathesis and the like: 7 of its 9 seconds, none of its use)."""
    pytest_bin = Path(sys.executable).with_name("pytest")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run([str(pytest_bin), "-q", "-p", "no:cacheprovider"], cwd=project.directory, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr


def test_step_new_then_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_limits

    monkeypatch.delenv("MODELMILL_HOME", raising=False)  # a user's shell: the project's own workspace
    project = new_project(tmp_path, "diabetes", diabetes, "progression")
    scaffold(project)
    generated_tests_pass(project)
    with threadpool_limits(1, user_api="openmp"):
        first = statuses(project.run())
    assert first["summary"] == first["counts"] == "ran", first
    clean = pd.read_csv(stored(project, "clean_sample.csv"))
    counts = json.loads(stored(project, "counts.json").read_text(encoding="utf-8"))
    assert counts == {"clean_sample.csv": {"rows": len(clean), "columns": len(clean.columns)}}
    summary = json.loads(stored(project, "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["clean_sample.csv"]["rows"] == len(clean) and summary["params"] == {}
    assert project.runs[0].json()["metrics"].get("rows") == len(clean)
    second = statuses(project.run())
    assert set(second.values()) == {"cached"}, second
