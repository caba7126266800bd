"""The classification half of ``bench_projects.py`` (its docstring says what is measured): the
project's own rows for a baseline, the ``HistGradientBoostingClassifier`` baseline, the per-split
pairs and their means, the served latency of the prod model, and the printed section."""

from __future__ import annotations

import gc
import http.client
import json
import math
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench_models import baseline_frame
from bench_serve import free_port, stop, wait_ready

HEADERS = {"Content-Type": "application/json"}


def cached_cell(r: dict[str, Any]) -> str:
    """The cached run's seconds, and the steps that re-ran when it was not fully cached."""
    return f"{r['cached_s']:8.2f}" + ("" if not r["not_cached"] else f"  re-ran: {','.join(r['not_cached'])}")


def baseline_rows(directory: Path, overrides: list[str]) -> tuple[Any, dict[str, Any], Any, Any, Any, Any]:
    """``(spec, params, x_train, y_train, x_test, y_test)``: the rows the train step fitted on
    (``trainval_data.csv`` minus the validation part ``split_train_val`` holds out) and the test
    set, built as ``bench_models.baseline_frame`` does, one category set for both parts (values
    unseen in training: missing). ``overrides``: those of the run that made the split."""
    import pandas as pd

    import modelmill
    from modelmill import config
    from modelmill.datasets.spec import spec_from_config
    from modelmill.pipelines.tabular import train_params
    from modelmill.steps.train import features_and_target, split_train_val

    cfg = config.compose(overrides, config_dir=directory / "conf")
    spec = spec_from_config(cfg)
    params = train_params(cfg.modeling, spec)
    store = modelmill.open_workspace(directory / ".modelmill").store
    trainval = pd.read_csv(store.path("trainval_data.csv"))
    test = pd.read_csv(store.path("test_data.csv"))
    x_train, _, y_train, _ = split_train_val(trainval, params)
    x_test, y_test = features_and_target(test, spec.target, "test_data.csv", spec.task)
    features = params["features"]
    train = baseline_frame(x_train, features)
    categories = {
        c: train[c].cat.categories for c in train.columns if isinstance(train[c].dtype, pd.CategoricalDtype)
    }
    rows = baseline_frame(x_test, features)
    for name, known in categories.items():
        values = rows[name].astype(object)
        rows[name] = pd.Categorical(values.where(values.isin(known)), categories=known)
    return spec, params, train, y_train, rows, y_test


def timed_fit(model: Any, x: Any, y: Any) -> float:
    started = time.perf_counter()
    model.fit(x, y)
    return time.perf_counter() - started


def _names(task: str) -> list[str]:
    """The test metrics reported per split: the ranking one, the log loss and the accuracy."""
    return ["roc_auc" if task == "binary" else "roc_auc_ovr", "log_loss", "accuracy"]


def baseline(directory: Path, threads: int | None, overrides: list[str]) -> dict[str, Any]:
    """``HistGradientBoostingClassifier(categorical_features="from_dtype")`` seeded like the
    project, fitted on the train step's rows (labels as the user's), scored on the test set by
    the project's task; ``fit_s`` the best of three fits."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from modelmill.tasks import get_task

    spec, params, train, y_train, rows, y_test = baseline_rows(directory, overrides)
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", random_state=int(params["random_seed"])
    )
    with threadpool_limits(threads, user_api="openmp") if threads else nullcontext():
        fit_s = min(timed_fit(model, train, y_train) for _ in range(3))
        pred, proba = model.predict(rows), model.predict_proba(rows)
    scores = get_task(spec.task).score(y_test, pred, proba, list(model.classes_))
    figures = {f"test_{m}": scores.get(m) for m in _names(spec.task)}
    return {"task": spec.task, **figures, "fit_s": round(fit_s, 3), "train_rows": len(train),
            "test_rows": len(rows)}  # fmt: skip


def pair(metrics: dict[str, Any], hgb: dict[str, Any]) -> dict[str, Any]:
    """One split: our run's test metrics beside the baseline's."""
    ours = {f"test_{m}": metrics.get(f"test_{m}") for m in _names(hgb["task"])}
    return {"ours": {**ours, "fit_s": metrics["fit_seconds"]}, "hgb": hgb}


def summary(per_split: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over splits, the margin on the promotion metric and the wins (see the docstring)."""
    from modelmill.tasks import get_task

    task = get_task(per_split[0]["hgb"]["task"])
    keys = [*(f"test_{m}" for m in _names(task.kind)), "fit_s"]
    ours = _mean([s["ours"] for s in per_split], keys)
    hgb = _mean([s["hgb"] for s in per_split], keys)
    metric = task.default_metric
    sign = -1.0 if task.lower_is_better(metric) else 1.0
    key = f"test_{metric}"
    margin = sign * (ours[key] - hgb[key])
    both = [s for s in per_split if s["ours"][key] is not None and s["hgb"][key] is not None]
    wins = sum(sign * (s["ours"][key] - s["hgb"][key]) >= 0 for s in both)
    return {"task": task.kind, "metric": metric, "ours": ours, "hgb": hgb,
            "margin": round(margin, 4), "wins": int(wins)}  # fmt: skip


