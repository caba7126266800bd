"""End to end: the packaged toy pipeline run through the real CLI, in-process and as a subprocess.

Every test gets its own workspace (``MODELMILL_HOME`` = ``tmp_path/ws``, see conftest) and
runs with ``main.tracking=none`` except the tracking test, which uses real MLflow in the
workspace's SQLite file.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelmill.cli import app

NOTRACK = "main.tracking=none"
TOY = "main.pipeline=modelmill.examples.toy:build_pipeline"  # the default is the NYC pipeline
STEPS = ["make_data", "clean", "split", "fit", "score"]
ARTIFACTS = {
    "toy_raw.csv",
    "toy_clean.csv",
    "toy_train.csv",
    "toy_test.csv",
    "toy_model.json",
    "toy_scores.json",
    "environment.lock",  # every run's provenance: the packages it ran with (modelmill.runner.provenance)
}

runner = CliRunner()


# ----------------------------------------------------------------------------- helpers
def mm(*args: str, code: int | None = 0) -> Any:
    """Invoke the CLI in-process (``run`` uses the toy pipeline); check the exit code."""
    if args and args[0] == "run" and "--config-dir" not in args:
        args = (args[0], TOY, *args[1:])
    result = runner.invoke(app, list(args))
    if code is not None:
        detail = f"\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            detail += "\n" + "".join(traceback.format_exception(result.exception))
        assert result.exit_code == code, f"modelmill {' '.join(args)} -> {result.exit_code}{detail}"
    return result


def run_json(*overrides: str, code: int = 0) -> dict[str, Any]:
    """``modelmill run main.tracking=none OVERRIDES --json`` -> the summary document."""
    result = mm("run", NOTRACK, *overrides, "--json", code=code)
    return json.loads(result.stdout)


def statuses(summary: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in summary["steps"]}


def step_of(summary: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [s for s in summary["steps"] if s["name"] == name]
    return found


def blob_path(home: Path, digest: str) -> Path:
    return home / "blobs" / "sha256" / digest[:2] / digest


def flip_byte(path: Path, offset: int = 0) -> None:
    """Corrupt one byte of a (read-only) blob in place."""
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)  # carries MODELMILL_HOME from the autouse fixture
    env.pop("COLUMNS", None)
    return env


def console_script() -> str:
    script = Path(sys.executable).parent / "modelmill"
    if script.exists():
        return str(script)
    found = shutil.which("modelmill")
    assert found, "the modelmill console script is not installed next to sys.executable"
    return found


@pytest.fixture
def home(_isolated_home: Path) -> Path:
    """The test's MODELMILL_HOME."""
    return _isolated_home


@pytest.fixture
def baseline() -> dict[str, Any]:
    """One complete run of the toy pipeline; its summary."""
    summary = run_json()
    assert summary["status"] == "success"
    return summary


# ---------------------------------------------------------------------- run & cache
def test_first_run_runs_everything_second_run_is_cached() -> None:
    first = mm("run", NOTRACK)
    assert "success (5 ran, 0 cached, 0 failed)" in first.stdout
    assert "test_mae = " in first.stdout
    for name in STEPS:
        assert f"[{name}] ran" in first.stderr

    second = run_json()
    assert second["status"] == "success"
    assert statuses(second) == dict.fromkeys(STEPS, "cached")

    third = run_json()
    assert statuses(third) == dict.fromkeys(STEPS, "cached")
    assert third["metrics"] == second["metrics"]
    assert {"test_mae", "test_r2", "train_rows", "rows_removed"} <= set(second["metrics"])
    assert second["run_id"] != third["run_id"]


def test_first_run_json_reports_ran_and_outputs() -> None:
    first = run_json()
    assert first["status"] == "success"
    assert [s["name"] for s in first["steps"]] == STEPS
    assert statuses(first) == dict.fromkeys(STEPS, "ran")
    assert step_of(first, "split")["outputs"] == ["toy_train.csv:v0", "toy_test.csv:v0"]
    assert step_of(first, "fit")["reason"] == "first run"

    second = run_json()
    assert statuses(second) == dict.fromkeys(STEPS, "cached")
    assert second["metrics"] == first["metrics"]
    assert step_of(second, "fit")["outputs"] == ["toy_model.json:v0"]
    assert first["run_id"] in step_of(second, "fit")["reason"]


