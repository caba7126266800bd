"""Model families benchmark: the course's random forest vs the tuned gradient boosting.

    python benchmarks/bench_models.py                 # real sample if present, else demo data
    python benchmarks/bench_models.py --rows 16000    # demo data of that size
    python benchmarks/bench_models.py --json

The pipeline's own data steps (get_data -> basic_cleaning -> data_check -> data_split,
``modeling.test_size`` 0.2, seed 42) run once in a temporary workspace with tracking
off; then each configuration is fitted in-process exactly as the train step fits it
(``modelmill.steps.train.fit_and_score``: the same train/validation split of
``trainval_data.csv`` and the train step's params from the composed config) and scored
on the validation part and on ``test_data.csv``. Both fits run back to back in this
process, so their ``fit_s`` are comparable (all cores: the forest's ``n_jobs=-1``,
the boosting's OpenMP threads). The margin is the relative test MAE improvement.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from _common import data_overrides

CONFIGS = {
    "course_random_forest": [],  # the default: model=random_forest
    "hist_gradient_boosting": ["model=hist_gradient_boosting"],
}
DATA_STEPS = "main.steps=get_data,basic_cleaning,data_check,data_split"


def split(workspace: Path, data: list[str]) -> tuple[Any, Any]:
    """``(trainval, test)`` frames written by the pipeline's own data steps."""
    import pandas as pd

    import modelmill
    from modelmill.runner import PlainReporter

    overrides = [*data, DATA_STEPS, "main.tracking=none", f"main.workspace={workspace}"]
    summary = modelmill.run(overrides, reporter=PlainReporter(io.StringIO()))
    if summary.status != "success":
        errors = [f"{s.name}: {s.error}" for s in summary.steps if s.error]
        raise SystemExit(f"data steps failed: {errors}")
    store = modelmill.open_workspace(workspace).store
    return pd.read_csv(store.path("trainval_data.csv")), pd.read_csv(store.path("test_data.csv"))


def fit(overrides: list[str], trainval: Any, test: Any) -> dict[str, Any]:
    """Fit one configuration like the train step does; its figures."""
    from modelmill import config
    from modelmill.features.metrics import regression_metrics
    from modelmill.pipelines.nyc import train_params
    from modelmill.steps.train import fit_and_score

    params = train_params(config.compose(overrides).modeling)
    fitted = fit_and_score(trainval, params)
    scores = regression_metrics(test["price"], fitted.pipeline.predict(test.drop(columns=["price"])))
    return {
        "overrides": " ".join(overrides) or "(defaults)",
        "estimator": params["estimator"],
        "target_transform": params["target_transform"],
        "test_mae": round(scores["mae"], 3),
        "val_mae": round(fitted.metrics["val_mae"], 3),
        "test_r2": round(scores["r2"], 4),
        "fit_s": round(fitted.metrics["fit_seconds"], 2),
    }


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="use demo data of this size")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    data, described = data_overrides(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        trainval, test = split(Path(tmp) / "ws", data)
    results = {name: fit(overrides, trainval, test) for name, overrides in CONFIGS.items()}
    course, tuned = results["course_random_forest"], results["hist_gradient_boosting"]
    figures = {
        "data": described,
        "rows_trainval_test": [len(trainval), len(test)],
        "models": results,
        # > 0: the tuned model's test MAE is that fraction below the course forest's
        "test_mae_margin": round((course["test_mae"] - tuned["test_mae"]) / course["test_mae"], 4),
        "val_mae_margin": round((course["val_mae"] - tuned["val_mae"]) / course["val_mae"], 4),
        "fit_ratio": round(tuned["fit_s"] / course["fit_s"], 3),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"data: {figures['data']} (trainval, test rows: {figures['rows_trainval_test']})")
    print(f"{'model':24} {'test_mae':>9} {'val_mae':>9} {'test_r2':>8} {'fit_s':>7}")
    for name, r in results.items():
        print(f"{name:24} {r['test_mae']:9.3f} {r['val_mae']:9.3f} {r['test_r2']:8.4f} {r['fit_s']:7.2f}")
    print(f"test MAE margin {figures['test_mae_margin']:+.2%}, val MAE margin "
          f"{figures['val_mae_margin']:+.2%}, fit time ratio {figures['fit_ratio']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
