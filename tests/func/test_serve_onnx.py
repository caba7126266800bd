"""``modelmill serve`` on the ONNX fast path: same answers as scikit-learn, visible runtime, fallback.

The model is the conftest's small forest, exported *with* its ONNX graph (``parity_rows``),
registered in a real MLflow SQLite registry and served by the real app.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelmill import Workspace
from modelmill.registry.export import load_sklearn
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import MODEL, NAME, listings, put_model, records, wait_for

pytest.importorskip("onnxruntime")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def onnx_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelmill.config import compose
    from modelmill.datasets.nyc_demo import generate_listings
    from modelmill.datasets.spec import spec_from_config
    from modelmill.features.pipeline import build_inference_pipeline
    from modelmill.registry.export import save_sklearn_model

    frame = generate_listings(600, seed=3)
    target = frame.pop("price")
    forest = {"n_estimators": 8, "max_depth": 8, "n_jobs": 1}
    spec = spec_from_config(compose(["modeling.max_tfidf_features=20"]))
    params = spec.features_params() | {
        "random_seed": 1,
        "estimator": "random_forest",
        "random_forest": forest,
    }
    pipe = build_inference_pipeline(params)
    pipe.fit(frame.iloc[:400], target.iloc[:400])
    path = tmp_path_factory.mktemp("serve-onnx") / MODEL
    return save_sklearn_model(
        pipe, path, frame.iloc[:400], parity_rows=frame.iloc[400:], columns=params["inputs"]
    )


def serving(ws: Workspace, model_dir: Path, tmp: Path, **settings: object) -> TestClient:
    promote(ws, put_model(ws, model_dir, tmp, "1").ref, NAME)
    return TestClient(create_app(ServeSettings(workspace=ws.root, poll_interval=0.05, **settings)))


@pytest.fixture(scope="module")
def client(onnx_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("serve-onnx-app")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELMILL_CACHE_DIR", str(tmp_path_factory.mktemp("serve-onnx-cache")))
        mp.delenv("MODELMILL_API_KEY", raising=False)
        with serving(Workspace(tmp / "ws"), onnx_model_dir, tmp) as app_client:
            wait_for(lambda: app_client.get("/ready").status_code == 200)
            yield app_client


def test_metadata_says_onnx_with_its_parity(client: TestClient) -> None:
    model = client.get("/metadata").json()["model"]
    assert model["runtime"] == "onnx" and model["runtime_reason"] is None
    assert model["onnx_parity"]["passed"] and model["onnx_parity"]["max_relative_difference"] < 1e-4


def test_onnx_answers_like_sklearn_with_nulls_and_absent_fields(
    client: TestClient, onnx_model_dir: Path
) -> None:
    frame = listings(30, seed=11)
    rows = records(frame)
    rows[0]["last_review"] = None
    rows[1]["name"] = None
    rows[2]["reviews_per_month"] = None
    rows[3]["room_type"] = "Treehouse"
    rows[4]["last_review"] = "March 5, 2019"
    del rows[5]["neighbourhood_group"], rows[5]["name"]
    expected = load_sklearn(onnx_model_dir).predict(_frame_like_the_service(frame, rows))
    got = client.post("/predict", json=rows)
    assert got.status_code == 200, got.text
    np.testing.assert_allclose(got.json()["predictions"], expected, rtol=1e-4)
    one = client.post("/predict", json=rows[0]).json()["predictions"]
    np.testing.assert_allclose(one, expected[:1], rtol=1e-4)
    json_rows = records(frame.head(3))
    split = {"columns": list(frame.columns), "data": [[r[c] for c in frame.columns] for r in json_rows]}
    mlflow_style = client.post("/invocations", json={"dataframe_split": split})
    assert mlflow_style.status_code == 200, mlflow_style.text
    np.testing.assert_allclose(
        mlflow_style.json()["predictions"], load_sklearn(onnx_model_dir).predict(frame.head(3)), rtol=1e-4
    )


def _frame_like_the_service(frame, rows):  # type: ignore[no-untyped-def]
    """What scikit-learn would be given for these JSON rows (absent keys: missing values)."""
    import pandas as pd

    out = pd.DataFrame(rows).reindex(columns=frame.columns)
    return out.astype({c: object for c in ("name", "last_review", "room_type", "neighbourhood_group")})


def test_an_onnx_failure_is_answered_by_sklearn(client: TestClient) -> None:
    holder = client.app.state.holder  # type: ignore[attr-defined]
    loaded = holder.current
    real = loaded.predictor.session

    class Broken:
        def run(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("onnxruntime exploded")

    loaded.predictor.session = Broken()
    try:
        rows = records(listings(2, seed=4))
        answer = client.post("/predict", json=rows)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
        assert client.get("/metadata").json()["model"]["onnx_failures"] >= 1
    finally:
        loaded.predictor.session = real


def test_runtime_sklearn_is_honoured(onnx_model_dir: Path, tmp_path: Path) -> None:
    with serving(Workspace(tmp_path / "ws"), onnx_model_dir, tmp_path, runtime="sklearn") as c:
        wait_for(lambda: c.get("/ready").status_code == 200)
        assert c.get("/metadata").json()["model"]["runtime"] == "sklearn"


def test_models_without_a_graph_are_served_by_sklearn_and_say_why(model_dir: Path, tmp_path: Path) -> None:
    with serving(Workspace(tmp_path / "ws"), model_dir, tmp_path) as c:
        wait_for(lambda: c.get("/ready").status_code == 200)
        model = c.get("/metadata").json()["model"]
        assert model["runtime"] == "sklearn" and "without an ONNX graph" in model["runtime_reason"]
