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

Two more rows: ``gradient_boosting`` (a new project's default family, ``model=gradient_boosting``)
and ``hgb_default_from_dtype``, scikit-learn's ``HistGradientBoostingRegressor()`` with default
parameters and ``categorical_features="from_dtype"`` fitted on the same train part (the spec's
categorical, ordinal and boolean columns as pandas categories, numbers as they are, dates as
days since 1970-01-01, text columns left out: it has no text features), the baseline the
default family must match or beat.
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
    "gradient_boosting": ["model=gradient_boosting"],  # a new project's default family
}
BASELINE = "hgb_default_from_dtype"
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
    from modelmill.datasets.spec import spec_from_config
    from modelmill.pipelines.tabular import train_params
    from modelmill.steps.train import features_and_target, fit_and_score
    from modelmill.tasks import get_task

    cfg = config.compose(overrides)
    spec = spec_from_config(cfg)
    params = {**train_params(cfg.modeling, spec), "model": str(cfg.main.model_artifact)}
    fitted = fit_and_score(trainval, params)
    x_test, y_test = features_and_target(test, spec.target, "test_data.csv")
    scores = get_task(spec.task).score(y_test, fitted.pipeline.predict(x_test))
    return {
        "overrides": " ".join(overrides) or "(defaults)",
        "estimator": params["estimator"],
        "target_transform": params["target_transform"],
        "test_mae": round(scores["mae"], 3),
        "val_mae": round(fitted.metrics["val_mae"], 3),
        "test_r2": round(scores["r2"], 4),
        "fit_s": round(fitted.metrics["fit_seconds"], 2),
    }


def baseline_frame(frame: Any, features: list[dict[str, Any]]) -> Any:
    """The spec's input columns as ``categorical_features="from_dtype"`` reads them (text left out)."""
    import pandas as pd

    out = {}
    for feature in features:
        name, role = feature["name"], feature["role"]
        if role in ("categorical", "ordinal", "boolean"):
            out[name] = frame[name].astype(str).where(frame[name].notna()).astype("category")
        elif role == "date":
            out[name] = (pd.to_datetime(frame[name], errors="coerce") - pd.Timestamp("1970-01-01")).dt.days
        elif role != "text":
            out[name] = pd.to_numeric(frame[name], errors="coerce")
    return pd.DataFrame(out, index=frame.index)


def fit_baseline(trainval: Any, test: Any) -> dict[str, Any]:
    """``HistGradientBoostingRegressor()`` (defaults, ``from_dtype``) on the train step's train
    part, scored on its validation part and on the test set."""
    import time

    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    from modelmill import config
    from modelmill.datasets.spec import spec_from_config
    from modelmill.pipelines.tabular import train_params
    from modelmill.steps.train import features_and_target, split_train_val
    from modelmill.tasks import get_task

    cfg = config.compose([])
    spec = spec_from_config(cfg)
    params = train_params(cfg.modeling, spec)
    task = get_task(spec.task)
    x_train, x_val, y_train, y_val = split_train_val(trainval, params)
    x_test, y_test = features_and_target(test, spec.target, "test_data.csv")
    features = params["features"]
    categories = {f["name"]: None for f in features if f["role"] in ("categorical", "ordinal", "boolean")}
    train = baseline_frame(x_train, features)
    for name in categories:  # one category set for every part (unseen values: missing)
        categories[name] = train[name].cat.categories
    model = HistGradientBoostingRegressor(
        categorical_features="from_dtype", random_state=int(params["random_seed"])
    )
    started = time.perf_counter()
    model.fit(train, y_train)
    fit_s = time.perf_counter() - started

    def predict(x: Any) -> Any:
        rows = baseline_frame(x, features)
        for name, known in categories.items():
            rows[name] = pd.Categorical(rows[name].astype(object), categories=known)
        return model.predict(rows)

    val, scores = task.score(y_val, predict(x_val)), task.score(y_test, predict(x_test))
    return {
        "overrides": "HistGradientBoostingRegressor(categorical_features='from_dtype')",
        "estimator": "sklearn default", "target_transform": "none",
        "test_mae": round(scores["mae"], 3), "val_mae": round(val["mae"], 3),
        "test_r2": round(scores["r2"], 4), "fit_s": round(fit_s, 2),
    }  # fmt: skip


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
    results[BASELINE] = fit_baseline(trainval, test)
    course, tuned = results["course_random_forest"], results["hist_gradient_boosting"]
    figures = {
        "data": described,
        "rows_trainval_test": [len(trainval), len(test)],
        "models": results,
        # > 0: the tuned model's test MAE is that fraction below the course forest's
        "test_mae_margin": round((course["test_mae"] - tuned["test_mae"]) / course["test_mae"], 4),
        "val_mae_margin": round((course["val_mae"] - tuned["val_mae"]) / course["val_mae"], 4),
        "fit_ratio": round(tuned["fit_s"] / course["fit_s"], 3),
        # > 0: the default family's test MAE is that fraction below the sklearn default's
        "default_vs_baseline_margin": round(
            (results[BASELINE]["test_mae"] - results["gradient_boosting"]["test_mae"])
            / results[BASELINE]["test_mae"],
            4,
        ),
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
    print(f"gradient_boosting vs {BASELINE}: test MAE margin {figures['default_vs_baseline_margin']:+.2%}")


if __name__ == "__main__":
    main()
