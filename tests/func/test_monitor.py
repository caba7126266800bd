"""``modelmill monitor`` end to end: a model trained by the real pipeline, same-distribution and
drifted weekly batches, request-log Parquet directories, actuals and the exit codes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelmill
from modelmill.cli import app
from modelmill.datasets import generate_listings

from .test_weekly_retraining import FAST

MODEL = "random_forest_export:prod"


def _drifted(seed: int) -> pd.DataFrame:
    """Queens' share doubled, prices +40 %, 60 listings in an unseen borough."""
    frame = generate_listings(1500, seed=seed)
    queens = frame["neighbourhood_group"] == "Queens"
    targets = frame.index[~queens][: int(queens.sum())]
    copies = frame[queens].sample(len(targets), replace=True, random_state=0)
    copies.index = targets
    frame.loc[targets] = copies
    frame["id"] = np.arange(len(frame)) + 10_000_000
    frame["price"] = (frame["price"] * 1.4).round().astype(int)
    frame.loc[frame.index[:60], "neighbourhood_group"] = "Long Island"
    return frame


def _monitor(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["monitor", *args, "--model", MODEL, "--no-tracking", "--json"])
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, data | {"_stderr": result.stderr}


@pytest.fixture
def trained(_isolated_home: Path) -> Path:
    run = modelmill.run(FAST)
    assert run.status == "success", [(s.name, s.error) for s in run.steps]
    ws = modelmill.open_workspace()
    return ws.store.path(ws.store.resolve(MODEL))


def test_reference_is_stored_with_the_model(trained: Path) -> None:
    reference = json.loads((trained / "extras" / "reference.json").read_text())
    assert reference["format"] == "modelmill-reference/1"
    assert reference["features"]["neighbourhood_group"]["kind"] == "categorical"
    assert len(reference["prediction"]["quantiles"]) == 101
    assert (trained / "extras" / "reference.json").stat().st_size < 100_000


def test_weekly_batches(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    same = tmp_path / "week1.csv"
    generate_listings(1500, seed=101).to_csv(same, index=False)
    code, data = _monitor(str(same), "--fail-on-drift")
    alarms = [(f["feature"], f["reasons"]) for f in data.get("features", []) if f["verdict"] != "ok"]
    assert code == 0 and data["verdict"] == "ok", alarms
    assert data["predictions"].startswith("model")

    drifted = _drifted(seed=102)
    path = tmp_path / "week2.csv"
    drifted.to_csv(path, index=False)
    actuals = tmp_path / "actuals.csv"
    drifted[["id", "price"]].to_csv(actuals, index=False)
    report = tmp_path / "drift.html"
    code, data = _monitor(str(path), "--fail-on-drift", "--actuals", str(actuals), "--output", str(report))
    assert code == 1 and data["verdict"] == "drift"
    verdicts = {f["feature"]: f for f in data["features"]}
    group = verdicts["neighbourhood_group"]
    assert group["verdict"] == "drift" and group["unseen"] == ["Long Island"] and group["psi"] > 0.25
    assert verdicts["room_type"]["verdict"] == "ok" and verdicts["minimum_nights"]["verdict"] == "ok"
    quality = data["quality"]
    assert quality["n_matched"] == 1500 and quality["baseline_source"].startswith("test_mae of evaluation:")
    assert quality["mae"] > quality["baseline_mae"]  # prices moved, the model did not
    html = report.read_text()
    assert "Long Island" in html and "<svg" in html and "http" not in html.split("<body>")[1][:200]

    # without --fail-on-drift the same batch only reports
    assert _monitor(str(path))[0] == 0

    # through the registry (the default --model form): the same test MAE as the baseline
    args = ["monitor", str(path), "--actuals", str(actuals), "--model", "models:/nyc_rentals@prod"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = CliRunner().invoke(app, [*args, "--no-tracking", "--json"])
    assert result.exit_code == 0, result.output
    assert list(scratch.iterdir()) == []  # the registry download is removed
    registry_quality = json.loads(result.stdout)["quality"]
    assert registry_quality["baseline_source"] == quality["baseline_source"]
    assert registry_quality["baseline_mae"] == quality["baseline_mae"]


def test_request_log_directory_and_errors(trained: Path, tmp_path: Path) -> None:
    log = tmp_path / "requests"
    log.mkdir()
    batch = generate_listings(800, seed=103)
    batch["prediction"] = 150.0  # a constant predictor: the prediction distribution drifts
    batch["timestamp"] = pd.Timestamp("2026-01-05") + pd.to_timedelta(np.arange(800) * 900, unit="s")
    batch.iloc[:400].to_parquet(log / "part-0.parquet")
    batch.iloc[400:].to_parquet(log / "part-1.parquet")
    actuals = tmp_path / "actuals.csv"
    batch[["id", "price"]].to_csv(actuals, index=False)
    code, data = _monitor(str(log), "--actuals", str(actuals))
    assert code == 0 and data["predictions"] == "input column"
    assert {f["feature"]: f["verdict"] for f in data["features"]}["prediction"] == "drift"
    assert [p["week"] for p in data["quality"]["periods"]] == ["2026-01-05", "2026-01-12"]

    assert _monitor(str(tmp_path / "absent.csv"))[0] == 2
    narrow = tmp_path / "narrow.csv"
    batch[["id", "latitude"]].to_csv(narrow, index=False)
    code, data = _monitor(str(narrow))
    assert code == 2 and "lacks columns" in data["_stderr"]
    old = tmp_path / "old_model"
    import shutil

    shutil.copytree(trained, old)
    (old / "extras" / "reference.json").unlink()
    result = CliRunner().invoke(app, ["monitor", str(narrow), "--model", str(old), "--no-tracking"])
    assert result.exit_code == 2 and "retrain" in result.stderr


def test_logged_to_mlflow(trained: Path, tmp_path: Path, _isolated_home: Path) -> None:
    from mlflow.tracking import MlflowClient

    batch = tmp_path / "batch.csv"
    generate_listings(600, seed=104).to_csv(batch, index=False)
    result = CliRunner().invoke(app, ["monitor", str(batch), "--model", MODEL, "--json"])
    assert result.exit_code == 0, result.stderr
    run_id = json.loads(result.stdout)["mlflow_run_id"]
    client = MlflowClient(f"sqlite:///{_isolated_home}/mlflow.db")
    run = client.get_run(run_id)
    assert run.data.tags["modelmill.kind"] == "monitor" and "psi_neighbourhood_group" in run.data.metrics
    assert [a.path for a in client.list_artifacts(run_id, "monitor")] == ["monitor/drift_report.html"]
