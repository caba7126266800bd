"""Batch scoring benchmark: ``modelmill score`` against a plain pandas script, side by side.

    python benchmarks/bench_score.py                      # the README figures: real NYC model, 1M rows
    python benchmarks/bench_score.py --models random_forest --input-format csv
    python benchmarks/bench_score.py --model DIR --json   # an existing MLflow model directory
    python benchmarks/bench_score.py --demo --trees 20 --rows 10000000   # the old synthetic setup
    python benchmarks/bench_score.py --engine ray         # also --engine ray's rows/s

Default: the models the pipeline ships, trained in a temporary workspace on the real sample
(``modelmill run etl.sample=SAMPLE``, ``--sample`` defaults to ``../shared/data/
nyc_airbnb_2019_sample.csv``): the course forest (100 trees) and the tuned boosting model
(``model=hist_gradient_boosting``). The input is that sample tiled to ``--rows`` listings
(fresh unique ids), written as CSV and Parquet in bounded memory (``--demo``: the demo
generator's distribution instead). For every model and input format, both contenders run
as subprocesses on the same file: ``modelmill score`` (its default ``--chunk-rows``;
``--score-chunk-rows`` to change it) and the plain script (``pd.read_csv(chunksize=...)``,
``--chunk-rows`` 100,000, or Parquet batches, ``model.predict``, Parquet out). Peak RSS is the child's own
``VmHWM`` (polled; see :func:`timed`). ``--repeat N`` runs both N times, alternated, and
reports the median time and the highest peak. ``--engine ray`` also runs ``modelmill score --engine ray``
(a local Ray started by the command; its time includes starting Ray; driver RSS only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TILE_ROWS = 50_000
DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "nyc_airbnb_2019_sample.csv"
FAMILIES = ("random_forest", "hist_gradient_boosting")
# The plain script a user would write: pandas chunks, model.predict, Parquet out.
BASELINE = """
import sys, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
from modelmill.registry.export import load_sklearn
model, src, out, rows = load_sklearn(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
# pre_buffer=False as in modelmill's reader: pre-buffering keeps every range read (RSS = file size)
chunks = (pd.read_csv(src, chunksize=rows) if src.endswith(".csv") else
          (b.to_pandas() for b in pq.ParquetFile(src, pre_buffer=False).iter_batches(batch_size=rows)))
writer = None
for frame in chunks:
    table = pa.table({"id": frame["id"].to_numpy(), "prediction": model.predict(frame)})
    writer = writer or pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
writer.close()
"""


def write_sample(sample: Path, path: Path, rows: int) -> None:
    """``sample`` (a CSV of real listings) tiled to ``rows`` rows with fresh ids, as Parquet."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv as pacsv

    tile = pacsv.read_csv(sample)
    with pq.ParquetWriter(path, tile.schema) as writer:
        for start in range(0, rows, tile.num_rows):
            part = tile.slice(0, min(tile.num_rows, rows - start))
            ids = pa.array(np.arange(start, start + part.num_rows, dtype="int64") + 1)
            writer.write_table(part.set_column(part.schema.get_field_index("id"), "id", ids))


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


def train(workspace: Path, family: str, sample: Path | None, trees: int | None) -> Path:
    """Train ``family`` as the pipeline ships it (on ``sample``, or demo data when ``None``);
    ``trees`` overrides the forest's 100 trees."""
    os.environ["MODELMILL_HOME"] = str(workspace)
    from modelmill.api import open_workspace, run

    steps = "main.steps=get_data,basic_cleaning,data_check,data_split,train"
    data = f"etl.sample={sample}" if sample else "etl.demo_rows=5000"
    overrides = [f"main.workspace={workspace}", data, "main.tracking=none", steps]
    if family != "random_forest":
        overrides.append(f"model={family}")
    elif trees:
        overrides.append(f"modeling.random_forest.n_estimators={trees}")
    summary = run(overrides)
    if summary.status != "success":
        sys.exit(f"error: training failed: {[r.error for r in summary.steps if r.error]}")
    return open_workspace(workspace).store.path("random_forest_export:latest")


def _hwm(pid: int) -> float:
    """A live process's own peak resident set (``VmHWM``, MiB), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed(cmd: list[str], env: dict[str, str], printed: list[str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process (its standard output appended to
    ``printed`` when given).

    The peak is the child's ``VmHWM``, read every 20 ms while it runs: its ``ru_maxrss`` is
    no good, Linux starts it from the parent's RSS at the (v)fork, so every child of this
    script (which holds the input frames) seemed to peak at the script's own size."""
    began = time.perf_counter()
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _hwm(proc.pid))
            time.sleep(0.02)
        if proc.returncode:
            err.seek(0)
            sys.exit(f"error: {' '.join(cmd[:4])}... failed:\n{err.read().decode()[-2000:]}")
        if printed is not None:
            out.seek(0)
            printed.append(out.read().decode())
    return time.perf_counter() - began, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000,
                        help="The plain script's chunk size (pd.read_csv(chunksize=...)).")  # fmt: skip
    parser.add_argument("--score-chunk-rows", type=int,
                        help="modelmill score --chunk-rows (default: its own default).")  # fmt: skip
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE,
                        help="Real listings (CSV) to train on and tile as input.")  # fmt: skip
    parser.add_argument("--demo", action="store_true", help="Demo data instead of --sample.")
    parser.add_argument("--models", default=",".join(FAMILIES),
                        help="Families to train and score (comma-separated).")  # fmt: skip
    parser.add_argument("--trees", type=int, help="Trees of the forest (default: the course's 100).")
    parser.add_argument("--model", help="An MLflow model directory instead of training.")
    parser.add_argument("--dir", help="Where to create the temporary directory.")
    parser.add_argument("--input-format", default="csv,parquet", help="csv, parquet or both.")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="ray: also time modelmill score --engine ray.")  # fmt: skip
    parser.add_argument("--ray-actors", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="Runs of each, alternated: median time, highest peak RSS.")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    formats = [f for f in args.input_format.split(",") if f]
    families = [f for f in args.models.split(",") if f]
    if not args.demo and not args.sample.is_file():
        sys.exit(f"error: no sample at {args.sample}: pass --sample PATH or --demo")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_score_") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        inputs = {"parquet": root / "input.parquet"}
        if args.demo:
            write_input(inputs["parquet"], args.rows)
        else:
            write_sample(args.sample, inputs["parquet"], args.rows)
        if "csv" in formats:
            inputs["csv"] = root / "input.csv"
            write_csv(inputs["parquet"], inputs["csv"])
        generate_s = time.perf_counter() - began
        if args.model:
            models = {args.model: Path(args.model)}
        else:
            sample = None if args.demo else args.sample
            models = {f: train(root / f"ws_{f}", f, sample, args.trees) for f in families}
        env = {**os.environ, "MODELMILL_HOME": str(root / "ws")}
        # Both contenders run as an installed package does, with Python's bytecode cache (an
        # environment that sets PYTHONDONTWRITEBYTECODE recompiles every module at each start).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        script = Path(sys.executable).parent / "modelmill"
        for label, model in models.items():
            if label == "random_forest":
                label = f"{args.trees or 100}-tree forest"
            for fmt in formats:
                out = root / "scored.parquet"
                score_cmd = [str(script), "score", str(inputs[fmt]), str(out), "--model", str(model)]
                score_cmd.append("--json")
                if args.score_chunk_rows:
                    score_cmd += ["--chunk-rows", str(args.score_chunk_rows)]
                printed: list[str] = []
                plain = root / "plain.parquet"
                plain_cmd = [sys.executable, "-c", BASELINE, str(model), str(inputs[fmt]), str(plain),
                             str(args.chunk_rows)]  # fmt: skip
                ours, theirs = [], []
                for _ in range(max(1, args.repeat)):  # alternated: a machine whose speed drifts hits both
                    ours.append(timed(score_cmd, env, printed))
                    out.unlink()
                    theirs.append(timed(plain_cmd, env))
                    plain.unlink()
                summary = json.loads(printed[0])
                cli_s, cli_rss = statistics.median(t for t, _ in ours), max(r for _, r in ours)
                base_s, base_rss = statistics.median(t for t, _ in theirs), max(r for _, r in theirs)
                figures: dict[str, Any] = {
                    "model": label, "input_format": fmt, "rows": args.rows,
                    "input_mb": round(inputs[fmt].stat().st_size / 2**20, 1),
                    "score_s": round(cli_s, 2), "score_rows_per_s": round(args.rows / cli_s),
                    "score_peak_rss_mb": round(cli_rss),
                    "plain_s": round(base_s, 2), "plain_rows_per_s": round(args.rows / base_s),
                    "plain_peak_rss_mb": round(base_rss),
                    "speedup": round(base_s / cli_s, 2),
                    "runtime": summary.get("runtime"), "trees": summary.get("trees"), "repeat": args.repeat,
                }  # fmt: skip
                if args.engine == "ray":
                    ray_s, ray_rss = timed(
                        [*score_cmd, "--engine", "ray", "--ray-actors", str(args.ray_actors)], env
                    )
                    out.unlink()
                    figures.update({"ray_actors": args.ray_actors, "ray_s": round(ray_s, 2),
                                    "ray_rows_per_s": round(args.rows / ray_s),
                                    "ray_driver_peak_rss_mb": round(ray_rss)})  # fmt: skip
                results.append(figures)
                if not args.json:
                    f = figures
                    print(f"{label:24} {fmt:8} score {f['score_rows_per_s']:>9,} rows/s "
                          f"{f['score_peak_rss_mb']:>5} MB | plain {f['plain_rows_per_s']:>9,} rows/s "
                          f"{f['plain_peak_rss_mb']:>5} MB | x{f['speedup']} | trees: {f['trees']}",
                          flush=True)  # fmt: skip
    if args.json:
        print(json.dumps({"chunk_rows": args.chunk_rows, "score_chunk_rows": args.score_chunk_rows,
                          "generate_s": round(generate_s, 1),
                          "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
