"""Batch scoring benchmark: ``modelmill score`` against plain ``pipeline.predict`` on pandas chunks.

    python benchmarks/bench_score.py                     # 10 million rows (slow)
    python benchmarks/bench_score.py --rows 1000000      # the figures in the README
    python benchmarks/bench_score.py --model DIR --json  # an existing MLflow model directory

The input is the demo generator's distribution tiled to ``--rows`` (fresh unique ids),
written as Parquet in a temporary directory in bounded memory. Without ``--model`` a small
real NYC model (demo data, ``--trees`` trees) is trained in a temporary workspace. Both
contenders run as subprocesses reading the same file in ``--chunk-rows`` chunks; peak RSS
is the child's ``ru_maxrss`` (``os.wait4``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_figures

TILE_ROWS = 50_000
BASELINE = """
import sys, pyarrow.parquet as pq
from modelmill.registry.export import load_sklearn
model = load_sklearn(sys.argv[1])
n = 0
for batch in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=int(sys.argv[3])):
    frame = batch.to_pandas()
    n += len(model.predict(frame))
print(n)
"""


def write_input(path: Path, rows: int) -> None:
    """``rows`` demo listings as Parquet, written tile by tile (bounded memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelmill.datasets.nyc_demo import generate_listings

    tile = pa.Table.from_pandas(generate_listings(TILE_ROWS, seed=11), preserve_index=False)
    with pq.ParquetWriter(path, tile.schema) as writer:
        for start in range(0, rows, TILE_ROWS):
            part = tile.slice(0, min(TILE_ROWS, rows - start))
            ids = pa.array(np.arange(start, start + part.num_rows, dtype="int64") + 1)
            writer.write_table(part.set_column(part.schema.get_field_index("id"), "id", ids))


def train(workspace: Path, trees: int) -> Path:
    os.environ["MODELMILL_HOME"] = str(workspace)
    from modelmill.api import open_workspace, run

    steps = "main.steps=get_data,basic_cleaning,data_check,data_split,train"
    summary = run([f"main.workspace={workspace}", "etl.demo_rows=5000",
                   f"modeling.random_forest.n_estimators={trees}", "main.tracking=none", steps])  # fmt: skip
    if summary.status != "success":
        sys.exit(f"error: training failed: {[r.error for r in summary.steps if r.error]}")
    return open_workspace(workspace).store.path("random_forest_export:latest")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"error: {' '.join(cmd[:4])}... failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - began, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--trees", type=int, default=20, help="Trees of the model trained without --model.")
    parser.add_argument("--model", help="An MLflow model directory (default: train a small one).")
    parser.add_argument("--dir", help="Where to create the temporary directory.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_score_") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        data = root / "input.parquet"
        write_input(data, args.rows)
        generate_s = time.perf_counter() - began
        model = Path(args.model) if args.model else train(root / "ws", args.trees)
        env = {**os.environ, "MODELMILL_HOME": str(root / "ws")}
        out = root / "scored.parquet"
        script = Path(sys.executable).parent / "modelmill"
        cli_s, cli_rss = timed([str(script), "score", str(data), str(out), "--model", str(model),
                                "--chunk-rows", str(args.chunk_rows), "--json"], env)  # fmt: skip
        base_s, base_rss = timed(
            [sys.executable, "-c", BASELINE, str(model), str(data), str(args.chunk_rows)], env
        )
        figures: dict[str, Any] = {
            "rows": args.rows,
            "chunk_rows": args.chunk_rows,
            "input_mb": round(data.stat().st_size / 2**20, 1),
            "generate_s": round(generate_s, 1),
            "score_s": round(cli_s, 2),
            "score_rows_per_s": round(args.rows / cli_s),
            "score_peak_rss_mb": round(cli_rss),
            "predict_s": round(base_s, 2),
            "predict_rows_per_s": round(args.rows / base_s),
            "predict_peak_rss_mb": round(base_rss),
            "overhead_pct": round(100 * (cli_s / base_s - 1), 1),
        }
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
