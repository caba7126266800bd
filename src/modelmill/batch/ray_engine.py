"""Scoring on Ray Data: ``modelmill score --engine ray`` (the ``ray`` extra).

The driver reads the input exactly like the local engine (same chunks, same handling of
malformed CSV lines, same staging, manifest and ``--resume``); the validation
(:func:`~modelmill.batch.validate.check_chunk`) and the predictions run in Ray Data
``map_batches`` actors (:class:`ScoreActor`), each loading the model once through
:func:`~modelmill.batch.model.locate_model` + :func:`~modelmill.batch.model.load_estimator`.
The input goes to Ray a window of about :data:`WINDOW_ROWS` rows at a time (bounded memory,
progress saved chunk by chunk as each window comes back); every row carries its global row
number, so results are put back in input order whatever order Ray returns them in.

Where Ray runs:

* a Ray already initialised in this process (a notebook, a test) is used and left running;
* ``--ray-address`` or ``RAY_ADDRESS``: that cluster (checked reachable first: ``ray.init``
  retries a dead address for minutes). Its nodes need modelmill installed and the model
  directory at the same path (the workspace on a shared file system);
* otherwise a local Ray started for the job (``address="local"``: never a ``ray start``
  cluster found on this host by accident) and shut down afterwards. It gets
  ``actors + 2`` (at least 4) *logical* CPUs: Ray Data can hang on 2 cores when an actor
  pool takes every CPU it knows of.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelmill.batch.chunks import predict_chunk
from modelmill.batch.readers import Chunk
from modelmill.batch.scorer import Job, Runner
from modelmill.batch.validate import REJECT_SCHEMA
from modelmill.batch.writer import Progress
from modelmill.core.errors import ModelmillError, UsageError

RAY_MISSING = "--engine ray needs the ray extra: pip install 'modelmill[ray]'"
WINDOW_ROWS = 1_000_000
# columns the actors add or return (prefixed: an input column may be called "row" or "reason")
ROW, ID, PREDICTION, RAW_ID, REASON = "__mm_row", "__mm_id", "__mm_prediction", "__mm_raw_id", "__mm_reason"


def check_ray(actors: int) -> None:
    """Fail at once, before reading anything, when Ray is missing or ``actors`` is wrong."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError(RAY_MISSING)
    if actors < 1:
        raise UsageError(f"--ray-actors {actors}: expected 1 or more")


def _check_reachable(address: str) -> None:
    """Fail fast when nothing listens at a ``host:port`` (or ``ray://host:port``) address."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # "auto", "local": Ray resolves these itself
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UsageError(
            f"--engine ray: no Ray cluster answers at {address} ({exc}); start one (ray start --head), "
            "or pass no --ray-address and unset RAY_ADDRESS to run a local Ray"
        ) from None


@contextlib.contextmanager
def ray_session(address: str | None, actors: int) -> Iterator[Any]:
    """Ray connected for the block (see the module docstring for which Ray)."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline machines: no prompt
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address="local", num_cpus=max(4, actors + 2), include_dashboard=False,
                     log_to_driver=False, configure_logging=False)  # fmt: skip
    except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError...
        where = f"connect to the Ray cluster at {address}" if address else "start a local Ray"
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--engine ray: cannot {where}: {detail}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


class ScoreActor:
    """A Ray Data actor: the model loaded once, then validate + predict each batch."""

    def __init__(
        self, model_dir: str, identity: str, workspace: str, id_col: str | None, schema: pa.Schema,
        runtime: str = "auto",
    ) -> None:  # fmt: skip
        from modelmill.batch.model import load_estimator, locate_model
        from modelmill.store.workspace import Workspace

        self.model = locate_model(model_dir, Workspace(workspace))
        if self.model.identity != identity:
            raise RuntimeError(f"the model at {model_dir} changed since the job started")
        self.estimator = load_estimator(self.model, runtime)
        self.id_col, self.schema = id_col, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.column(ROW).to_numpy()
        table = batch.drop_columns([ROW])
        columns, id_col = self.model.columns, self.id_col
        out, rejects, good = predict_chunk(table, self.estimator, columns, id_col, self.schema, 0)
        bad = rejects.column("row").to_numpy()
        id_type = self.schema.field(0).type
        if self.id_col is None:  # rows are numbered: their number in the input, not in this batch
            out = out.set_column(0, out.schema.field(0), pa.array(rows[good], id_type))

        def stack(
            valid: pa.ChunkedArray | None, rejected: pa.ChunkedArray | None, kind: pa.DataType
        ) -> pa.Array:
            first = valid.combine_chunks() if valid is not None else pa.nulls(len(good), kind)
            second = rejected.combine_chunks() if rejected is not None else pa.nulls(len(bad), kind)
            return pa.concat_arrays([first.cast(kind), second.cast(kind)])

        return pa.table({
            ROW: pa.array(np.concatenate([rows[good], rows[bad]]), pa.int64()),
            ID: stack(out.column(0), None, id_type),
            PREDICTION: stack(out.column(1), None, pa.float64()),
            RAW_ID: stack(None, rejects.column("id"), pa.string()),
            REASON: stack(None, rejects.column("reason"), pa.string()),
        })  # fmt: skip


