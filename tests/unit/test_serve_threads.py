"""The service predicts with every ``n_jobs`` set to 1 (no thread pool per request)."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelmill.serve.model_holder import single_threaded


def test_single_threaded_sets_every_n_jobs_and_keeps_predictions() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    model = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=5, n_jobs=-1, random_state=0))
    model.fit(x, y)
    before = model.predict(x)
    assert single_threaded(model) is model
    assert model[-1].n_jobs == 1
    np.testing.assert_allclose(model.predict(x), before, rtol=1e-12)  # summation order only


def test_a_pipeline_without_n_jobs_is_left_alone() -> None:
    model = make_pipeline(StandardScaler())
    assert single_threaded(model) is model
