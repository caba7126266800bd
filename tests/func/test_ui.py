"""``modelmill ui`` through FastAPI's TestClient on a workspace made by real pipeline runs.

See :mod:`tests.func.ui_workspace` for what the workspace holds. Pages must show the
store's real names, versions, aliases, step outcomes and lineage; writes need
``allow_writes``; report files resolve only through the store (traversal gets 404).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.cli import app as cli_app
from modelmill.ui import create_app
from tests.func.ui_workspace import MODEL, shared_workspace, writable_copy

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_workspace(tmp_path_factory)


@pytest.fixture(scope="module")
def client(ws_root: Path) -> TestClient:
    return TestClient(create_app(ws_root))


def prod_model(ws_root: Path) -> str:
    return Workspace(ws_root).store.resolve(f"{MODEL}:prod").ref


def test_artifacts_page_lists_every_stored_version(client: TestClient, ws_root: Path) -> None:
    page = client.get("/").text
    versions = Workspace(ws_root).store.versions()
    assert {"sample.csv", "clean_sample.csv", "data_check_report", MODEL, "sweep_results"} <= {
        v.name for v in versions
    }
    for v in versions:
        assert f'href="/artifacts/{v.name}/{v.version}"' in page, v.ref
    assert '<span class="tag prod">prod</span>' in page
    assert '<span class="tag reference">reference</span>' in page
    assert f"{len(versions)} versions" in page


def test_model_page_has_metadata_reports_and_a_lineage_graph_to_the_raw_sample(
    client: TestClient, ws_root: Path
) -> None:
    ref = prod_model(ws_root)
    name, version = ref.split(":v")
    page = client.get(f"/artifacts/{name}/{version}").text
    svg = re.search(r"<svg class=\"lineage\".*?</svg>", page, re.S)
    assert svg, "no lineage graph"
    nodes = re.findall(r'data-node="([^"]+)"', svg.group(0))
    assert {ref, "sample.csv:v0", "clean_sample.csv:v0", "trainval_data.csv:v0"} <= set(nodes)
    assert any(n.startswith("train@") for n in nodes) and any(n.startswith("get_data@") for n in nodes)
    assert len(re.findall(r'class="edge"', svg.group(0))) >= len(nodes) - 1
    assert 'href="/artifacts/trainval_data.csv/0"' in svg.group(0)
    # the data_check report upstream is linked, and the producing run too
    assert 'href="/reports/data_check_report/' in page and "report.html" in page
    run_id = Workspace(ws_root).store.resolve(ref).run_id
    assert f'href="/runs/{run_id}"' in page
    assert "Read-only" in page and "<form" not in page


def test_runs_show_ran_and_cached_steps_with_durations_and_mlflow(client: TestClient, ws_root: Path) -> None:
    listing = client.get("/runs").text
    run_ids = re.findall(r'href="/runs/([^"]+)" data-testid="run-link"', listing)
    assert len(run_ids) >= 4  # tracked run, cached run, the sweep's shared steps and trials
    assert 'class="s-cached"' in listing and 'class="s-ran"' in listing
    pages = [client.get(f"/runs/{r}").text for r in run_ids]
    tracked = [p for p in pages if 'data-testid="mlflow-link"' in p]
    assert tracked, "the MLflow-tracked run shows no MLflow link"
    link = re.search(r'href="(http://127\.0\.0\.1:5000/#/runs/[0-9a-f]{32})"', tracked[0])
    assert link, "MLflow link missing"
    assert "<td>train</td>" in tracked[0] and "test_mae" in tracked[0]
    seconds = re.findall(
        r'<td>train</td><td><span class="s-ran">ran</span></td><td class="num">([\d.]+)', tracked[0]
    )
    assert seconds and float(seconds[0]) > 0
    assert client.get("/runs/no-such-run").status_code == 404


def test_sweep_table_sorts_by_any_metric(client: TestClient) -> None:
    def mae_column(order: str) -> list[float]:
        page = client.get(f"/sweeps?sort=test_mae&order={order}").text
        table = re.search(r'<table class="sweep">(.*?)</table>', page, re.S)
        assert table, page[:500]
        headers = re.findall(r"<th>(.*?)</th>", table.group(1))
        col = next(i for i, h in enumerate(headers) if 'data-sort="test_mae"' in h)
        rows = re.findall(r"<tr>(.*?)</tr>", table.group(1))[1:]
        return [float(re.findall(r"<td[^>]*>(.*?)</td>", r)[col]) for r in rows]

    ascending, descending = mae_column("asc"), mae_column("desc")
    assert len(ascending) == 2 and ascending == sorted(ascending)
    assert descending == sorted(ascending, reverse=True)


def test_reports_are_served_from_the_store_and_traversal_is_404(client: TestClient, ws_root: Path) -> None:
    v = Workspace(ws_root).store.resolve("data_check_report")
    ok = client.get(f"/reports/{v.name}/{v.version}/report.html")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/html")
    csp = ok.headers["content-security-policy"]
    assert "<table" in ok.text and "default-src 'self'" in csp
    assert csp.startswith("sandbox;") and "script-src 'none'" in csp
    # every report version the pipeline stored (data_check's, the evaluation's, ...) opens as HTML
    store = Workspace(ws_root).store
    reports = [r for r in store.versions() if "report" in r.type or "report" in r.name]
    assert reports
    for r in reports:
        version_page = client.get(f"/artifacts/{r.name}/{r.version}").text
        links = re.findall(r'href="(/reports/[^"]+)" data-testid="report-link"', version_page)
        assert links, r.ref
        for href in links:
            opened = client.get(href)
            assert opened.status_code == 200 and opened.headers["content-type"].startswith("text/html"), href
    for bad in [
        f"/reports/{v.name}/{v.version}/../../../index.db",
        f"/reports/{v.name}/{v.version}/%2e%2e/%2e%2e/index.db",
        f"/reports/{v.name}/{v.version}/..%2f..%2findex.db",
        f"/reports/{v.name}/{v.version}//etc/passwd",
        f"/reports/{v.name}/99/report.html",
        "/reports/..%2f..%2fetc/0/passwd",
        f"/reports/{MODEL}/0/MLmodel",  # a stored file, but not a report
        "/artifacts/..%2findex.db/0",
    ]:
        assert client.get(bad).status_code == 404, bad


def test_a_model_links_its_training_report_and_nothing_else_of_its_directory(
    client: TestClient, ws_root: Path
) -> None:
    name, version = prod_model(ws_root).split(":v")
    page = client.get(f"/artifacts/{name}/{version}").text
    href = f"/reports/{name}/{version}/extras/training_report.html"
    assert f'href="{href}" data-testid="report-link"' in page
    opened = client.get(href)
    assert opened.status_code == 200 and "Training report" in opened.text and "<svg" in opened.text
    for bad in ["MLmodel", "extras/metrics.json", "extras/../MLmodel", "extras/feature_importance.png"]:
        assert client.get(f"/reports/{name}/{version}/{bad}").status_code == 404, bad


def test_writes_are_refused_without_allow_writes(client: TestClient, ws_root: Path) -> None:
    before = Workspace(ws_root).store.resolve(f"{MODEL}:prod").ref
    refused = client.post(f"/artifacts/{MODEL}/0/alias", data={"alias": "staging"})
    assert refused.status_code == 403 and "--allow-writes" in refused.text
    assert Workspace(ws_root).store.resolve(f"{MODEL}:prod").ref == before
    assert not Workspace(ws_root).store.exists(f"{MODEL}:staging")


def test_alias_form_with_allow_writes(ws_root: Path, tmp_path: Path) -> None:
    root = writable_copy(ws_root, tmp_path / "ws-copy")
    client = TestClient(create_app(root, allow_writes=True))
    assert 'action="/artifacts/random_forest_export/1/alias"' in client.get(f"/artifacts/{MODEL}/1").text
    done = client.post(f"/artifacts/{MODEL}/1/alias", data={"alias": "staging"})
    assert done.status_code == 200 and "alias &#x27;staging&#x27; now points at" in done.text
    assert Workspace(root).store.resolve(f"{MODEL}:staging").version == 1
    bad = client.post(f"/artifacts/{MODEL}/1/alias", data={"alias": "latest"})
    assert bad.status_code == 400 and "latest" in bad.text
    assert client.post(f"/artifacts/{MODEL}/1/alias", data={"alias": "../x"}).status_code == 400
    assert client.post(f"/artifacts/{MODEL}/42/alias", data={"alias": "ok"}).status_code == 404
    foreign = client.post(f"/artifacts/{MODEL}/1/alias", data={"alias": "evil"},
                          headers={"origin": "http://attacker.example"})  # fmt: skip
    assert foreign.status_code == 403 and not Workspace(root).store.exists(f"{MODEL}:evil")
    sandboxed = client.post(f"/artifacts/{MODEL}/1/alias", data={"alias": "evil"}, headers={"origin": "null"})
    assert sandboxed.status_code == 403 and not Workspace(root).store.exists(f"{MODEL}:evil")


def test_loopback_ui_refuses_other_host_names(ws_root: Path) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the UI."""
    client = TestClient(
        create_app(ws_root, allowed_hosts=["127.0.0.1", "localhost"]), base_url="http://127.0.0.1"
    )
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "evil.example:8765"}).status_code == 400


def test_cli_errors_name_the_fix(tmp_path: Path, ws_root: Path) -> None:
    import socket

    runner = CliRunner()
    assert "--allow-writes" in runner.invoke(cli_app, ["ui", "--help"]).stdout
    missing = runner.invoke(cli_app, ["ui", "-w", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "modelmill run" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = runner.invoke(cli_app, ["ui", "-w", str(ws_root), "--port", str(port)])
    assert taken.exit_code == 2 and "already in use" in taken.stderr and "--port" in taken.stderr
