"""A project folder finds its own config: walking up to ``conf/config.yaml``, its workspace in the
project folder, its own ``steps/`` package importable, its ``conf/dataset/NAME.yaml`` found by
Hydra, and its dataset spec checked by the spec's model (not by the packaged config's keys)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yaml

from modelmill import api
from modelmill import config as config_mod
from modelmill.core.errors import ConfigError
from modelmill.runner import PlainReporter

PACKAGED = yaml.safe_load(resources.files("modelmill.conf").joinpath("config.yaml").read_text())
SPEC = {
    "name": "tiny",
    "task": "regression",
    "target": "y",
    "columns": {"x": {"role": "numeric"}, "y": {"role": "numeric"}},
}
STEPS_PIPELINE = """
from modelmill.runner import Pipeline, step


def build_pipeline(cfg):
    return Pipeline([step("make", "steps.make:run", outputs={"made.txt": "made"}, role="ingest")])
"""
STEPS_MAKE = """
from steps.helpers import WORD


def run(ctx):
    ctx.output("made.txt").write_text(WORD)
"""


def _write_project(root: Path, *, config: dict | None = None, spec: dict | None = None) -> Path:
    (root / "conf" / "dataset").mkdir(parents=True)
    doc = {**PACKAGED, **(config or {})}
    doc["defaults"] = ["_self_", {"dataset": "tiny"}, {"model": "random_forest"}]
    doc["main"] = {**PACKAGED["main"], "model_name": "tiny", "model_artifact": "tiny_model",
                   **(config or {}).get("main", {})}  # fmt: skip
    (root / "conf" / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    body = yaml.safe_dump(spec or SPEC, sort_keys=False)
    (root / "conf" / "dataset" / "tiny.yaml").write_text(f"# @package dataset\n{body}")
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project folder; the test runs from a folder two levels below it, with sys.path restored."""
    monkeypatch.delenv("MODELMILL_HOME", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = _write_project(tmp_path / "proj")
    below = root / "notebooks" / "deeper"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    _forget_steps()
    yield root
    _forget_steps()


def _forget_steps() -> None:
    for name in [n for n in sys.modules if n == "steps" or n.startswith("steps.")]:
        del sys.modules[name]


def test_the_project_is_found_by_walking_up(project: Path, tmp_path: Path) -> None:
    assert config_mod.find_project() == project
    assert config_mod.find_project(project / "conf") == project
    assert config_mod.find_project(tmp_path) is None  # above the project: none


def test_a_command_below_the_project_composes_its_config(project: Path) -> None:
    cfg = config_mod.compose(["main.tracking=none"])
    assert cfg.main.model_name == "tiny"
    assert cfg.dataset.target == "y"  # conf/dataset/tiny.yaml, found by Hydra
    assert cfg.main.workspace == str(project / ".modelmill")  # in the project, not in the current folder
    assert str(project) in sys.path
    assert config_mod.default_workspace() == project / ".modelmill"


def test_dataset_keys_in_the_project_file_are_checked_by_the_spec(tmp_path: Path, project: Path) -> None:
    """``dataset.*`` written in conf/config.yaml is not an unknown key of the packaged config."""
    other = _write_project(tmp_path / "inline", config={"dataset": {"split": {"test_size": 0.3}}})
    cfg = config_mod.compose([], config_dir=other / "conf")
    assert cfg.dataset.split.test_size == 0.3
    bad = _write_project(tmp_path / "bad", config={"dataset": {"split": {"test_size": "most"}}})
    cfg = config_mod.compose([], config_dir=bad / "conf")  # composes: the spec's model judges it
    with pytest.raises(ConfigError, match=r"conf/dataset/tiny.yaml.*split\.test_size.*valid number"):
        api.run(["main.tracking=none"], config_dir=bad / "conf")
    assert not (bad / ".modelmill").exists()  # before any step: nothing stored, no workspace


def test_a_spec_that_contradicts_itself_stops_the_run_before_any_step(project: Path) -> None:
    spec = {**SPEC, "target": "price"}  # not one of the columns
    (project / "conf" / "dataset" / "tiny.yaml").write_text("# @package dataset\n" + yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"conf/dataset/tiny.yaml.*'price' is not one of the columns"):
        api.run(["main.tracking=none", "main.pipeline=steps.pipeline:build_pipeline"])
    assert not (project / ".modelmill").exists()


def test_the_projects_own_steps_import_without_pythonpath(project: Path) -> None:
    """main.pipeline names the project's steps package; a step imports a sibling module, and
    editing that sibling re-runs the step (it is fingerprinted as project code)."""
    steps = project / "steps"
    steps.mkdir()
    (steps / "__init__.py").write_text("")
    (steps / "pipeline.py").write_text(STEPS_PIPELINE)
    (steps / "make.py").write_text(STEPS_MAKE)
    (steps / "helpers.py").write_text("WORD = 'made by the project'\n")
    overrides = ["main.tracking=none", "main.pipeline=steps.pipeline:build_pipeline"]

    def run() -> str:
        summary = api.run(overrides, reporter=PlainReporter(io.StringIO()))
        assert summary.status == "success", summary.steps
        return summary.steps[0].status

    assert run() == "ran"
    ws = api.open_workspace(project / ".modelmill")
    assert ws.store.read_text("made.txt:latest") == "made by the project"
    assert run() == "cached"
    (steps / "helpers.py").write_text("WORD = 'made again'\n")
    _forget_steps()
    assert run() == "ran"
    assert ws.store.read_text("made.txt:latest") == "made again"
