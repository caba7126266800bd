"""``modelmill reproduce``: re-fit a past run from its pinned inputs; identical predictions."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import modelmill
from modelmill.cli import app

from .test_weekly_retraining import FAST, MODEL, _batch


def test_reproduce_first_run_after_a_newer_batch(tmp_path: Path, _isolated_home: Path) -> None:
    ws = modelmill.open_workspace()
    week1 = modelmill.run(FAST)
    assert week1.status == "success"
    week2 = modelmill.run([*FAST, f"etl.sample={_batch(tmp_path / 'w2.csv', seed=12)}"])
    assert week2.status == "success"
    assert ws.store.resolve("sample.csv:latest").ref == "sample.csv:v1"  # a newer sample exists

    out = CliRunner().invoke(app, ["reproduce", week1.run_id, "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["identical"] is True and doc["max_abs_diff"] == 0.0
    assert doc["original_model"] == f"{MODEL}:v0" and doc["test_data"] == "test_data.csv:v0"
    assert doc["pinned_inputs"] == ["sample.csv:v0"]  # not the newer v1
    assert doc["n_predictions"] == ws.store.resolve("test_data.csv:v0").metadata["rows"]
    assert doc["differing_outputs"] == []  # the re-run rebuilt the same split, byte for byte
    assert "[train] ran" in out.stderr and "forced" in out.stderr  # really re-fitted, not a cache hit
    # the scratch workspace is gone and the real one gained nothing
    assert [v.ref for v in ws.store.versions(MODEL)] == [f"{MODEL}:v0", f"{MODEL}:v1"]
    assert not list((ws.root / "tmp").glob("reproduce-*"))

    text = CliRunner().invoke(app, ["reproduce", week2.run_id])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith(f"run {week2.run_id}: identical")
    assert "sample.csv:v1" in text.stdout and "clean_sample.csv:v0" in text.stdout  # data + reference


def test_reproduce_unknown_run_lists_recent_ones(_isolated_home: Path) -> None:
    week1 = modelmill.run([*FAST, "main.steps=get_data,basic_cleaning"])
    out = CliRunner().invoke(app, ["reproduce", "20990101-000000-abcdef"])
    assert out.exit_code == 2
    assert "no pipeline run '20990101-000000-abcdef'" in out.stderr and week1.run_id in out.stderr
    partial = CliRunner().invoke(app, ["reproduce", week1.run_id])
    assert partial.exit_code == 2 and "produced no" in partial.stderr
