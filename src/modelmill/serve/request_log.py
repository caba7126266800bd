"""The rolling Parquet request log of ``modelmill serve`` (``--log-requests``, off by default).

Why this shape: the log is what ``modelmill monitor DIR`` and the retraining job read later,
so each row is one validated request row (every signature column, ``null`` when not sent), its
``prediction`` (a classifier's: the label as text, then one ``proba_<class>`` column per class),
``timestamp`` (UTC), ``model_name``, ``model_version``, ``endpoint``, ``role`` (``champion``; during a
rollout ``challenger`` for a canary's answers, ``shadow`` for a shadow's, which no client saw)
``request_key`` (the rollout's routing key, e.g. a listing id, to join actuals) and ``latency_ms``
(the answering model's prediction time for the request). Each part has one Arrow
schema (one per model signature and classes): the parts of one model read as one table with
``pyarrow.dataset``; after a hot swap to a model with another signature or other classes, read
the parts by ``model_version``.
The request path only appends references to the validated rows under a lock; a background
thread turns them into Parquet part files (written to a hidden temp file, then renamed, so
a reader never sees half a part) and deletes the oldest parts once the directory exceeds
``max_bytes``. A failed write is logged and counted, and its rows dropped: logging never
fails or slows a request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelmill.serve.schema import Column

log = logging.getLogger("modelmill.serve")

PART_GLOB = "part-*.parquet"
EXTRA_COLUMNS = ("prediction", "timestamp", "model_name", "model_version", "endpoint", "role", "request_key",
                 "latency_ms")


@dataclass(frozen=True)
class _Entry:
    """One successful request, as cheap to build as possible (converted in the flusher)."""

    columns: tuple[Column, ...]
    rows: Sequence[Any]  # validated pydantic rows (or plain dicts)
    predictions: Sequence[Any]  # values, or a classifier's labels
    timestamp: float
    model_name: str
    model_version: str
    endpoint: str
    classes: tuple[str, ...] = ()  # a classifier's class names: one proba_<class> column each
    proba: Any = None  # (n, n_classes) probabilities of a classifier
    role: str = "champion"  # or challenger (a canary's answer), shadow (recorded, never returned)
    key: str | None = None  # the rollout's routing key
    seconds: float | None = None  # the model's prediction time for the whole request


def arrow_schema(columns: Sequence[Column], classes: Sequence[str] = ()) -> Any:
    """The Parquet schema for a model signature: stable for every part that model writes. A
    classifier's (``classes``) ``prediction`` is its label as text, followed by one
    ``proba_<class>`` column per class."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "double": pa.float64(),
        "float": pa.float64(),
        "long": pa.int64(),
        "integer": pa.int64(),
        "boolean": pa.bool_(),
    }
    outputs = {"prediction", *(f"proba_{c}" for c in classes)}
    fields = [pa.field(c.name, types[c.type]) for c in columns if c.name not in {*EXTRA_COLUMNS, *outputs}]
    return pa.schema(
        [
            *fields,
            pa.field("prediction", pa.string() if classes else pa.float64()),
            *(pa.field(f"proba_{c}", pa.float64()) for c in classes),
            pa.field("timestamp", pa.timestamp("us", tz="UTC")),
            pa.field("model_name", pa.string()),
            pa.field("model_version", pa.string()),
            pa.field("endpoint", pa.string()),
            pa.field("role", pa.string()),
            pa.field("request_key", pa.string()),
            pa.field("latency_ms", pa.float64()),
        ]
    )


