"""``modelmill score --engine ray``: Ray Data actors give the local engine's files, resume included.

One test starts a local Ray (4 logical CPUs: Ray Data can hang on 2 cores otherwise) and
runs every Ray job on it (the engine leaves a Ray it did not start running): about 10 s to
start Ray, 15 s for the first job (cold workers), 5 s for the next. The usage tests need
no trained model and must fail before any Ray starts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelmill.cli import app
from modelmill.datasets.nyc_demo import generate_listings
from tests.func.scoring import kill_after_chunks, train_small_model

pytestmark = [
    pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),  # Ray's own settings
]
runner = CliRunner()
ROWS = 600


def mm(ws: Path, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["score", *args, "--workspace", str(ws)])
    assert result.exit_code == code, f"{args} -> {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def write_input(path: Path) -> None:
    """600 demo rows, two with bad values, three malformed lines."""
    lines = generate_listings(ROWS, seed=7).to_csv(index=False).splitlines()
    fields = lines[5].split(",")
    lines[5] = ",".join([*fields[:-1], "2.5"])  # availability_365: not a whole number
    fields = lines[12].split(",")
    fields[-5] = "abc"  # number_of_reviews: not a number
    lines[12] = ",".join(fields)
    lines[77] = lines[77].rsplit(",", 2)[0]  # 14 fields
    lines.insert(300, lines[300] + ",surplus")  # 17 fields
    lines.append("123,short")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small trained model, the input and the local engine's outputs (reference)."""
    root = tmp_path_factory.mktemp("score_ray")
    ws = root / "ws"
    model_dir = str(train_small_model(ws))
    write_input(root / "in.csv")
    local = root / "local.parquet"
    result = mm(ws, str(root / "in.csv"), str(local), "--model", model_dir, "--chunk-rows", "50", "--json")
    return {
        "root": root,
        "ws": ws,
        "model_dir": model_dir,
        "local": local,
        "summary": json.loads(result.stdout),
    }


@pytest.fixture(scope="module")
def local_ray() -> Any:
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    yield ray
    ray.shutdown()


def assert_same(ray_out: Path, local_out: Path, read: Any = pd.read_parquet) -> None:
    scored, reference = read(ray_out), pd.read_parquet(local_out)
    assert scored["id"].tolist() == reference["id"].tolist()
    assert scored["prediction"].tolist() == pytest.approx(reference["prediction"].tolist(), rel=1e-9)
    rejects = pd.read_csv(f"{ray_out}.rejects.csv")
    pd.testing.assert_frame_equal(rejects, pd.read_csv(f"{local_out}.rejects.csv"))


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Any]:
    """An input and a model directory with a signature (enough to fail before loading the model)."""
    model = tmp_path / "model"
    model.mkdir()
    inputs = json.dumps([{"name": "id", "type": "long"}, {"name": "price", "type": "long"}])
    (model / "MLmodel").write_text(f"model_uuid: fake\nsignature:\n  inputs: '{inputs}'\n")
    src = tmp_path / "in.csv"
    src.write_text("id,price\n1,10\n2,20\n")
    out = tmp_path / "target"
    out.mkdir()
    return {"ws": tmp_path / "ws", "model": str(model), "src": str(src), "out": out}


def test_bad_usage_fails_before_ray_starts(fake: dict[str, Any]) -> None:
    ws, model, src, out = fake["ws"], fake["model"], fake["src"], str(fake["out"] / "pred.parquet")
    result = mm(ws, src, out, "--model", model, "--engine", "spark", code=2)
    assert "unknown --engine 'spark': expected one of local, ray" in result.stderr
    result = mm(ws, src.replace("in.csv", "missing.csv"), out, "--model", model, "--engine", "ray", code=2)
    assert "input file not found" in result.stderr
    result = mm(ws, src, out, "--model", model, "--engine", "ray", "--id-col", "listing", code=2)
    assert "no id column 'listing'" in result.stderr
    result = mm(ws, src, out, "--model", "nope:v3", "--engine", "ray", code=2)
    assert "no model 'nope:v3'" in result.stderr
    if importlib.util.find_spec("ray") is not None:
        import ray

        assert not ray.is_initialized()
        with socket.socket() as probe:  # a port nothing listens on: fails fast, no minutes of retries
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        began = time.monotonic()
        address = f"127.0.0.1:{port}"
        result = mm(ws, src, out, "--model", model, "--engine", "ray", "--ray-address", address, code=2)
        assert f"no Ray cluster answers at {address}" in result.stderr and time.monotonic() - began < 30
        assert not ray.is_initialized()
    assert list(fake["out"].iterdir()) == []  # nothing written, not even the staging folder


