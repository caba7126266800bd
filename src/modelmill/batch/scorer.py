"""Score a table with a model, chunk by chunk: read -> validate -> predict -> stage -> assemble.

>>> from modelmill.batch.scorer import score
>>> summary = score("rows.csv", "predictions.parquet", model="models:/my_model@prod", id_col="id")
>>> summary.rows_scored, summary.rows_rejected

The output holds the id column and ``prediction``; a table without an id column is scored in
row order, and the output's first column is then ``row`` (the row's place in the input,
0-based, as the rejects file counts rows).

The model is loaded once; each chunk is a pandas frame in signature column order and
dtypes, so ``predict`` sees what it saw at training time.

``engine="ray"`` (:mod:`modelmill.batch.ray_engine`) validates and predicts on Ray Data
actors instead of in this process; reading, staging, resume and the files written are the
same. Everything a user can get wrong (input, formats, id column, model, engine) is checked
by :func:`prepare` before any Ray starts.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import pyarrow as pa

from modelmill.batch.chunks import PreparedChunk, finish_chunk, prepare_chunk, slimmed
from modelmill.batch.model import INTEGER_TYPES, LoadedModel, load_estimator, locate_model
from modelmill.batch.prefetch import prefetched
from modelmill.batch.readers import Chunk, Source, column_names, iter_chunks, open_source, total_rows
from modelmill.batch.validate import malformed_rejects, with_lines
from modelmill.batch.writer import Progress, Staging
from modelmill.core.errors import UsageError
from modelmill.core.machine import HeapTrimmer, frozen_heap, release_free_memory
from modelmill.registry.predictor import RUNTIMES
from modelmill.store.workspace import Workspace

ROW = "row"  # the output's first column when the input has no id column
# Rows per chunk. Up to three chunks are in memory at once (one read ahead, one being encoded,
# one predicted): at 25,000 rows the course forest's job peaks below the plain pandas script
# at 100,000 (412 vs 457 MB on CSV), for ~10% fewer rows/s than at 100,000 (benchmarks/bench_score.py).
DEFAULT_CHUNK_ROWS = 25_000
# Freed heap kept before it is handed back (core.machine.HeapTrimmer): 64 MB kept the course
# forest's CSV job at 420 MB against 390 when trimming after every chunk, 5-10% faster.
TRIM_MARGIN = 64 << 20
# Test hook: seconds to sleep after each chunk (makes "kill the job mid-way" deterministic).
THROTTLE_ENV = "MODELMILL_SCORE_THROTTLE"
ENGINES = ("local", "ray")
# The project's id column, for when --id-col is not given and the input lacks the model's own:
# a name, None, or a callable asked only then (the CLI's composes the config: 0.4 s, if needed).
DefaultId = str | Callable[[], str | None] | None


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
    resumed_from_row: int  # input records (rows and malformed lines) an interrupted run had done
    rows_malformed: int = 0  # malformed CSV lines (among rows_in and rows_rejected)
    engine: str = "local"
    runtime: str | None = None  # onnx or sklearn (None: the model ran on Ray actors)
    trees: str | None = None  # who walked an ONNX graph's trees: compiled, or onnxruntime and why

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


def _id_type(model: LoadedModel, id_col: str | None) -> pa.DataType:
    if id_col is None:
        return pa.int64()
    spec = next((c for c in model.columns if c.name == id_col), None)
    if spec is None:
        return pa.string()
    if spec.type in INTEGER_TYPES:
        return pa.int64()
    return pa.float64() if spec.type in ("double", "float") else pa.string()


@dataclass
class Job:
    """A scoring job checked and ready to run: source, staging, model (not loaded yet) and schema."""

    input_url: str
    output_url: str
    rejects_url: str
    source: Source
    staging: Staging
    model: LoadedModel
    id_col: str | None  # None: rows are numbered (the output's ``row`` column)
    read_cols: list[str]
    schema: pa.Schema  # of OUTPUT: id (or row) + prediction
    id_index: int | None  # the id column's place in a CSV header (ids of malformed lines)
    delimiter: str
    chunk_rows: int
    ws: Any  # the workspace the model was resolved in (the CLI's opens at its first use)
    runtime: str = "auto"  # auto | onnx | sklearn (modelmill.registry.predictor)

    @property
    def workspace(self) -> Path:
        """The workspace's root (Ray actors resolve the model in it)."""
        return Path(self.ws.root)

    @property
    def fingerprint(self) -> dict[str, Any]:
        return {"input": self.input_url, "input_fingerprint": self.source.fingerprint,
                "model": self.model.identity, "id_col": self.id_col, "rejects": self.rejects_url}  # fmt: skip

    def chunks(self, state: Progress) -> Any:
        """The chunks still to do after ``state`` (a resumed job's progress)."""
        return iter_chunks(self.source, self.read_cols, self.chunk_rows, skip_rows=state.rows_parsed,
                           skip_malformed=state.malformed)  # fmt: skip

    def malformed_rejects(self, chunk: Chunk) -> pa.Table:
        return malformed_rejects(chunk.malformed, self.id_index, self.delimiter)