class RequestLog:
    """Buffer of served requests, flushed to rolling Parquet parts by a background thread."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        flush_rows: int = 1000,
        flush_interval: float = 10.0,
        metrics: Any = None,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.max_buffered = max(100_000, 10 * flush_rows)  # memory bound while writes keep failing
        self.metrics = metrics  # ServiceMetrics (request_log_* counters) or None
        self._buffer: list[_Entry] = []
        self._buffered_rows = 0
        self._lock = threading.Lock()  # guards the buffer; held only to append or swap it
        self._write_lock = threading.Lock()  # one writer at a time (flusher vs. explicit flush)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0

    # ------------------------------------------------------------------ request path
    def append(
        self, model: Any, rows: Sequence[Any], predictions: Sequence[Any], endpoint: str, proba: Any = None,
        role: str = "champion", key: str | None = None, seconds: float | None = None,
    ) -> None:  # fmt: skip
        """Record one successful request of ``model`` (a ``LoadedModel``); O(1), never raises.
        ``proba``: a classifier's probabilities (``predictions`` are then its labels)."""
        t = model.target
        classes = tuple(str(c) for c in model.classes or ()) if proba is not None else ()
        entry = _Entry(tuple(model.columns), rows, predictions, time.time(), t.name, t.version, endpoint,
                       classes, proba, role, key, seconds)  # fmt: skip
        with self._lock:
            if self._buffered_rows + len(rows) > self.max_buffered:
                self._count("request_log_dropped", len(rows))
                return
            self._buffer.append(entry)
            self._buffered_rows += len(rows)
            full = self._buffered_rows >= self.flush_rows
        if full:
            self._wake.set()

    # ------------------------------------------------------------------ background
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelmill-request-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the flusher and write what is buffered (called on shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

    def flush(self) -> int:
        """Write the buffered rows as new part file(s); the number of rows written."""
        with self._write_lock:
            with self._lock:
                entries, self._buffer, self._buffered_rows = self._buffer, [], 0
            if not entries:
                return 0
            written = 0
            for (columns, classes), group in _by_schema(entries).items():
                count = sum(len(e.rows) for e in group)
                try:
                    self._write_part(columns, classes, group)
                    written += count
                    self._count("request_log_rows", count)
                except Exception as exc:
                    log.error("request log: could not write %d rows to %s: %s", count, self.directory, exc)
                    self._count("request_log_errors", 1)
                    self._count("request_log_dropped", count)
            try:
                self._roll()
            except OSError as exc:
                log.error("request log: could not trim %s: %s", self.directory, exc)
                self._count("request_log_errors", 1)
            return written

    def _write_part(
        self, columns: tuple[Column, ...], classes: tuple[str, ...], entries: list[_Entry]
    ) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema(columns, classes)
        data: dict[str, list[Any]] = {f.name: [] for f in schema}
        features = [f.name for f in schema][: -(len(EXTRA_COLUMNS) + len(classes))]
        for e in entries:
            stamp = datetime.fromtimestamp(e.timestamp, UTC)
            for row in e.rows:
                record = row.model_dump(by_alias=True) if hasattr(row, "model_dump") else row
                for name in features:
                    data[name].append(record.get(name))
            n = len(e.rows)
            if classes:
                data["prediction"].extend(str(v) for v in e.predictions)
                for j, c in enumerate(classes):
                    data[f"proba_{c}"].extend(float(row[j]) for row in e.proba)
            else:
                data["prediction"].extend(float(v) for v in e.predictions)
            data["timestamp"].extend([stamp] * n)
            data["model_name"].extend([e.model_name] * n)
            data["model_version"].extend([e.model_version] * n)
            data["endpoint"].extend([e.endpoint] * n)
            data["role"].extend([e.role] * n)
            data["request_key"].extend([e.key] * n)
            data["latency_ms"].extend([None if e.seconds is None else e.seconds * 1000] * n)
        table = pa.Table.from_pydict(data, schema=schema)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{os.getpid()}-{self._seq:06d}.parquet"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"  # hidden: pyarrow.dataset skips it
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def _roll(self) -> None:
        """Delete the oldest parts while the directory is over ``max_bytes`` (the newest stays)."""
        if not self.directory.is_dir():
            return
        parts = sorted(self.directory.glob(PART_GLOB))  # names start with the UTC time: oldest first
        sizes = [p.stat().st_size for p in parts]
        total = sum(sizes)
        for part, size in zip(parts[:-1], sizes[:-1], strict=True):
            if total <= self.max_bytes:
                break
            part.unlink(missing_ok=True)
            total -= size

    def _count(self, name: str, amount: float) -> None:
        counter = getattr(self.metrics, name, None)
        if counter is not None:
            counter.inc(amount)


def _by_schema(entries: list[_Entry]) -> dict[tuple[tuple[Column, ...], tuple[str, ...]], list[_Entry]]:
    """Entries grouped by signature and classes: a hot swap to a new one starts a new schema."""
    groups: dict[tuple[tuple[Column, ...], tuple[str, ...]], list[_Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.columns, entry.classes), []).append(entry)
    return groups
