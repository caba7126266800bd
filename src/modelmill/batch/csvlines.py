"""Physical line numbers of CSV records, learned from the :mod:`~modelmill.batch.csvframe` markers.

pyarrow numbers the records it parses (1 = header), counting the marker lines the framer
inserts and not counting the blank lines it skips (the framer replaces those by markers).
Each marker stands for an :class:`Event`; :class:`LineNumbers` turns the sequence of events,
seen in file order by pyarrow's invalid-row handler, into the mapping record -> physical line
for malformed lines and for parsed rows.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from operator import itemgetter
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Event:
    """What a marker line stands for."""

    kind: Literal["blank", "multiline", "runaway"]
    lines: int  # blank: 1; multiline: lines of the record after the marker; runaway: lines replaced
    opened: int = 0  # runaway: the line where the quote opened, counted from the first line replaced
    text: str = ""  # runaway: the replaced lines
    problem: str = ""  # runaway: why the quote is taken for a stray one


class LineNumbers:
    """pyarrow record numbers (1 = header) -> physical lines, learned from the markers in file order.

    Appended to by the reader (in pyarrow's handler) and read by whoever holds a chunk,
    possibly in another thread: entries are only appended, as whole tuples.
    """

    def __init__(self) -> None:
        self._shifts: list[tuple[int, int]] = [(0, 0)]  # (from record, physical line - record)
        self._invalid: list[int] = []  # per invalid record: the number of parsed rows before it

    def physical(self, record: int) -> int:
        """The physical line where pyarrow's record ``record`` starts."""
        k = bisect.bisect_right(self._shifts, record, key=itemgetter(0)) - 1
        return record + self._shifts[k][1]

    def invalid(self, record: int) -> None:
        """Record ``record`` went to the invalid-row handler (a marker or a malformed line)."""
        self._invalid.append(record - 2 - len(self._invalid))

    def event(self, record: int, event: Event) -> None:
        """The marker at ``record`` stands for ``event``: shift the records after it."""
        delta = self._shifts[-1][1]
        if event.kind == "runaway":  # one record for event.lines lines
            self._shifts.append((record + 1, delta + event.lines - 1))
        elif event.kind == "multiline":  # the marker has no line; the record after it has several
            self._shifts.append((record + 1, delta - 1))
            self._shifts.append((record + 2, delta + event.lines - 2))

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Physical lines of parsed rows, given as 0-based indexes over every row of the file."""
        rows = np.asarray(rows, dtype="int64")
        before = np.searchsorted(np.asarray(self._invalid, dtype="int64"), rows, side="right")
        records = rows + 2 + before
        shifts = np.asarray(self._shifts, dtype="int64")
        k = np.searchsorted(shifts[:, 0], records, side="right") - 1
        return records + shifts[k, 1]
