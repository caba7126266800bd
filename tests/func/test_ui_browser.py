"""``modelmill ui`` end to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The real CLI serves the shared test workspace (see :mod:`tests.func.ui_workspace`) on a free
port in a subprocess; the browser checks the rendered pages, follows links from the prod
model through its lineage graph to its training data, opens the data_check report and
sorts the sweep table. Screenshots go to ``$MODELMILL_TEST_OUTPUT/ui-screenshots`` or the
pytest temp directory. Without Chromium or Playwright these tests fail when ``CI`` is set
(``make test`` installs chromium) and skip otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.func.ui_workspace import MODEL, shared_workspace

CHROMIUM = os.environ.get("MODELMILL_CHROMIUM", "/usr/bin/chromium")
# Flags that work on closed networks and as root (see the machine notes)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")


def _missing_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found: install Debian's chromium ('make test' does it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    problem = _missing_browser()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        context.set_default_timeout(15_000)
        yield context
        context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser_context: Any) -> Iterator[str]:
    """The real ``modelmill ui`` in a subprocess; yields its base URL."""
    root = shared_workspace(tmp_path_factory)
    port = _free_port()
    log = tmp_path_factory.mktemp("ui-server") / "server.log"
    with open(log, "w") as out:
        command = [sys.executable, "-m", "modelmill", "ui", "-w", str(root), "--port", str(port)]
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc, log)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"modelmill ui exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"modelmill ui did not answer within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("MODELMILL_TEST_OUTPUT")
    folder = Path(configured) / "ui-screenshots" if configured else tmp_path_factory.mktemp("ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    tab = browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_artifacts_and_runs_render_real_data(page: Any, server: str, shots: Path) -> None:
    page.goto(server + "/")
    names = page.locator("b.artifact-name").all_inner_texts()
    assert {"sample.csv", "clean_sample.csv", "trainval_data.csv", MODEL, "data_check_report"} <= set(names)
    assert page.locator("span.tag.prod").count() == 1
    page.screenshot(path=str(shots / "artifacts.png"), full_page=True)
    page.get_by_role("link", name="Runs").click()
    page.locator("[data-testid=run-link]").last.click()  # the oldest: the tracked full run
    assert page.locator("table.steps tr").count() == 8  # header + seven steps
    assert page.locator("table.steps .s-ran").count() == 7
    assert (
        page.locator("[data-testid=mlflow-link]")
        .get_attribute("href")
        .startswith("http://127.0.0.1:5000/#/runs/")
    )
    page.screenshot(path=str(shots / "run.png"), full_page=True)


def test_click_from_prod_model_through_lineage_to_training_data(page: Any, server: str, shots: Path) -> None:
    page.goto(server + "/")
    page.locator("tr", has=page.locator("span.tag.prod")).locator("a").first.click()
    assert page.locator("h1").inner_text().startswith(f"{MODEL}:v")
    nodes = page.locator("svg.lineage a.node")
    assert nodes.count() >= 12  # four data versions, a report, the model, their steps, downstream
    assert page.locator("svg.lineage path.edge").count() >= nodes.count() - 1
    page.screenshot(path=str(shots / "model-lineage.png"), full_page=True)
    page.locator('svg.lineage a.node[data-node="trainval_data.csv:v0"]').click()
    page.wait_for_url("**/artifacts/trainval_data.csv/0")
    assert page.locator("h1").inner_text() == "trainval_data.csv:v0"
    assert "data_split" in page.locator("table.meta").inner_text()
    page.locator('svg.lineage a.node[data-node="sample.csv:v0"]').click()
    page.wait_for_url("**/artifacts/sample.csv/0")
    assert "raw_data" in page.locator("table.meta").inner_text()
    page.screenshot(path=str(shots / "raw-sample.png"), full_page=True)


def test_report_opens_with_its_tables(page: Any, server: str, shots: Path) -> None:
    page.goto(server + "/artifacts/clean_sample.csv/0")
    page.locator("[data-testid=report-link]").first.click()
    page.wait_for_url("**/reports/data_check_report/**/report.html")
    assert page.locator("table").count() >= 1
    assert page.locator("table tr").count() >= 3
    page.screenshot(path=str(shots / "data-check-report.png"), full_page=True)


def test_sweep_table_sorts_on_click(page: Any, server: str, shots: Path) -> None:
    page.goto(server + "/sweeps")
    page.locator('table.sweep a[data-sort="test_mae"]').click()
    page.wait_for_url("**/sweeps?sort=test_mae&order=asc")
    header = page.locator("table.sweep th").all_inner_texts()
    col = next(i for i, h in enumerate(header) if h.startswith("test_mae"))
    values = [float(v) for v in page.locator(f"table.sweep tbody td:nth-child({col + 1})").all_inner_texts()]
    assert len(values) == 2 and values == sorted(values)
    page.locator('table.sweep a[data-sort="test_mae"]').click()
    page.wait_for_url("**/sweeps?sort=test_mae&order=desc")
    again = [float(v) for v in page.locator(f"table.sweep tbody td:nth-child({col + 1})").all_inner_texts()]
    assert again == sorted(values, reverse=True)
    page.screenshot(path=str(shots / "sweeps.png"), full_page=True)
