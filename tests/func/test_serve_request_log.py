"""``modelmill serve --log-requests``: the real app writes what it served to rolling Parquet parts."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pyarrow.dataset as ds
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import NAME, listings, put_model, records, wait_for

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient


def _ready(client: TestClient) -> bool:
    return client.get("/ready").status_code == 200


def test_served_requests_are_logged_to_parquet(workspace: Workspace, model_dir: Path, tmp_path: Path) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    settings = ServeSettings(workspace=workspace.root, log_requests=True, log_flush_interval=60)
    frame = listings(7, seed=21)
    rows = records(frame)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: _ready(client))
        one = client.post("/predict", json=rows[0]).json()["predictions"]
        batch = client.post("/predict", json=rows[1:5]).json()["predictions"]
        split = json.loads(frame.iloc[5:].to_json(orient="split", index=False))
        mlflow = client.post("/invocations", json={"dataframe_split": split}).json()["predictions"]
        assert client.post("/predict", json={"bogus": 1}).status_code == 422  # not logged
        directory = Path(client.get("/metadata").json()["request_log"])
        assert directory == workspace.root / "request_log"
    # leaving the client ran the lifespan shutdown, which flushes the buffer
    table = ds.dataset(directory, format="parquet").to_table().sort_by("timestamp")
    assert table.num_rows == 7
    assert set(frame.columns) <= set(table.column_names)
    assert {"prediction", "timestamp", "model_name", "model_version", "endpoint"} <= set(table.column_names)
    assert table["prediction"].to_pylist() == one + batch + mlflow
    assert table["endpoint"].to_pylist() == ["/predict"] * 5 + ["/invocations"] * 2
    assert set(table["model_version"].to_pylist()) == {"1"} and set(table["model_name"].to_pylist()) == {NAME}
    assert table["minimum_nights"].to_pylist() == frame["minimum_nights"].tolist()
    assert table["room_type"].to_pylist() == frame["room_type"].tolist()


def test_flush_during_serving_and_metrics(workspace: Workspace, model_dir: Path, tmp_path: Path) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    log_dir = tmp_path / "requests"
    settings = ServeSettings(workspace=workspace.root, log_requests=True, log_dir=log_dir, log_flush_rows=10)
    rows = records(listings(12, seed=22))
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: _ready(client))
        assert client.post("/predict", json=rows).status_code == 200  # 12 >= flush_rows: background write
        wait_for(lambda: list(log_dir.glob("part-*.parquet")))
        assert ds.dataset(log_dir).to_table().num_rows == 12
        metrics = client.get("/metrics").text
        assert "modelmill_request_log_rows_total 12.0" in metrics


def test_disabled_by_default(workspace: Workspace, model_dir: Path, tmp_path: Path) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    settings = ServeSettings(workspace=workspace.root)
    assert settings.log_requests is False
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: _ready(client))
        assert client.post("/predict", json=records(listings(3, seed=1))).status_code == 200
        assert client.get("/metadata").json()["request_log"] is None
    assert not (workspace.root / "request_log").exists()


def test_a_write_failure_never_fails_a_request(workspace: Workspace, model_dir: Path, tmp_path: Path) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    blocker = tmp_path / "a-file"
    blocker.write_text("the log directory cannot be created under a file")
    settings = ServeSettings(
        workspace=workspace.root, log_requests=True, log_dir=blocker / "log", log_flush_rows=1
    )
    rows = records(listings(4, seed=2))
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: _ready(client))
        for row in rows:
            assert client.post("/predict", json=row).status_code == 200
        errors = wait_for(lambda: "modelmill_request_log_errors_total 0.0" not in client.get("/metrics").text)
        assert errors
        assert client.post("/predict", json=rows).status_code == 200
        assert "modelmill_request_log_rows_total 0.0" in client.get("/metrics").text


def test_serve_help_shows_the_log_and_drift_options() -> None:
    from modelmill.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--log-requests", "--no-log-requests", "--log-dir", "--log-max-mb", "--drift-window"):
        assert option in result.output