def output_fields(classes: list[Any] | None) -> list[tuple[str, pa.DataType]]:
    """``prediction`` (float), or a classifier's label (its classes' type) and one
    ``proba_<class>`` column per class, in the model's order."""
    if classes is None:
        return [("prediction", pa.float64())]
    ints = all(isinstance(c, int) and not isinstance(c, bool) for c in classes)
    label = pa.int64() if ints else pa.bool_() if all(isinstance(c, bool) for c in classes) else pa.string()
    return [("prediction", label), *((f"proba_{c}", pa.float64()) for c in classes)]


def prepare(
    input_url: str,
    output_url: str,
    *,
    model: str,
    chunk_rows: int,
    id_col: str | None,
    rejects_url: str | None,
    workspace: Workspace,
    tracking_uri: str | None,
    runtime: str = "auto",
    default_id: DefaultId = None,
    notes: TextIO | None = None,
) -> Job:
    """Check everything a user can get wrong and resolve the model (without loading it); the
    job's model must be closed (``with job.model``) to remove a registry download.

    ``id_col`` must be a column of the input; without it, the id column of the dataset the
    model was trained on (recorded in the model) when the input has it, else ``default_id``
    (the project's; a callable is only called then) when the input has it, else rows are
    numbered."""
    if chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be >= 1, got {chunk_rows}")
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown --runtime '{runtime}': expected one of {', '.join(RUNTIMES)}")
    rejects_url = rejects_url or f"{output_url}.rejects.csv"
    source = open_source(input_url)  # checks: input exists, known formats (input, output, rejects)
    staging = Staging(output_url, rejects_url)
    names = column_names(source)
    if id_col is not None and id_col not in names:
        raise UsageError(f"input '{input_url}' has no id column '{id_col}' (columns: {', '.join(names)}); "
                         "pass --id-col NAME")  # fmt: skip
    loaded = locate_model(model, workspace, tracking_uri)  # the caller closes it (a registry download)
    try:
        if id_col is None:
            id_col = _default_id(loaded.id_column, default_id, names, input_url, notes)
        wanted = [c.name for c in loaded.columns if c.name in names]
        read_cols = wanted + ([id_col] if id_col is not None and id_col not in wanted else [])
        schema = pa.schema([(id_col or ROW, _id_type(loaded, id_col)), *output_fields(loaded.classes)])
    except BaseException:
        loaded.close()
        raise
    delimiter = "\t" if input_url.lower().endswith(".tsv") else ","
    return Job(input_url=input_url, output_url=output_url, rejects_url=rejects_url, source=source,
               staging=staging, model=loaded, id_col=id_col, read_cols=read_cols, schema=schema,
               id_index=names.index(id_col) if source.format == "csv" and id_col else None,
               delimiter=delimiter,
               chunk_rows=chunk_rows, ws=workspace, runtime=runtime)  # fmt: skip


def _default_id(recorded: str | None, project: DefaultId, names: list[str], input_url: str,
                notes: TextIO | None) -> str | None:  # fmt: skip
    """The model's ``recorded`` id column when the input has it, else the project's (a callable
    is asked only then), else ``None``: rows are numbered, with a note naming what was missing."""
    if recorded is not None and recorded in names:
        return recorded
    fallback = project() if callable(project) else project
    if fallback is not None and fallback in names:
        return fallback
    missing = list(dict.fromkeys(c for c in (recorded, fallback) if c is not None))
    if missing and notes is not None:
        wanted = " or ".join(f"'{c}'" for c in missing)
        notes.write(f"note: input '{input_url}' has no id column {wanted}: rows are numbered "
                    f"in the output's '{ROW}' column\n")  # fmt: skip
    return None


# (job, progress, stage(chunk, predictions, rejects)): runs the chunks still to do through the model
Runner = Callable[[Job, Progress, Callable[[Chunk, pa.Table, pa.Table], None]], None]


