"""A new user's first day on tables modelmill has never seen (issue 14, "Tests and benchmark").

Each test takes one real public table shipped inside an installed package (scikit-learn's
diabetes, vega_datasets' seattle-weather and cars, statsmodels' grunfeld: read from the
package, never downloaded, never committed), writes it to a file and goes through the command
line as a user would, with no edit to the generated files:

    modelmill init DIR --data FILE --target COL
    cd DIR && modelmill run            # checks, split, train, evaluate, register, promote
    modelmill run                      # again: every step cached
    modelmill serve                    # answers one raw row of the file
    modelmill score rows.csv out.parquet
    modelmill monitor rows.csv         # and a drifted copy: that column is named
    modelmill retrain batch.csv        # a decision through the gate

One test per table runs the whole day in order (each stage needs the previous one; one test
keeps ``-n 2`` from initialising a table on both workers). The default run takes every table to
``monitor`` and one of them through ``retrain`` (a second whole pipeline run); ``-m slow`` adds
the others' retrain and the cars table.

The tables differ where a spec must: numbers only (diabetes), a date column and a category in
a CSV inside the project, run from a folder below it (seattle-weather), a Parquet file with a
category of firm names and whole-number floats (grunfeld), missing values in features and
target and a free-text column (cars, ``-m slow``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests import data_tables
from tests.func.projects_helpers import Project, new_project, records, sample_rows, statuses, write_table

NYC_NAMES = ("nyc_rentals", "random_forest_export", "nyc")
# the second, unchanged run replays every step from the cache: the issue asks for < 2 s; the
# bound leaves room for a loaded 2-core CI machine running two test workers
CACHED_RUN_SECONDS = 6.0
SCORED_ROWS = 150  # fewer rows make PSI noisy: 40 random rows of an unchanged table read as drift


@dataclass(frozen=True)
class Table:
    """A public table and how its project is set up and probed."""

    load: Callable[[], pd.DataFrame]
    target: str
    shift: str  # a numeric feature monitor must report as drifted once shifted
    suffix: str = ".csv"
    data_inside: bool = False  # the file in DIR/data/ (named relative to the project)
    run_from: str = "."  # where in the project the first run starts (discovery finds conf/)


TABLES = {
    "diabetes": Table(data_tables.diabetes, "progression", shift="bmi"),
    "seattle_weather": Table(
        data_tables.seattle_weather, "temp_max", shift="temp_min", data_inside=True, run_from="steps"
    ),
    "grunfeld": Table(data_tables.grunfeld, "invest", shift="value", suffix=".parquet"),
    "cars": Table(data_tables.cars, "Miles_per_Gallon", shift="Weight_in_lbs"),
}


def _digests(directory: Path) -> dict[str, str]:
    """The generated files (not the workspace, not the data) and their sha256."""
    skipped = {".modelmill", "data", "batches", "__pycache__"}
    files = [
        p for p in directory.rglob("*") if p.is_file() and not skipped & set(p.relative_to(directory).parts)
    ]
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _no_nyc(text: str, where: str) -> None:
    found = [name for name in NYC_NAMES if name in text.lower()]
    assert not found, f"{where} names the NYC table ({found})"


# --------------------------------------------------------------------------------- stages
def check_init(project: Project, table: Table) -> None:
    info = project.init
    assert (info["name"], info["task"], info["target"]) == (project.name, "regression", table.target)
    assert set(info["columns"]) == set(project.frame.columns)
    assert info["columns"][table.target]["reason"], "every inferred choice says why"
    for relative in ("conf/config.yaml", f"conf/dataset/{project.name}.yaml", "README.md", ".gitignore",
                     "steps/__init__.py"):  # fmt: skip
        path = project.directory / relative
        assert path.is_file(), f"init did not write {relative}"
        _no_nyc(path.read_text(), relative)


def check_first_run(project: Project, table: Table) -> dict[str, Any]:
    cwd = project.directory / table.run_from
    summary = project.run(cwd=cwd)
    assert summary["status"] == "success", summary
    assert set(statuses(summary).values()) == {"ran"}, statuses(summary)
    metrics = summary["metrics"]
    assert math.isfinite(metrics["test_mae"]) and metrics["test_mae"] > 0, metrics
    assert metrics["test_rows"] > 0 and metrics["trainval_rows"] > metrics["test_rows"], metrics
    # the workspace is the project's, wherever below it the command started
    assert project.workspace.is_dir(), f"no workspace in {project.workspace}"
    assert not (cwd / ".modelmill").exists() or cwd == project.directory
    _no_nyc(json.dumps(summary), "the run summary")
    return summary


def check_second_run_cached(project: Project, first: dict[str, Any]) -> None:
    second = project.run()
    why = {s["name"]: f"{s['status']}: {s.get('reason')}" for s in second["steps"]}
    assert statuses(second) == dict.fromkeys(statuses(first), "cached"), why
    assert second["metrics"] == first["metrics"]
    seconds = project.runs[-1].seconds
    assert seconds < CACHED_RUN_SECONDS, f"the fully cached run took {seconds:.1f} s"


def serve_predictions(
    project: Project, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> list[float]:
    """``modelmill serve`` with the project's defaults (the app it would hand to uvicorn, driven
    by FastAPI's TestClient): ready with the project's registered model, one raw row answered
    on /invocations and /predict alike."""
    import uvicorn
    from fastapi.testclient import TestClient

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    project.mm("serve", "--poll-interval", "60").check()
    assert "app" in served, "modelmill serve did not start a service"
    with TestClient(served["app"]) as client:
        deadline = time.monotonic() + 60  # the model loads in the background after startup
        while (ready := client.get("/ready")).status_code == 503 and time.monotonic() < deadline:
            if ready.json().get("error"):
                break
            time.sleep(0.05)
        assert ready.status_code == 200, ready.text
        assert ready.json()["model"]["name"] == project.name
        one = client.post("/invocations", json={"dataframe_records": rows[:1]})
        assert one.status_code == 200, one.text
        [value] = one.json()["predictions"]
        assert isinstance(value, float) and math.isfinite(value)
        single = client.post("/predict", json=rows[0])
        assert single.status_code == 200, single.text
        assert single.json()["predictions"] == pytest.approx([value], rel=1e-6)
        many = client.post("/predict", json=rows)
        assert many.status_code == 200, many.text
        return list(many.json()["predictions"])


def check_score(project: Project, rows: pd.DataFrame, served: list[float]) -> None:
    batch = write_table(rows, project.directory / "batches" / "rows.csv")
    out = project.directory / "batches" / "scored.parquet"
    result = project.mm("score", str(batch), str(out), "--json").check()
    _no_nyc(result.stdout, "score's report")
    scored = pd.read_parquet(out)
    assert len(scored) == len(rows)
    assert scored["row"].tolist() == list(range(len(rows))), "a table without an id is scored in row order"
    assert list(scored.columns) == ["row", "prediction"]
    # both may run the ONNX graph in float32, on different batch shapes: float32 rounding, no more
    assert scored["prediction"].to_numpy() == pytest.approx(served, rel=1e-4, abs=1e-4), (
        "score and serve disagree"
    )


def check_monitor(project: Project, rows: pd.DataFrame, table: Table) -> None:
    batch = write_table(rows, project.directory / "batches" / "rows.csv")
    calm = project.mm("monitor", str(batch), "--json", "--no-tracking").check().json()
    assert calm["verdict"] != "drift", [(f["feature"], f["verdict"]) for f in calm["features"]]
    shifted = rows.copy()
    spread = float(project.frame[table.shift].std())
    shifted[table.shift] = shifted[table.shift] + 5 * spread
    drifted_file = write_table(shifted, project.directory / "batches" / "drifted.csv")
    drifted = project.mm("monitor", str(drifted_file), "--json", "--no-tracking").check().json()
    verdicts = {f["feature"]: f["verdict"] for f in drifted["features"]}
    assert verdicts.get(table.shift) == "drift", verdicts
    assert drifted["verdict"] == "drift"


def _models(summary: dict[str, Any], artifact: str) -> set[str]:
    """The versions of the project's model artifact a run wrote or reused."""
    return {o for s in summary["steps"] for o in s.get("outputs", []) if o.split(":")[0] == artifact}


