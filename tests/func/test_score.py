"""``modelmill score``: batch scoring against a small real NYC model trained once per module."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.cli import app
from modelmill.datasets.nyc_demo import generate_listings
from modelmill.registry.export import load_sklearn
from tests.func.scoring import kill_after_chunks, train_small_model

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
MODEL = "random_forest_export"
runner = CliRunner()
# row index -> (column, bad value, expected reason fragment)
BAD = {3: ("latitude", "abc", "latitude: not a number ('abc')"),
       7: ("number_of_reviews", "2.5", "number_of_reviews: 2.5 is not a whole number"),
       8: ("minimum_nights", "", "minimum_nights: missing (integer column)"),
       11: ("availability_365", "lots", "availability_365: not a number ('lots')")}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 5-tree forest on 1200 demo rows, and input files with a few bad rows."""
    root = tmp_path_factory.mktemp("score")
    model_dir = train_small_model(root / "ws")
    ws = Workspace(root / "ws")
    frame = generate_listings(600, seed=5)
    good = frame.to_csv(index=False)
    rows = list(csv.reader(io.StringIO(good)))
    header = rows[0]
    for index, (column, value, _) in BAD.items():
        rows[index + 1][header.index(column)] = value
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    (root / "in.csv").write_text(text.getvalue())
    frame.to_parquet(root / "in.parquet")
    return {"root": root, "ws": ws, "model_dir": model_dir, "frame": frame}


def mm(ws: Workspace, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["score", *args, "--workspace", str(ws.root)])
    assert result.exit_code == code, f"{args} -> {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def expected(trained: dict[str, Any], frame: pd.DataFrame) -> list[float]:
    return list(load_sklearn(trained["model_dir"]).predict(frame))


def test_csv_to_parquet_matches_predict_and_rejects_bad_rows(trained: dict[str, Any], tmp_path: Path) -> None:
    ws, frame = trained["ws"], trained["frame"]
    out = tmp_path / "pred.parquet"
    result = mm(ws, str(trained["root"] / "in.csv"), str(out), "--model", f"{MODEL}:latest", "--json")
    summary = json.loads(result.stdout)
    assert (summary["rows_in"], summary["rows_scored"], summary["rows_rejected"]) == (600, 596, 4)
    assert summary["rejects"] == f"{out}.rejects.csv" and summary["rows_per_s"] > 0
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["id", "prediction"]
    good = frame.drop(index=list(BAD)).reset_index(drop=True)
    assert scored["id"].tolist() == good["id"].tolist()  # ids preserved, in order
    assert scored["prediction"].tolist() == pytest.approx(expected(trained, good))
    rejects = pd.read_csv(f"{out}.rejects.csv")
    assert rejects["row"].tolist() == list(BAD)
    assert rejects["id"].tolist() == frame["id"].iloc[list(BAD)].tolist()
    for reason, (_, _, fragment) in zip(rejects["reason"], BAD.values(), strict=True):
        assert fragment in reason
    assert not Path(f"{out}.parts").exists()

    # small chunks: identical output (chunk boundaries fall on bad rows too)
    small = tmp_path / "small.parquet"
    mm(
        ws,
        str(trained["root"] / "in.csv"),
        str(small),
        "--model",
        str(trained["model_dir"]),
        "--chunk-rows",
        "7",
    )
    pd.testing.assert_frame_equal(pd.read_parquet(small), scored)
    assert pd.read_csv(f"{small}.rejects.csv").equals(rejects)


def test_parquet_to_csv_via_fsspec_urls(trained: dict[str, Any]) -> None:
    ws, frame = trained["ws"], trained["frame"]
    src = f"file://{trained['root'] / 'in.parquet'}"
    result = mm(ws, src, "memory://scored/pred.csv", "--model", str(trained["model_dir"]),
                "--chunk-rows", "250", "--rejects", "memory://scored/rejects.parquet", "--json")  # fmt: skip
    assert json.loads(result.stdout)["rows_scored"] == 600
    fs = fsspec.filesystem("memory")
    scored = pd.read_csv(io.BytesIO(fs.cat_file("/scored/pred.csv")))
    assert scored["id"].tolist() == frame["id"].tolist()
    assert scored["prediction"].tolist() == pytest.approx(expected(trained, frame))
    assert len(pd.read_parquet(io.BytesIO(fs.cat_file("/scored/rejects.parquet")))) == 0
    assert sorted(fs.ls("/scored", detail=False)) == ["/scored/pred.csv", "/scored/rejects.parquet"]


