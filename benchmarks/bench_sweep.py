"""The course's 15-trial sweep: wall time, upstream steps computed once, trials over the cores.

    python benchmarks/bench_sweep.py                  # real sample if present, else demo data
    python benchmarks/bench_sweep.py --jobs 1         # sequential, for comparison
    python benchmarks/bench_sweep.py --rows 5000 --json

Runs ``modelmill sweep modeling.max_tfidf_features=10,15,30
modeling.random_forest.max_features=0.1,0.33,0.5,0.75,1`` in a temporary workspace (MLflow
tracking on), then prints the wall time, how each shared step ran (once, before the
trials), how many trials ran train/evaluate, the summed trial time (what one process would
need) against the wall time of the trial phase, and the best trials.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import data_overrides, print_figures

COURSE_SWEEP = [
    "modeling.max_tfidf_features=10,15,30",
    "modeling.random_forest.max_features=0.1,0.33,0.5,0.75,1",
]


def run_sweep(workspace: Path, overrides: list[str], jobs: int | None) -> tuple[float, dict[str, Any]]:
    """Wall seconds and the ``--json`` summary of one ``modelmill sweep``."""
    script = Path(sys.executable).parent / "modelmill"
    command = [str(script), "sweep", f"main.workspace={workspace}", *overrides, *COURSE_SWEEP, "--json"]
    if jobs:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=workspace.parent)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"modelmill sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="use demo data of this size")
    parser.add_argument("--jobs", type=int, default=0, help="parallel trials (default: cores)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    overrides, described = data_overrides(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        wall, summary = run_sweep(Path(tmp) / "ws", overrides, args.jobs or None)
    trials = summary["trials"]
    figures = {
        "data": described,
        "trials": len(trials),
        "trials_ok": sum(t["status"] == "ok" for t in trials),
        "sweep_wall_s": round(wall, 1),
        "shared_steps": summary["shared_steps"],
        "trials_that_ran": {
            step: sum(t["steps"].get(step) == "ran" for t in trials)
            for step in ("get_data", "basic_cleaning", "data_check", "data_split", "train", "evaluate")
        },
        "sum_of_trial_s": round(sum(t["seconds"] for t in trials), 1),
        "mean_fit_s": round(sum(t["metrics"].get("fit_seconds", 0) for t in trials) / max(1, len(trials)), 2),
        "best": [
            {
                **t["params"],
                "val_mae": round(t["metrics"]["val_mae"], 3),
                "test_mae": round(t["metrics"]["test_mae"], 3),
            }
            for t in trials[:3]
            if t["status"] == "ok"
        ],
    }
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
