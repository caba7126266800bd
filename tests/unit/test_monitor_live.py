"""LiveDrift: a bounded, thread-safe window scored against the reference."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd

from modelmill.monitor.live import LiveDrift
from modelmill.validation.reference import build_reference, write_reference


def _reference() -> dict:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 5000), "g": rng.choice(["a", "b"], 5000)})
    return build_reference(frame, rng.normal(100, 10, 5000))


def _rows(rng: np.random.Generator, n: int, shift: float = 0.0, group: str | None = None) -> list[dict]:
    groups = [group] * n if group else list(rng.choice(["a", "b"], n))
    return [{"x": float(x), "g": g} for x, g in zip(rng.normal(shift, 1, n), groups, strict=True)]


def test_empty_window_scores_nothing() -> None:
    assert LiveDrift(_reference()).scores() == {}


def test_scores_follow_the_window() -> None:
    rng = np.random.default_rng(1)
    live = LiveDrift(_reference(), window=500)
    live.update(_rows(rng, 500), list(rng.normal(100, 10, 500)))
    calm = live.scores()
    assert set(calm) == {"x", "g", "prediction"} and max(calm.values()) < 0.05
    live.update(_rows(rng, 500, shift=2.0, group="b"), list(rng.normal(150, 10, 500)))  # replaces the window
    assert len(live) == 500
    shifted = live.scores()
    assert shifted["x"] > 0.25 and shifted["g"] > 0.25 and shifted["prediction"] > 0.25


def test_features_subset_and_missing_keys() -> None:
    live = LiveDrift(_reference(), window=10, features=["x", "unknown"])
    live.update([{}, {"x": None}, {"x": 0.1}], [100.0, 101.0, 99.0])
    assert set(live.scores()) == {"x", "prediction"}


def test_concurrent_updates_keep_the_window_bounded() -> None:
    live = LiveDrift(_reference(), window=300)

    def feed(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(50):
            live.update(_rows(rng, 4), [100.0] * 4)
            live.scores()

    threads = [threading.Thread(target=feed, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(live) == 300 and all(len(b) == 300 for b in live._rows.values())


def test_from_model_dir(tmp_path: Path) -> None:
    assert LiveDrift.from_model_dir(tmp_path) is None
    (tmp_path / "extras").mkdir()
    write_reference(_reference(), tmp_path / "extras" / "reference.json")
    live = LiveDrift.from_model_dir(tmp_path, window=7)
    assert live is not None and live.window == 7 and set(live.features) == {"x", "g"}
