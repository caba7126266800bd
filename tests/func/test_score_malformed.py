"""``modelmill score``: CSV lines with the wrong number of fields become rejects, also across --resume."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.batch.model import load_estimator, locate_model
from modelmill.batch.readers import CSV_BLOCK_ENV, iter_chunks, open_source
from modelmill.cli import app
from modelmill.datasets.nyc_demo import generate_listings
from tests.func.scoring import kill_after_chunks, train_small_model

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
MODEL = "random_forest_export"
runner = CliRunner()
ROWS = 600
# data row index -> (column, bad value): parsed rows failing validation
BAD = {40: ("latitude", "abc"), 333: ("minimum_nights", "")}
# after data row index -> malformed line kind (-1: before the first row)
MALFORMED = {-1: "short", 95: "drop2", 250: "extra", 251: "short", 420: "drop2", ROWS - 1: "drop2"}


def build_input(frame: pd.DataFrame) -> tuple[str, list[dict[str, Any]]]:
    """The CSV text and, for each malformed line, its line number, field count, text and id."""
    rows = list(csv.reader(io.StringIO(frame.to_csv(index=False))))
    header, data = rows[0], rows[1:]
    for index, (column, value) in BAD.items():
        data[index][header.index(column)] = value
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    line, expected = 1, []

    def malformed(kind: str, serial: int) -> None:
        nonlocal line
        fields = [str(900_000_000 + serial), "broken"] if kind == "short" else list(data[serial % ROWS])
        if kind == "drop2":
            fields = [str(900_000_000 + serial), *fields[1:-2]]
        elif kind == "extra":
            fields = [str(900_000_000 + serial), *fields[1:], "surplus"]
        text = io.StringIO()
        csv.writer(text, lineterminator="").writerow(fields)
        line += 1
        writer.writerow(fields)
        expected.append({"line": line, "fields": len(fields), "text": text.getvalue(), "id": fields[0]})

    if -1 in MALFORMED:
        malformed(MALFORMED[-1], 0)
    for index, row in enumerate(data):
        writer.writerow(row)
        line += 1
        if index in MALFORMED:
            malformed(MALFORMED[index], index + 1)
    return out.getvalue(), expected


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 5-tree forest on 1200 demo rows and a CSV with malformed lines among 600 rows."""
    root = tmp_path_factory.mktemp("score_malformed")
    model_dir = train_small_model(root / "ws")
    ws = Workspace(root / "ws")
    frame = generate_listings(ROWS, seed=5)
    text, malformed = build_input(frame)
    (root / "in.csv").write_text(text)
    return {"root": root, "ws": ws, "model_dir": str(model_dir), "frame": frame, "malformed": malformed}


def mm(ws: Workspace, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["score", *args, "--workspace", str(ws.root)])
    assert result.exit_code == code, f"{args} -> {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def check_outputs(trained: dict[str, Any], out: Path) -> None:
    """Every valid row scored once in order; every bad row and malformed line rejected once."""
    frame = trained["frame"]
    good = frame.drop(index=list(BAD)).reset_index(drop=True)
    scored = pd.read_parquet(out)
    assert scored["id"].tolist() == good["id"].tolist()  # no duplicate, none missing, in order
    predictor = load_estimator(locate_model(trained["model_dir"], trained["ws"]))  # what score uses
    assert scored["prediction"].tolist() == pytest.approx(list(predictor.predict(good)))
    rejects = pd.read_csv(f"{out}.rejects.csv", dtype={"id": str})
    parsed = rejects[rejects["row"].notna()]
    assert parsed["row"].astype(int).tolist() == list(BAD)
    assert parsed["id"].tolist() == [str(frame["id"].iloc[i]) for i in BAD]
    lines = rejects[rejects["row"].isna()]
    wanted = [f"malformed CSV line {m['line']}: expected 16 fields, got {m['fields']}: {m['text']!r}"
              for m in trained["malformed"]]  # fmt: skip
    assert sorted(lines["reason"]) == sorted(wanted)  # each malformed line exactly once
    assert sorted(lines["id"]) == sorted(m["id"] for m in trained["malformed"])
    assert not Path(f"{out}.parts").exists()


def test_malformed_lines_are_rejected_with_reasons(trained: dict[str, Any], tmp_path: Path) -> None:
    ws, src = trained["ws"], str(trained["root"] / "in.csv")
    n_bad = len(trained["malformed"])
    out = tmp_path / "pred.parquet"
    result = mm(ws, src, str(out), "--model", trained["model_dir"], "--json")
    summary = json.loads(result.stdout)
    counts = [summary[key] for key in ("rows_in", "rows_scored", "rows_rejected", "rows_malformed")]
    assert counts == [ROWS + n_bad, ROWS - len(BAD), len(BAD) + n_bad, n_bad]
    assert summary["engine"] == "local"
    check_outputs(trained, out)
    assert "expected 16 fields, got 14" in " ".join(pd.read_csv(f"{out}.rejects.csv")["reason"])

    # small chunks, small CSV blocks: the same files (malformed lines in many chunks, one at the end)
    small = tmp_path / "small.parquet"
    os.environ[CSV_BLOCK_ENV] = "2048"
    try:
        result = mm(ws, src, str(small), "--model", trained["model_dir"], "--chunk-rows", "7")
    finally:
        del os.environ[CSV_BLOCK_ENV]
    assert f"{n_bad} malformed CSV lines" in result.stdout
    check_outputs(trained, small)
    pd.testing.assert_frame_equal(pd.read_parquet(small), pd.read_parquet(out))