@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """No progress bars, execution banners or INFO lines from Ray Data on our stderr."""
    import logging

    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    logger = logging.getLogger("ray.data")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():  # "only received 1 input(s)": a small input, fewer actors busy
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
            yield
    finally:
        logger.setLevel(level)


def _run_window(
    job: Job, actors: int, window: list[tuple[Chunk, int]], stage: Callable[[Chunk, pa.Table, pa.Table], None]
) -> None:
    """Score the chunks of ``window`` (each with its first row number) on Ray, then stage them in order."""
    tables = [
        chunk.table.append_column(ROW, pa.array(np.arange(first, first + chunk.table.num_rows), pa.int64()))
        for chunk, first in window
        if chunk.table.num_rows
    ]
    scored: pa.Table | None = None
    if tables:
        from ray import data as ray_data

        dataset = ray_data.from_arrow(tables).map_batches(
            ScoreActor,
            fn_constructor_kwargs={"model_dir": str(job.model.path), "identity": job.model.identity,
                                   "runtime": job.runtime,
                                   "workspace": str(job.workspace), "id_col": job.id_col,
                                   "schema": job.schema},
            batch_format="pyarrow", batch_size=None, compute=ray_data.ActorPoolStrategy(size=actors),
            num_cpus=1, zero_copy_batch=True,
        )  # fmt: skip
        try:
            parts = list(dataset.iter_batches(batch_format="pyarrow", batch_size=None))
        except Exception as exc:  # an actor raised or died, a node went away...
            detail = str(exc).strip().splitlines()[-1][:500] if str(exc).strip() else ""
            raise ModelmillError(
                f"--engine ray: scoring failed on Ray ({type(exc).__name__}: {detail}); the chunks done "
                "so far are kept: fix the cause and run again with --resume"
            ) from exc
        scored = pa.concat_tables(parts).sort_by(ROW)
    row_numbers = scored.column(ROW).to_numpy() if scored is not None else np.empty(0, "int64")
    for chunk, first in window:
        n = chunk.table.num_rows
        start, stop = np.searchsorted(row_numbers, [first, first + n])
        if stop - start != n:
            raise RuntimeError(f"Ray returned {stop - start} results for the {n} rows from row {first}")
        part = scored.slice(start, n) if scored is not None and n else None
        if part is None:
            out, rejects = job.schema.empty_table(), REJECT_SCHEMA.empty_table()
        else:
            valid = part.column(REASON).is_null()
            good, bad = part.filter(valid), part.filter(pc.invert(valid))
            out = pa.table([good.column(ID), good.column(PREDICTION)], schema=job.schema)
            no_line = pa.nulls(bad.num_rows, pa.int64())  # filled in by the scorer from the chunk
            columns = [bad.column(ROW), no_line, bad.column(RAW_ID), bad.column(REASON)]
            rejects = pa.table(columns, schema=REJECT_SCHEMA)
        stage(chunk, out, rejects)


@contextlib.contextmanager
def ray_runner(address: str | None, actors: int) -> Iterator[Runner]:
    """Ray connected for the block; yields a :data:`~modelmill.batch.scorer.Runner` using its actors."""

    def run(job: Job, state: Progress, stage: Callable[[Chunk, pa.Table, pa.Table], None]) -> None:
        first = state.rows_parsed
        window: list[tuple[Chunk, int]] = []
        held = 0
        for chunk in job.chunks(state):
            window.append((chunk, first))
            first += chunk.table.num_rows
            held += chunk.table.num_rows
            if held >= WINDOW_ROWS:
                _run_window(job, actors, window, stage)
                window, held = [], 0
        if window:
            _run_window(job, actors, window, stage)

    with ray_session(address, actors), _quiet_ray_data():
        yield run
