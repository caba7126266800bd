"""Core benchmarks: ``modelmill run`` wall time (cold, cached) and artifact store throughput.

    python benchmarks/bench_core.py            # a small table
    python benchmarks/bench_core.py --json     # the same figures as JSON

Everything happens in a temporary workspace (``--dir`` chooses where it is created, since
throughput depends on the file system). ``modelmill run`` is timed as a subprocess of the
real console script installed next to ``sys.executable``, with the default tracking
(MLflow in the workspace, fully cached executions logged by a detached process); the
detached logger is allowed to finish before the next timing so it does not skew it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1024 * 1024
BIG_MB = 100
SMALL_PUTS = 500
CACHED_RUNS = 5
DEFERRED_TIMEOUT_S = 60.0


def console_script() -> Path:
    """The ``modelmill`` script of the venv ``sys.executable`` belongs to."""
    script = Path(sys.executable).parent / "modelmill"
    if not script.exists():
        sys.exit(f"error: no modelmill console script next to {sys.executable}; install the package")
    return script


def timed_run(script: Path, env: dict[str, str], cwd: Path, *args: str) -> tuple[float, dict[str, Any]]:
    """Wall time of one ``modelmill run ... --json`` and its summary."""
    started = time.perf_counter()
    proc = subprocess.run(
        [str(script), "run", "main.pipeline=modelmill.examples.toy:build_pipeline", *args, "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"error: modelmill run {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return elapsed, json.loads(proc.stdout)


def wait_for_deferred(spool_dir: Path, timeout: float = DEFERRED_TIMEOUT_S) -> float | None:
    """Seconds until no deferred-tracking spool file is left (None on timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if not list(spool_dir.glob("deferred-tracking-*.json")):
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def bench_runs(base: Path) -> dict[str, Any]:
    script = console_script()
    home = base / "run_ws"
    cwd = base / "run_cwd"
    cwd.mkdir()
    env = {**os.environ, "MODELMILL_HOME": str(home)}
    env.pop("COLUMNS", None)

    cold, summary = timed_run(script, env, cwd)
    assert all(s["status"] == "ran" for s in summary["steps"]), summary

    cached: list[float] = []
    deferred: list[float] = []
    for _ in range(CACHED_RUNS):
        seconds, summary = timed_run(script, env, cwd)
        assert all(s["status"] == "cached" for s in summary["steps"]), summary
        cached.append(seconds)
        waited = wait_for_deferred(home / "tmp")
        if waited is not None:
            deferred.append(waited)

    untracked: list[float] = []
    for _ in range(3):
        seconds, summary = timed_run(script, env, cwd, "main.tracking=none")
        assert all(s["status"] == "cached" for s in summary["steps"]), summary
        untracked.append(seconds)

    return {
        "run_cold_s": cold,
        "run_cached_median_s": statistics.median(cached),
        "run_cached_all_s": cached,
        "deferred_logging_done_after_s": statistics.median(deferred) if deferred else None,
        "deferred_logging_timeouts": CACHED_RUNS - len(deferred),
        "run_cached_untracked_median_s": statistics.median(untracked),
    }


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_store(base: Path) -> dict[str, Any]:
    from modelmill import Workspace

    ws = Workspace(base / "store_ws")
    store = ws.store

    big = base / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(BIG_MB):
            fh.write(os.urandom(MB))
    put_s = _timed(lambda: store.put(big, "big.bin", "blob"))
    get_s = _timed(lambda: store.get("big.bin", base / "big_copy.bin"))
    verify_s = _timed(lambda: store.path("big.bin"))
    big.unlink()
    (base / "big_copy.bin").unlink()

    small = base / "small.txt"

    def many_puts() -> None:
        for i in range(SMALL_PUTS):
            small.write_text(f"row {i}\n" * 8)
            store.put(small, "small.txt", "sample")

    puts_s = _timed(many_puts)
    assert store.resolve("small.txt").version == SMALL_PUTS - 1

    return {
        "put_100mb_mb_s": BIG_MB / put_s,
        "get_100mb_mb_s": BIG_MB / get_s,
        "verify_100mb_mb_s": BIG_MB / verify_s,
        "small_puts": SMALL_PUTS,
        "small_puts_versions_s": SMALL_PUTS / puts_s,
    }


ROWS = [
    ("run_cold_s", "modelmill run, cold (tracking=mlflow)", "s"),
    ("run_cached_median_s", f"modelmill run, cached (median of {CACHED_RUNS}, deferred mlflow)", "s"),
    ("deferred_logging_done_after_s", "  detached MLflow logging done after return", "s"),
    ("run_cached_untracked_median_s", "modelmill run, cached (median of 3, tracking=none)", "s"),
    ("put_100mb_mb_s", f"store put, {BIG_MB} MB file", "MB/s"),
    ("get_100mb_mb_s", f"store get, {BIG_MB} MB file (verified copy)", "MB/s"),
    ("verify_100mb_mb_s", f"store path, {BIG_MB} MB file (re-hash)", "MB/s"),
    ("small_puts_versions_s", f"store put, {SMALL_PUTS} small versions", "versions/s"),
]


def print_table(results: dict[str, Any]) -> None:
    print(
        f"modelmill benchmarks  python {platform.python_version()}  {platform.system()}  "
        f"workspace under {results['base_dir']}"
    )
    width = max(len(label) for _, label, _ in ROWS)
    print(f"{'benchmark':{width}}  {'value':>10}  unit")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}")
    for key, label, unit in ROWS:
        value = results.get(key)
        shown = "n/a" if value is None else f"{value:.3f}" if unit == "s" else f"{value:.1f}"
        print(f"{label:{width}}  {shown:>10}  {unit}")
    cached = ", ".join(f"{s:.3f}" for s in results["run_cached_all_s"])
    print(f"(cached runs: {cached} s; total benchmark time {results['total_s']:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--dir", type=Path, default=None, help="create the temp workspace here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelmill-bench-", dir=args.dir) as tmp:
        base = Path(tmp)
        results: dict[str, Any] = {"base_dir": str(base.parent)}
        results.update(bench_runs(base))
        results.update(bench_store(base))
        wait_for_deferred(base / "run_ws" / "tmp")  # never delete a workspace a logger still uses
    results["total_s"] = time.perf_counter() - started

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
