"""Batch scoring benchmark: ``modelmill score`` against plain ``pipeline.predict`` on pandas chunks.

    python benchmarks/bench_score.py                     # 10 million rows (slow)
    python benchmarks/bench_score.py --rows 1000000      # the figures in the README
    python benchmarks/bench_score.py --model DIR --json  # an existing MLflow model directory
    python benchmarks/bench_score.py --rows 1000000 --engine ray        # also --engine ray's rows/s
    python benchmarks/bench_score.py --rows 1000000 --input-format csv  # score a CSV copy

The input is the demo generator's distribution tiled to ``--rows`` (fresh unique ids),
written as Parquet in a temporary directory in bounded memory. Without ``--model`` a small
real NYC model (demo data, ``--trees`` trees) is trained in a temporary workspace. Both
contenders run as subprocesses reading the same file in ``--chunk-rows`` chunks; peak RSS
is the child's ``ru_maxrss`` (``os.wait4``). ``--input-format csv`` gives ``modelmill score``
a CSV copy of the input (the baseline still reads the Parquet file). ``--engine ray`` also
runs ``modelmill score --engine ray`` (a local Ray started by the command, ``--ray-actors``
actors; its time includes starting Ray; peak RSS is the driver's only).
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
# pre_buffer=False as in modelmill's reader: pre-buffering keeps every range read (RSS = file size)
for batch in pq.ParquetFile(sys.argv[2], pre_buffer=False).iter_batches(batch_size=int(sys.argv[3])):
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


def write_csv(parquet: Path, path: Path) -> None:
    """A CSV copy of ``parquet``, batch by batch."""
    import pyarrow.parquet as pq
    from pyarrow import csv as pacsv

    source = pq.ParquetFile(parquet)
    with pacsv.CSVWriter(path, source.schema_arrow) as writer:
        for batch in source.iter_batches(batch_size=TILE_ROWS):
            writer.write_batch(batch)


def train(workspace: Path, trees: int, family: str = "random_forest") -> Path:
    os.environ["MODELMILL_HOME"] = str(workspace)
    from modelmill.api import open_workspace, run

    steps = "main.steps=get_data,basic_cleaning,data_check,data_split,train"
    size = f"modeling.random_forest.n_estimators={trees}" if family == "random_forest" else f"model={family}"
    summary = run([f"main.workspace={workspace}", "etl.demo_rows=5000", size, "main.tracking=none", steps])
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
    parser.add_argument("--trees", type=int, default=20, help="Trees of the forest trained without --model.")
    parser.add_argument(
        "--family", choices=["random_forest", "hist_gradient_boosting"], default="random_forest",
        help="Model family trained without --model (boosting: the shipped tuned settings).",
    )  # fmt: skip
    parser.add_argument("--model", help="An MLflow model directory (default: train a small one).")
    parser.add_argument("--dir", help="Where to create the temporary directory.")
    parser.add_argument("--input-format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="ray: also time modelmill score --engine ray.")  # fmt: skip
    parser.add_argument("--ray-actors", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_score_") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        data = root / "input.parquet"
        write_input(data, args.rows)
        scored_input = data
        if args.input_format == "csv":
            scored_input = root / "input.csv"
            write_csv(data, scored_input)
        generate_s = time.perf_counter() - began
        model = Path(args.model) if args.model else train(root / "ws", args.trees, args.family)
        env = {**os.environ, "MODELMILL_HOME": str(root / "ws")}
        out = root / "scored.parquet"
        script = Path(sys.executable).parent / "modelmill"
        score_cmd = [str(script), "score", str(scored_input), str(out), "--model", str(model),
                     "--chunk-rows", str(args.chunk_rows), "--json"]  # fmt: skip
        cli_s, cli_rss = timed(score_cmd, env)
        base_s, base_rss = timed(
            [sys.executable, "-c", BASELINE, str(model), str(data), str(args.chunk_rows)], env
        )
        figures: dict[str, Any] = {
            "model": args.model
            or (args.family if args.family != "random_forest" else f"{args.trees}-tree forest"),
            "rows": args.rows,
            "chunk_rows": args.chunk_rows,
            "input_format": args.input_format,
            "input_mb": round(scored_input.stat().st_size / 2**20, 1),
            "generate_s": round(generate_s, 1),
            "score_s": round(cli_s, 2),
            "score_rows_per_s": round(args.rows / cli_s),
            "score_peak_rss_mb": round(cli_rss),
            "predict_s": round(base_s, 2),
            "predict_rows_per_s": round(args.rows / base_s),
            "predict_peak_rss_mb": round(base_rss),
            "overhead_pct": round(100 * (cli_s / base_s - 1), 1),
        }
        if args.engine == "ray":
            out.unlink()
            ray_s, ray_rss = timed([*score_cmd, "--engine", "ray", "--ray-actors", str(args.ray_actors)], env)
            figures.update({"ray_actors": args.ray_actors, "ray_s": round(ray_s, 2),
                            "ray_rows_per_s": round(args.rows / ray_s),
                            "ray_driver_peak_rss_mb": round(ray_rss)})  # fmt: skip
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
