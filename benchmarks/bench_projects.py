"""New projects benchmark: ``modelmill init`` + ``modelmill run`` on real public tables.

    python benchmarks/bench_projects.py                      # every table (+ the NYC sample if present)
    python benchmarks/bench_projects.py --tables diabetes cars
    python benchmarks/bench_projects.py --threads 1 --json   # one OpenMP thread everywhere; JSON
    python benchmarks/bench_projects.py --splits 1           # one split per table (quick)
    python benchmarks/bench_projects.py --tables breast_cancer wine --requests 0   # no serving

Regression tables: scikit-learn's diabetes, vega_datasets' cars and seattle-weather, statsmodels'
grunfeld and fair, read from the installed packages; the real NYC sample when
``/work/shared/data/nyc_airbnb_2019_sample.csv`` exists. Classification tables
(``tests.data_tables.CLASSIFICATION_TABLES``): breast_cancer (binary, text labels), anes96
(binary, integer labels), wine (three classes). Each is written to a CSV in a temporary folder,
as a new user would, then:

* ``modelmill init DIR --data FILE --target COL``, no edit to the generated files (init infers
  the task: regression, binary or multiclass);
* ``modelmill run --json`` from DIR twice, each in its own process (the wall time a user waits,
  imports included): ``cold_s`` the first run, ``cached_s`` the second, which must replay
  every step from the cache;
* then ``modelmill run dataset.split.seed=S`` for S = 1 .. ``--splits`` - 1 (default 5 splits in
  all): one table's split is a coin toss on a few hundred rows, so figures are means over splits;
* ``ours``: the test metrics of the project's default model, from the run (regression:
  ``test_mae``, ``test_r2``; binary: ``test_roc_auc``; multiclass: ``test_roc_auc_ovr``; both
  classifiers: ``test_log_loss``, ``test_accuracy``) and its ``fit_s`` (the train step's fit,
  ``fit_seconds``; the default family adds trees until the project's validation part stops
  improving, see ``modelmill.features.fitting``; a classifier is then calibrated there);
* ``hgb``: scikit-learn's ``HistGradientBoostingRegressor()`` (regression) or
  ``HistGradientBoostingClassifier()`` (classification, the user's labels) with default
  parameters and ``categorical_features="from_dtype"``, seeded like the project, fitted in this
  process on the SAME rows the train step fitted on (the project's ``trainval_data.csv`` minus
  the validation part it held out, as ``split_train_val`` draws it) and scored on the same
  ``test_data.csv`` by the project's task (``modelmill.tasks.get_task(spec.task).score``, a
  classifier's with its ``predict_proba``); its inputs are built from the project's spec as
  ``bench_models.baseline_frame`` does (categorical columns as pandas categories, dates as
  days, text columns left out); its ``fit_s`` is the best of three fits (the same seed: the same
  model), since a finished run may leave its deferred tracking working in the background.

Margins. Regression: ``margin`` > 0: our mean test MAE is that fraction below the baseline's (the
issue asks for >= 0 on every table). Classification: on the task's promotion metric, in its own
units, direction-aware, of the means over splits: binary ``roc_auc`` (higher is better),
``margin = ours - hgb``; multiclass ``log_loss`` (lower is better), ``margin = hgb - ours``; so
> 0 means ours is better either way. ``wins``: the splits where ours is at least as good on
that metric (MAE for regression).

Serving (classification tables, after the runs; ``--requests 0`` skips it): the project's prod
model (``models:/<name>@prod``, whichever run promoted it) served by ``modelmill serve
--runtime onnx`` then ``--runtime sklearn``, each its own process started from DIR on a free
port (``/metadata`` names the runtime actually serving). Once ``/ready`` answers, this process
posts the table's first row (every column but the target, as the user's raw data, NaN as
null) to ``/predict`` over one keep-alive ``http.client`` connection: ``--warmup`` (30)
untimed, then ``--requests`` (300) timed one after another, Python's garbage collector off
while timing. What is timed is the whole round trip seen by a client: sending the request
(its JSON body encoded once, beforehand), loopback HTTP, the server's parsing and validation,
the prediction with class probabilities, its JSON answer, and reading that answer (not
decoding it). ``p50``/``p95`` in ms; the issue's target is a p50 under 4 ms with ONNX.
``same``/``max_dp``: whether both runtimes give the row the same label, and their largest
probability difference.

``--threads N`` sets ``OMP_NUM_THREADS`` for the runs and servers and limits this process's
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

import _classify
from _common import REAL

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.data_tables: the public tables the project tests use

from tests import data_tables  # noqa: E402

TABLES: dict[str, tuple[Callable[[], Any], str]] = {
    **data_tables.PROJECT_TABLES,
    "fair": (data_tables.fair, "affairs"),
}
CLASSIFICATION: dict[str, tuple[Callable[[], Any], str]] = dict(data_tables.CLASSIFICATION_TABLES)


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


def project_run(
    root: Path, name: str, frame: Any, target: str, threads: int | None, splits: int,
    split_figures: Callable[[dict[str, Any], Path, list[str]], dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """init, a cold run and a cached run of a new project for ``frame``, then one run per other
    split seed; per split, ``split_figures(run metrics, project dir, overrides)``: our test
    metrics and the sklearn default's on the same rows."""
    data = root / f"{name}.csv"
    frame.to_csv(data, index=False)
    directory = root / name
    _, init_s = modelmill(["init", str(directory), "--data", str(data), "--target", target], root, threads)
    cold, cold_s = modelmill(["run", "--json"], directory, threads)
    cached, cached_s = modelmill(["run", "--json"], directory, threads)
    first, second = json.loads(cold.stdout), json.loads(cached.stdout)
    not_cached = [s["name"] for s in second["steps"] if s["status"] != "cached"]
    per_split = [split_figures(first["metrics"], directory, [])]
    for seed in range(1, splits):
        override = [f"dataset.split.seed={seed}"]
        summary = json.loads(modelmill(["run", "--json", *override], directory, threads)[0].stdout)
        per_split.append(split_figures(summary["metrics"], directory, override))
    return {
        "rows": len(frame), "init_s": round(init_s, 2), "cold_s": round(cold_s, 2),
        "cached_s": round(cached_s, 2), "not_cached": not_cached, "splits": per_split,
    }  # fmt: skip