def _mean(parts: list[dict[str, Any]], keys: list[str]) -> dict[str, float]:
    """Means over the splits where a figure exists (``roc_auc_ovr`` needs every class in the test
    rows); NaN when none has it."""
    out = {}
    for key in keys:
        values = [float(p[key]) for p in parts if p.get(key) is not None]
        out[key] = sum(values) / len(values) if values else math.nan
    return out


def raw_row(frame: Any, target: str) -> dict[str, Any]:
    """The table's first row as a user posts it: every column but the target, NaN -> None."""
    record = frame.drop(columns=[target]).astype(object).iloc[0].to_dict()
    plain = {k: v.item() if hasattr(v, "item") else v for k, v in record.items()}
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in plain.items()}


def latency(
    directory: Path, row: dict[str, Any], threads: int | None, requests: int, warmup: int
) -> dict[str, Any]:
    """Per runtime (``onnx``, ``sklearn``): one served prediction's latency, and whether both
    runtimes answer alike (same label, largest probability difference)."""
    out: dict[str, Any] = {}
    for runtime in ("onnx", "sklearn"):
        try:
            out[runtime] = serve_latency(directory, row, runtime, threads, requests, warmup)
        except (RuntimeError, OSError, ValueError) as exc:
            out[runtime] = {"error": str(exc).strip().splitlines()[-1][:300]}
    first = [out[r].pop("answer", None) for r in ("onnx", "sklearn")]
    if all(first):
        onnx, sklearn = first
        out["same_label"] = onnx["predictions"] == sklearn["predictions"]
        a, b = onnx["probabilities"][0], sklearn["probabilities"][0]
        out["max_proba_diff"] = max(abs(a[c] - b[c]) for c in a)
    return out


