"""Releases (issue 16, "Releases"): every run records its code, a release tags it, an old release
runs again from a worktree, and a run's own code re-fits it.

The scenario is the issue's, on a real project (``modelmill init`` on scikit-learn's diabetes
table) whose training code is its own: ``steps/train.py`` wraps modelmill's train step with a
learning rate of its own, and ``steps/pipeline.py`` puts it in the pipeline; beside them, a
command step in awk and a Python step pinned to an older pip in its own environment
(:mod:`tests.func.components`). Release v0.1.0,
change the learning rate, release v0.2.0; then ``run --rev v0.1.0`` brings v0.1.0's model back
(every step whose code did not change is a cache hit, train included: its key hashes v0.1.0's
source), the model says it came from v0.1.0 (``artifacts show``, ``/metadata``, MLflow), and
``run --rev v0.1.0 --force-step train`` fits it again from v0.1.0's code, bit for bit, and
``reproduce`` of the v0.1.0 run re-fits it from its restored code: identical.

The bad-input cases need no pipeline: a bare git repository is enough for ``release``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import data_tables
from tests.func.components import OLD_PIP, add_components
from tests.func.projects_helpers import Project, mm, new_project, statuses

PIPELINE = '''"""The project's pipeline: modelmill's tabular one, trained by this project's own step."""

import dataclasses

from modelmill.pipelines.tabular import build_pipeline as tabular
from modelmill.runner import Pipeline


def build_pipeline(cfg):
    own = {"train": "steps.train:run"}
    return Pipeline([dataclasses.replace(s, func=own.get(s.name, s.func)) for s in tabular(cfg).steps])
'''
TRAIN = '''"""The project's training: modelmill's train step with this project's learning rate."""

from modelmill.steps import train

LEARNING_RATE = {rate}


def run(ctx):
    ctx.params["gradient_boosting"] = {{**ctx.params["gradient_boosting"], "learning_rate": LEARNING_RATE}}
    train.run(ctx)