def test_param_change_reruns_only_dependent_steps(baseline: dict[str, Any]) -> None:
    changed = run_json("example.alpha=10")
    assert statuses(changed) == {
        "make_data": "cached",
        "clean": "cached",
        "split": "cached",
        "fit": "ran",
        "score": "ran",
    }
    assert "param alpha" in step_of(changed, "fit")["reason"]
    assert "toy_model.json" in step_of(changed, "score")["reason"]
    assert step_of(changed, "fit")["outputs"] == ["toy_model.json:v1"]
    assert changed["metrics"]["test_mae"] != baseline["metrics"]["test_mae"]

    # back to the original value: the earlier executions are still valid cache hits
    back = run_json("example.alpha=1.0")
    assert statuses(back) == dict.fromkeys(STEPS, "cached")
    assert back["metrics"] == baseline["metrics"]
    assert json.loads(mm("artifacts", "show", "toy_model.json", "--json").stdout)["version"] == 0


def test_force_step_reruns_that_step_only(baseline: dict[str, Any]) -> None:
    forced = json.loads(mm("run", NOTRACK, "--force-step", "fit", "--json").stdout)
    assert statuses(forced) == {**dict.fromkeys(STEPS, "cached"), "fit": "ran"}
    assert step_of(forced, "fit")["reason"] == "forced"
    # deterministic step: identical content is the same version
    assert step_of(forced, "fit")["outputs"] == ["toy_model.json:v0"]

    everything = json.loads(mm("run", NOTRACK, "--force", "--json").stdout)
    assert statuses(everything) == dict.fromkeys(STEPS, "ran")


def test_step_selection_runs_only_selected_steps(baseline: dict[str, Any]) -> None:
    selected = run_json("main.steps=split,fit")
    assert [s["name"] for s in selected["steps"]] == ["split", "fit"]
    assert statuses(selected) == {"split": "cached", "fit": "cached"}

    rerun = run_json("main.steps=split,fit", "example.alpha=3", "example.test_size=0.3")
    assert statuses(rerun) == {"split": "ran", "fit": "ran"}
    # score was not selected, so it neither ran nor produced a new version
    assert [v["ref"] for v in json.loads(mm("artifacts", "list", "toy_scores.json", "--json").stdout)] == [
        "toy_scores.json:v0"
    ]


def test_step_selection_without_upstream_artifacts_fails_with_hint() -> None:
    result = mm("run", NOTRACK, "main.steps=split,fit", "--json", code=2)  # missing upstream: bad usage
    summary = json.loads(result.stdout)
    assert statuses(summary) == {"split": "failed", "fit": "skipped"}
    assert "toy_clean.csv" in result.stderr
    assert "clean" in step_of(summary, "split")["error"]


def test_unknown_key_exits_2_with_suggestion() -> None:
    result = mm("run", NOTRACK, "exampel.alpha=1", code=2)
    assert "exampel.alpha" in result.stderr
    assert "example.alpha" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("override", ["example.alpha", "example.alpha=[1", "example.alpha=(", "=1"])
def test_malformed_override_exits_2(override: str) -> None:
    result = mm("run", NOTRACK, override, code=2)
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_sweep_override_exits_2() -> None:
    result = mm("run", NOTRACK, "example.rows=a,b", code=2)
    assert "sweep" in result.stderr
    assert "example.rows=a,b" in result.stderr


def test_unknown_step_exits_2() -> None:
    result = mm("run", NOTRACK, "main.steps=fitt", code=2)
    assert "fitt" in result.stderr
    assert "fit" in result.stderr


def test_unknown_forced_step_exits_2() -> None:
    result = mm("run", NOTRACK, "--force-step", "fitt", code=2)
    assert "fitt" in result.stderr


def test_bad_tracking_kind_exits_2() -> None:
    result = mm("run", "main.tracking=bogus", code=2)
    assert "main.tracking" in result.stderr