def check_retrain(project: Project, first: dict[str, Any]) -> None:
    batch = project.frame.sample(frac=0.9, random_state=7).sort_index()
    path = write_table(batch, project.directory / "batches" / "next_week.csv")
    # from outside the project: --config-dir names it, and its own workspace is used
    outside = project.directory.parent
    conf = str(project.directory / "conf")
    result = project.mm("retrain", str(path), "--config-dir", conf, "--json", cwd=outside).check().json()
    assert not (outside / ".modelmill").exists(), "retrain --config-dir used a workspace outside the project"
    stored = {
        f"{a['name']}:v{a['version']}" for a in project.mm("artifacts", "list", "--json").check().json()
    }
    assert result["candidate"] in stored, "the candidate is not in the project's workspace"
    assert result["decision"] in ("promoted", "kept"), result
    artifact = str(project.config["main"]["model_artifact"])
    trained = _models(first, artifact)
    assert trained, f"the first run wrote no {artifact} version: {first['steps']}"
    assert str(result["candidate"]).split(":")[0] == artifact, result
    assert result["candidate"] not in trained, "the new batch trained a new candidate"
    _no_nyc(json.dumps(result), "retrain's report")


# ---------------------------------------------------------------------------------- tests
def _day(name: str, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, retrain: bool) -> None:
    import sklearn.ensemble  # noqa: F401  (loads OpenMP: threadpoolctl limits only loaded libraries)
    from threadpoolctl import threadpool_limits

    monkeypatch.delenv("MODELMILL_HOME", raising=False)  # a user's shell: the project's own workspace
    # one OpenMP thread per test worker: two workers on two cores, and the boosting's threads
    # spinning against each other made one 442-row fit (and the permutation importances) 30x slower
    with threadpool_limits(1, user_api="openmp"):
        _whole_day(name, tmp_path, cache, monkeypatch, retrain)


def _whole_day(
    name: str, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, retrain: bool
) -> None:
    table = TABLES[name]
    project = new_project(tmp_path, name, table.load, table.target, suffix=table.suffix,
                          data_inside=table.data_inside, cache_dir=cache)  # fmt: skip
    check_init(project, table)
    generated = _digests(project.directory)
    first = check_first_run(project, table)
    check_second_run_cached(project, first)
    rows = sample_rows(project, SCORED_ROWS)
    served = serve_predictions(project, records(rows), monkeypatch)
    check_score(project, rows, served)
    check_monitor(project, rows, table)
    if retrain:
        check_retrain(project, first)
    assert _digests(project.directory) == generated, "a command edited the generated project files"


# the default run: every table from init to monitor, one of them to retrain (a retrain is a
# whole second pipeline run); -m slow: the others' retrain and the cars table
@pytest.mark.parametrize(
    ("name", "retrain"), [("diabetes", True), ("seattle_weather", False), ("grunfeld", False)]
)
def test_a_new_table_from_init_to_monitor(
    name: str, retrain: bool, tmp_path: Path, _machine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _day(name, tmp_path, _machine_cache, monkeypatch, retrain)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cars", "seattle_weather", "grunfeld"])
def test_a_new_table_from_init_to_retrain(
    name: str, tmp_path: Path, _machine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _day(name, tmp_path, _machine_cache, monkeypatch, retrain=True)