def test_killed_job_leaves_no_output_and_resume_completes(trained: dict[str, Any], tmp_path: Path) -> None:
    ws, model_dir = trained["ws"], str(trained["model_dir"])
    src = tmp_path / "big.csv"
    src.write_bytes((trained["root"] / "in.csv").read_bytes())
    out = tmp_path / "pred.parquet"
    env = {**os.environ, "MODELMILL_SCORE_THROTTLE": "0.1", "MODELMILL_HOME": str(ws.root)}
    cmd = [
        sys.executable,
        "-m",
        "modelmill",
        "score",
        str(src),
        str(out),
        "--model",
        model_dir,
        "--chunk-rows",
        "20",
    ]
    manifest = kill_after_chunks(cmd, env, out, 3)
    assert not out.exists() and not Path(f"{out}.rejects.csv").exists()
    done = json.loads(manifest.read_text())["chunks"]
    assert 3 <= done < 30

    # a changed input is refused, the progress is kept
    stat = src.stat()
    original = src.read_bytes()
    src.write_bytes(original.replace(b"Entire home", b"Entire HOME", 1))
    result = mm(ws, str(src), str(out), "--model", model_dir, "--chunk-rows", "20", "--resume", code=2)
    assert "cannot resume: the input file changed" in result.stderr and "without --resume" in result.stderr
    assert manifest.exists() and not out.exists()
    src.write_bytes(original)
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    result = mm(ws, str(src), str(out), "--model", model_dir, "--chunk-rows", "50", "--resume", "--json")
    summary = json.loads(result.stdout)
    assert summary["resumed_from_row"] == done * 20 and summary["rows_in"] == 600
    scored = pd.read_parquet(out)
    good = trained["frame"].drop(index=list(BAD))
    assert scored["id"].tolist() == good["id"].tolist()  # no duplicate, none missing
    assert scored["prediction"].tolist() == pytest.approx(expected(trained, good.reset_index(drop=True)))
    assert pd.read_csv(f"{out}.rejects.csv")["row"].tolist() == list(BAD)
    assert not manifest.parent.exists()


def test_bad_usage_exits_2_and_writes_nothing(trained: dict[str, Any], tmp_path: Path) -> None:
    ws, model_dir = trained["ws"], str(trained["model_dir"])
    target = tmp_path / "target"
    target.mkdir()
    out = target / "pred.parquet"
    result = mm(ws, str(tmp_path / "missing.csv"), str(out), "--model", model_dir, code=2)
    assert "input file not found" in result.stderr
    result = mm(ws, str(trained["root"] / "in.csv"), str(target / "pred.xlsx"), "--model", model_dir, code=2)
    assert "cannot tell the format of the output" in result.stderr
    result = mm(ws, str(trained["root"] / "in.csv"), str(out), "--model", "nope:v3", code=2)
    assert "no model 'nope:v3'" in result.stderr
    result = mm(ws, str(trained["root"] / "in.csv"), str(out), "--model", str(target), code=2)
    assert "not an MLflow model directory" in result.stderr
    result = mm(
        ws, str(trained["root"] / "in.csv"), str(out), "--model", model_dir, "--id-col", "listing", code=2
    )
    assert "no id column 'listing'" in result.stderr
    assert list(target.iterdir()) == []


def test_default_model_is_the_registry_prod_alias(trained: dict[str, Any], tmp_path: Path) -> None:
    from modelmill.registry.promotion import promote

    ws = trained["ws"]
    result = mm(ws, str(trained["root"] / "in.parquet"), str(tmp_path / "p.parquet"), code=2)
    assert "promote a model first" in result.stderr
    promote(ws, f"{MODEL}:latest", "nyc_rentals", note="batch test")
    out = tmp_path / "pred.parquet"
    result = mm(ws, str(trained["root"] / "in.parquet"), str(out), "--json")
    assert json.loads(result.stdout)["model"] == "models:/nyc_rentals@prod"
    assert pd.read_parquet(out)["prediction"].tolist() == pytest.approx(expected(trained, trained["frame"]))


def test_a_table_without_an_id_column_is_scored_in_row_order(trained: dict[str, Any], tmp_path: Path) -> None:
    ws, frame = trained["ws"], trained["frame"].head(50)
    frame.drop(columns=["id"]).to_csv(tmp_path / "no_id.csv", index=False)
    out = tmp_path / "pred.csv"
    result = mm(ws, str(tmp_path / "no_id.csv"), str(out), "--model", f"{MODEL}:latest")
    assert "has no id column 'id': rows are numbered in the output's 'row' column" in result.stderr
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["row", "prediction"] and scored["row"].tolist() == list(range(50))
    assert scored["prediction"].tolist() == pytest.approx(expected(trained, frame))