def test_workspace_override_puts_store_there(tmp_path: Path, home: Path) -> None:
    other = tmp_path / "elsewhere"
    summary = run_json(f"main.workspace={other}")
    assert statuses(summary) == dict.fromkeys(STEPS, "ran")
    assert (other / "index.db").exists()
    assert any((other / "blobs" / "sha256").iterdir())

    listed = json.loads(mm("artifacts", "list", "--workspace", str(other), "--json").stdout)
    assert {v["name"] for v in listed} == ARTIFACTS
    assert json.loads(mm("artifacts", "list", "--json").stdout) == []  # $MODELMILL_HOME untouched
    assert not (home / "blobs" / "sha256").exists() or not any((home / "blobs" / "sha256").iterdir())

    # a relative workspace is relative to the current directory
    run_json("main.workspace=rel_ws", "main.steps=make_data")
    assert (Path.cwd() / "rel_ws" / "index.db").exists()


# ----------------------------------------------------------------------- artifacts
def test_artifacts_list_and_show(baseline: dict[str, Any], home: Path) -> None:
    listed = json.loads(mm("artifacts", "list", "--json").stdout)
    assert {v["name"] for v in listed} == ARTIFACTS
    assert all(v["version"] == 0 and "latest" in v["aliases"] for v in listed)
    assert {v["name"]: v["step"] for v in listed}["toy_test.csv"] == "split"

    text = mm("artifacts", "list").stdout
    assert "toy_model.json:v0" in text

    shown = json.loads(mm("artifacts", "show", "toy_model.json", "--json").stdout)
    assert shown["name"] == "toy_model.json"
    assert shown["ref"] == "toy_model.json:v0"
    assert shown["version"] == 0
    assert shown["type"] == "model"
    assert shown["kind"] == "file"
    assert shown["step"] == "fit"
    assert shown["run_id"] == baseline["run_id"]
    assert shown["inputs"] == ["toy_train.csv:v0"]
    assert "latest" in shown["aliases"]
    assert re.fullmatch(r"[0-9a-f]{64}", shown["digest"])
    assert shown["size"] == blob_path(home, shown["digest"]).stat().st_size

    assert "toy_model.json:v0" in mm("artifacts", "show", "toy_model.json:latest").stdout
    missing = mm("artifacts", "show", "toy_modle.json", code=2)
    assert "toy_model.json" in missing.stderr  # close-match hint
    assert mm("artifacts", "show", "toy_model.json:v7", code=2).stderr.startswith("error: ")


def test_artifacts_get_copies_verified_content(baseline: dict[str, Any], tmp_path: Path, home: Path) -> None:
    dest = tmp_path / "out" / "model.json"
    dest.parent.mkdir()
    result = mm("artifacts", "get", "toy_model.json:v0", str(dest))
    assert Path(result.stdout.strip()).resolve() == dest.resolve()
    shown = json.loads(mm("artifacts", "show", "toy_model.json:v0", "--json").stdout)
    assert dest.read_bytes() == blob_path(home, shown["digest"]).read_bytes()
    assert len(json.loads(dest.read_text())["coef"]) == 4

    # a directory as destination receives DIR/NAME
    into = mm("artifacts", "get", "toy_scores.json", str(dest.parent))
    assert Path(into.stdout.strip()).resolve() == (dest.parent / "toy_scores.json").resolve()
    assert set(json.loads((dest.parent / "toy_scores.json").read_text())) == {"mae", "r2"}

    # never overwrites
    again = mm("artifacts", "get", "toy_model.json:v0", str(dest), code=None)
    assert again.exit_code != 0
    assert "already exists" in again.stderr


