"""Frame a CSV byte stream into records before pyarrow parses it: physical line numbers, and a
bound on how far an open quote can run.

pyarrow's CSV reader (``newlines_in_values=True``) numbers *records*, not lines: after a quoted
field holding line breaks, or after a blank line, the numbers it reports drift from the file's
lines (physical line 52 reported as 47). And a stray quote makes it read on to the next quote
anywhere below, merging the valid rows in between into one record (or failing with "straddling
object" once that record outgrows a block).

:class:`Framer` is the file object pyarrow reads through. It passes the bytes on unchanged
except at three kinds of event, each announced by a *marker line* (one field holding a random
token that no data line holds). pyarrow hands a marker line to ``invalid_row_handler`` like
any line with the wrong number of fields, in file order and with its record number, and
:class:`~modelmill.batch.csvlines.LineNumbers` learns from it how records map to physical lines:

* a blank line is replaced by a marker (pyarrow would skip it without counting it);
* a record spanning several lines is preceded by a marker giving its number of lines;
* a *runaway quote* - one still open after ``max_lines`` lines or ``max_bytes`` bytes, never
  closed, or closed lines later by a quote followed by text (``"Cozy ... 5,"Nice``: the stray
  quote met the next field's opening quote) - replaces the lines up to the one where it opened
  by a marker: the reader rejects them as one record naming that line, and framing resumes on
  the next line, so the valid rows after it are read. (A well-formed record of several lines
  with the wrong number of fields stays one record: pyarrow rejects it, at its first line.)

Cost: a block without any quote or blank line is passed on after two vectorised byte scans
(the common case, and the benchmark's). A block with quotes gets a per-line quote-parity test
in numpy; only lines with an odd number of quotes (and the lines of the records they open) are
scanned in Python. This relies on quotes pairing up within a line, which every CSV writer
guarantees; a line with both a literal quote inside an unquoted field (``50" TV``) and an
unterminated quoted field is not detected (two faults in one line).
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from modelmill.batch.csvlines import Event

MAX_RECORD_LINES = 100  # an open quote running over more physical lines than this is a runaway
MAX_RECORD_BYTES = 1 << 20  # ... or over more bytes (kept below pyarrow's block size)
QUOTE, NEWLINE, CR = ord('"'), ord("\n"), ord("\r")
SPARSE_QUOTES = 256  # more quotes in a block than this: count them per line with numpy


@dataclass
class _Record:
    """A record being framed line by line, with the quote state of a CSV tokenizer.

    A quote opens a quoted field only at the start of a field; inside one, ``""`` is a quote
    and any other quote closes it (what pyarrow and Python's csv module do).
    """

    lines: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    quoted: bool = False
    opened: int = 0  # line index where the last quote opened
    bad_close: int | None = None  # line index where a quote opened that closed, lines later, before text

    def feed(self, line: bytes, delimiter: int) -> None:
        """Scan one more physical line (with its line break)."""
        index = len(self.lines)
        self.lines.append(line)
        self.nbytes += len(line)
        end = len(line.rstrip(b"\r\n"))
        pos, start = 0, (-1 if self.quoted else 0)  # start: where the current unquoted field began
        while pos < end:
            if self.quoted:
                q = line.find(b'"', pos, end)
                if q < 0:
                    return
                if q + 1 < end and line[q + 1] == QUOTE:  # "" inside quotes
                    pos = q + 2
                    continue
                self.quoted, pos, start = False, q + 1, -1
                if self.opened < index and pos < end and line[pos] != delimiter and self.bad_close is None:
                    self.bad_close = self.opened
                continue
            d, q = line.find(delimiter, pos, end), line.find(b'"', pos, end)
            if q >= 0 and (d < 0 or q < d):
                if q == start:
                    self.quoted, self.opened = True, index
                pos = q + 1
                continue
            if d < 0:
                return
            pos = start = d + 1


class Framer:
    """The CSV stream as pyarrow should see it (see the module docstring); ``read`` is all it needs."""

    def __init__(
        self,
        raw: BinaryIO,
        columns: int,
        delimiter: str = ",",
        max_lines: int = MAX_RECORD_LINES,
        max_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self._raw = raw
        self._delimiter = ord(delimiter)
        self._max_lines, self._max_bytes = max(2, max_lines), max_bytes
        self._token = f"modelmill-frame-{uuid.uuid4().hex}-"
        # a marker must have the wrong number of fields: one, or two in a one-column file
        self._filler = delimiter.encode() if columns <= 1 else b""
        self._events: dict[int, Event] = {}
        self._next = 0
        self._pieces: deque[bytes | memoryview] = deque()
        self._tail = b""
        self._eof = False
        self._record: _Record | None = None
        self._out: list[bytes | memoryview] = []  # framed, not yet handed over
        self.closed = False

    # ------------------------------------------------------------ pyarrow's side
    def read(self, size: int = -1) -> bytes | memoryview:
        """Up to ``size`` bytes of whole framed lines (fewer is fine: pyarrow treats it as a block)."""
        size = size if size and size > 0 else 1 << 20
        while not self._pieces and not self._eof:
            self._pull(size)
        if not self._pieces:
            return b""
        piece = self._pieces.popleft()
        if len(piece) > size:
            piece, rest = piece[:size], piece[size:]
            self._pieces.appendleft(rest)
        return piece

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def event(self, text: str | None) -> Event | None:
        """The event a marker line stands for, or ``None`` when ``text`` is a line of the file."""
        if not text or not text.startswith(self._token):
            return None
        key = text[len(self._token) :].rstrip(chr(self._delimiter) + "\r\n")
        return self._events.pop(int(key), None) if key.isdigit() else None

    # ------------------------------------------------------------- framing
    def _pull(self, size: int) -> None:
        """Read the next raw block and frame its whole lines (the partial last one waits)."""
        raw = self._raw.read(max(size - len(self._tail), 1 << 16))
        if not raw:
            self._eof = True
            if self._tail:
                self._frame(self._tail)
                self._tail = b""
            while self._record is not None:  # a quote still open at the end of the file
                self._runaway(self._record.opened, "unbalanced quote: opened on this line and never closed")
            self._flush()
            return
        start = 0
        if self._tail:  # the line begun in the previous block
            first = raw.find(b"\n")
            if first < 0:
                self._tail += raw
                return
            self._frame(self._tail + raw[: first + 1])
            start = first + 1
        cut = raw.rfind(b"\n") + 1
        if cut > start:
            self._frame(raw, start, cut)
        self._tail = raw[max(cut, start) :]
        self._flush()

    def _flush(self) -> None:
        """Hand what was framed to pyarrow: big runs as they are (no copy), many small parts joined."""
        if len(self._out) > 2:
            self._pieces.append(b"".join(self._out))
        else:
            self._pieces.extend(self._out)
        self._out = []

    def _frame(self, data: bytes, lo: int = 0, hi: int | None = None) -> None:
        """Frame the whole lines ``data[lo:hi]`` (the last may lack its line break at the end of the file)."""
        hi = len(data) if hi is None else hi
        if self._record is None and not _has_odd_quote_line(data, lo, hi) and not _has_blank(data, lo, hi):
            self._out.append(memoryview(data)[lo:hi] if (lo, hi) != (0, len(data)) else data)
            return
        arr = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo)
        ends = np.flatnonzero(arr == NEWLINE) + 1
        if not len(ends) or ends[-1] != len(arr):
            ends = np.append(ends, len(arr))
        starts = np.concatenate(([0], ends[:-1]))
        quotes = np.searchsorted(np.flatnonzero(arr == QUOTE), ends)  # quotes before each line's end
        odd = np.diff(quotes, prepend=0) & 1
        length = ends - starts
        first = arr[starts]
        blank = (length == 1) & (first == NEWLINE)
        blank |= (length == 2) & (first == CR) & (arr[np.minimum(starts + 1, len(arr) - 1)] == NEWLINE)
        special = np.flatnonzero(odd.astype(bool) | blank)
        starts, ends = starts + lo, ends + lo
        i, n = 0, len(starts)
        while i < n:
            if self._record is not None:  # inside a record that spans lines: every line counts
                self._line(data[starts[i] : ends[i]])
                i += 1
                continue
            k = int(np.searchsorted(special, i))
            j = int(special[k]) if k < len(special) else n
            if j > i:  # plain lines, passed on at once
                self._out.append(memoryview(data)[starts[i] : ends[j - 1]])
                i = j
                continue
            self._line(data[starts[i] : ends[i]])
            i += 1

    def _line(self, line: bytes) -> None:
        """One line that needs a look: blank, odd quote count, inside a record, or replayed."""
        record = self._record
        if record is None:
            if line in (b"\n", b"\r\n"):
                self._marker(Event("blank", 1))
                return
            if line.count(b'"') % 2 == 0:
                self._out.append(line)
                return
            record = self._record = _Record()
        record.feed(line, self._delimiter)
        if record.quoted:
            too_long = len(record.lines) >= self._max_lines
            if too_long or record.nbytes > self._max_bytes:
                limit = f"{self._max_lines} lines" if too_long else f"{self._max_bytes} bytes"
                self._runaway(
                    record.opened, f"unbalanced quote: opened on this line, not closed within {limit}"
                )
            return
        self._record = None
        count = len(record.lines)
        if count == 1:
            self._out.append(line)
        elif record.bad_close is not None:
            below = count - 1 - record.bad_close
            lines = f"{below} line{'s' if below > 1 else ''}"
            problem = (f"unbalanced quote: opened on this line, closed {lines} below by a quote "
                       "followed by text (another field's opening quote)")  # fmt: skip
            self._runaway(record.bad_close, problem, record)
        else:
            self._marker(Event("multiline", count))
            self._out.extend(record.lines)

    def _runaway(self, opened: int, problem: str, record: _Record | None = None) -> None:
        """Replace the record's lines up to ``opened`` by a runaway marker; frame the rest again."""
        record = record or self._record
        assert record is not None
        self._record = None
        replaced, replay = record.lines[: opened + 1], record.lines[opened + 1 :]
        text = b"".join(replaced).decode("utf-8", "replace").rstrip("\r\n")
        self._marker(Event("runaway", len(replaced), opened, text, problem))
        for line in replay:
            self._line(line)

    def _marker(self, event: Event) -> None:
        self._events[self._next] = event
        self._out.append(f"{self._token}{self._next}".encode() + self._filler + b"\n")
        self._next += 1


def _has_odd_quote_line(data: bytes, lo: int, hi: int) -> bool:
    """Whether a line of the whole lines ``data[lo:hi]`` holds an odd number of quotes.

    Few quotes (names with a comma in a pandas CSV): found one by one, grouped by line. Many
    (every text field quoted, as pyarrow writes): one vectorised XOR per line.
    """
    positions: list[int] = []
    pos = data.find(b'"', lo, hi)
    while pos >= 0:
        if len(positions) == SPARSE_QUOTES:
            arr = np.frombuffer(data, np.uint8, count=hi - lo, offset=lo)
            starts = np.flatnonzero(arr[:-1] == NEWLINE) + 1
            quotes = (arr == QUOTE).view(np.uint8)
            return bool(np.bitwise_xor.reduceat(quotes, np.concatenate(([0], starts))).any())
        positions.append(pos)
        pos = data.find(b'"', pos + 1, hi)
    per_line = Counter(data.rfind(b"\n", lo, at) for at in positions)
    return any(count % 2 for count in per_line.values())


def _has_blank(data: bytes, lo: int, hi: int) -> bool:
    """Whether the whole lines ``data[lo:hi]`` hold an empty line (``\\n`` or ``\\r\\n`` alone).

    ``\\n\\n`` is looked for as a 16-bit word at even and odd offsets: two vectorised compares,
    ten times faster than comparing shifted byte arrays or ``bytes.find``.
    """
    if data[lo : lo + 1] == b"\n" or data[lo : lo + 2] == b"\r\n":
        return True
    n = hi - lo
    pairs = (np.frombuffer(data, np.uint16, count=n // 2, offset=lo),
             np.frombuffer(data, np.uint16, count=(n - 1) // 2, offset=lo + 1))  # fmt: skip
    if any(bool((words == 0x0A0A).any()) for words in pairs):
        return True
    if data.find(b"\r", lo, hi) < 0:
        return False
    arr = np.frombuffer(data, np.uint8, count=n, offset=lo)
    cr = np.flatnonzero(arr[1 : n - 1] == CR) + 1  # a \r between two \n
    return bool(np.any((arr[cr - 1] == NEWLINE) & (arr[cr + 1] == NEWLINE)))
