"""Online serving benchmark: ``modelmill serve`` against ``mlflow models serve`` on one model.

    python benchmarks/bench_serve.py                       # 300 requests per run after 30 warm-up
    python benchmarks/bench_serve.py --requests 1000 --json

A real NYC model (demo data, ``--rows`` rows, the default forest) is trained and registered
as ``models:/nyc_rentals@prod`` in a temporary workspace. Both servers load that alias as
subprocesses; one raw listing of the workspace's test split (without ``price``) is posted
``--requests`` times at each ``--concurrency`` (threads of a separate, standard-library-only
client process, ``_load.py``, one keep-alive connection each): to ours
as a JSON object on ``/predict``, to MLflow as ``dataframe_records`` on ``/invocations``.
Latency is per request (ms), throughput is requests over the wall time of the run;
``p50_ratio_cN`` is MLflow's p50 over ours (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_figures

MODEL_URI = "models:/nyc_rentals@prod"


def train(workspace: Path, rows: int) -> dict[str, Any]:
    """Train and register the NYC model; one raw test listing (no ``price``, NaN -> None)."""
    os.environ["MODELMILL_HOME"] = str(workspace)
    import pandas as pd

    from modelmill.api import open_workspace, run

    steps = "main.steps=get_data,basic_cleaning,data_check,data_split,train,evaluate,register"
    summary = run([f"main.workspace={workspace}", f"etl.demo_rows={rows}", steps])
    if summary.status != "success":
        sys.exit(f"error: training failed: {[r.error for r in summary.steps if r.error]}")
    frame = pd.read_csv(open_workspace(workspace).store.path("test_data.csv"), nrows=1)
    record = frame.drop(columns=["price"]).astype(object).iloc[0].to_dict()
    return {k: None if isinstance(v, float) and math.isnan(v) else _plain(v) for k, v in record.items()}


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones (JSON-serialisable)."""
    return value.item() if hasattr(value, "item") else value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A server in its own session (so its workers can be ended with it), output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it after 10 s."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> float:
    """Seconds until ``url`` answers 200; exits with the log's tail if the server dies or stalls."""
    import httpx

    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - began
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def load(url: str, body: dict[str, Any], requests: int, warmup: int, concurrency: int) -> dict[str, float]:
    """p50/p99 latency (ms) and throughput (req/s), measured by ``_load.py`` in a fresh process."""
    import json

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    try:
        counts = ["--requests", str(requests), "--warmup", str(warmup), "--concurrency", str(concurrency)]
        cmd = [sys.executable, str(Path(__file__).with_name("_load.py")), url, handle.name, *counts]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"load generator failed on {url}:\n{done.stderr[-2000:]}")
        return dict(json.loads(done.stdout))
    finally:
        os.unlink(handle.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="Demo rows the model is trained on.")
    parser.add_argument(
        "--requests", type=int, default=300, help="Timed requests per server and concurrency."
    )
    parser.add_argument("--warmup", type=int, default=30, help="Untimed requests before each run.")
    parser.add_argument("--concurrency", default="1,8", help="Comma-separated client thread counts.")
    parser.add_argument(
        "--timeout", type=float, default=180, help="Seconds to wait for a server to be ready."
    )
    parser.add_argument("--dir", help="Where to create the temporary directory.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import httpx

    levels = [int(c) for c in args.concurrency.split(",")]
    figures: dict[str, Any] = {"train_rows": args.rows, "requests": args.requests, "warmup": args.warmup}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_serve_") as tmp:
        ws = Path(tmp) / "ws"
        began = time.perf_counter()
        row = train(ws, args.rows)
        figures["train_s"] = round(time.perf_counter() - began, 1)
        bindir = Path(sys.executable).parent  # on PATH too: mlflow execs ``uvicorn`` by name
        path = os.pathsep.join([str(bindir), os.environ.get("PATH", "")])
        tracking = f"sqlite:///{ws}/mlflow.db"
        env = {**os.environ, "PATH": path, "MODELMILL_HOME": str(ws), "MLFLOW_TRACKING_URI": tracking}
        ours_port, mlflow_port = free_port(), free_port()
        ours_log, mlflow_log = Path(tmp) / "ours.log", Path(tmp) / "mlflow.log"
        ours = f"http://127.0.0.1:{ours_port}"
        theirs = f"http://127.0.0.1:{mlflow_port}"
        ours_cmd = [str(bindir / "modelmill"), "serve", "--workspace", str(ws), "--port", str(ours_port),
                    "--log-level", "warning"]  # fmt: skip
        mlflow_cmd = [str(bindir / "mlflow"), "models", "serve", "-m", MODEL_URI, "--env-manager", "local",
                      "-p", str(mlflow_port), "-h", "127.0.0.1"]  # fmt: skip
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(start(ours_cmd, env, ours_log))
            figures["ours_ready_s"] = round(wait_ready(procs[-1], f"{ours}/ready", ours_log, args.timeout), 1)
            mlflow_error = None
            try:
                procs.append(start(mlflow_cmd, env, mlflow_log))
                ready_s = wait_ready(procs[-1], f"{theirs}/ping", mlflow_log, args.timeout)
                figures["mlflow_ready_s"] = round(ready_s, 1)
            except RuntimeError as exc:
                mlflow_error = str(exc)
                figures["mlflow_error"] = mlflow_error.strip().splitlines()[-1]
                print(mlflow_error, file=sys.stderr)
            body = {"dataframe_records": [row]}
            ours_pred = httpx.post(f"{ours}/predict", json=row, timeout=60).json()["predictions"][0]
            figures["ours_prediction"] = ours_pred
            figures["ours_runtime"] = httpx.get(f"{ours}/metadata", timeout=60).json()["model"]["runtime"]
            if mlflow_error is None:
                answer = httpx.post(f"{theirs}/invocations", json=body, timeout=60).json()
                mlflow_pred = answer["predictions"][0]
                figures["mlflow_prediction"] = mlflow_pred
                # ONNX (float32 graph) vs scikit-learn: equal within the export's parity tolerance
                figures["same_prediction"] = math.isclose(ours_pred, mlflow_pred, rel_tol=1e-4)
            for c in levels:
                mine = load(f"{ours}/predict", row, args.requests, args.warmup, c)
                figures.update({f"ours_c{c}_{k}": v for k, v in mine.items()})
                if mlflow_error is None:
                    other = load(f"{theirs}/invocations", body, args.requests, args.warmup, c)
                    figures.update({f"mlflow_c{c}_{k}": v for k, v in other.items()})
                    figures[f"p50_ratio_c{c}"] = round(other["p50_ms"] / mine["p50_ms"], 2)
        finally:
            for proc in procs:
                stop(proc)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
