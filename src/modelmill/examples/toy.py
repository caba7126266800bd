"""A tiny regression pipeline: make data -> clean -> split -> fit -> score.

It exercises every runner feature (linked artifacts, params, metrics, caching) in a
second. Step functions live in :mod:`modelmill.examples.toy_steps` and are named by
reference, so building this pipeline imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

from modelmill.runner import Pipeline, step

STEPS = "modelmill.examples.toy_steps"


def build_pipeline(cfg: Any) -> Pipeline:
    """The example pipeline; each step gets only the params it depends on."""
    ex = cfg.example
    return Pipeline(
        [
            step(
                "make_data",
                f"{STEPS}:make_data",
                outputs={"toy_raw.csv": "raw_data"},
                params={"rows": ex.rows, "noise": ex.noise, "seed": ex.seed},
            ),
            step(
                "clean",
                f"{STEPS}:clean",
                inputs=["toy_raw.csv"],
                outputs={"toy_clean.csv": "clean_sample"},
                params={"max_abs_target": ex.max_abs_target},
            ),
            step(
                "split",
                f"{STEPS}:split",
                inputs=["toy_clean.csv"],
                outputs={"toy_train.csv": "train_data", "toy_test.csv": "test_data"},
                params={"test_size": ex.test_size, "seed": ex.seed},
            ),
            step(
                "fit",
                f"{STEPS}:fit",
                inputs=["toy_train.csv"],
                outputs={"toy_model.json": "model"},
                params={"alpha": ex.alpha},
            ),
            step(
                "score",
                f"{STEPS}:score",
                inputs=["toy_model.json", "toy_test.csv"],
                outputs={"toy_scores.json": "evaluation"},
            ),
        ]
    )