'''
MODEL = "diabetes_model"
DATA_STEPS = ("get_data", "basic_cleaning", "data_check", "data_split")
COMPONENTS = ("row_stats", "pinned")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def git_repo(folder: Path) -> Path:
    """``git init`` with a local identity and no signing (whatever the machine's config says)."""
    folder.mkdir(parents=True, exist_ok=True)
    git(folder, "init", "-q")
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"),
                       ("commit.gpgsign", "false"), ("tag.gpgsign", "false")):  # fmt: skip
        git(folder, "config", key, value)
    return folder


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def one_line_error(result: Any, *words: str) -> str:
    """The single ``error:`` line of a refused command (exit 2, no traceback), with ``words``."""
    result.check(2)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def predictions(project: Project, model: str, test: str) -> Any:
    """The model's predictions on the run's test split, one thread (a bit-for-bit comparison)."""
    from modelmill import Workspace
    from modelmill.datasets.io import read_stored_table
    from modelmill.lifecycle.reproduce import _predict

    store = Workspace(project.workspace).store
    return _predict(store.path(model), read_stored_table(store.path(test)).drop(columns=[project.target]))


def forget_steps() -> None:
    """Drop the project's ``steps`` modules: the next in-process run imports its code as it is
    now (``modelmill run`` is a new process each time; these runs share the test's)."""
    for name in [n for n in sys.modules if n == "steps" or n.startswith("steps.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def released(
    tmp_path: Path, _machine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The project, its v0.1.0 and v0.2.0 runs and releases."""
    from threadpoolctl import threadpool_limits

    monkeypatch.delenv("MODELMILL_HOME", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with threadpool_limits(1, user_api="openmp"):
        forget_steps()
        yield _release_twice(tmp_path, _machine_cache)
        forget_steps()


def _release_twice(tmp_path: Path, cache: Path) -> dict[str, Any]:
    project = new_project(tmp_path, "diabetes", data_tables.diabetes, "progression", cache_dir=cache)
    folder = git_repo(project.directory)
    config = folder / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("modelmill.pipelines.tabular:build_pipeline",
                                                 "steps.pipeline:build_pipeline"))  # fmt: skip
    (folder / "steps" / "pipeline.py").write_text(PIPELINE)
    (folder / "steps" / "train.py").write_text(TRAIN.format(rate=0.1))
    add_components(folder)  # an awk step and a step pinned to an older pip, in its own environment
    first = commit_all(folder, "the project, trained by its own step")
    run1 = project.run()
    rel1 = project.mm("release", "0.1.0", "--json").check().json()
    (folder / "steps" / "train.py").write_text(TRAIN.format(rate=0.05))
    second = commit_all(folder, "slower learning rate")
    forget_steps()
    run2 = project.run()
    rel2 = project.mm("release", "--bump", "minor", "--json").check().json()
    return {"project": project, "commits": (first, second), "runs": (run1, run2), "releases": (rel1, rel2)}


def test_release_run_rev_and_reproduce(released: dict[str, Any]) -> None:
    project: Project = released["project"]
    folder = project.directory
    (first, second), (run1, run2), (rel1, rel2) = released["commits"], released["runs"], released["releases"]
    # every run records its code: the commit, a clean tree, the lock of its packages
    from modelmill import Workspace
    from modelmill.runner import provenance

    ws = Workspace(project.workspace)
    recorded = provenance.read(ws, run1["run_id"])
    assert recorded is not None and recorded["git"]["commit"] == first and recorded["git"]["dirty"] is False
    assert "scikit" in ws.store.read_text(recorded["lock"])  # environment.lock:vN
    assert all(statuses(run1)[s] == "ran" for s in COMPONENTS) and statuses(run2)["pinned"] == "cached"
    assert f'"pip": "{OLD_PIP}"' in ws.store.read_text("pinned.json")  # its own environment's pip
    # the releases: tags with notes, the models their code made
    assert (rel1["tag"], rel1["commit"], rel1["previous"]) == ("v0.1.0", first, None)
    assert [m["ref"] for m in rel1["models"]] == [f"{MODEL}:v0"] and rel1["models"][0]["prod"]
    assert rel1["tracking_runs_tagged"] == 1  # the run made before the tag is tagged in MLflow too
    assert _mlflow_tags(project, run1["run_id"])["modelmill.release"] == "v0.1.0"
    assert (rel2["tag"], rel2["commit"], rel2["notes"]) == ("v0.2.0", second, ["slower learning rate"])
    assert statuses(run2)["train"] == "ran" and [m["ref"] for m in rel2["models"]] == [f"{MODEL}:v1"]
    assert "slower learning rate" in git(folder, "tag", "-n20", "v0.2.0")
    listed = project.mm("releases", "--json").check().json()
    assert [(r["tag"], r["commit"]) for r in listed] == [("v0.1.0", first), ("v0.2.0", second)]

    # run --rev v0.1.0: v0.1.0's code, from a worktree, on this workspace: train is a cache hit
    rev = project.mm("run", "--rev", "v0.1.0", "--json").check().json()
    assert rev["revision"] == {"rev": "v0.1.0", "commit": first, "release": "v0.1.0"}
    assert all(statuses(rev)[s] == "cached" for s in (*DATA_STEPS, "train", *COMPONENTS)), statuses(rev)
    model = next(s for s in rev["steps"] if s["name"] == "train")["outputs"][0]
    assert model == f"{MODEL}:v0"  # v0.1.0's model itself, not v0.2.0's v1
    assert len(git(folder, "worktree", "list").splitlines()) == 1  # the temporary one is gone
    assert provenance.read(ws, rev["run_id"])["git"]["release"] == "v0.1.0"
    # every model carries its release: artifacts show, the MLflow run
    shown = project.mm("artifacts", "show", model, "--json").check().json()
    assert shown["origin"]["release"] == "v0.1.0" and shown["origin"]["commit"] == first
    text = project.mm("artifacts", "show", f"{MODEL}:v1").check().stdout
    assert f"release      v0.2.0 (code: {second[:12]})" in text
    assert _mlflow_tags(project, rev["run_id"])["modelmill.release"] == "v0.1.0"
    assert _served_origin(project, model)["release"] == "v0.1.0"
    # forced to fit again, v0.1.0's code makes v0.1.0's model bit for bit, not v0.2.0's
    forced = project.mm("run", "--rev", "v0.1.0", "--force-step", "train", "--json").check().json()
    assert statuses(forced)["train"] == "ran" and all(statuses(forced)[s] == "cached" for s in DATA_STEPS)
    refit = next(s for s in forced["steps"] if s["name"] == "train")["outputs"][0]
    test = next(s for s in forced["steps"] if s["name"] == "data_split")["outputs"][1]
    new = predictions(project, refit, test)
    assert refit == f"{MODEL}:v2" and np.array_equal(new, predictions(project, f"{MODEL}:v0", test))
    assert not np.array_equal(new, predictions(project, f"{MODEL}:v1", test))

    # reproduce the v0.1.0 run: its code back in a worktree, re-fitted with the cache off
    out = project.mm("reproduce", run1["run_id"], "--json").check().json()
    assert out["identical"] is True and out["max_abs_diff"] == 0.0, out
    assert out["source"]["mode"] == "restored" and out["source"]["commit"] == first
    assert out["source"]["release"] == "v0.1.0" and out["environment"]["mode"] == "current"
    assert out["code_changes"] == {} and out["warnings"] == []
    # with today's code instead, the difference and its cause are named
    today = project.mm("reproduce", run1["run_id"], "--current-code", "--json").check(1).json()
    assert today["identical"] is False and today["max_abs_diff"] > 0
    assert today["code_changes"] == {"train": ["steps.train"]}
    # a lock that cannot be installed offline: one error line before anything runs
    refused = project.mm("reproduce", run1["run_id"], "--env", "--offline")
    one_line_error(refused, "environment cannot be rebuilt", "environment.lock:v")
    assert "[train]" not in refused.stderr


def _served_origin(project: Project, model: str) -> dict[str, Any]:
    """``/metadata``'s ``model.origin`` of a service serving ``model``."""
    with warnings.catch_warnings():  # starlette: "Using `httpx` with `starlette.testclient` is deprecated"
        warnings.filterwarnings("ignore", message="Using `httpx`")
        from fastapi.testclient import TestClient

    from modelmill.serve.app import create_app
    from modelmill.serve.settings import ServeSettings
    from tests.func.conftest import wait_for

    settings = ServeSettings(workspace=project.workspace, model=model)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200)
        return dict(client.get("/metadata").json()["model"]["origin"])


def _mlflow_tags(project: Project, run_id: str) -> dict[str, str]:
    """The tags of pipeline run ``run_id``'s MLflow run (a fully cached run is logged by a
    detached process: waited for)."""
    from mlflow.tracking import MlflowClient

    from modelmill import Workspace

    client = MlflowClient(Workspace(project.workspace).default_tracking_uri)
    deadline = time.monotonic() + 60
    while True:
        found = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            filter_string=f"tags.`modelmill.run_id` = '{run_id}' and tags.`modelmill.kind` = 'pipeline'",
        )
        if found or time.monotonic() > deadline:
            assert found, f"no MLflow run for {run_id}"
            return dict(found[0].data.tags)
        time.sleep(0.5)


# ------------------------------------------------------------------ bad input


def test_release_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    one_line_error(mm("release", "1.0.0", cwd=outside), "needs a git repository", "git init")
    assert not (outside / ".modelmill").exists()
    repo = git_repo(tmp_path / "repo")
    one_line_error(mm("release", "1.0.0", cwd=repo), "no commit yet")
    (repo / "code.py").write_text("x = 1\n")
    commit_all(repo, "code")
    one_line_error(mm("release", "1.2", cwd=repo), "'1.2' is not a semantic version", "MAJOR.MINOR.PATCH")
    one_line_error(mm("release", "1.0.0+build", cwd=repo), "not a semantic version")
    one_line_error(mm("release", cwd=repo), "give either a VERSION", "--bump")
    one_line_error(mm("release", "1.0.0", "--bump", "patch", cwd=repo), "not both")
    one_line_error(mm("release", "--bump", "huge", cwd=repo), "expected one of major, minor, patch")
    (repo / "code.py").write_text("x = 2\n")
    one_line_error(mm("release", "1.0.0", cwd=repo), "modified code.py", "commit them")
    git(repo, "checkout", "code.py")
    (repo / "new_step.py").write_text("y = 1\n")
    one_line_error(mm("release", "1.0.0", cwd=repo), "untracked new_step.py", ".gitignore")
    assert git(repo, "tag") == "" and not (repo / ".modelmill").exists()  # nothing written

    (repo / "new_step.py").unlink()
    (repo / "__pycache__").mkdir()
    (repo / "__pycache__" / "code.cpython-311.pyc").write_bytes(b"\0")  # byte code is not code
    done = mm("release", "1.0.0", "--json", cwd=repo).check().json()
    assert done["tag"] == "v1.0.0" and done["notes"] == ["code"] and done["models"] == []
    one_line_error(mm("release", "1.0.0", cwd=repo), "not higher than the last release v1.0.0", "1.0.1")
    one_line_error(mm("release", "0.9.0", cwd=repo), "not higher")
    one_line_error(mm("release", "1.0.0-rc.1", cwd=repo), "not higher")  # a prerelease comes before
    assert git(repo, "tag").split() == ["v1.0.0"]
    bumped = mm("release", "--bump", "patch", "--json", cwd=repo).check().json()
    assert bumped["tag"] == "v1.0.1" and bumped["previous"] == "v1.0.0" and bumped["notes"] == []
    rows = mm("releases", "--json", cwd=repo).check().json()
    assert [r["tag"] for r in rows] == ["v1.0.0", "v1.0.1"]


def test_run_rev_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    (repo / "code.py").write_text("x = 1\n")
    commit_all(repo, "code")
    one_line_error(mm("run", "--rev", "HEAD", cwd=repo), "run it from a project folder")
    (repo / "conf").mkdir()
    (repo / "conf" / "config.yaml").write_text("main:\n  workspace: .modelmill\n")
    commit_all(repo, "a project")
    one_line_error(mm("run", "--rev", "v9.9.9", cwd=repo), "revision 'v9.9.9' does not exist", "git log")
    one_line_error(mm("run", "--rev", "--force", cwd=repo), "")  # an option is no revision
    one_line_error(mm("run", "--rev", "HEAD~1", cwd=repo), "has no project at the top of the repository")
    one_line_error(mm("run", "--rev", "HEAD", "--config-dir", str(repo / "conf"), cwd=repo), "--config-dir")
    assert git(repo, "worktree", "list").count("\n") == 1  # every temporary worktree is gone
    plain = tmp_path / "plain"
    plain.mkdir()
    one_line_error(mm("run", "--rev", "v1.0.0", cwd=plain), "needs a git repository")
