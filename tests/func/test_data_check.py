"""The data_check step in the NYC pipeline, the ``modelmill check`` command and the pytest
data tests run as a separate process by package name.

Pipelines run through :func:`modelmill.api.run` with ``main.tracking=none`` in the
per-test workspace (``MODELMILL_HOME``, see tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelmill
from modelmill.cli import app
from modelmill.config import compose
from modelmill.core.types import RunSummary, StepResult
from modelmill.datasets.io import read_listings, write_csv
from modelmill.datasets.nyc_demo import generate_listings
from modelmill.datasets.spec import spec_from_config
from modelmill.steps.basic_cleaning import clean
from tests.conftest import REAL_SAMPLE

NOTRACK = "main.tracking=none"
DATA_STEPS = "main.steps=get_data,basic_cleaning,data_check"
runner = CliRunner()
CLEANING = spec_from_config(compose()).cleaning_params()
# 8 deterministic tests, and against a reference KL + chi-square on the borough and KS on 8 numbers
DETERMINISTIC, WITH_REFERENCE = 8, 18


@lru_cache(maxsize=4)
def _clean(seed: int, rows: int) -> pd.DataFrame:
    return clean(generate_listings(rows, seed), CLEANING)[0]


def sample(path: Path, seed: int = 1, rows: int = 2000, **changes: tuple[int, object]) -> Path:
    """Write a clean demo sample; ``changes`` maps a column to ``(row, value)``."""
    frame = _clean(seed, rows).copy()
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    write_csv(frame, path)
    return path


def step_result(summary: RunSummary, name: str) -> StepResult:
    [found] = [s for s in summary.steps if s.name == name]
    return found


def test_first_passing_sample_becomes_reference_then_later_samples_are_compared() -> None:
    first = modelmill.run([NOTRACK, DATA_STEPS, "etl.demo_rows=2000"])
    assert first.status == "success", step_result(first, "data_check").error
    store = modelmill.open_workspace().store
    assert store.resolve("clean_sample.csv:reference").ref == "clean_sample.csv:v0"
    report_dir = store.path("data_check_report")
    doc = json.loads((report_dir / "report.json").read_text())
    assert doc["status"] == "passed" and doc["summary"]["total"] == 8 and doc["reference"] is None
    assert "clean_sample.csv:v0 passed every deterministic test and is now" in doc["notes"][0]
    assert "box_nyc" in (report_dir / "report.html").read_text()
    assert first.metrics["tests_passed"] == 8 and first.metrics["tests_failed"] == 0

    second = modelmill.run([NOTRACK, DATA_STEPS, "etl.demo_rows=2000", "etl.demo_seed=7"])
    assert second.status == "success", step_result(second, "data_check").error
    assert store.resolve("clean_sample.csv:reference").ref == "clean_sample.csv:v0"  # unchanged
    doc = json.loads((store.path("data_check_report") / "report.json").read_text())
    assert doc["sample"] == "clean_sample.csv:v1" and doc["reference"] == "clean_sample.csv:v0"
    assert doc["summary"] == {"total": WITH_REFERENCE, "passed": WITH_REFERENCE, "failed": 0}
    assert 0 <= second.metrics["kl_divergence"] < 0.2


def test_listing_outside_the_box_fails_the_step_and_sets_no_reference(tmp_path: Path) -> None:
    frame = _clean(1, 2000)
    bad_id = int(frame.loc[17, "id"])
    store = modelmill.open_workspace().store
    store.put(sample(tmp_path / "c.csv", longitude=(17, -80.5)), "clean_sample.csv", "clean_sample")
    summary = modelmill.run([NOTRACK, "main.steps=data_check"])
    assert summary.status == "failed"
    result = step_result(summary, "data_check")
    assert result.status == "failed" and result.outputs == []
    assert result.error.startswith("DataCheckError: 1 of 8 data tests failed:")
    assert "box_nyc" in result.error and f"id {bad_id} (longitude=-80.5" in result.error
    assert "[-74.25, -73.5]" in result.error
    assert not store.exists("clean_sample.csv:reference") and not store.exists("data_check_report")
    cli = runner.invoke(app, ["run", NOTRACK, "main.steps=data_check"])
    assert cli.exit_code == 1 and "box_nyc" in cli.stderr


def test_borough_shift_against_the_reference_fails(tmp_path: Path) -> None:
    store = modelmill.open_workspace().store
    store.put(sample(tmp_path / "ref.csv", seed=1), "clean_sample.csv", "clean_sample", aliases=["reference"])
    new = _clean(2, 2000)
    manhattan = new[new["neighbourhood_group"] == "Manhattan"]
    shifted = pd.concat([new, manhattan, manhattan, manhattan], ignore_index=True)
    shifted["id"] = np.arange(1, len(shifted) + 1)
    write_csv(shifted, tmp_path / "new.csv")
    store.put(tmp_path / "new.csv", "clean_sample.csv", "clean_sample")
    summary = modelmill.run([NOTRACK, "main.steps=data_check"])
    error = step_result(summary, "data_check").error
    assert summary.status == "failed" and "kl_neighbourhood_group: KL(new || reference) =" in error
    assert ">= threshold 0.2" in error
    assert store.resolve("clean_sample.csv:reference").ref == "clean_sample.csv:v0"


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good, ref = sample(tmp_path / "good.csv", seed=2), sample(tmp_path / "ref.csv", seed=1)
    bad = sample(tmp_path / "bad.csv", seed=2, price=(3, 999))
    ok = runner.invoke(app, ["check", "--csv", str(good), "--ref", str(ref)])
    assert ok.exit_code == 0, ok.output
    assert f"{WITH_REFERENCE} of {WITH_REFERENCE} tests passed" in ok.stdout
    assert "ks_availability_365" in ok.stdout
    failed = runner.invoke(app, ["check", "--csv", str(bad), "--ref", str(ref), "--json"])
    assert failed.exit_code == 1
    doc = json.loads(failed.stdout)
    assert doc["failed_tests"] == ["range_price"] and doc["tests"][4]["offending"][0]["price"] == 999
    assert "range_price" in failed.stderr and "(price=999)" in failed.stderr
    relaxed = runner.invoke(
        app, ["check", "etl.max_price=1000", "--csv", str(bad), "--report", str(tmp_path)]
    )
    assert relaxed.exit_code == 0, relaxed.output
    assert "statistical tests skipped" in relaxed.stdout and (tmp_path / "report.html").is_file()
    missing = runner.invoke(app, ["check", "--csv", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_pytest_data_tests_by_package_name(tmp_path: Path) -> None:
    ref, good = sample(tmp_path / "ref.csv", seed=1), sample(tmp_path / "good.csv", seed=2)
    bad = tmp_path / "bad.csv"
    write_csv(read_listings(good).assign(price=lambda f: f["price"] * 1.5), bad)
    by_name = ["--pyargs", "modelmill.validation.data_tests"]  # the exact course command
    passed = _pytest(tmp_path, *by_name, "--csv", str(good), "--ref", str(ref))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert f"{WITH_REFERENCE} passed" in passed.stdout
    failed = _pytest(
        tmp_path, *by_name, "--csv", str(bad), "--ref", str(ref), "--override", "etl.max_price=600"
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED" in failed.stdout and "test_ks[price]" in failed.stdout
    assert (
        "ks_price: distribution shifted" in failed.stdout
        and f"1 failed, {WITH_REFERENCE - 1} passed" in failed.stdout
    )


def test_pytest_data_tests_by_path_without_ref(tmp_path: Path) -> None:
    """Given the package directory as a path; a missing --ref fails the tests that need it."""
    import modelmill.validation.data_tests as package

    good = sample(tmp_path / "good.csv", seed=2)
    result = _pytest(tmp_path, package.__path__[0], "--csv", str(good))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{DETERMINISTIC} passed, {WITH_REFERENCE - DETERMINISTIC} errors" in result.stdout
    assert "--ref is required: pytest --pyargs modelmill.validation.data_tests" in result.stdout


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real NYC sample not available")
def test_the_real_sample_passes_as_csv_and_as_typed_parquet(tmp_path: Path) -> None:
    """The course's data, as shipped and converted to Parquet with proper types (a date column)."""
    raw = pd.read_csv(REAL_SAMPLE)
    parquet = tmp_path / "real.parquet"
    raw.assign(last_review=pd.to_datetime(raw["last_review"])).to_parquet(parquet)
    first = modelmill.run([NOTRACK, DATA_STEPS, f"etl.sample={REAL_SAMPLE}"])
    assert first.status == "success", [s.error for s in first.steps if s.error]
    assert first.metrics["tests_failed"] == 0 and first.metrics["tests_passed"] == DETERMINISTIC
    # the typed file passes get_data's type tests and gives the very same sample: nothing else re-runs
    typed = modelmill.run([NOTRACK, DATA_STEPS, f"etl.sample={parquet}"])
    assert typed.status == "success", [s.error for s in typed.steps if s.error]
    assert [s.status for s in typed.steps] == ["ran", "cached", "cached"]
    # the statistical tests on real data: two random halves of the clean sample are alike
    clean_path = modelmill.open_workspace().store.path("clean_sample.csv")
    halves = read_listings(clean_path).sample(frac=1.0, random_state=0)
    write_csv(halves.iloc[: len(halves) // 2], tmp_path / "a.csv")
    write_csv(halves.iloc[len(halves) // 2 :], tmp_path / "b.csv")
    ok = runner.invoke(app, ["check", "--csv", str(tmp_path / "a.csv"), "--ref", str(tmp_path / "b.csv")])
    assert ok.exit_code == 0, ok.output
    assert f"{WITH_REFERENCE} of {WITH_REFERENCE} tests passed" in ok.stdout


# ------------------------------------------------------------------ a project's own data tests
COURSE = Path("/work/.mirror/udacity+nd0821-c2-build-model-workflow-starter/repo")
# a project's conftest.py in the course's style: it adds --csv, --ref and its own thresholds
PROJECT_CONFTEST = """
import pandas as pd
import pytest


def pytest_addoption(parser):
    for name in ("--csv", "--ref", "--kl_threshold", "--min_price", "--max_price"):
        parser.addoption(name, action="store")


@pytest.fixture(scope="session")
def data(request):
    return pd.read_csv(request.config.option.csv)


@pytest.fixture(scope="session")
def ref_data(request):
    return pd.read_csv(request.config.option.ref)


@pytest.fixture(scope="session")
def kl_threshold(request):
    return float(request.config.option.kl_threshold)
"""


def _course_file(path: str) -> str | None:
    """A file of the course's repository (read at test time, never copied), if it is here."""
    if not COURSE.is_dir():
        return None
    found = subprocess.run(["git", "-C", str(COURSE), "show", f"HEAD:{path}"], capture_output=True, text=True)
    return found.stdout if found.returncode == 0 else None


def test_a_project_conftest_adding_csv_works_with_modelmill_installed(tmp_path: Path) -> None:
    """modelmill's pytest plugin (an entry point, loaded in every session) claims no option there,
    and the course's own test_data.py (when its repository is here) passes on our cleaned artifact:
    the real sample's when present, else the demo data's."""
    source = f"etl.sample={REAL_SAMPLE}" if REAL_SAMPLE.is_file() else "etl.demo_rows=3000"
    summary = modelmill.run([NOTRACK, "main.steps=get_data,basic_cleaning", source])
    assert summary.status == "success", [s.error for s in summary.steps if s.error]
    clean_path = modelmill.open_workspace().store.path("clean_sample.csv")
    reference = sample(tmp_path / "ref.csv", seed=1, rows=5000)
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(PROJECT_CONFTEST)
    (project / "test_rows.py").write_text("def test_rows(data):\n    assert len(data) > 1000\n")
    course = _course_file("src/data_check/test_data.py")
    if course is not None:
        (project / "test_data.py").write_text(course)
    args = ["--csv", str(clean_path), "--ref", str(reference), "--kl_threshold", "0.2"]
    result = _pytest(project, ".", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{1 if course is None else 5} passed" in result.stdout and "already used" not in result.stderr
