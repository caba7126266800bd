"""Fixtures and helpers shared by the ``modelmill serve`` tests (test_serve*.py).

The model is the real inference pipeline (EnsureColumns + ColumnTransformer + a 5-tree
forest) fitted on 400 demo listings and saved with ``save_sklearn_model`` once per
module; each registered version is a copy of it with a marker file (its own digest).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelmill import Workspace
from modelmill.core.types import ArtifactVersion

MODEL = "random_forest_export"
NAME = "nyc_rentals"


def listings(rows: int, seed: int) -> pd.DataFrame:
    """Demo listings without the price: what a client sends."""
    from modelmill.datasets.nyc_demo import generate_listings

    return generate_listings(rows, seed=seed).drop(columns=["price"])


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON records of ``frame`` (NaN -> null, like a JSON client)."""
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fitted NYC inference pipeline in MLflow format (signature and input example),
    built from the packaged dataset spec as the train step builds it."""
    from modelmill.config import compose
    from modelmill.datasets.nyc_demo import generate_listings
    from modelmill.datasets.spec import spec_from_config
    from modelmill.features.pipeline import build_inference_pipeline
    from modelmill.registry.export import save_sklearn_model

    spec = spec_from_config(compose([], config_dir=None))
    frame = generate_listings(400, seed=3)
    target = frame.pop(spec.target)
    forest = {"n_estimators": 5, "max_depth": 6, "n_jobs": 1}
    params = spec.features_params() | {
        "random_seed": 1,
        "estimator": "random_forest",
        "random_forest": forest,
    }
    pipe = build_inference_pipeline(params)
    pipe.fit(frame, target)
    return save_sklearn_model(pipe, tmp_path_factory.mktemp("serve-model") / MODEL, frame,
                              columns=params["inputs"])  # fmt: skip


def put_model(
    ws: Workspace, model_dir: Path, tmp: Path, variant: str, corrupt: bool = False
) -> ArtifactVersion:
    """Store a copy of ``model_dir`` (made distinct by a marker file) as a model_export artifact."""
    copy = tmp / f"variant-{variant}" / MODEL
    shutil.copytree(model_dir, copy)
    (copy / "modelmill_variant.txt").write_text(variant)
    if corrupt:
        (copy / "model.skops").write_bytes(b"this is not a skops file")
    return ws.store.put(copy, MODEL, "model_export")


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it is truthy (its value) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s")
