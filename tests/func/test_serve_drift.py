"""Live drift on ``/metrics``: ``modelmill_feature_drift_psi{feature=...}`` over a sliding window.

The served model is the conftest pipeline with the training reference the train step stores
in ``extras/reference.json``; a copy without it stands for models trained before monitoring.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelmill import Workspace
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import NAME, listings, put_model, records, wait_for

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

WINDOW = 500
GAUGE = "modelmill_feature_drift_psi"


@pytest.fixture(scope="module")
def referenced_model(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``model_dir`` plus the reference of its training frame (what new train runs store)."""
    from modelmill.datasets.nyc_demo import generate_listings
    from modelmill.monitor.live import reference_path
    from modelmill.registry.export import load_sklearn
    from modelmill.validation.reference import build_reference, write_reference

    copy = tmp_path_factory.mktemp("referenced") / model_dir.name
    shutil.copytree(model_dir, copy)
    frame = generate_listings(400, seed=3).drop(columns=["price"])  # the conftest training frame
    path = reference_path(copy)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_reference(build_reference(frame, load_sklearn(model_dir).predict(frame)), path)
    return copy


def drift_gauge(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == GAUGE:
            return {s.labels["feature"]: s.value for s in family.samples}
    return {}


def post_all(client: TestClient, frame: pd.DataFrame) -> None:
    rows: list[dict[str, Any]] = records(frame)
    for start in range(0, len(rows), 50):
        response = client.post("/predict", json=rows[start : start + 50])
        assert response.status_code == 200, response.text


def serve(workspace: Workspace, model: Path, tmp_path: Path, **settings: Any) -> TestClient:
    promote(workspace, put_model(workspace, model, tmp_path, "1").ref, NAME)
    return TestClient(create_app(ServeSettings(workspace=workspace.root, poll_interval=0.05, **settings)))


def test_in_distribution_is_low_and_a_shift_raises_the_gauge(
    workspace: Workspace, referenced_model: Path, tmp_path: Path
) -> None:
    with serve(workspace, referenced_model, tmp_path, drift_window=WINDOW) as client:
        wait_for(lambda: client.get("/ready").status_code == 200)
        assert client.get("/metadata").json()["drift"] == {
            "window": WINDOW,
            "available": True,
            "reason": None,
        }
        assert drift_gauge(client) == {}  # nothing scored yet
        post_all(client, listings(WINDOW, seed=41))
        calm = drift_gauge(client)
        print("in distribution:", calm)
        assert {"minimum_nights", "availability_365", "room_type", "prediction"} <= set(calm)
        assert calm["minimum_nights"] < 0.15 and calm["room_type"] < 0.15 and calm["availability_365"] < 0.15
        assert max(calm.values()) < 0.25

        shifted = listings(WINDOW, seed=42)
        shifted["minimum_nights"] = 200
        shifted["room_type"] = "Shared room"
        post_all(client, shifted)  # fills the whole window: the calm rows slide out
        drifted = drift_gauge(client)
        print("shifted:", drifted)
        assert drifted["minimum_nights"] > 0.25 and drifted["room_type"] > 0.25
        assert drifted["availability_365"] < 0.25  # untouched features stay calm
        assert f'{GAUGE}{{feature="minimum_nights"}}' in client.get("/metrics").text


def test_window_slides(workspace: Workspace, referenced_model: Path, tmp_path: Path) -> None:
    with serve(workspace, referenced_model, tmp_path, drift_window=100) as client:
        wait_for(lambda: client.get("/ready").status_code == 200)
        shifted = listings(100, seed=43)
        shifted["availability_365"] = 0
        post_all(client, shifted)
        assert drift_gauge(client)["availability_365"] > 0.25
        post_all(client, listings(100, seed=44))  # scrape-free: pending rows are trimmed to the window
        assert drift_gauge(client)["availability_365"] < 0.25


def test_models_without_a_reference_have_no_gauge(
    workspace: Workspace, model_dir: Path, tmp_path: Path
) -> None:
    with serve(workspace, model_dir, tmp_path) as client:
        wait_for(lambda: client.get("/ready").status_code == 200)
        post_all(client, listings(20, seed=45))
        drift = client.get("/metadata").json()["drift"]
        assert drift["available"] is False and "no training reference" in drift["reason"]
        assert GAUGE not in client.get("/metrics").text


def test_drift_window_zero_turns_it_off(workspace: Workspace, referenced_model: Path, tmp_path: Path) -> None:
    with serve(workspace, referenced_model, tmp_path, drift_window=0) as client:
        wait_for(lambda: client.get("/ready").status_code == 200)
        post_all(client, listings(20, seed=46))
        assert client.get("/metadata").json()["drift"]["available"] is False
        assert drift_gauge(client) == {}


def test_hot_swap_builds_the_new_models_drift(
    workspace: Workspace, model_dir: Path, referenced_model: Path, tmp_path: Path
) -> None:
    with serve(workspace, model_dir, tmp_path, drift_window=50) as client:  # v1: no reference
        wait_for(lambda: client.get("/ready").status_code == 200)
        assert client.get("/metadata").json()["drift"]["available"] is False
        promote(workspace, put_model(workspace, referenced_model, tmp_path, "2").ref, NAME)
        wait_for(lambda: client.get("/metadata").json()["model"]["version"] == "2")
        assert client.get("/metadata").json()["drift"] == {"window": 50, "available": True, "reason": None}
        post_all(client, listings(50, seed=47))
        assert set(drift_gauge(client)) >= {"minimum_nights", "prediction"}
