"""New projects benchmark: ``modelmill init`` + ``modelmill run`` on real public tables.

    python benchmarks/bench_projects.py                      # every table (+ the NYC sample if present)
    python benchmarks/bench_projects.py --tables diabetes cars
    python benchmarks/bench_projects.py --threads 1 --json   # one OpenMP thread everywhere; JSON

Per table (scikit-learn's diabetes, vega_datasets' cars and seattle-weather, statsmodels'
grunfeld and fair, read from the installed packages; the real NYC sample when
``/work/shared/data/nyc_airbnb_2019_sample.csv`` exists), written to a CSV in a temporary
folder, as a new user would:

* ``modelmill init DIR --data FILE --target COL``, no edit to the generated files;
* ``modelmill run --json`` from DIR twice, each in its own process (the wall time a user waits,
  imports included): ``cold_s`` the first run, ``cached_s`` the second, which must replay
  every step from the cache;
* ``ours``: the test metric of the project's default model (``test_mae``, from the run) and its
  ``fit_s`` (the train step's fit, ``fit_seconds``);
* ``hgb``: scikit-learn's ``HistGradientBoostingRegressor()`` with default parameters and
  ``categorical_features="from_dtype"``, seeded like the project, fitted in this process on the
  SAME rows the train step fitted on (the project's ``trainval_data.csv`` minus the validation
  part it held out, as ``split_train_val`` draws it) and scored on the same ``test_data.csv``;
  its inputs are built from the project's spec as ``bench_models.baseline_frame`` does
  (categorical columns as pandas categories, dates as days, text columns left out); its
  ``fit_s`` is the best of three fits (the same seed: the same model), since a finished run
  may leave its deferred tracking working in the background for a few seconds.

``margin`` > 0: our test MAE is that fraction below the baseline's (the issue asks for >= 0 on
every table). ``--threads N`` sets ``OMP_NUM_THREADS`` for the runs and limits this process's
OpenMP threads alike (default: all cores for both).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from _common import REAL
from bench_models import baseline_frame

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.data_tables: the public tables the project tests use

from tests import data_tables  # noqa: E402

TABLES: dict[str, tuple[Callable[[], Any], str]] = {
    **data_tables.PROJECT_TABLES,
    "fair": (data_tables.fair, "affairs"),
}


def nyc_sample() -> Any:
    import pandas as pd

    return pd.read_csv(REAL)


def modelmill(
    args: list[str], cwd: Path, threads: int | None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``modelmill ARGS`` in its own process from ``cwd`` (no ``$MODELMILL_HOME``: the project's
    workspace); the completed process and its wall time."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODELMILL_HOME", "MLFLOW_TRACKING_URI")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "modelmill.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"modelmill {' '.join(args)} exited {proc.returncode}: {tail}")
    return proc, seconds


def project_run(root: Path, name: str, frame: Any, target: str, threads: int | None) -> dict[str, Any]:
    """init, a cold run and a cached run of a new project for ``frame``; their figures."""
    data = root / f"{name}.csv"
    frame.to_csv(data, index=False)
    directory = root / name
    _, init_s = modelmill(["init", str(directory), "--data", str(data), "--target", target], root, threads)
    cold, cold_s = modelmill(["run", "--json"], directory, threads)
    cached, cached_s = modelmill(["run", "--json"], directory, threads)
    first, second = json.loads(cold.stdout), json.loads(cached.stdout)
    not_cached = [s["name"] for s in second["steps"] if s["status"] != "cached"]
    metrics = first["metrics"]
    return {
        "rows": len(frame), "init_s": round(init_s, 2), "cold_s": round(cold_s, 2),
        "cached_s": round(cached_s, 2), "not_cached": not_cached,
        "ours": {"test_mae": metrics["test_mae"], "test_r2": metrics["test_r2"],
                 "fit_s": metrics["fit_seconds"]},
    }  # fmt: skip


def baseline(directory: Path, threads: int | None) -> dict[str, Any]:
    """The sklearn default fitted on the project's own train part, scored on its test set."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    import modelmill
    from modelmill import config
    from modelmill.datasets.spec import spec_from_config
    from modelmill.pipelines.tabular import train_params
    from modelmill.steps.train import features_and_target, split_train_val
    from modelmill.tasks import get_task

    cfg = config.compose([], config_dir=directory / "conf")
    spec = spec_from_config(cfg)
    params = train_params(cfg.modeling, spec)
    store = modelmill.open_workspace(directory / ".modelmill").store
    trainval = pd.read_csv(store.path("trainval_data.csv"))
    test = pd.read_csv(store.path("test_data.csv"))
    x_train, _, y_train, _ = split_train_val(trainval, params)
    x_test, y_test = features_and_target(test, spec.target, "test_data.csv")
    features = params["features"]
    train = baseline_frame(x_train, features)
    categories = {
        c: train[c].cat.categories for c in train.columns if isinstance(train[c].dtype, pd.CategoricalDtype)
    }
    rows = baseline_frame(x_test, features)
    for name, known in categories.items():  # one category set for both parts (unseen: missing)
        values = rows[name].astype(object)
        rows[name] = pd.Categorical(values.where(values.isin(known)), categories=known)
    model = HistGradientBoostingRegressor(
        categorical_features="from_dtype", random_state=int(params["random_seed"])
    )
    with threadpool_limits(threads, user_api="openmp") if threads else nullcontext():
        fit_s = min(_timed_fit(model, train, y_train) for _ in range(3))
        scores = get_task(spec.task).score(y_test, model.predict(rows))
    return {"test_mae": scores["mae"], "test_r2": scores["r2"], "fit_s": round(fit_s, 3),
            "train_rows": len(train), "test_rows": len(rows)}  # fmt: skip


