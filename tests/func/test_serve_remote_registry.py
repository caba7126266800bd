"""The model is pulled from the registry at start, as in the container image.

A model is trained and registered in workspace A (its registry: ``sqlite:///A/mlflow.db``,
artifacts under ``A/mlartifacts``). The service then starts on an *empty* workspace B
(the container's ``MODELMILL_HOME``) with only A's tracking URI, given the way a container
gets it: ``MLFLOW_TRACKING_URI`` in the environment, or ``--tracking-uri`` (which wins).
It must become ready, predict, and name the registered version; B holds no model files.
The last test runs the real ``modelmill serve`` CLI as a subprocess over HTTP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelmill import Workspace
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import NAME, listings, put_model, records, wait_for

with warnings.catch_warnings():  # starlette: "Using `httpx` with `starlette.testclient` is deprecated"
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

MODELMILL = Path(sys.executable).with_name("modelmill")


@pytest.fixture(scope="module")
def registry_a(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Workspace A with ``nyc_rentals`` v1 registered and aliased ``prod``: its tracking URI."""
    tmp = tmp_path_factory.mktemp("registry-a")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELMILL_CACHE_DIR", str(tmp / "cache"))
        ws = Workspace(tmp / "A")
        promote(ws, put_model(ws, model_dir, tmp, "1").ref, NAME)
    assert (ws.root / "mlflow.db").is_file()
    yield ws.default_tracking_uri


def _check_serves_v1(client: TestClient) -> None:
    wait_for(lambda: client.get("/ready").status_code == 200, timeout=60)
    assert client.get("/ready").json()["model"] == {"name": NAME, "version": "1"}
    rows = records(listings(3, seed=21))
    response = client.post("/predict", json=rows)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3
    assert response.json()["model"] == {"name": NAME, "version": "1"}
    meta = client.get("/metadata").json()
    assert meta["model_uri"] == "models:/nyc_rentals@prod"
    assert meta["model"]["version"] == "1" and meta["model"]["alias"] == "prod"
    assert meta["model"]["registry_run_id"]


def _assert_empty_workspace(root: Path) -> None:
    """B got no registry of its own and no stored model: everything came from A."""
    assert not (root / "mlflow.db").exists()
    assert not (root / "mlartifacts").exists()
    assert not Workspace(root).store.exists("random_forest_export:v1")


def test_model_is_pulled_from_mlflow_tracking_uri(
    registry_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_a)
    monkeypatch.delenv("MODELMILL_API_KEY", raising=False)
    settings = ServeSettings.from_env(workspace=tmp_path / "B")
    assert settings.tracking_uri == registry_a
    with TestClient(create_app(settings)) as client:
        _check_serves_v1(client)
    _assert_empty_workspace(tmp_path / "B")


def test_explicit_tracking_uri_wins_over_the_environment(
    registry_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}"  # an empty registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    monkeypatch.delenv("MODELMILL_API_KEY", raising=False)
    settings = ServeSettings.from_env(workspace=tmp_path / "B", tracking_uri=registry_a)
    assert settings.tracking_uri == registry_a
    with TestClient(create_app(settings)) as client:
        _check_serves_v1(client)
    assert ServeSettings.from_env(workspace=tmp_path / "B").tracking_uri == elsewhere
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert ServeSettings.from_env(workspace=tmp_path / "B").tracking_uri is None  # the workspace's own


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_from_the_registry_in_the_environment(registry_a: str, tmp_path: Path) -> None:
    """``modelmill serve`` as the image's CMD runs it: empty MODELMILL_HOME, registry from the env."""
    port = _free_port()
    home, cwd = tmp_path / "home", tmp_path / "run"
    cwd.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODELMILL_", "MLFLOW_", "PYTEST_"))
    }
    env |= {
        "MODELMILL_HOME": str(home),
        "MODELMILL_CACHE_DIR": str(tmp_path / "cache"),
        "MLFLOW_TRACKING_URI": registry_a,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(MODELMILL), "serve", "--host", "127.0.0.1", "--port", str(port), "--poll-interval", "0.5"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def get(path: str) -> Any:
            if proc.poll() is not None:
                raise AssertionError(f"modelmill serve exited {proc.returncode}:\n{log.read_text()}")
            try:
                return httpx.get(base + path, timeout=5)
            except httpx.TransportError:
                return None

        health = wait_for(lambda: get("/health"), timeout=90)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        wait_for(lambda: (r := get("/ready")) is not None and r.status_code == 200, timeout=90)
        response = httpx.post(base + "/predict", json=records(listings(2, seed=8)), timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == {"name": NAME, "version": "1"} and len(body["predictions"]) == 2
        assert httpx.get(base + "/metadata", timeout=5).json()["model"]["version"] == "1"
    finally:
        proc.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully on SIGTERM (docker stop)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    # uvicorn re-raises the SIGTERM it handled once shut down: the exit is -15 after a clean stop
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
    _assert_empty_workspace(home)
