"""The CSV framer: physical line numbers after multi-line quoted fields and blank lines, and
stray quotes that reject only their own line (modelmill.batch.csvframe through the reader)."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pytest

from modelmill.batch.csvframe import MAX_RECORD_LINES
from modelmill.batch.csvlines import Event, LineNumbers
from modelmill.batch.readers import CSV_BLOCK_ENV, MalformedLine, iter_chunks, open_source

HEADER = ["id", "name", "price"]


def read(path: Path, chunk_rows: int = 7) -> tuple[list[list[str | None]], list[int], list[MalformedLine]]:
    """Rows (id, name, price), their physical lines and the malformed lines, as the scorer reads them."""
    rows: list[list[str | None]] = []
    lines: list[int] = []
    malformed: list[MalformedLine] = []
    for chunk in iter_chunks(open_source(str(path)), HEADER, chunk_rows):
        table = chunk.table.to_pydict()
        rows += [list(r) for r in zip(*(table[c] for c in HEADER), strict=True)]
        found = chunk.lines(range(chunk.first_row, chunk.first_row + chunk.table.num_rows))
        lines += [] if found is None else [int(x) for x in found]
        malformed += chunk.malformed
    return rows, lines, malformed


def random_file(path: Path, seed: int, newline: str) -> dict[str, Any]:
    """A CSV with quoted fields holding commas, quotes and line breaks, blank lines and records
    with the wrong number of fields; the expected rows, lines and malformed lines."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(HEADER)
    expected: dict[str, Any] = {"rows": [], "lines": [], "malformed": []}

    def field() -> str:
        words = ["cozy", "loft", "5 min", "a, b", 'the "best"', "two\nlines", "three\nshort\nlines", "x"]
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 3)))

    for number in range(300):
        line = out.getvalue().count("\n") + 1
        kind = rng.random()
        if kind < 0.05:
            out.write(newline)  # a blank line: skipped, but it counts
            continue
        record = [str(number), field(), str(rng.randint(10, 500))]
        if kind < 0.12:
            record = record[:2] if kind < 0.09 else [*record, "extra"]
            text = io.StringIO()
            csv.writer(text, lineterminator=newline).writerow(record)  # quoted as in the file
            expected["malformed"].append((line, len(record), text.getvalue().removesuffix(newline)))
        else:
            expected["rows"].append(record)
            expected["lines"].append(line)
        writer.writerow(record)
    path.write_bytes(out.getvalue().encode())
    return expected


@pytest.mark.parametrize(
    ("seed", "newline", "block"), [(1, "\n", 4096), (2, "\r\n", 2048), (3, "\n", 1 << 22)]
)
def test_rows_and_physical_lines_of_a_messy_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, newline: str, block: int
) -> None:
    monkeypatch.setenv(CSV_BLOCK_ENV, str(block))
    expected = random_file(tmp_path / "in.csv", seed, newline)
    assert len(expected["malformed"]) > 5 and any("\n" in r[1] for r in expected["rows"])
    rows, lines, malformed = read(tmp_path / "in.csv")
    assert rows == expected["rows"]  # values keep their line breaks
    assert lines == expected["lines"]
    assert [(m.line, m.actual, m.text) for m in malformed] == expected["malformed"]


def test_a_stray_quote_rejects_its_own_line_and_the_next_rows_are_read(tmp_path: Path) -> None:
    text = (
        "id,name,price\n"  # 1
        '1,"two\nlines",10\n'  # 2-3
        '2,"Cozy loft,20\n'  # 4: the stray quote
        "3,plain,30\n"  # 5
        "4,plain,40\n"  # 6
        "\n"  # 7
        '5,"Big, bright",50\n'  # 8: its opening quote would have closed the stray one
        "6,short\n"  # 9: wrong number of fields
        "7,plain,70\n"  # 10
    )
    (tmp_path / "in.csv").write_text(text)
    rows, lines, malformed = read(tmp_path / "in.csv", chunk_rows=2)
    assert [r[0] for r in rows] == ["1", "3", "4", "5", "7"]
    assert rows[3] == ["5", "Big, bright", "50"]
    assert lines == [2, 5, 6, 8, 10]
    assert [m.line for m in malformed] == [4, 9]
    stray = malformed[0].reason()
    assert stray.startswith("malformed CSV line 4: unbalanced quote") and "'2,\"Cozy loft,20'" in stray
    assert malformed[1].reason() == "malformed CSV line 9: expected 3 fields, got 2: '6,short'"


def test_an_open_quote_runs_at_most_the_declared_number_of_lines(tmp_path: Path) -> None:
    body = "".join(f"{i},plain,{i}\n" for i in range(3, MAX_RECORD_LINES + 40))
    (tmp_path / "in.csv").write_text('id,name,price\n1,ok,1\n2,"never closed,2\n' + body + '99,"last\n')
    rows, lines, malformed = read(tmp_path / "in.csv", chunk_rows=50)
    assert [r[0] for r in rows] == ["1", *(str(i) for i in range(3, MAX_RECORD_LINES + 40))]
    assert lines == [2, *range(4, MAX_RECORD_LINES + 41)]
    assert [m.line for m in malformed] == [3, MAX_RECORD_LINES + 41]
    assert f"not closed within {MAX_RECORD_LINES} lines" in malformed[0].reason()
    assert "never closed" in malformed[1].reason()  # at the end of the file


def test_a_record_of_many_lines_within_the_limit_is_one_row(tmp_path: Path) -> None:
    value = "\n".join(f"line {i}" for i in range(MAX_RECORD_LINES - 1))
    (tmp_path / "in.csv").write_text(f'id,name,price\n1,"{value}",5\n2,after,6\n')
    rows, lines, malformed = read(tmp_path / "in.csv")
    assert rows == [["1", value, "5"], ["2", "after", "6"]] and not malformed
    assert lines == [2, MAX_RECORD_LINES + 1]


def test_a_literal_quote_inside_a_field_is_data(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text('id,name,price\n1,a 50" TV,5\n2,b,6\n')
    rows, lines, malformed = read(tmp_path / "in.csv")
    assert rows == [["1", 'a 50" TV', "5"], ["2", "b", "6"]] and lines == [2, 3] and not malformed


def test_line_numbers_follow_the_markers() -> None:
    numbers = LineNumbers()
    # records (lines): 1 header (1), 2 row 0 (2), 3 marker for a blank line (3), 4 row 1 (4),
    # 5 marker for a 3-line record, 6 row 2 (5-7), 7 row 3 (8), 8 marker for a runaway quote
    # that opened on the second of the 2 lines it replaces (9-10), 9 row 4 (11)
    for record, event in ((3, Event("blank", 1)), (5, Event("multiline", 3)), (8, Event("runaway", 2, 1))):
        numbers.invalid(record)
        numbers.event(record, event)
    assert [numbers.physical(r) for r in (1, 2, 3, 4, 6, 7, 8, 9)] == [1, 2, 3, 4, 5, 8, 9, 11]
    assert numbers.rows([0, 1, 2, 3, 4]).tolist() == [2, 4, 5, 8, 11]
