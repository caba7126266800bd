"""Score a table with a model, chunk by chunk: read -> validate -> predict -> stage -> assemble.

>>> from modelmill.batch.scorer import score
>>> summary = score("listings.csv", "predictions.parquet", model="random_forest_export:prod")
>>> summary.rows_scored, summary.rows_rejected

The model is loaded once; each chunk is a pandas frame in signature column order and
dtypes, so ``predict`` sees what it saw at training time.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TextIO

import numpy as np
import pyarrow as pa

from modelmill.batch.model import INTEGER_TYPES, LoadedModel, load_estimator, locate_model
from modelmill.batch.readers import column_names, iter_chunks, open_source, total_rows
from modelmill.batch.validate import check_chunk
from modelmill.batch.writer import Staging
from modelmill.core.errors import UsageError
from modelmill.store.workspace import Workspace

DEFAULT_MODEL = "models:/nyc_rentals@prod"
DEFAULT_CHUNK_ROWS = 100_000
# Test hook: seconds to sleep after each chunk (makes "kill the job mid-way" deterministic).
THROTTLE_ENV = "MODELMILL_SCORE_THROTTLE"


@dataclass
class ScoreSummary:
    """What a scoring job did (``--json`` prints this)."""

    input: str
    output: str
    rejects: str
    model: str
    rows_in: int
    rows_scored: int
    rows_rejected: int
    chunks: int
    seconds: float
    rows_per_s: float
    resumed_from_row: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reporter(Protocol):
    def start(self, total: int | None, done: int) -> None: ...
    def advance(self, rows_done: int, rejected: int) -> None: ...
    def stop(self) -> None: ...


class PlainProgress:
    """One line per chunk at most every ``every`` seconds (logs, pipes, CI)."""

    def __init__(self, stream: TextIO | None = None, every: float = 2.0) -> None:
        self.stream, self.every = stream or sys.stderr, every
        self.total: int | None = None
        self.began = self.last = 0.0
        self.done0 = 0

    def start(self, total: int | None, done: int) -> None:
        self.total, self.done0 = total, done
        self.began = self.last = time.perf_counter()

    def advance(self, rows_done: int, rejected: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        rate = (rows_done - self.done0) / max(now - self.began, 1e-9)
        of = f"/{self.total}" if self.total else ""
        self.stream.write(f"scored {rows_done}{of} rows ({rejected} rejected), {rate:,.0f} rows/s\n")
        self.stream.flush()

    def stop(self) -> None:
        pass


class RichProgress:
    """A rich progress bar with rows/s (interactive terminals)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rows/s, {task.fields[rejected]} rejected"), TimeElapsedColumn(),
            console=Console(file=stream or sys.stderr), transient=False,
        )  # fmt: skip
        self.task: Any = None
        self.began, self.done0 = 0.0, 0

    def start(self, total: int | None, done: int) -> None:
        self.began, self.done0 = time.perf_counter(), done
        self.progress.start()
        self.task = self.progress.add_task("score", total=total, completed=done, rate="-", rejected=0)

    def advance(self, rows_done: int, rejected: int) -> None:
        rate = (rows_done - self.done0) / max(time.perf_counter() - self.began, 1e-9)
        self.progress.update(self.task, completed=rows_done, rate=f"{rate:,.0f}", rejected=rejected)

    def stop(self) -> None:
        self.progress.stop()


def default_progress(stream: TextIO | None = None) -> Reporter:
    """Rich on a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    return RichProgress(stream) if stream.isatty() else PlainProgress(stream)


def _id_type(model: LoadedModel, id_col: str) -> pa.DataType:
    spec = next((c for c in model.columns if c.name == id_col), None)
    if spec is None:
        return pa.string()
    if spec.type in INTEGER_TYPES:
        return pa.int64()
    return pa.float64() if spec.type in ("double", "float") else pa.string()


def score(
    input_url: str,
    output_url: str,
    *,
    model: str = DEFAULT_MODEL,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    id_col: str = "id",
    rejects_url: str | None = None,
    resume: bool = False,
    workspace: Workspace | None = None,
    tracking_uri: str | None = None,
    progress: Reporter | None = None,
    notes: TextIO | None = None,
) -> ScoreSummary:
    """Score ``input_url`` into ``output_url`` (id + prediction); bad rows go to the rejects file."""
    notes = notes or sys.stderr
    if chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be >= 1, got {chunk_rows}")
    rejects_url = rejects_url or f"{output_url}.rejects.csv"
    source = open_source(input_url)  # checks: input exists, known formats (input, output, rejects)
    staging = Staging(output_url, rejects_url)
    names = column_names(source)
    if id_col not in names:
        raise UsageError(f"input '{input_url}' has no id column '{id_col}' (columns: {', '.join(names)}); "
                         "pass --id-col NAME")  # fmt: skip
    loaded = locate_model(model, workspace or Workspace(), tracking_uri)
    estimator = load_estimator(loaded)
    wanted = [c.name for c in loaded.columns if c.name in names]
    read_cols = wanted + ([id_col] if id_col not in wanted else [])
    id_type = _id_type(loaded, id_col)
    schema = pa.schema([(id_col, id_type), ("prediction", pa.float64())])
    job = {"input": input_url, "input_fingerprint": source.fingerprint, "model": loaded.identity,
           "id_col": id_col, "rejects": rejects_url}  # fmt: skip
    state, note = staging.start(job, resume)
    if note:
        notes.write(f"note: {note}\n")
    resumed_from = state.rows_in
    reporter = progress or PlainProgress(notes)
    throttle = float(os.environ.get(THROTTLE_ENV) or 0)
    began = time.perf_counter()
    reporter.start(total_rows(source), state.rows_in)
    try:
        for table in iter_chunks(source, read_cols, chunk_rows, skip_rows=state.rows_in):
            checked = check_chunk(table, loaded.columns, id_col, state.rows_in)
            if len(checked.frame):
                predicted = np.asarray(estimator.predict(checked.frame), dtype="float64")
            else:
                predicted = np.empty(0, dtype="float64")
            ids = pa.array(checked.ids.to_numpy(), type=id_type, from_pandas=True)
            out = pa.table([ids, pa.array(predicted)], schema=schema)
            staging.add_chunk(state, out, checked.rejects, table.num_rows)
            reporter.advance(state.rows_in, state.rows_rejected)
            if throttle:
                time.sleep(throttle)
        staging.finish(state, schema)
    finally:
        reporter.stop()
    seconds = time.perf_counter() - began
    done_now = state.rows_in - resumed_from
    return ScoreSummary(
        input=input_url, output=output_url, rejects=rejects_url, model=loaded.label,
        rows_in=state.rows_in, rows_scored=state.rows_scored, rows_rejected=state.rows_rejected,
        chunks=state.chunks, seconds=round(seconds, 3),
        rows_per_s=round(done_now / seconds, 1) if seconds > 0 else 0.0, resumed_from_row=resumed_from,
    )  # fmt: skip
