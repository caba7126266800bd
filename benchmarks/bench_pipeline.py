"""NYC pipeline benchmark: full pipeline wall time (cold, cached) vs. the model fit alone.

    python benchmarks/bench_pipeline.py                 # real sample if present, else demo data
    python benchmarks/bench_pipeline.py --rows 16000    # demo data of that size
    python benchmarks/bench_pipeline.py --json

The pipeline runs as a subprocess of the installed ``modelmill`` script in a temporary
workspace with default tracking (MLflow). The fit alone is the same inference pipeline
fitted in-process on the same training rows, so ``wall - fit`` is what modelmill adds:
interpreter and library imports (``import mlflow`` ~3 s), data steps, validation, model
export, evaluation, registry and tracking. The cold run also creates the MLflow database
(its schema is copied from a per-machine template after the first workspace, see
``modelmill.tracking.sqlite_seed``); the ``--force`` run recomputes every step in an
existing workspace, with MLflow tracking and with ``main.tracking=none`` (the median of
``--repeat`` runs each, like the fit alone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import data_overrides, print_figures


def run_pipeline(workspace: Path, overrides: list[str], *flags: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds and JSON summary of one ``modelmill run``."""
    script = Path(sys.executable).parent / "modelmill"
    started = time.perf_counter()
    proc = subprocess.run(
        [str(script), "run", f"main.workspace={workspace}", *overrides, "--json", *flags],
        capture_output=True, text=True, check=False, cwd=workspace.parent,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"modelmill run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout)


def fit_alone(workspace: Path) -> float:
    """Seconds to fit the course's inference pipeline on the run's train split, in-process."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from modelmill import config, open_workspace
    from modelmill.features.pipeline import build_inference_pipeline

    cfg = config.compose([])
    mod = cfg.modeling
    trainval = pd.read_csv(open_workspace(workspace).store.path("trainval_data.csv"))
    train, _ = train_test_split(trainval, test_size=mod.val_size, random_state=mod.random_seed,
                                stratify=trainval[mod.stratify_by])  # fmt: skip
    from modelmill.datasets.spec import spec_from_config

    family = {"estimator": "random_forest", "random_forest": dict(mod.random_forest)}
    params = spec_from_config(cfg).features_params() | {"random_seed": mod.random_seed, **family}
    model = build_inference_pipeline(params)
    started = time.perf_counter()
    model.fit(train.drop(columns=["price"]), train["price"])
    return time.perf_counter() - started


def median_run(repeat: int, once: Callable[[], tuple[float, dict[str, Any]]]) -> tuple[float, dict[str, Any]]:
    """The run with the median wall time of ``repeat`` runs (the machine's noise is large)."""
    runs = sorted((once() for _ in range(max(1, repeat))), key=lambda r: r[0])
    return runs[len(runs) // 2]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="use demo data of this size")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--repeat", type=int, default=3, help="forced runs and fits to take the median of")
    args = parser.parse_args()
    overrides, described = data_overrides(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        cold, summary = run_pipeline(ws, overrides)
        # after the first promotion, `prod` changed: evaluate/register re-run once against it
        second, after_promotion = run_pipeline(ws, overrides)
        time.sleep(1.0)
        cached, again = run_pipeline(ws, overrides)
        # every step recomputed in a workspace whose MLflow database already exists
        forced, recomputed = median_run(args.repeat, lambda: run_pipeline(ws, overrides, "--force"))
        # the same without MLflow tracking: what the runner, store and config cost alone
        untracked, bare = median_run(
            args.repeat, lambda: run_pipeline(ws, [*overrides, "main.tracking=none"], "--force")
        )
        fit = statistics.median(fit_alone(ws) for _ in range(args.repeat))
    steps = {s["name"]: s["seconds"] for s in summary["steps"]}
    figures = {
        "data": described,
        "cold_wall_s": round(cold, 2),
        "second_wall_s": round(second, 2),
        "second_ran": [s["name"] for s in after_promotion["steps"] if s["status"] == "ran"],
        "cached_wall_s": round(cached, 2),
        "cached_statuses": sorted({s["status"] for s in again["steps"]}),
        "forced_wall_s": round(forced, 2),
        "fit_alone_s": round(fit, 2), "fit_in_train_step_s": summary["metrics"].get("fit_seconds"),
        "train_step_s": steps.get("train"),
        "overhead_cold_s": round(cold - fit, 2), "overhead_forced_s": round(forced - fit, 2),
        # outside every step: interpreter, config, runner, store, MLflow client import + logging
        "framework_forced_s": round(forced - sum(s["seconds"] for s in recomputed["steps"]), 2),
        "untracked_forced_wall_s": round(untracked, 2),
        # interpreter + CLI + config + runner + store, MLflow off (the train step still
        # imports MLflow to write the model in MLflow format)
        "runner_untracked_s": round(untracked - sum(s["seconds"] for s in bare["steps"]), 2),
        # what the train step spends besides the fit: validation scoring, plot, MLflow export
        "train_besides_fit_s": round(
            next(s["seconds"] for s in recomputed["steps"] if s["name"] == "train")
            - recomputed["metrics"].get("fit_seconds", 0.0), 2),
        "steps_s": steps,
        "forced_steps_s": {s["name"]: s["seconds"] for s in recomputed["steps"]},
        "test_mae": summary["metrics"].get("test_mae"),
    }  # fmt: skip
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