def _timed_fit(model: Any, x: Any, y: Any) -> float:
    started = time.perf_counter()
    model.fit(x, y)
    return time.perf_counter() - started


def bench(name: str, load: Callable[[], Any], target: str, threads: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-projects-{name}-") as tmp:
        root = Path(tmp)
        figures = project_run(root, name, load(), target, threads)
        figures["hgb"] = baseline(root / name, threads)
    ours, hgb = figures["ours"]["test_mae"], figures["hgb"]["test_mae"]
    figures["margin"] = round((hgb - ours) / hgb, 4)
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tables = [*TABLES, "nyc_airbnb"] if REAL.exists() else list(TABLES)
    parser.add_argument("--tables", nargs="+", choices=tables, default=tables, help="tables to run")
    parser.add_argument("--threads", type=int, default=0, help="OpenMP threads (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    threads = args.threads or None
    results: dict[str, Any] = {}
    for name in args.tables:
        load, target = (nyc_sample, "price") if name == "nyc_airbnb" else TABLES[name]
        try:
            results[name] = {"target": target, **bench(name, load, target, threads)}
        except RuntimeError as exc:
            results[name] = {"target": target, "error": str(exc)}
        if not args.json:
            print(f"  {name}: done", file=sys.stderr, flush=True)
    if args.json:
        print(
            json.dumps(
                {"threads": args.threads or "all", "cpus": os.cpu_count(), "tables": results}, indent=2
            )
        )
        return
    print(
        "new projects: modelmill init + run (defaults, no edit) vs HistGradientBoostingRegressor() "
        f"(from_dtype), same split; {os.cpu_count()} cpus, OpenMP threads: {args.threads or 'all'}"
    )
    head = (f"{'table':16} {'rows':>6} {'target':>17}  {'ours_mae':>9} {'hgb_mae':>9} {'margin':>8} "
            f"{'ours_r2':>8} {'hgb_r2':>7}  {'ours_fit':>8} {'hgb_fit':>7}  {'init_s':>6} {'cold_s':>6} "
            f"{'cached_s':>8}")  # fmt: skip
    print(head)
    for name, r in results.items():
        if "error" in r:
            print(f"{name:16} failed: {r['error']}")
            continue
        ours, hgb = r["ours"], r["hgb"]
        cached = f"{r['cached_s']:8.2f}" + (
            "" if not r["not_cached"] else f"  re-ran: {','.join(r['not_cached'])}"
        )
        print(f"{name:16} {r['rows']:6d} {r['target']:>17}  {ours['test_mae']:9.4g} {hgb['test_mae']:9.4g} "
              f"{r['margin']:+8.2%} {ours['test_r2']:8.3f} {hgb['test_r2']:7.3f}  {ours['fit_s']:8.2f} "
              f"{hgb['fit_s']:7.2f}  {r['init_s']:6.2f} {r['cold_s']:6.2f} {cached}")  # fmt: skip
    worse = [n for n, r in results.items() if "error" not in r and r["margin"] < 0]
    verdict = f"below the default on: {', '.join(worse)}" if worse else "at least as good on every table"
    print(f"margin > 0: our test MAE is that fraction below the sklearn default's; {verdict}")


if __name__ == "__main__":
    main()