def test_artifacts_put_alias_and_show(tmp_path: Path) -> None:
    ref = tmp_path / "ref.csv"
    ref.write_text("x1,x2,x3,y\n1,2,3,4\n")
    put = mm(
        "artifacts", "put", str(ref), "--name", "ref_sample.csv", "--type", "clean_sample",
        "--alias", "reference", "--metadata", '{"source": "hand", "rows": 1}',
    )  # fmt: skip
    assert "ref_sample.csv:v0" in put.stdout

    shown = json.loads(mm("artifacts", "show", "ref_sample.csv:reference", "--json").stdout)
    assert shown["ref"] == "ref_sample.csv:v0"
    assert shown["type"] == "clean_sample"
    assert set(shown["aliases"]) == {"latest", "reference"}
    assert shown["metadata"] == {"source": "hand", "rows": 1}
    assert shown["step"] is None

    # identical content: no new version
    same = json.loads(
        mm("artifacts", "put", str(ref), "-n", "ref_sample.csv", "-t", "clean_sample", "--json").stdout
    )
    assert same["ref"] == "ref_sample.csv:v0"

    ref.write_text("x1,x2,x3,y\n5,6,7,8\n")
    newer = json.loads(
        mm("artifacts", "put", str(ref), "-n", "ref_sample.csv", "-t", "clean_sample", "--json").stdout
    )
    assert newer["ref"] == "ref_sample.csv:v1"
    assert json.loads(mm("artifacts", "show", "ref_sample.csv:reference", "--json").stdout)["version"] == 0
    assert json.loads(mm("artifacts", "show", "ref_sample.csv", "--json").stdout)["version"] == 1

    moved = mm("artifacts", "alias", "ref_sample.csv:v0", "prod")
    assert "ref_sample.csv:prod -> ref_sample.csv:v0" in moved.stdout
    assert json.loads(mm("artifacts", "show", "ref_sample.csv:prod", "--json").stdout)["version"] == 0
    mm("artifacts", "alias", "ref_sample.csv:v1", "prod")
    assert json.loads(mm("artifacts", "show", "ref_sample.csv:prod", "--json").stdout)["version"] == 1

    mm("artifacts", "alias", "ref_sample.csv", "prod", "--delete")
    mm("artifacts", "show", "ref_sample.csv:prod", code=2)
    mm("artifacts", "alias", "ref_sample.csv", "prod", "--delete", code=2)

    bad = mm("artifacts", "put", str(ref), "-n", "x.csv", "-t", "t", "--metadata", "[1]", code=2)
    assert "--metadata" in bad.stderr
    mm("artifacts", "put", str(tmp_path / "missing.csv"), "-n", "x.csv", "-t", "t", code=2)
    mm("artifacts", "alias", "nope.csv:v0", "prod", code=2)


def test_get_into_missing_directory_is_not_reported_as_corruption(baseline: dict[str, Any]) -> None:
    dest = Path("no_such_dir") / "sub" / "model.json"
    result = mm("artifacts", "get", "toy_model.json:v0", str(dest), code=None)
    assert "corrupted" not in result.stderr
    if result.exit_code == 0:
        assert json.loads(dest.read_text())["coef"]
    else:
        assert "no_such_dir" in result.stderr
    assert "0 problem(s)" in mm("artifacts", "verify").stdout


