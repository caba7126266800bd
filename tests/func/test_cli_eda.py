"""``modelmill eda``: profile a stored table into an ``eda_report`` artifact with lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.cli import app
from modelmill.datasets.nyc_demo import generate_listings

runner = CliRunner()
# rows below the NYC spec's declared price range [etl.min_price=10, ...], plus the row set to 0
N_LOW = int((generate_listings(1500, seed=5)["price"].iloc[1:] < 10).sum()) + 1
LOW_WARNING = f"price: {N_LOW} rows with price < 10, below the declared range [10, 350]"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace holding one 1,500-row sample with a price-0 row."""
    frame = generate_listings(1500, seed=5)
    frame.loc[frame.index[0], "price"] = 0
    csv = tmp_path / "sample.csv"
    frame.to_csv(csv, index=False)
    workspace = Workspace(tmp_path / "ws")
    workspace.store.put(csv, "sample.csv", "raw_data")
    return workspace


def _eda(ws: Workspace, *args: str, tracking: bool = False) -> tuple[int, str]:
    flag = [] if tracking else ["--no-tracking"]
    result = runner.invoke(app, ["eda", *args, *flag, "--workspace", str(ws.root)])
    return result.exit_code, result.output


def test_eda_stores_report_with_lineage(ws: Workspace, tmp_path: Path) -> None:
    code, out = _eda(ws, "--output", str(tmp_path / "out" / "eda.html"), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["artifact"] == "eda_report.html:v0" and data["source"] == "sample.csv:v0"
    assert LOW_WARNING in data["warnings"]
    html = (tmp_path / "out" / "eda.html").read_text(encoding="utf-8")
    assert "<title>EDA: sample.csv:v0</title>" in html and 'id="map"' in html and "Target: price" in html
    version = ws.store.resolve("eda_report.html:latest")
    assert version.type == "eda_report"
    assert version.metadata["rows"] == 1500 and version.metadata["n_warnings"] == len(data["warnings"])
    assert [i.ref if hasattr(i, "ref") else str(i) for i in version.inputs] == ["sample.csv:v0"]
    assert ws.store.path(version).read_text(encoding="utf-8") == html
    code, out = _eda(ws, "sample.csv:v0", "--json")  # unchanged input: the same version
    assert code == 0 and json.loads(out)["artifact"] == "eda_report.html:v0"
    assert json.loads(out)["mlflow_run_id"] is None


def test_eda_logs_the_page_to_mlflow(ws: Workspace) -> None:
    from mlflow.tracking import MlflowClient

    code, out = _eda(ws, "--json", tracking=True)
    assert code == 0, out
    run_id = json.loads(out)["mlflow_run_id"]
    client = MlflowClient(tracking_uri=ws.default_tracking_uri)
    run = client.get_run(run_id)
    assert run.data.tags["modelmill.artifact"] == "eda_report.html:v0"
    assert run.data.metrics["rows"] == 1500
    assert [a.path for a in client.list_artifacts(run_id, "eda")] == ["eda/eda_report.html"]


def test_eda_text_output(ws: Workspace) -> None:
    code, out = _eda(ws)
    assert code == 0, out
    assert out.startswith("stored eda_report.html:v0 (profile of sample.csv:v0")
    assert f"warning: {LOW_WARNING}" in out


def test_eda_unknown_artifact_names_the_fix(ws: Workspace) -> None:
    code, out = _eda(ws, "nope.csv")
    assert code == 2
    assert "no artifact named 'nope.csv'" in out and "modelmill artifacts list" in out
    code, out = _eda(ws, "sample.csv:v9")
    assert code == 2 and "v9" in out


def test_eda_of_a_project_profiles_its_target(tmp_path: Path) -> None:
    """A project's eda: its target's distribution, no NYC range, no map (no coordinates)."""
    from modelmill.projects.scaffold import init_project
    from tests.unit.test_infer import cars_csv

    data = cars_csv(tmp_path / "cars.csv")
    init_project(tmp_path / "cars", data, "Miles_per_Gallon")
    workspace = Workspace(tmp_path / "cars" / ".modelmill")
    workspace.store.put(data, "sample.csv", "raw_data")
    conf, page = str(tmp_path / "cars" / "conf"), str(tmp_path / "e.html")
    result = runner.invoke(app, ["eda", "--no-tracking", "--json", "--workspace", str(workspace.root),
                                 "--config-dir", conf, "--output", page])  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (tmp_path / "e.html").read_text(encoding="utf-8")
    assert "Target: Miles_per_Gallon" in html and 'id="map"' not in html
    assert not any("price" in w for w in json.loads(result.stdout)["warnings"])