def _pair(metrics: dict[str, Any], hgb: dict[str, Any]) -> dict[str, Any]:
    ours = {"test_mae": metrics["test_mae"], "test_r2": metrics["test_r2"], "fit_s": metrics["fit_seconds"]}
    return {"ours": ours, "hgb": hgb}


def _mean(parts: list[dict[str, Any]]) -> dict[str, float]:
    return {k: float(sum(p[k] for p in parts) / len(parts)) for k in ("test_mae", "test_r2", "fit_s")}


def baseline(directory: Path, threads: int | None, overrides: list[str]) -> dict[str, Any]:
    """The sklearn default fitted on the project's own train part, scored on its test set
    (the split the latest run made: ``overrides`` are that run's)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    from modelmill.tasks import get_task

    spec, params, train, y_train, rows, y_test = _classify.baseline_rows(directory, overrides)
    model = HistGradientBoostingRegressor(
        categorical_features="from_dtype", random_state=int(params["random_seed"])
    )
    with threadpool_limits(threads, user_api="openmp") if threads else nullcontext():
        fit_s = min(_classify.timed_fit(model, train, y_train) for _ in range(3))
        scores = get_task(spec.task).score(y_test, model.predict(rows))
    return {"test_mae": scores["mae"], "test_r2": scores["r2"], "fit_s": round(fit_s, 3),
            "train_rows": len(train), "test_rows": len(rows)}  # fmt: skip


def bench(
    name: str, load: Callable[[], Any], target: str, threads: int | None, splits: int
) -> dict[str, Any]:
    def pair(metrics: dict[str, Any], directory: Path, overrides: list[str]) -> dict[str, Any]:
        return _pair(metrics, baseline(directory, threads, overrides))

    with tempfile.TemporaryDirectory(prefix=f"bench-projects-{name}-") as tmp:
        figures = project_run(Path(tmp), name, load(), target, threads, splits, pair)
    per_split = figures["splits"]
    figures["ours"] = _mean([s["ours"] for s in per_split])
    figures["hgb"] = _mean([s["hgb"] for s in per_split])
    figures["wins"] = sum(s["ours"]["test_mae"] <= s["hgb"]["test_mae"] for s in per_split)
    ours, hgb = figures["ours"]["test_mae"], figures["hgb"]["test_mae"]
    figures["margin"] = round((hgb - ours) / hgb, 4)  # of the mean test MAEs
    return figures


def bench_classification(
    name: str, load: Callable[[], Any], target: str, threads: int | None, splits: int, requests: int,
    warmup: int,
) -> dict[str, Any]:  # fmt: skip
    """The same flow for a classification table, then the served latency of its prod model."""

    def pair(metrics: dict[str, Any], directory: Path, overrides: list[str]) -> dict[str, Any]:
        return _classify.pair(metrics, _classify.baseline(directory, threads, overrides))

    frame = load()
    with tempfile.TemporaryDirectory(prefix=f"bench-projects-{name}-") as tmp:
        figures = project_run(Path(tmp), name, frame, target, threads, splits, pair)
        figures.update(_classify.summary(figures["splits"]))
        if requests:
            row = _classify.raw_row(frame, target)
            figures["latency"] = _classify.latency(Path(tmp) / name, row, threads, requests, warmup)
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tables = [*TABLES, "nyc_airbnb"] if REAL.exists() else list(TABLES)
    tables += list(CLASSIFICATION)
    parser.add_argument("--tables", nargs="+", choices=tables, default=tables, help="tables to run")
    parser.add_argument("--threads", type=int, default=0, help="OpenMP threads (default: all cores)")
    parser.add_argument("--splits", type=int, default=5, help="random splits per table (split seeds)")
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        help="timed /predict requests per runtime and classification table (0: no serving)",
    )
    parser.add_argument("--warmup", type=int, default=30, help="untimed /predict requests before those")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()  # fmt: skip
    threads = args.threads or None
    results: dict[str, Any] = {}
    classified: dict[str, Any] = {}
    for name in args.tables:
        if name in CLASSIFICATION:
            load, target = CLASSIFICATION[name]
            try:
                figures = bench_classification(name, load, target, threads, args.splits, args.requests,
                                               args.warmup)  # fmt: skip
                classified[name] = {"target": target, **figures}
            except RuntimeError as exc:
                classified[name] = {"target": target, "error": str(exc)}
        else:
            load, target = (nyc_sample, "price") if name == "nyc_airbnb" else TABLES[name]
            try:
                results[name] = {"target": target, **bench(name, load, target, threads, args.splits)}
            except RuntimeError as exc:
                results[name] = {"target": target, "error": str(exc)}
        if not args.json:
            print(f"  {name}: done", file=sys.stderr, flush=True)
    if args.json:
        figures = {"threads": args.threads or "all", "cpus": os.cpu_count(), "tables": results,
                   "classification": classified}  # fmt: skip
        print(json.dumps(figures, indent=2))
        return
    if results:
        print_regression(results, args.splits, args.threads)
    if classified:
        _classify.print_section(classified, args.splits, args.requests, args.warmup)


def print_regression(results: dict[str, Any], splits: int, threads: int) -> None:
    """The regression tables, as they have always been printed."""
    print(
        "new projects: modelmill init + run (defaults, no edit) vs HistGradientBoostingRegressor() "
        f"(from_dtype), same rows; means over {splits} random splits (split seeds 42, 1..); "
        f"{os.cpu_count()} cpus, OpenMP threads: {threads or 'all'}"
    )
    head = (f"{'table':16} {'rows':>6} {'target':>17}  {'ours_mae':>9} {'hgb_mae':>9} {'margin':>8} "
            f"{'wins':>5} {'ours_r2':>8} {'hgb_r2':>7}  {'ours_fit':>8} {'hgb_fit':>7}  {'init_s':>6} "
            f"{'cold_s':>6} {'cached_s':>8}")  # fmt: skip
    print(head)
    for name, r in results.items():
        if "error" in r:
            print(f"{name:16} failed: {r['error']}")
            continue
        ours, hgb = r["ours"], r["hgb"]
        cached = _classify.cached_cell(r)
        print(f"{name:16} {r['rows']:6d} {r['target']:>17}  {ours['test_mae']:9.4g} {hgb['test_mae']:9.4g} "
              f"{r['margin']:+8.2%} {r['wins']:>2}/{len(r['splits']):<2} {ours['test_r2']:8.3f} "
              f"{hgb['test_r2']:7.3f}  {ours['fit_s']:8.2f} "
              f"{hgb['fit_s']:7.2f}  {r['init_s']:6.2f} {r['cold_s']:6.2f} {cached}")  # fmt: skip
    worse = [n for n, r in results.items() if "error" not in r and r["margin"] < 0]
    verdict = f"below the default on: {', '.join(worse)}" if worse else "at least as good on every table"
    print(
        f"margin > 0: our mean test MAE is that fraction below the sklearn default's; wins: splits where "
        f"ours <= the default's; {verdict}"
    )


if __name__ == "__main__":
    main()