def test_a_project_scores_with_its_own_registered_model(trained: dict[str, Any], tmp_path: Path) -> None:
    """The default model is models:/<main.model_name>@prod of the project's config, never a constant."""
    from modelmill.projects.scaffold import init_project
    from modelmill.registry.promotion import promote

    ws, frame = trained["ws"], trained["frame"].head(40)
    data = tmp_path / "rentals.csv"
    frame.assign(price=range(40)).to_csv(data, index=False)
    project = init_project(tmp_path / "project", data, "price", name="my_rentals", id_column="id")
    promote(ws, f"{MODEL}:latest", "my_rentals", note="a project's model")
    out = tmp_path / "pred.parquet"
    conf = str(project.directory / "conf")
    summary = json.loads(mm(ws, str(data), str(out), "--config-dir", conf, "--json").stdout)
    assert summary["model"] == "models:/my_rentals@prod"
    scored = pd.read_parquet(out)
    assert scored["id"].tolist() == frame["id"].tolist()  # the spec's id column, taken by default
    assert scored["prediction"].tolist() == pytest.approx(expected(trained, frame))


def test_the_models_own_id_column_is_the_default_and_spares_composing_the_config(
    trained: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The train step records its spec's id column in the model: with --model and a workspace
    given, score then never composes the project's config (0.4 s of Hydra at every start).
    A model without it (exported before) takes the project's, composed then."""
    import shutil

    import yaml

    from modelmill.projects import defaults
    from modelmill.registry.export import model_id_column

    composed: list[str] = []
    real = defaults.project_defaults
    monkeypatch.setattr(defaults, "project_defaults", lambda *a, **k: composed.append("x") or real(*a, **k))
    ws, frame = trained["ws"], trained["frame"].head(30)
    frame.to_csv(tmp_path / "in.csv", index=False)
    assert model_id_column(trained["model_dir"]) == "id"
    mm(ws, str(tmp_path / "in.csv"), str(tmp_path / "a.parquet"), "--model", f"{MODEL}:latest")
    assert composed == [] and pd.read_parquet(tmp_path / "a.parquet")["id"].tolist() == frame["id"].tolist()

    older = tmp_path / "older_model"  # the same model as exported before it recorded its id column
    shutil.copytree(trained["model_dir"], older)
    doc = yaml.safe_load((older / "MLmodel").read_text())
    del doc["metadata"]["id_column"]
    (older / "MLmodel").write_text(yaml.safe_dump(doc))
    mm(ws, str(tmp_path / "in.csv"), str(tmp_path / "b.parquet"), "--model", str(older))
    assert composed == ["x"]
    assert pd.read_parquet(tmp_path / "b.parquet")["id"].tolist() == frame["id"].tolist()

    other = tmp_path / "other_model"  # trained on a table whose id column this input lacks
    shutil.copytree(older, other)
    doc["metadata"]["id_column"] = "listing_id"
    (other / "MLmodel").write_text(yaml.safe_dump(doc))
    result = mm(ws, str(tmp_path / "in.csv"), str(tmp_path / "c.parquet"), "--model", str(other))
    assert composed == ["x", "x"] and "note" not in result.stderr  # the project's id column, then
    assert pd.read_parquet(tmp_path / "c.parquet")["id"].tolist() == frame["id"].tolist()
    frame.drop(columns=["id"]).to_csv(tmp_path / "no_id.csv", index=False)
    result = mm(ws, str(tmp_path / "no_id.csv"), str(tmp_path / "d.parquet"), "--model", str(other))
    assert "has no id column 'listing_id' or 'id': rows are numbered" in result.stderr
    assert pd.read_parquet(tmp_path / "d.parquet")["row"].tolist() == list(range(30))


def test_a_config_dir_asked_for_by_name_is_read_even_when_nothing_needs_it(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """--model, a workspace and the model's id column leave nothing to compose, yet a mistyped
    --config-dir is still an error (exit 2), not silently ignored; nothing is written."""
    out = tmp_path / "pred.parquet"
    result = mm(trained["ws"], str(trained["root"] / "in.parquet"), str(out), "--model", f"{MODEL}:latest",
                "--config-dir", str(tmp_path / "no_such_conf"), code=2)  # fmt: skip
    assert "no config.yaml in" in result.stderr and not out.exists()
