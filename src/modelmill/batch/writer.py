"""Crash-safe output: one part file per chunk in a staging folder, assembled and renamed at the end.

Layout next to ``OUTPUT`` while a job runs::

    OUTPUT.parts/manifest.json     input fingerprint, model, chunks done, counts
    OUTPUT.parts/pred-00000.parquet  id + prediction of chunk 0
    OUTPUT.parts/rej-00000.parquet   rejected rows of chunk 0

Each part and the manifest are written under a temporary name and renamed, and the
manifest is updated only after a chunk's parts are in place: after a kill, the manifest
counts exactly the chunks whose output is complete. At the end the parts are streamed into
``OUTPUT.tmp-<pid>`` (and the rejects file likewise), which is renamed to ``OUTPUT``: a
killed job never leaves an ``OUTPUT``; ``--resume`` continues from the manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from modelmill.batch.readers import table_format
from modelmill.batch.validate import REJECT_SCHEMA
from modelmill.core.errors import UsageError
from modelmill.tracking.liveness import pid_exists

MANIFEST = "manifest.json"


@dataclass
class Progress:
    """What the manifest records: which job this is and how far it got."""

    job: dict[str, Any]
    chunks: int = 0
    rows_in: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    malformed: int = 0  # malformed CSV lines among rows_in (and rows_rejected): not parsed rows
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_parsed(self) -> int:
        """Parsed rows done: where a resumed reader starts (malformed lines are not rows)."""
        return self.rows_in - self.malformed

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "chunks": self.chunks, "rows_in": self.rows_in,
                "rows_scored": self.rows_scored, "rows_rejected": self.rows_rejected,
                "malformed": self.malformed}  # fmt: skip


class Staging:
    """Part files and the manifest of one scoring job writing ``output`` and ``rejects``."""

    def __init__(self, output: str, rejects: str) -> None:
        self.output_format = table_format(output, "output")
        self.rejects_format = table_format(rejects, "rejects file")
        self.fs, self.output = fsspec.core.url_to_fs(output)
        self.rejects_fs, self.rejects = fsspec.core.url_to_fs(rejects)
        self.dir = f"{self.output}.parts"

    # ----------------------------------------------------------------- manifest
    def _write_bytes(self, path: str, data: bytes) -> None:
        _atomic_write(self.fs, path, lambda handle: handle.write(data))

    def start(self, job: dict[str, Any], resume: bool) -> tuple[Progress, str | None]:
        """A fresh or resumed :class:`Progress` and a note for the user (or ``None``)."""
        manifest = f"{self.dir}/{MANIFEST}"
        note = None
        self.remove_stale_temporaries()
        if self.fs.exists(manifest):
            if resume:
                saved = json.loads(self.fs.cat_file(manifest))
                self._check_same_job(saved["job"], job)
                progress = Progress(job, saved["chunks"], saved["rows_in"], saved["rows_scored"],
                                    saved["rows_rejected"], int(saved.get("malformed", 0)))  # fmt: skip
                return progress, f"resuming after {progress.rows_in} rows ({progress.chunks} chunks)"
            note = (
                f"discarding the progress of an interrupted job in {self.dir} (use --resume to continue it)"
            )
            self.fs.rm(self.dir, recursive=True)
        elif resume:
            note = "nothing to resume: starting from the first row"
        self.fs.makedirs(self.dir, exist_ok=True)
        progress = Progress(job)
        self.save(progress)
        return progress, note

    @staticmethod
    def _check_same_job(saved: dict[str, Any], job: dict[str, Any]) -> None:
        checks = (("input_fingerprint", "the input file changed (size, mtime or content)"),
                  ("model", "the model differs"), ("id_col", "the id column differs"),
                  ("input", "the input differs"), ("rejects", "the rejects path differs"))  # fmt: skip
        for key, what in checks:
            if saved.get(key) != job.get(key):
                raise UsageError(
                    f"cannot resume: {what} since the interrupted job ({saved.get(key)} != {job.get(key)}); "
                    "run again without --resume to start over"
                )

    def save(self, progress: Progress) -> None:
        self._write_bytes(f"{self.dir}/{MANIFEST}", json.dumps(progress.to_dict(), indent=1).encode())

    # ------------------------------------------------------------------ parts
    def _part(self, kind: str, index: int) -> str:
        return f"{self.dir}/{kind}-{index:05d}.parquet"

    def _write_table(self, path: str, table: pa.Table) -> None:
        options = parquet_options(table.schema)
        _atomic_write(self.fs, path, lambda handle: pq.write_table(table, handle, **options))

    def add_chunk(
        self, progress: Progress, predictions: pa.Table, rejects: pa.Table, rows_in: int, malformed: int = 0
    ) -> None:
        """Store one chunk's parts, then record it in the manifest.

        ``rows_in`` counts the chunk's input records (parsed rows and ``malformed`` lines, the
        latter also among ``rejects``).
        """
        self._write_table(self._part("pred", progress.chunks), predictions)
        self._write_table(self._part("rej", progress.chunks), rejects)
        progress.chunks += 1
        progress.rows_in += rows_in
        progress.rows_scored += predictions.num_rows
        progress.rows_rejected += rejects.num_rows
        progress.malformed += malformed
        self.save(progress)

    def _parts(self, kind: str, chunks: int) -> Iterator[pa.Table]:
        for index in range(chunks):
            with self.fs.open(self._part(kind, index), "rb") as handle:
                yield pq.read_table(handle)

    # --------------------------------------------------------------- finalize
    def _assemble(self, sink: Any, kind: str, fmt: str, schema: pa.Schema, chunks: int) -> None:
        if fmt == "parquet":
            writer: Any = pq.ParquetWriter(sink, schema, **parquet_options(schema))
        else:
            from pyarrow import csv as pacsv

            writer = pacsv.CSVWriter(sink, schema)
        try:
            for table in self._parts(kind, chunks):
                writer.write_table(table.cast(schema))
        finally:
            writer.close()

    def finish(self, progress: Progress, prediction_schema: pa.Schema) -> None:
        """Assemble the parts into the rejects file and ``OUTPUT`` (renamed last), drop the staging.

        Each file is written under ``NAME.tmp-<pid>`` and renamed; a failure (a full disk)
        removes the temporary file, so a later ``--resume`` leaves nothing but the results."""
        chunks = progress.chunks
        rejects = partial(self._assemble, kind="rej", fmt=self.rejects_format, schema=REJECT_SCHEMA,
                          chunks=chunks)  # fmt: skip
        output = partial(self._assemble, kind="pred", fmt=self.output_format, schema=prediction_schema,
                         chunks=chunks)  # fmt: skip
        rej_tmp = _atomic_write(self.rejects_fs, self.rejects, rejects, rename=False)
        try:
            out_tmp = _atomic_write(self.fs, self.output, output, rename=False)
        except BaseException:
            _remove_quietly(self.rejects_fs, rej_tmp)
            raise
        self.rejects_fs.mv(rej_tmp, self.rejects)
        self.fs.mv(out_tmp, self.output)
        self.fs.rm(self.dir, recursive=True)

    def remove_stale_temporaries(self) -> list[str]:
        """``OUTPUT.tmp-<pid>`` / ``REJECTS.tmp-<pid>`` left by jobs that died while assembling
        (killed, or before this version cleaned up after a full disk); a live job's are kept."""
        removed = []
        for fs, dest in ((self.fs, self.output), (self.rejects_fs, self.rejects)):
            for path in fs.glob(f"{dest}.tmp-*"):
                pid = path.rsplit(".tmp-", 1)[-1]
                if pid.isdigit() and int(pid) != os.getpid() and not pid_exists(int(pid)):
                    _remove_quietly(fs, path)
                    removed.append(path)
        return removed


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """zstd, with a dictionary for text and boolean columns only: predictions and ids are nearly
    all distinct, and dictionary-encoding them first made 25,000 rows' file 50% larger and
    1.7x slower to write (2.3 ms against 1.4)."""
    repeated = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                or pa.types.is_boolean(f.type)]  # fmt: skip
    return {"compression": "zstd", "use_dictionary": repeated}


def _remove_quietly(fs: Any, path: str) -> None:
    with contextlib.suppress(OSError):  # gone already, or refused: the next job's cleanup retries
        fs.rm(path)


def _atomic_write(fs: Any, path: str, write: Callable[[Any], Any], *, rename: bool = True) -> str:
    """Write ``path`` through ``write(handle)`` on ``path.tmp-<pid>``, then rename it into place
    (or return the temporary name with ``rename=False``); on any failure the temporary file is
    removed, so a full disk leaves no half-written file behind."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with fs.open(tmp, "wb") as handle:
            write(handle)
        if rename:
            fs.mv(tmp, path)
    except BaseException:
        _remove_quietly(fs, tmp)
        raise
    return tmp
