"""A tiny regression pipeline: make data -> clean -> split -> fit -> score.

It exercises every runner feature (linked artifacts, params, metrics, caching) in a
second. Step functions live in :mod:`modelmill.examples.toy_steps` and are named by
reference, so building this pipeline imports nothing heavy. Each step declares its role,
so ``modelmill sweep main.pipeline=modelmill.examples.toy:build_pipeline example.alpha=0.1,10``
works on it as on the tabular pipeline (it has no ``promote`` step: nothing to publish).
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
                role="ingest",
            ),
            step(
                "clean",
                f"{STEPS}:clean",
                inputs=["toy_raw.csv"],
                outputs={"toy_clean.csv": "clean_sample"},
                params={"max_abs_target": ex.max_abs_target},
                role="clean",
            ),
            step(
                "split",
                f"{STEPS}:split",
                inputs=["toy_clean.csv"],
                outputs={"toy_train.csv": "train_data", "toy_test.csv": "test_data"},
                params={"test_size": ex.test_size, "seed": ex.seed},
                role="split",
            ),
            step(
                "fit",
                f"{STEPS}:fit",
                inputs=["toy_train.csv"],
                outputs={"toy_model.json": "model"},
                params={"alpha": ex.alpha},
                role="train",
            ),
            step(
                "score",
                f"{STEPS}:score",
                inputs=["toy_model.json", "toy_test.csv"],
                outputs={"toy_scores.json": "evaluation"},
                role="evaluate",
            ),
        ]
    )