def _local_runner(job: Job, state: Progress, stage: Callable[[Chunk, pa.Table, pa.Table], None]) -> None:
    """Chunks are read, validated and encoded one ahead in a thread while the current one is
    predicted and staged here (:mod:`modelmill.batch.prefetch`); staging stays in order."""
    estimator = load_estimator(job.model, job.runtime)
    release_free_memory()  # what loading parsed and dropped (the ONNX graph's protobuf)

    def prepared() -> Iterator[tuple[Chunk, PreparedChunk]]:
        first = state.rows_parsed
        for chunk in job.chunks(state):
            ready = prepare_chunk(chunk.table, estimator, job.model.columns, job.id_col, first)
            first += chunk.table.num_rows
            yield slimmed(chunk, ready)

    with frozen_heap():
        for chunk, ready in prefetched(prepared()):
            out, rejects, _ = finish_chunk(ready, estimator, job.schema)
            stage(chunk, out, rejects)


def score(
    input_url: str,
    output_url: str,
    *,
    model: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    id_col: str | None = None,
    default_id: DefaultId = None,
    rejects_url: str | None = None,
    resume: bool = False,
    workspace: Workspace | Any = None,  # or what behaves as one (the CLI's opens at first use)
    tracking_uri: str | None = None,
    progress: Reporter | None = None,
    notes: TextIO | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int = 1,
    runtime: str = "auto",
) -> ScoreSummary:
    """Score ``input_url`` into ``output_url`` (id + prediction); bad rows go to the rejects file.

    ``id_col`` names each row in the output (it must be a column of the input); without it,
    the first the input has of the model's own id column (its dataset spec's) and
    ``default_id``; else the output numbers the rows (``row``).

    ``engine="ray"`` predicts on ``ray_actors`` Ray Data actors: a local Ray started for the
    job, or the cluster at ``ray_address`` (default ``$RAY_ADDRESS``), or a Ray already
    initialised in this process (left running).
    """
    notes = notes or sys.stderr
    if engine not in ENGINES:
        raise UsageError(f"unknown --engine '{engine}': expected one of {', '.join(ENGINES)}")
    if engine == "ray":
        from modelmill.batch.ray_engine import check_ray

        check_ray(ray_actors)
    job = prepare(input_url, output_url, model=model, chunk_rows=chunk_rows, id_col=id_col,
                  rejects_url=rejects_url, workspace=workspace or Workspace(),
                  tracking_uri=tracking_uri, runtime=runtime, default_id=default_id, notes=notes)  # fmt: skip
    with job.model, contextlib.ExitStack() as stack:  # a registry download ends with the job
        runner: Runner = _local_runner
        if engine == "ray":  # connected before anything is written: a Ray that fails leaves no trace
            from modelmill.batch.ray_engine import ray_runner

            runner = stack.enter_context(ray_runner(ray_address, ray_actors))
        return _run(job, runner, resume, progress, notes, engine)


def _run(job: Job, runner: Runner, resume: bool, progress: Reporter | None, notes: TextIO, engine: str
         ) -> ScoreSummary:  # fmt: skip
    staging = job.staging
    state, note = staging.start(job.fingerprint, resume)
    if note:
        notes.write(f"note: {note}\n")
    resumed_from = state.rows_in
    reporter = progress or PlainProgress(notes)
    throttle = float(os.environ.get(THROTTLE_ENV) or 0)
    trim = HeapTrimmer(TRIM_MARGIN)

    def stage(chunk: Chunk, out: pa.Table, rejects: pa.Table) -> None:
        rejects = with_lines(rejects, chunk)  # physical lines of the rejected rows (CSV)
        if chunk.malformed:
            rejects = pa.concat_tables([rejects, job.malformed_rejects(chunk)])
        staging.add_chunk(state, out, rejects, chunk.rows_in, len(chunk.malformed))
        trim()  # each chunk's frames are freed by now: keep the peak near 2 chunks' worth
        reporter.advance(state.rows_in, state.rows_rejected)
        if throttle:
            time.sleep(throttle)

    began = time.perf_counter()
    reporter.start(total_rows(job.source), state.rows_in)
    try:
        runner(job, state, stage)
        staging.finish(state, job.schema)
    finally:
        reporter.stop()
    seconds = time.perf_counter() - began
    done_now = state.rows_in - resumed_from
    return ScoreSummary(
        input=job.input_url, output=job.output_url, rejects=job.rejects_url, model=job.model.label,
        rows_in=state.rows_in, rows_scored=state.rows_scored, rows_rejected=state.rows_rejected,
        chunks=state.chunks, seconds=round(seconds, 3),
        rows_per_s=round(done_now / seconds, 1) if seconds > 0 else 0.0, resumed_from_row=resumed_from,
        rows_malformed=state.malformed, engine=engine,
        runtime=getattr(job.model.estimator, "runtime", None),
        trees=getattr(job.model.estimator, "trees", None),
    )  # fmt: skip