def test_invalid_names_and_reserved_alias_exit_2(baseline: dict[str, Any], tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    assert "latest" in mm("artifacts", "alias", "toy_model.json:v0", "latest", code=2).stderr
    mm("artifacts", "alias", "toy_model.json", "latest", "--delete", code=2)
    mm("artifacts", "alias", "toy_model.json:v0", "v3", code=2)
    assert (
        "invalid artifact name" in mm("artifacts", "put", str(src), "-n", "../evil", "-t", "t", code=2).stderr
    )
    mm("artifacts", "put", str(src), "-n", "ok.txt", "-t", "t", "--alias", "bad alias", code=2)
    mm("artifacts", "show", "toy_model.json:bad alias", code=2)
    assert "toy_model.json:v0" in mm("artifacts", "show", "toy_model.json:v0").stdout
    assert json.loads(mm("artifacts", "list", "ok.txt", "--json").stdout) == []


def test_alias_on_pipeline_output(baseline: dict[str, Any]) -> None:
    mm("artifacts", "alias", "toy_model.json:v0", "prod")
    shown = json.loads(mm("artifacts", "show", "toy_model.json:prod", "--json").stdout)
    assert shown["ref"] == "toy_model.json:v0"
    assert set(shown["aliases"]) == {"latest", "prod"}


def test_flipped_byte_is_detected_and_repaired_by_next_run(baseline: dict[str, Any], home: Path) -> None:
    clean = mm("artifacts", "verify")
    assert "0 problem(s)" in clean.stdout

    shown = json.loads(mm("artifacts", "show", "toy_model.json:v0", "--json").stdout)
    blob = blob_path(home, shown["digest"])
    assert blob.is_file()
    flip_byte(blob)

    broken = mm("artifacts", "verify", code=1)
    assert "toy_model.json:v0" in broken.stderr
    assert "1 problem(s)" in broken.stdout
    as_json = json.loads(mm("artifacts", "verify", "--json", code=1).stdout)
    assert [p["ref"] for p in as_json["problems"]] == ["toy_model.json:v0"]

    # reading the corrupted version fails, naming it
    got = mm("artifacts", "get", "toy_model.json:v0", "copy.json", code=1)
    assert "toy_model.json:v0" in got.stderr
    assert not Path("copy.json").exists()
    assert list(Path.cwd().iterdir()) == []  # no partial copy left behind

    # the next run does not trust the corrupted cache hit: fit runs again and restores the blob
    repaired = run_json()
    assert statuses(repaired) == {**dict.fromkeys(STEPS, "cached"), "fit": "ran"}
    assert step_of(repaired, "fit")["outputs"] == ["toy_model.json:v0"]
    assert "corrupt" in step_of(repaired, "fit")["reason"]
    assert repaired["metrics"] == baseline["metrics"]
    assert "0 problem(s)" in mm("artifacts", "verify").stdout

    # and the run after that is fully cached again
    assert statuses(run_json()) == dict.fromkeys(STEPS, "cached")


def test_flipped_byte_in_raw_data_reruns_only_its_producer(baseline: dict[str, Any], home: Path) -> None:
    shown = json.loads(mm("artifacts", "show", "toy_raw.csv", "--json").stdout)
    flip_byte(blob_path(home, shown["digest"]), offset=shown["size"] // 2)
    assert "toy_raw.csv:v0" in mm("artifacts", "verify", code=1).stderr
    repaired = run_json()
    # make_data rewrites identical bytes, so everything downstream stays cached
    assert statuses(repaired) == {**dict.fromkeys(STEPS, "cached"), "make_data": "ran"}
    mm("artifacts", "verify")


def test_corrupted_input_of_selected_step_fails_naming_it(baseline: dict[str, Any], home: Path) -> None:
    shown = json.loads(mm("artifacts", "show", "toy_clean.csv", "--json").stdout)
    flip_byte(blob_path(home, shown["digest"]), offset=5)
    # split must run (new param) but clean is not selected: its corrupted output is refused
    result = mm("run", NOTRACK, "main.steps=split,fit", "example.test_size=0.3", "--json", code=1)
    summary = json.loads(result.stdout)
    assert statuses(summary) == {"split": "failed", "fit": "skipped"}
    assert "toy_clean.csv:v0" in step_of(summary, "split")["error"]
    assert "toy_clean.csv:v0" in result.stderr
    # a full run re-creates the corrupted version; everything else is cached
    repaired = run_json()
    assert statuses(repaired) == {**dict.fromkeys(STEPS, "cached"), "clean": "ran"}
    mm("artifacts", "verify")


# ------------------------------------------------------------------------- lineage
def test_lineage_formats(baseline: dict[str, Any]) -> None:
    text = mm("lineage", "toy_scores.json").stdout
    assert "toy_scores.json:v0" in text
    assert "toy_model.json:v0" in text
    assert "fit" in text
    assert "toy_raw.csv:v0" in text
    assert text.index("toy_model.json:v0") < text.index("toy_raw.csv:v0")  # upstream tree

    graph = json.loads(mm("lineage", "toy_scores.json", "--format", "json").stdout)
    assert {"nodes", "edges"} <= set(graph)
    ids = {n["id"] for n in graph["nodes"]}
    assert {f"{name}:v0" for name in ARTIFACTS - {"environment.lock"}} <= ids  # provenance: no lineage
    fit_node = f"fit@{baseline['run_id']}"
    assert fit_node in ids
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert ("toy_train.csv:v0", fit_node) in edges
    assert (fit_node, "toy_model.json:v0") in edges

    dot = mm("lineage", "toy_scores.json", "--format", "dot").stdout
    assert dot.lstrip().startswith("digraph")
    assert '"toy_model.json:v0"' in dot
    assert dot.rstrip().endswith("}")

    down = mm("lineage", "toy_raw.csv", "--direction", "down").stdout
    assert "downstream" in down
    assert "toy_scores.json:v0" in down

    missing = mm("lineage", "nope.json", code=2)
    assert "nope.json" in missing.stderr


# --------------------------------------------------------------------- step failure
FAILING_PIPELINE = """
from modelmill import Pipeline, step


def build_pipeline(cfg):
    return Pipeline(
        [
            step("first", f"{__name__}:first", outputs={"first.txt": "text"}),
            step("boom", f"{__name__}:boom", inputs=["first.txt"], outputs={"boom.txt": "text"}),
            step("after", f"{__name__}:after", inputs=["boom.txt"], outputs={"after.txt": "text"}),
        ]
    )


def first(ctx):
    ctx.output("first.txt").write_text("hello")


def boom(ctx):
    ctx.output("boom.txt").write_text("partial")
    raise RuntimeError("kaboom on purpose")


def after(ctx):
    ctx.output("after.txt").write_text("never")
"""


@pytest.fixture
def failing_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Hydra config dir whose main.pipeline is a tiny pipeline with a failing middle step."""
    module = f"mm_failing_pipeline_{uuid.uuid4().hex[:8]}"
    code_dir = tmp_path / "pymods"
    code_dir.mkdir()
    (code_dir / f"{module}.py").write_text(FAILING_PIPELINE)
    monkeypatch.syspath_prepend(str(code_dir))
    importlib.invalidate_caches()

    conf = tmp_path / "conf"
    conf.mkdir()
    packaged = resources.files("modelmill.conf").joinpath("config.yaml").read_text()
    text, n = re.subn(r"(?m)^(\s*pipeline:).*$", rf"\1 {module}:build_pipeline", packaged)
    assert n == 1
    (conf / "config.yaml").write_text(text)
    yield conf
    sys.modules.pop(module, None)


def test_step_failure_exits_1_and_skips_later_steps(failing_config_dir: Path) -> None:
    result = mm("run", NOTRACK, "--config-dir", str(failing_config_dir), "--json", code=1)
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert statuses(summary) == {"first": "ran", "boom": "failed", "after": "skipped"}
    assert "kaboom on purpose" in step_of(summary, "boom")["error"]
    assert "error: step 'boom' failed: RuntimeError: kaboom on purpose" in result.stderr

    # a failed step stores nothing
    listed = json.loads(mm("artifacts", "list", "--json").stdout)
    assert {v["name"] for v in listed} == {"first.txt", "environment.lock"}

    # the next run resumes: the finished step is a cache hit
    again = mm("run", NOTRACK, "--config-dir", str(failing_config_dir), code=1)
    assert "0 ran, 1 cached, 1 failed" in again.stdout
    assert "kaboom on purpose" in again.stderr


# ----------------------------------------------------------------------- subprocess
def test_subprocess_runs_then_cached() -> None:
    env = subprocess_env()
    first = subprocess.run(
        [sys.executable, "-m", "modelmill.cli", "run", NOTRACK, TOY, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert statuses(json.loads(first.stdout)) == dict.fromkeys(STEPS, "ran")
    assert "[fit] ran" in first.stderr

    second = subprocess.run(
        [console_script(), "run", NOTRACK, TOY, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert statuses(summary) == dict.fromkeys(STEPS, "cached")
    assert summary["metrics"] == json.loads(first.stdout)["metrics"]

    bad = subprocess.run(
        [console_script(), "run", NOTRACK, TOY, "exampel.alpha=1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert bad.returncode == 2
    assert "example.alpha" in bad.stderr


def test_python_dash_m_modelmill() -> None:
    env = subprocess_env()
    helped = subprocess.run(
        [sys.executable, "-m", "modelmill", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr
    assert "Usage:" in helped.stdout
    ran = subprocess.run(
        [sys.executable, "-m", "modelmill", "run", NOTRACK, TOY, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert statuses(json.loads(ran.stdout)) == dict.fromkeys(STEPS, "ran")


# ------------------------------------------------------------------------- tracking
def _parent_runs(client: Any, run_id: str) -> list[Any]:
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exp_ids, filter_string=f"tags.`modelmill.run_id` = '{run_id}'")
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def test_mlflow_tracking_parent_nested_and_deferred(home: Path, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    first = json.loads(mm("run", "main.defer_cached_tracking=false", "--json").stdout)
    assert statuses(first) == dict.fromkeys(STEPS, "ran")

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    [parent] = _parent_runs(client, first["run_id"])
    pid = parent.info.run_id
    assert first["tracking_run_id"] == pid
    assert parent.info.status == "FINISHED"
    assert "modelmill.git_commit" in parent.data.tags
    assert parent.data.metrics["test_mae"] == pytest.approx(first["metrics"]["test_mae"])
    assert parent.data.params["example.alpha"] == "1.0"
    top = {a.path for a in client.list_artifacts(pid)}
    assert "config.yaml" in top
    env_files = {a.path for a in client.list_artifacts(pid, "environment")}
    assert "environment/requirements.txt" in env_files
    downloaded = Path(client.download_artifacts(pid, "config.yaml", str(tmp_path / "dl")))
    assert "alpha" in downloaded.read_text()
    reqs = Path(client.download_artifacts(pid, "environment/requirements.txt", str(tmp_path / "dl")))
    assert re.search(r"(?im)^mlflow==", reqs.read_text())

    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{pid}'"
    )
    by_step = {r.data.tags["modelmill.step"]: r for r in children}
    assert sorted(by_step) == sorted(STEPS)
    assert len(children) == 5
    expected_params = {
        "make_data": {"rows", "noise", "seed"},
        "clean": {"max_abs_target"},
        "split": {"test_size", "seed"},
        "fit": {"alpha"},
        "score": set(),
    }
    for name, run in by_step.items():
        assert set(run.data.params) == expected_params[name], name
        assert "modelmill.inputs" in run.data.tags
        assert run.data.tags["modelmill.outputs"] == ",".join(step_of(first, name)["outputs"])
        assert run.info.status == "FINISHED"
    assert by_step["fit"].data.params["alpha"] == "1.0"
    assert by_step["fit"].data.tags["modelmill.inputs"] == "toy_train.csv:v0"
    assert by_step["score"].data.metrics["test_mae"] == pytest.approx(first["metrics"]["test_mae"])

    # a fully cached run with deferred logging (the default): the command returns, a
    # detached process logs the parent run shortly after
    second = json.loads(mm("run", "--json").stdout)
    assert statuses(second) == dict.fromkeys(STEPS, "cached")
    deadline = time.monotonic() + 60
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = [r for r in _parent_runs(client, second["run_id"]) if r.info.status == "FINISHED"]
        if found:
            break
        time.sleep(0.5)
    spool_logs = "".join(p.read_text(errors="replace") for p in (home / "tmp").glob("deferred-*.log"))
    assert found, f"deferred tracking never logged run {second['run_id']}; logs:\n{spool_logs}"
    [deferred] = found
    for name in STEPS:
        assert deferred.data.tags[f"modelmill.step.{name}"] == "cached"
    assert deferred.data.metrics["test_mae"] == pytest.approx(first["metrics"]["test_mae"])
    assert deferred.info.run_id != pid
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    all_parents = [
        r
        for r in client.search_runs(exp_ids, filter_string="tags.`modelmill.kind` = 'pipeline'")
        if "mlflow.parentRunId" not in r.data.tags
    ]
    assert len(all_parents) == 2


def test_bad_config_value_for_the_nyc_pipeline_exits_2() -> None:
    result = runner.invoke(app, ["run", NOTRACK, "etl.min_price=abc"])
    assert result.exit_code == 2, result.stderr
    # the packaged spec interpolates etl.min_price into the price range: the spec names it
    assert "columns.price: range: 'abc' is not a number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_sample_file_exits_2_naming_the_fix(tmp_path: Path) -> None:
    sample = f"etl.sample={tmp_path / 'nope.csv'}"
    result = runner.invoke(app, ["run", NOTRACK, sample, "main.steps=get_data"])
    assert result.exit_code == 2, result.stderr
    assert "no such file" in result.stderr and "demo" in result.stderr


def test_unusable_tracking_uri_exits_2() -> None:
    result = mm("run", "main.tracking_uri=bogus://nowhere", "main.steps=make_data", code=2)
    assert "main.tracking_uri" in result.stderr and "main.tracking=none" in result.stderr
