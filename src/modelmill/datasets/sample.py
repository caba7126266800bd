"""Read the first rows of a CSV or Parquet table, fast, whatever the file's size.

``modelmill init`` infers a dataset spec from a table; a million-row file must not be read
whole for that. pyarrow's streaming readers stop after :data:`SAMPLE_ROWS` rows (the CSV
reader parses block by block; Parquet reads row groups), so the time is bounded by the
sample, not the file. CSV cells are read as text, every column: type inference is ours
(:mod:`modelmill.datasets.infer`), and "$1,200.00", "45%" or "007" must reach it as written.

The sample is the file's head, not a random draw (a random draw would read the whole file);
:class:`Sample` says whether the file was cut and estimates how many rows it holds.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from modelmill.core.errors import UsageError

SAMPLE_ROWS = 50_000
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".csv.bz2", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = ",;\t|"
# cells read as missing (pyarrow's own list, plus the empty string)
NULL_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-NaN", "-nan", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
               "n/a", "nan", "null"]  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """The first rows of a table and what is known of the rest."""

    frame: pd.DataFrame  # CSV: every column as text (missing cells: NA); Parquet: as stored
    path: Path
    format: str  # csv | parquet
    truncated: bool  # the file has more rows than the sample
    total_rows: int | None  # exact (Parquet, or a CSV read whole), else None
    estimated_rows: int  # exact when known, else from the bytes the sample took

    @property
    def rows(self) -> int:
        return len(self.frame)


def table_format(path: Path) -> str:
    """``csv`` or ``parquet`` from the name; a :class:`UsageError` naming the forms otherwise."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise UsageError(f"--data {path}: cannot tell the format from the name; use a .csv or .parquet file")


def read_sample(path: str | os.PathLike[str], max_rows: int = SAMPLE_ROWS) -> Sample:
    """The first ``max_rows`` rows of the table at ``path`` (CSV or Parquet, by its name)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--data {path}: no such file")
    kind = table_format(path)
    try:
        if kind == "parquet":
            return _parquet(path, max_rows)
        return _csv(path, max_rows)
    except UsageError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--data {path}: cannot be read as {kind.upper()}: {detail}") from None


def _parquet(path: Path, max_rows: int) -> Sample:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    total = file.metadata.num_rows
    batches = []
    taken = 0
    for batch in file.iter_batches(batch_size=min(max_rows, 65_536)):
        batches.append(batch.slice(0, max_rows - taken))
        taken += batches[-1].num_rows
        if taken >= max_rows:
            break
    table = pa.Table.from_batches(batches, schema=file.schema_arrow)
    frame = table.to_pandas()
    return Sample(frame, path, "parquet", total > len(frame), total, total)


def _header(path: Path) -> tuple[list[str], str]:
    """The column names and the delimiter, from the first line."""
    import pyarrow as pa

    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 16).decode("utf-8-sig", errors="replace")
    first = next(iter(head.splitlines()), "")
    if not first.strip():
        raise UsageError(f"--data {path}: the file is empty (a CSV needs a header line)")
    delimiter = "\t" if path.name.lower().endswith((".tsv", ".tsv.gz")) else _delimiter(first)
    names = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    return [n.strip() for n in names], delimiter


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv(path: Path, max_rows: int) -> Sample:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names, delimiter = _header(path)
    if len(set(names)) != len(names) or not all(names):
        repeated = sorted({n for n in names if names.count(n) > 1 or not n})
        raise UsageError(f"--data {path}: column names must be distinct and non-empty: {repeated}")
    stream = pa.input_stream(str(path), compression="detect")
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 20),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, null_values=NULL_VALUES, strings_can_be_null=True
        ),
    )
    batches = []
    taken = 0
    exhausted = True
    with stream:
        for batch in reader:
            batches.append(batch.slice(0, max_rows - taken))
            taken += batches[-1].num_rows
            if taken >= max_rows:
                exhausted = _at_end(reader, batch.num_rows > batches[-1].num_rows)
                break
    table = pa.Table.from_batches(batches, schema=reader.schema) if batches else reader.schema.empty_table()
    frame = table.to_pandas()
    if exhausted:
        return Sample(frame, path, "csv", False, len(frame), len(frame))
    return Sample(frame, path, "csv", True, None, _estimate_rows(path, table))


def _estimate_rows(path: Path, table: Any) -> int:
    """The rows of a cut CSV: its size over the sample's bytes per row (text length of the
    cells plus delimiters and the line break); a compressed file counts the sample only."""
    import pyarrow.compute as pc

    rows = int(table.num_rows)
    if path.name.lower().endswith((".gz", ".bz2")) or not rows:
        return int(rows)
    cells = sum(int(pc.sum(pc.fill_null(pc.utf8_length(col), 0)).as_py() or 0) for col in table.columns)
    per_row = cells / rows + len(table.columns)
    return max(rows, int(path.stat().st_size / per_row))


def _at_end(reader: object, cut: bool) -> bool:
    """Whether the reader has no row beyond the sample (``cut``: the last batch was cut)."""
    if cut:
        return False
    try:
        nxt = reader.read_next_batch()  # type: ignore[attr-defined]
    except StopIteration:
        return True
    return nxt.num_rows == 0 and _at_end(reader, False)