@pytest.mark.parametrize(("first", "second"), [(7, 20), (20, 7), (50, 50), (1000, 3)])
def test_resumed_reader_sees_each_malformed_line_once(
    trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, first: int, second: int
) -> None:
    """Stop after k chunks, resume from the counts (any chunk size): rows and lines exactly once."""
    monkeypatch.setenv(CSV_BLOCK_ENV, "3000")
    source = open_source(str(trained["root"] / "in.csv"))
    columns = ["id", "name", "price"]
    full = list(iter_chunks(source, columns, first))
    all_ids = [i for c in full for i in c.table.column("id").to_pylist()]
    all_lines = [m for c in full for m in c.malformed]
    assert len(all_ids) == ROWS and [m.line for m in all_lines] == [m["line"] for m in trained["malformed"]]
    for done in range(len(full) + 1):
        rows = sum(c.table.num_rows for c in full[:done])
        lines = [m for c in full[:done] for m in c.malformed]
        rest = list(iter_chunks(source, columns, second, skip_rows=rows, skip_malformed=len(lines)))
        ids = [i for c in full[:done] + rest for i in c.table.column("id").to_pylist()]
        assert ids == all_ids
        assert lines + [m for c in rest for m in c.malformed] == all_lines


def test_killed_job_with_malformed_lines_resumes_exactly_once(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    ws, model_dir = trained["ws"], trained["model_dir"]
    src = tmp_path / "in.csv"
    src.write_bytes((trained["root"] / "in.csv").read_bytes())
    out = tmp_path / "pred.parquet"
    env = {**os.environ, "MODELMILL_SCORE_THROTTLE": "0.1", CSV_BLOCK_ENV: "4096",
           "MODELMILL_HOME": str(ws.root)}  # fmt: skip
    cmd = [sys.executable, "-m", "modelmill", "score", str(src), str(out), "--model", model_dir,
           "--chunk-rows", "20"]  # fmt: skip
    manifest = kill_after_chunks(cmd, env, out, 8)
    assert not out.exists()
    saved = json.loads(manifest.read_text())
    assert 8 <= saved["chunks"] < 30
    assert 1 <= saved["malformed"] < len(trained["malformed"])  # some lines done, some not

    result = mm(ws, str(src), str(out), "--model", model_dir, "--chunk-rows", "50", "--resume", "--json")
    summary = json.loads(result.stdout)
    assert summary["resumed_from_row"] == saved["rows_in"]
    assert summary["rows_in"] == ROWS + len(trained["malformed"])
    assert summary["rows_malformed"] == len(trained["malformed"])
    check_outputs(trained, out)


def test_rejects_name_physical_lines_after_multiline_fields_and_a_stray_quote(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """Names spanning lines shift every later line; a stray quote rejects only its own line."""
    frame = trained["frame"].head(120).copy()
    frame = frame.astype({"name": object, "minimum_nights": object})
    for index in range(0, 120, 9):  # every 9th listing's name spans three lines
        frame.loc[index, "name"] = f"Line one\nline two, with a comma\nline {index}"
    frame.loc[50, "minimum_nights"] = "abc"  # a parsed row that fails validation
    text = frame.to_csv(index=False, lineterminator="\n")
    lines = text.splitlines(keepends=True)
    starts, line = [], 2  # physical line where each data row starts
    for index in range(120):
        starts.append(line)
        line += 3 if index % 9 == 0 else 1
    stray_at = 80  # the stray quote goes in the middle of row 80's name: that row is lost
    row_line = starts[stray_at]
    broken = lines[row_line - 1].replace(",", ',"Cozy', 1)
    lines[row_line - 1] = broken
    src = tmp_path / "in.csv"
    src.write_text("".join(lines))

    out = tmp_path / "pred.parquet"
    summary = json.loads(mm(trained["ws"], str(src), str(out), "--model", trained["model_dir"], "--json",
                            "--chunk-rows", "16").stdout)  # fmt: skip
    assert summary["rows_malformed"] == 1 and summary["rows_rejected"] == 2
    good = frame.drop(index=[50, stray_at])
    assert pd.read_parquet(out)["id"].tolist() == good["id"].tolist()  # the rows after it are scored
    rejects = pd.read_csv(f"{out}.rejects.csv", dtype={"id": str}).sort_values("line")
    assert rejects["line"].tolist() == [starts[50], row_line]
    assert rejects["reason"].iloc[0].startswith("minimum_nights: not a number")
    assert rejects["reason"].iloc[1].startswith(f"malformed CSV line {row_line}: unbalanced quote")
    assert rejects["id"].iloc[1] == str(frame["id"].iloc[stray_at])