def serve_latency(
    directory: Path, row: dict[str, Any], runtime: str, threads: int | None, requests: int, warmup: int,
    timeout: float = 180,
) -> dict[str, Any]:  # fmt: skip
    """``modelmill serve --runtime RUNTIME`` from the project (its prod model) on a free port, in
    its own process; once ``/ready``, ``warmup`` then ``requests`` POST ``/predict`` of ``row``
    over one keep-alive ``http.client`` connection from this process (garbage collector off
    while timing); p50/p95 of the round trips (ms)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODELMILL_HOME", "MLFLOW_TRACKING_URI")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    port = free_port()
    log = directory / f"serve-{runtime}.log"
    cmd = [sys.executable, "-m", "modelmill.cli", "serve", "--runtime", runtime, "--port", str(port),
           "--log-level", "warning"]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=directory, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        ready_s = wait_ready(proc, f"http://127.0.0.1:{port}/ready", log, timeout)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/metadata")
        served = json.loads(conn.getresponse().read())["model"]
        body = json.dumps(row).encode()
        answer = json.loads(_post(conn, body))
        for _ in range(warmup):
            _post(conn, body)
        seconds = []
        gc.disable()
        try:
            for _ in range(requests):
                began = time.perf_counter()
                _post(conn, body)
                seconds.append(time.perf_counter() - began)
        finally:
            gc.enable()
        conn.close()
    finally:
        stop(proc)
    seconds.sort()

    def pct(q: float) -> float:
        return round(1000 * seconds[min(len(seconds) - 1, math.ceil(q * len(seconds)) - 1)], 2)

    return {"runtime": served.get("runtime"), "version": served.get("version"), "ready_s": round(ready_s, 1),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "answer": answer}  # fmt: skip


def _post(conn: http.client.HTTPConnection, body: bytes) -> bytes:
    conn.request("POST", "/predict", body, HEADERS)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"/predict answered {response.status}: {answer[:300]!r}")
    return answer


def print_section(results: dict[str, Any], splits: int, requests: int, warmup: int) -> None:
    """The classification tables: quality, times, then served latency."""
    print(
        "\nclassification: modelmill init + run (defaults, no edit) vs HistGradientBoostingClassifier() "
        f"(from_dtype), same rows; means over {splits} random splits (split seeds 42, 1..)"
    )
    print(f"{'table':16} {'rows':>6} {'target':>10} {'task':>10}  {'ours_auc':>8} {'hgb_auc':>8} "
          f"{'ours_ll':>8} {'hgb_ll':>8}  {'metric':>8} {'margin':>8} {'wins':>5}  {'ours_fit':>8} "
          f"{'hgb_fit':>7}  {'init_s':>6} {'cold_s':>6} {'cached_s':>8}")  # fmt: skip
    for name, r in results.items():
        if "error" in r:
            print(f"{name:16} failed: {r['error']}")
            continue
        ours, hgb = r["ours"], r["hgb"]
        auc = "test_roc_auc" if r["task"] == "binary" else "test_roc_auc_ovr"
        cached = cached_cell(r)
        print(f"{name:16} {r['rows']:6d} {r['target']:>10} {r['task']:>10}  {ours[auc]:8.4f} {hgb[auc]:8.4f} "
              f"{ours['test_log_loss']:8.4f} {hgb['test_log_loss']:8.4f}  {r['metric']:>8} "
              f"{r['margin']:+8.4f} {r['wins']:>2}/{len(r['splits']):<2}  {ours['fit_s']:8.2f} "
              f"{hgb['fit_s']:7.2f}  {r['init_s']:6.2f} {r['cold_s']:6.2f} {cached}")  # fmt: skip
    worse = [n for n, r in results.items() if "error" not in r and r["margin"] < 0]
    verdict = f"below the default on: {', '.join(worse)}" if worse else "at least as good on every table"
    print(
        "auc: roc_auc (binary) or roc_auc_ovr (multiclass); ll: log loss; margin > 0: ours better on the "
        f"promotion metric (ours - hgb for roc_auc, hgb - ours for log_loss); wins: splits where ours is "
        f"at least as good; {verdict}"
    )
    if not requests:
        return
    print(f"\nserved latency of one prediction with probabilities, prod model, POST /predict over HTTP "
          f"keep-alive; {requests} requests after {warmup} warm-up (ms)")  # fmt: skip
    print(f"{'table':16} {'onnx_p50':>8} {'onnx_p95':>8} {'skl_p50':>8} {'skl_p95':>8}  {'same':>5} "
          f"{'max_dp':>8}  served runtimes")  # fmt: skip
    slow = []
    for name, r in results.items():
        lat = r.get("latency")
        if not lat:
            continue
        print(f"{name:16} {_latency_line(lat)}")
        if "error" in lat["onnx"] or lat["onnx"]["p50_ms"] >= 4:
            slow.append(name)
    print(f"target: ONNX p50 under 4 ms; {'missed on: ' + ', '.join(slow) if slow else 'met on every table'}")


def _latency_line(lat: dict[str, Any]) -> str:
    cells, runtimes = [], []
    for runtime in ("onnx", "sklearn"):
        got = lat[runtime]
        if "error" in got:
            cells += [f"{'-':>8}"] * 2
            runtimes.append(f"{runtime}: {got['error']}")
        else:
            cells += [f"{got['p50_ms']:8.2f}", f"{got['p95_ms']:8.2f}"]
            runtimes.append(f"{runtime}: {got['runtime']} v{got['version']}")
    same = f"{'-':>5} {'-':>8}"
    if "same_label" in lat:
        same = f"{lat['same_label']!s:>5} {lat['max_proba_diff']:8.1e}"
    return f"{' '.join(cells)}  {same}  {'; '.join(runtimes)}"
