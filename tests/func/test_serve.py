"""``modelmill serve`` end to end: a real NYC pipeline, a real MLflow SQLite registry, the FastAPI app.

The model (``model_dir`` in conftest.py) is the real inference pipeline fitted on 400 demo
listings; each registered version is a copy of it with a marker file (its own digest).
Most tests share one app serving ``models:/nyc_rentals@prod``; hot swap, refusal and
readiness get their own workspace and app (poll interval 0.05 s).
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.core.errors import BrokenModelError
from modelmill.registry.mlflow_registry import MlflowRegistry
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import MODEL, NAME, listings, put_model, records, wait_for

with warnings.catch_warnings():  # starlette: "Using `httpx` with `starlette.testclient` is deprecated"
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

FAST = 0.05  # poll interval in these tests


def ready(client: TestClient) -> bool:
    return client.get("/ready").status_code == 200


def served_version(client: TestClient) -> str | None:
    model = client.get("/metadata").json()["model"]
    return model and model["version"]


@pytest.fixture(scope="module")
def served(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Workspace]]:
    """One app serving models:/nyc_rentals@prod (v1) from its own workspace, max_batch 50."""
    tmp = tmp_path_factory.mktemp("serve-shared")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELMILL_CACHE_DIR", str(tmp_path_factory.mktemp("serve-cache")))
        mp.delenv("MODELMILL_API_KEY", raising=False)
        ws = Workspace(tmp / "ws")
        promote(ws, put_model(ws, model_dir, tmp, "1").ref, NAME)
        settings = ServeSettings(workspace=ws.root, max_batch=50, poll_interval=FAST)
        with TestClient(create_app(settings)) as client:
            wait_for(lambda: ready(client))
            yield client, ws


@pytest.fixture
def client(served: tuple[TestClient, Workspace]) -> TestClient:
    return served[0]


# --------------------------------------------------------------------------- predict
def test_predict_one_and_batch_match_the_sklearn_pipeline(client: TestClient, model_dir: Path) -> None:
    from modelmill.registry.export import load_sklearn

    frame = listings(12, seed=9)
    expected = load_sklearn(model_dir).predict(frame)
    rows = records(frame)
    one = client.post("/predict", json=rows[0])
    assert one.status_code == 200, one.text
    assert one.json()["model"] == {"name": NAME, "version": "1"}
    assert one.json()["predictions"] == pytest.approx([expected[0]], rel=1e-9)
    batch = client.post("/predict", json=rows)
    assert batch.status_code == 200, batch.text
    assert np.allclose(batch.json()["predictions"], expected, rtol=1e-9)


def test_nulls_and_absent_columns_are_accepted(client: TestClient) -> None:
    row = records(listings(1, seed=4))[0]
    row |= {"name": None, "last_review": None, "reviews_per_month": None, "latitude": None}
    response = client.post("/predict", json=row)
    assert response.status_code == 200, response.text
    sparse = client.post("/predict", json=[{"room_type": "Entire home/apt"}, {}])
    assert sparse.status_code == 200, sparse.text
    assert len(sparse.json()["predictions"]) == 2


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"room_type": "Private room", "bogus": 1}, "bogus", "extra_forbidden"),
        ({"minimum_nights": "three"}, "minimum_nights", "int_type"),
        ({"minimum_nights": 2.5}, "minimum_nights", "int_type"),
        ({"number_of_reviews": None}, "number_of_reviews", "int_type"),  # counts are not nullable
        ({"name": 42}, "name", "string_type"),
        ([{"latitude": "north"}], "latitude", "float_type"),
    ],
)
def test_invalid_requests_get_422_naming_the_field(
    client: TestClient, body: Any, field: str, kind: str
) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field and error["type"] == kind


def test_batch_over_max_and_big_bodies_are_refused(client: TestClient) -> None:
    too_many = client.post("/predict", json=[{}] * 51)
    assert too_many.status_code == 413 and "max_batch 50" in too_many.json()["detail"]
    big = json.dumps([{"name": "x" * 1000}] * 1100).encode()  # ~1.1 MB
    assert client.post("/predict", content=big).status_code == 413
    # no Content-Length (chunked upload): the streamed bytes are counted
    streamed = client.post("/predict", content=iter([big[:600_000], big[600_000:]]))
    assert streamed.status_code == 413 and "larger than" in streamed.json()["detail"]


def test_openapi_shows_the_signature_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    listing = schema["components"]["schemas"]["Row"]
    assert {"room_type", "minimum_nights", "reviews_per_month"} <= set(listing["properties"])
    assert listing["additionalProperties"] is False
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["anyOf"][1]["maxItems"] == 50


def test_invocations_speaks_mlflow(client: TestClient, model_dir: Path) -> None:
    from modelmill.registry.export import load_sklearn

    frame = listings(5, seed=11)
    expected = load_sklearn(model_dir).predict(frame)
    split = json.loads(frame.to_json(orient="split", index=False))
    by_split = client.post("/invocations", json={"dataframe_split": split})
    assert by_split.status_code == 200, by_split.text
    assert np.allclose(by_split.json()["predictions"], expected, rtol=1e-9)
    by_records = client.post("/invocations", json={"dataframe_records": records(frame)})
    assert by_records.status_code == 200 and np.allclose(by_records.json()["predictions"], expected)
    bad = client.post("/invocations", json={"dataframe_records": [{"bogus": 1}]})
    assert bad.status_code == 400 and "bogus" in bad.json()["message"]
    assert client.post("/invocations", json={"instances": [[1, 2]]}).status_code == 400


def test_metadata_and_metrics(client: TestClient) -> None:
    meta = client.get("/metadata").json()
    assert meta["model"]["name"] == NAME and meta["model"]["version"] == "1"
    assert meta["model"]["alias"] == "prod" and meta["model"]["loaded_at"] > 0
    assert meta["model"]["signature"]["inputs"] and meta["last_refused"] is None
    client.post("/predict", json={})
    client.post("/predict", json={"bogus": 1})
    text = client.get("/metrics").text
    assert 'modelmill_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert 'modelmill_requests_total{endpoint="/predict",method="POST",status="422"}' in text
    assert "modelmill_request_duration_seconds_bucket" in text
    assert 'modelmill_errors_total{endpoint="/predict",kind="client"}' in text
    assert "modelmill_prediction_value_count" in text
    assert 'modelmill_model_info{name="nyc_rentals",version="1"} 1.0' in text


# --------------------------------------------------------------------------- own apps
def test_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMILL_API_KEY", "s3cret")
    settings = ServeSettings.from_env(workspace=tmp_path / "ws", model="models:/nothing@prod")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/metadata").status_code == 401
        assert client.get("/metadata", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.post("/predict", json={}).status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/metadata", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/ready", headers={"X-API-Key": "s3cret"}).status_code == 503  # nothing to load


def test_ready_waits_for_the_first_model(workspace: Workspace, model_dir: Path, tmp_path: Path) -> None:
    settings = ServeSettings(workspace=workspace.root, poll_interval=FAST)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 503
        assert client.post("/predict", json={}).status_code == 503
        promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
        wait_for(lambda: ready(client))
        assert client.post("/predict", json={}).status_code == 200


def test_serves_a_stored_artifact_ref(workspace: Workspace, model_dir: Path, tmp_path: Path) -> None:
    stored = put_model(workspace, model_dir, tmp_path, "1")
    with TestClient(create_app(ServeSettings(workspace=workspace.root, model=stored.ref))) as client:
        wait_for(lambda: ready(client))
        response = client.post("/predict", json={"room_type": "Shared room"})
        assert response.json()["model"] == {"name": MODEL, "version": str(stored.version)}
        assert client.get("/metadata").json()["model"]["alias"] is None


def test_hot_swap_under_load_and_refusal_of_a_broken_version(
    workspace: Workspace, model_dir: Path, tmp_path: Path
) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    settings = ServeSettings(workspace=workspace.root, poll_interval=FAST)
    row = records(listings(1, seed=5))[0]
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: ready(client))
        statuses: list[int] = []
        versions: set[str] = set()
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                response = client.post("/predict", json=row)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.add(response.json()["model"]["version"])

        sender = threading.Thread(target=hammer)
        sender.start()
        try:
            promote(workspace, put_model(workspace, model_dir, tmp_path, "2").ref, NAME)
            wait_for(lambda: served_version(client) == "2")
            time.sleep(0.1)  # a few requests on the new version
            # promote refuses a corrupted model; moved there by hand in MLflow, the service
            # refuses it too: v2 keeps serving, /metadata says why
            broken = put_model(workspace, model_dir, tmp_path, "3", corrupt=True)
            with pytest.raises(BrokenModelError, match="does not load"):
                promote(workspace, broken.ref, NAME)
            registry = MlflowRegistry.for_workspace(workspace)
            version, _ = registry.register(NAME, broken, workspace.store.path(broken))
            registry.set_alias(NAME, "prod", version.version)
            refused = wait_for(lambda: client.get("/metadata").json()["last_refused"])
        finally:
            stop.set()
            sender.join()
        print(f"hot swap: {len(statuses)} requests, statuses {set(statuses)}")
        assert statuses and set(statuses) == {200}, f"{len(statuses)} requests: {set(statuses)}"
        assert versions == {"1", "2"}
        assert refused["version"] == "3" and refused["error"]
        assert served_version(client) == "2" and ready(client)
        assert client.post("/predict", json=row).json()["model"]["version"] == "2"
        metrics = client.get("/metrics").text
        assert 'modelmill_model_swaps_total{outcome="refused"} 1.0' in metrics


def test_serve_help() -> None:
    from modelmill.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--model" in result.output and "--port" in result.output


def test_paths_are_not_model_specs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="paths are not accepted"):
        ServeSettings(model=str(tmp_path / "model"))


def _registry_copy(ws: Workspace, version: int) -> Path:
    from urllib.parse import unquote, urlparse

    registry = MlflowRegistry.for_workspace(ws)
    run_id = registry.get_version(NAME, version).run_id
    return Path(unquote(urlparse(registry.client.get_run(run_id).info.artifact_uri).path)) / "model"


def test_a_damaged_registry_copy_is_refused_with_the_reason_and_fallback_is_opt_in(
    workspace: Workspace, model_dir: Path, tmp_path: Path
) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    v2 = put_model(workspace, model_dir, tmp_path, "2")
    promote(workspace, v2.ref, NAME)
    (_registry_copy(workspace, 2) / "modelmill_variant.txt").write_text("changed")  # still loads

    with TestClient(create_app(ServeSettings(workspace=workspace.root, poll_interval=FAST))) as client:
        body = wait_for(lambda: (r := client.get("/ready")).json().get("error") and r)
        assert body.status_code == 503 and "version 2) was refused: IntegrityError" in body.json()["error"]
        assert "registry copy of models:/nyc_rentals/2 is corrupted" in body.json()["error"]
        time.sleep(0.2)
        assert client.get("/ready").status_code == 503  # no silent fallback

    settings = ServeSettings(workspace=workspace.root, poll_interval=FAST, fallback=True)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: ready(client))
        body = client.get("/ready").json()
        assert body["model"] == {"name": NAME, "version": "1"}
        assert body["fallback"]["wanted"]["version"] == "2" and "corrupted" in body["fallback"]["reason"]
        assert client.get("/metadata").json()["fallback"] == body["fallback"]
        assert client.post("/predict", json={}).json()["model"]["version"] == "1"
        # the fix: a fresh registry copy of the same model (v3); the service swaps to it
        promote(workspace, v2.ref, NAME)
        wait_for(lambda: served_version(client) == "3")
        assert "fallback" not in client.get("/ready").json()
        assert client.get("/metadata").json()["fallback"] is None

        # a damaged copy while serving: refused, v3 keeps serving
        registry = MlflowRegistry.for_workspace(workspace)
        v4 = put_model(workspace, model_dir, tmp_path, "4")
        version, _ = registry.register(NAME, v4, workspace.store.path(v4))
        (_registry_copy(workspace, version.version) / "model.skops").write_bytes(b"flipped")
        registry.set_alias(NAME, "prod", version.version)
        number = str(version.version)
        refused = wait_for(
            lambda: (r := client.get("/metadata").json()["last_refused"])["version"] == number and r
        )
        assert "IntegrityError" in refused["error"]
        assert served_version(client) == "3" and ready(client)
