"""ONNX parity on the test split: the shipped model configurations, trained by the real pipeline.

Runs on 5,000 demo listings and on the real NYC sample when ``../shared/data`` has it. The
train step exports ``onnx/model.onnx`` only when its own parity check on the validation rows
passes; here the exported graph is checked again, independently, on the *test* split that
evaluate scores: every prediction within 1e-4 relative of scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import modelmill
from modelmill import Workspace
from modelmill.datasets.io import read_stored_table
from modelmill.registry.onnx_export import read_report, relative_difference
from modelmill.registry.predictor import load_predictor
from tests.conftest import REAL_SAMPLE

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")

DATA = {"demo": ["etl.demo_rows=5000"]}
if REAL_SAMPLE.is_file():
    DATA["real"] = [f"etl.sample={REAL_SAMPLE}"]
STEPS = "main.steps=get_data,basic_cleaning,data_check,data_split,train"
TARGET = "price"


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """HistGradientBoosting's OpenMP threads crawl when pytest-xdist workers share 2 cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("family", ["random_forest", "hist_gradient_boosting", "gradient_boosting"])
def test_onnx_agrees_with_sklearn_on_the_test_split(family: str, data: str) -> None:
    summary = modelmill.run([*DATA[data], STEPS, "main.tracking=none", f"model={family}"])
    assert summary.status == "success", [(s.name, s.error) for s in summary.steps if s.error]
    store = Workspace().store
    model_dir = store.path(store.resolve("random_forest_export:latest"))
    report = read_report(model_dir)
    assert report is not None and report["status"] == "ok", report
    test = read_stored_table(store.path(store.resolve("test_data.csv:latest"))).drop(columns=[TARGET])
    onnx, sklearn = load_predictor(model_dir, "onnx"), load_predictor(model_dir, "sklearn")
    expected = sklearn.predict(test)
    rel = relative_difference(onnx.predict(test), expected)
    assert len(test) > 900 and np.isfinite(expected).all()
    assert rel.max() <= 1e-4, f"{family}: max relative difference {rel.max():.3g} on {len(test)} test rows"
