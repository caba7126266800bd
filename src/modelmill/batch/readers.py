"""Stream a CSV or Parquet table (local path or fsspec URL) in chunks of exactly ``chunk_rows``.

Memory stays bounded by the chunk and pyarrow's block size, whatever the file size. CSV
columns are read as text and converted by :mod:`modelmill.batch.validate`, so one bad value
rejects one row instead of stopping the reader. Chunk ``k`` always holds rows
``[k * chunk_rows, (k + 1) * chunk_rows)``: a resumed job skips the rows already done.

A CSV line with the wrong number of fields (a "malformed line") is not a row: pyarrow's
``invalid_row_handler`` records it and parsing goes on. Each :class:`Chunk` carries the
malformed lines met since the previous chunk (file order); lines met after the last row come
in a final chunk with no rows. The CSV is parsed serially (``use_threads=False``) so the
handler sees lines in file order: a resumed job drops the first ``skip_malformed`` of them
(those already in the rejects), whatever chunk size either run used.

pyarrow reads the CSV through a :class:`~modelmill.batch.csvframe.Framer`, so line numbers are
the file's physical lines (1-based, header = line 1) even after quoted fields holding line
breaks or blank lines, for malformed lines and parsed rows alike (:meth:`Chunk.lines`); and a
stray quote still open after :data:`~modelmill.batch.csvframe.MAX_RECORD_LINES` lines (or
closed by the next field's opening quote) rejects only the line where it opened: the rows
after it are read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa

from modelmill.batch.csvframe import MAX_RECORD_BYTES, Framer
from modelmill.batch.csvlines import LineNumbers
from modelmill.core.errors import UsageError

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_BLOCK_BYTES = 4 << 20
# Test hook: CSV block size in bytes (small blocks spread malformed lines over many chunks).
CSV_BLOCK_ENV = "MODELMILL_SCORE_CSV_BLOCK_BYTES"


def table_format(url: str, role: str) -> str:
    """``'csv'`` or ``'parquet'`` from the file name; a clear error otherwise."""
    name = url.lower().rstrip("/")
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise UsageError(
        f"cannot tell the format of the {role} '{url}' from its name: use a .csv "
        "(or .csv.gz) or .parquet file name"
    )


@dataclass
class Source:
    """An input table: where it is, its format and what identifies its content."""

    url: str
    format: str
    fs: Any
    path: str
    fingerprint: dict[str, Any]


def open_source(url: str) -> Source:
    """Check ``url`` exists and fingerprint it (size, mtime, digest of the first 1 MiB)."""
    kind = table_format(url, "input")
    fs, path = fsspec.core.url_to_fs(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise UsageError(f"input file not found: '{url}' (check the path or URL)") from None
    if info.get("type") == "directory":
        raise UsageError(f"input '{url}' is a directory: pass one .csv or .parquet file")
    with fs.open(path, "rb") as handle:
        head = hashlib.sha256(handle.read(1 << 20)).hexdigest()
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created") or info.get("ETag")
    fingerprint = {"size": int(info.get("size") or 0), "mtime": str(stamp), "head_sha256": head}
    return Source(url=url, format=kind, fs=fs, path=path, fingerprint=fingerprint)


def _csv_header(source: Source) -> list[str]:
    try:
        with source.fs.open(source.path, "rb", compression="infer") as handle:
            first = io.TextIOWrapper(handle, encoding="utf-8", newline="").readline()
    except UnicodeDecodeError:
        raise UsageError(f"input '{source.url}' is not UTF-8 text: save the CSV as UTF-8") from None
    delimiter = "\t" if source.url.lower().endswith(".tsv") else ","
    return next(csv.reader([first], delimiter=delimiter), [])


def column_names(source: Source) -> list[str]:
    """The column names of the table (header line or Parquet schema)."""
    if source.format == "csv":
        return _csv_header(source)
    import pyarrow.parquet as pq

    with source.fs.open(source.path, "rb") as handle:
        return list(pq.ParquetFile(handle).schema_arrow.names)


def total_rows(source: Source) -> int | None:
    """Rows in the table when cheap to know (Parquet metadata), else ``None``."""
    if source.format != "parquet":
        return None
    import pyarrow.parquet as pq

    with source.fs.open(source.path, "rb") as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)


@dataclass(frozen=True)
class MalformedLine:
    """A CSV record pyarrow could not split into the header's number of fields, or a stray quote.

    ``line`` is the physical line in the file (1 = header) where the record starts, or for a
    stray quote the line where it opened; ``problem`` replaces the field counts in the reason.
    """

    line: int | None
    expected: int
    actual: int | None
    text: str | None
    problem: str | None = None

    def reason(self, max_text: int = 500) -> str:
        where = f"malformed CSV line {self.line}" if self.line is not None else "malformed CSV line"
        reason = f"{where}: {self.problem or f'expected {self.expected} fields, got {self.actual}'}"
        if self.text is not None:
            text = self.text if len(self.text) <= max_text else self.text[:max_text] + "..."
            reason += f": {text!r}"
        return reason


@dataclass
class Chunk:
    """Up to ``chunk_rows`` parsed rows and the malformed lines attributed to them.

    ``first_row`` is the index of the first row among all rows parsed from the file (0-based,
    malformed lines excluded); ``line_numbers`` maps rows to physical lines (CSV only).
    """

    table: pa.Table
    malformed: list[MalformedLine] = field(default_factory=list)
    first_row: int = 0
    line_numbers: LineNumbers | None = None

    @property
    def rows_in(self) -> int:
        """Input records this chunk accounts for: parsed rows plus malformed lines."""
        return self.table.num_rows + len(self.malformed)

    def lines(self, rows: Any) -> np.ndarray | None:
        """Physical lines (1 = header) of rows given by their index among all parsed rows; CSV only."""
        if self.line_numbers is None:
            return None
        return self.line_numbers.rows(np.asarray(rows, dtype="int64"))


def _csv_batches(
    source: Source, columns: list[str], on_malformed: Callable[[MalformedLine], None], lines: LineNumbers
) -> Iterator[pa.RecordBatch]:
    from pyarrow import csv as pacsv

    delimiter = "\t" if source.url.lower().endswith(".tsv") else ","
    width = len(_csv_header(source))
    framer: Framer | None = None

    def handler(row: Any) -> str:
        number = row.number if row.number is not None and row.number >= 0 else None
        if number is not None:
            lines.invalid(number)
        event = framer.event(row.text) if framer is not None else None
        where = lines.physical(number) if number is not None else None
        if event is None:
            on_malformed(MalformedLine(where, int(row.expected_columns), int(row.actual_columns), row.text))
        elif event.kind == "runaway":
            line = where + event.opened if where is not None else None
            on_malformed(MalformedLine(line, int(row.expected_columns), None, event.text, event.problem))
        if event is not None and number is not None:
            lines.event(number, event)
        return "skip"

    block = int(os.environ.get(CSV_BLOCK_ENV) or CSV_BLOCK_BYTES)
    with source.fs.open(source.path, "rb", compression="infer") as handle:
        framer = Framer(handle, width, delimiter, max_bytes=min(MAX_RECORD_BYTES, max(block // 2, 1)))
        try:
            reader = pacsv.open_csv(
                framer,
                # serial: the handler then runs in file order, knows record numbers, never parses ahead
                read_options=pacsv.ReadOptions(block_size=block, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=handler
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in columns},
                    include_columns=columns,
                    strings_can_be_null=True,
                ),
            )
            yield from reader
        except pa.ArrowInvalid as exc:  # not UTF-8, a line longer than a block, ...
            raise UsageError(f"input '{source.url}' could not be read as CSV: {exc}") from None


def _parquet_batches(source: Source, columns: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    # pre_buffer=False: with pre-buffering the reader kept every byte range it had read until
    # the file closed (RSS grew by the input's size: +440 MB over a 10M-row file)
    with source.fs.open(source.path, "rb") as handle:
        reader = pq.ParquetFile(handle, pre_buffer=False)
        yield from reader.iter_batches(batch_size=chunk_rows, columns=columns)


def iter_chunks(
    source: Source, columns: list[str], chunk_rows: int, skip_rows: int = 0, skip_malformed: int = 0
) -> Iterator[Chunk]:
    """Chunks of ``chunk_rows`` rows (the last may be shorter), after skipping ``skip_rows`` rows.

    Malformed CSV lines met while reading are attached to the next chunk yielded (after the
    first ``skip_malformed`` of them, already handled by an interrupted run, are dropped);
    those left at the end of the file come in a last chunk with no rows.
    """
    if chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be >= 1, got {chunk_rows}")
    met: list[MalformedLine] = []
    to_drop = skip_malformed

    def take() -> list[MalformedLine]:
        nonlocal to_drop
        lines = met[to_drop:]
        to_drop = max(0, to_drop - len(met))
        met.clear()
        return lines

    line_numbers = LineNumbers() if source.format == "csv" else None
    if line_numbers is not None:
        batches = _csv_batches(source, columns, met.append, line_numbers)
    else:
        batches = _parquet_batches(source, columns, chunk_rows)
    first = skip_rows  # index of the next row to yield among all parsed rows
    pending: list[pa.RecordBatch] = []
    held = 0
    schema: pa.Schema | None = None
    for batch in batches:
        schema = batch.schema
        if skip_rows:
            if batch.num_rows <= skip_rows:
                skip_rows -= batch.num_rows
                continue
            batch, skip_rows = batch.slice(skip_rows), 0
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield Chunk(table.slice(0, chunk_rows).combine_chunks(), take(), first, line_numbers)
            first += chunk_rows
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield Chunk(pa.Table.from_batches(pending).combine_chunks(), take(), first, line_numbers)
        first += held
    rest_lines = take()
    if rest_lines:
        if schema is None:
            schema = pa.schema([(name, pa.string()) for name in columns])
        yield Chunk(schema.empty_table(), rest_lines, first, line_numbers)