def test_missing_ray_is_a_clear_usage_error(fake: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    result = mm(fake["ws"], fake["src"], str(fake["out"] / "p.parquet"), "--model", fake["model"],
                "--engine", "ray", code=2)  # fmt: skip
    assert "--engine ray needs the ray extra: pip install 'modelmill[ray]'" in result.stderr


def test_ray_engine_matches_local_and_resumes(setup: dict[str, Any], local_ray: Any, tmp_path: Path) -> None:
    ws, model_dir, src = setup["ws"], setup["model_dir"], setup["root"] / "in.csv"
    out = tmp_path / "ray.parquet"
    result = mm(ws, str(src), str(out), "--model", model_dir, "--chunk-rows", "50", "--engine", "ray",
                "--json")  # fmt: skip
    summary, reference = json.loads(result.stdout), setup["summary"]
    assert (
        summary.keys() == reference.keys() and summary["engine"] == "ray" and reference["engine"] == "local"
    )
    for key in ("rows_in", "rows_scored", "rows_rejected", "rows_malformed", "chunks", "model"):
        assert summary[key] == reference[key], key
    # 600 lines: 599 parsed rows (2 with bad values) and line 77 cut short; 2 more malformed lines
    assert (summary["rows_in"], summary["rows_malformed"], summary["rows_rejected"]) == (ROWS + 2, 3, 5)
    assert_same(out, setup["local"])
    assert not Path(f"{out}.parts").exists()

    # a local job killed mid-way, resumed on Ray: CSV output, nothing duplicated or missing
    killed = tmp_path / "resumed.csv"
    env = {**os.environ, "MODELMILL_SCORE_THROTTLE": "0.1", "MODELMILL_SCORE_CSV_BLOCK_BYTES": "4096",
           "MODELMILL_HOME": str(ws)}  # fmt: skip
    cmd = [sys.executable, "-m", "modelmill", "score", str(src), str(killed), "--model", model_dir,
           "--chunk-rows", "20"]  # fmt: skip
    manifest = kill_after_chunks(cmd, env, killed, 5)
    saved = json.loads(manifest.read_text())
    assert not killed.exists() and 5 <= saved["chunks"] < 30
    result = mm(ws, str(src), str(killed), "--model", model_dir, "--chunk-rows", "50", "--engine", "ray",
                "--ray-actors", "2", "--resume", "--json")  # fmt: skip
    summary = json.loads(result.stdout)
    assert summary["resumed_from_row"] == saved["rows_in"] and summary["rows_in"] == ROWS + 2
    assert_same(killed, setup["local"], read=pd.read_csv)
    assert not manifest.parent.exists()


def test_a_registry_model_is_removed_after_a_ray_job(
    setup: dict[str, Any], local_ray: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from modelmill import Workspace
    from modelmill.registry.promotion import promote

    ws = setup["ws"]
    promote(Workspace(ws), "random_forest_export:latest", "nyc_rentals", note="ray test")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the registry download goes
    out = tmp_path / "ray.parquet"
    result = mm(
        ws, str(setup["root"] / "in.csv"), str(out), "--engine", "ray", "--chunk-rows", "50", "--json"
    )
    assert json.loads(result.stdout)["model"] == "models:/nyc_rentals@prod"
    assert_same(out, setup["local"])
    assert list(scratch.iterdir()) == []
