"""Rollouts end to end: a challenger served next to ``prod`` by ``modelmill serve``, canary and
shadow, judged on live traffic, rolled back on its own, promoted through the registry.

The models are copies of the real NYC inference pipeline (``model_dir`` in conftest.py), each
stored and registered as its own version; the load tests run the app under uvicorn on a free
port and send requests from several threads with httpx, as clients would. Faults (a
challenger that fails or is slow) are injected into the loaded challenger's ``predict_full``:
everything around it (routing, figures, rollback, registry) is the product's own.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.lifecycle.rollout import start
from modelmill.monitor.inputs import read_batch
from modelmill.registry.mlflow_registry import ROLLBACK_TAG, MlflowRegistry
from modelmill.registry.promotion import promote
from modelmill.serve.app import create_app
from modelmill.serve.rollout import CHALLENGER_THREADS, bucket
from modelmill.serve.settings import ServeSettings
from tests.func.conftest import NAME, listings, put_model, records, wait_for

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient

FAST = 0.05
CHALLENGER = f"models:/{NAME}@challenger"


def cli(*args: str) -> Any:
    from modelmill.cli import app

    return CliRunner().invoke(app, list(args))


def rollout_settings(ws: Workspace, **extra: Any) -> ServeSettings:
    return ServeSettings(workspace=ws.root, poll_interval=FAST, challenger=CHALLENGER, **extra)


@pytest.fixture
def two_versions(workspace: Workspace, model_dir: Path, tmp_path: Path) -> Workspace:
    """prod = v1; the challenger alias on v2 (set the way `modelmill rollout start` sets it)."""
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    start(workspace, put_model(workspace, model_dir, tmp_path, "2").ref, NAME)
    return workspace


def challenger_serving(client: Any) -> bool:
    return bool(client.get("/rollout").json()["active"])


# --------------------------------------------------------------------------- canary and shadow
def test_a_canary_answers_its_share_of_keys_and_each_key_sees_one_model(two_versions: Workspace) -> None:
    row = records(listings(1, seed=2))[0]
    with TestClient(create_app(rollout_settings(two_versions, challenger_share=0.3))) as client:
        wait_for(lambda: challenger_serving(client))

        def version(key: str) -> str:
            response = client.post("/predict", json=row, headers={"X-Rollout-Key": key})
            assert response.status_code == 200, response.text
            return response.json()["model"]["version"]

        first = {str(k): version(str(k)) for k in range(300)}
        again = {k: version(k) for k in list(first)[:60]}
        assert again == {k: first[k] for k in again}  # sticky: one key, one model
        assert first == {k: "2" if bucket(k) < 0.3 else "1" for k in first}
        share = Counter(first.values())["2"] / len(first)
        assert 0.2 < share < 0.4, share
        status = client.get("/rollout").json()
        assert status["mode"] == "canary" and status["challenger"]["version"] == "2"
        assert status["challenger"]["requests"] == Counter(first.values())["2"] + Counter(again.values())["2"]
        assert status["champion"]["p99_ms"] is not None and status["champion"]["errors"] == 0
        metrics = client.get("/metrics").text
        assert 'modelmill_model_requests_total{outcome="ok",role="challenger",version="2"}' in metrics
        info = 'modelmill_rollout_challenger_info{mode="canary",name="nyc_rentals",version="2"} 1.0'
        assert info in metrics
        assert client.get("/metadata").json()["rollout"]["challenger"]["version"] == "2"


def test_a_shadow_sees_every_request_and_answers_none(two_versions: Workspace, tmp_path: Path) -> None:
    frame = listings(20, seed=4)
    settings = rollout_settings(two_versions, rollout_mode="shadow", log_requests=True,
                                log_dir=tmp_path / "log", log_flush_interval=0.05)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: challenger_serving(client))
        for i, row in enumerate(records(frame)):
            response = client.post("/predict", json=row, headers={"X-Rollout-Key": f"k{i}"})
            assert response.status_code == 200 and response.json()["model"]["version"] == "1"
        status = wait_for(lambda: (s := client.get("/rollout").json())["challenger"]["requests"] == 20 and s)
    assert status["champion"]["requests"] == 20
    # v2 is a copy of v1: on the same rows their answers agree exactly
    assert status["agreement"] == {"rows": 20, "mean_abs_difference": 0.0}
    log = read_batch(str(tmp_path / "log"), shadow=True)
    assert Counter(log["role"]) == {"champion": 20, "shadow": 20}
    assert set(log.loc[log["role"] == "shadow", "model_version"]) == {"2"}
    assert set(log["request_key"]) == {f"k{i}" for i in range(20)}
    assert (log["latency_ms"] > 0).all()  # each model's own prediction time
    assert len(read_batch(str(tmp_path / "log"))) == 20  # monitor reads what clients were answered


# --------------------------------------------------------------------------- under load
@contextlib.contextmanager
def serving(settings: ServeSettings) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn on a free port, in a thread: ``(url, app)``."""
    import uvicorn

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200)  # clients come once it is ready
    try:
        yield url, app
    finally:
        server.should_exit = True
        thread.join(30)


class Load:
    """Clients in threads posting /predict with their own keys until stopped; every outcome kept."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url, self.stop = url, threading.Event()
        self.outcomes: list[tuple[float, int | str, str | None]] = []  # (sent, status or error, version)
        self.row = records(listings(1, seed=6))[0]
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(threads)]

    def _client(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                sent = time.monotonic()  # an answer belongs to the moment its request was sent
                try:
                    r = client.post("/predict", json=self.row, headers={"X-Rollout-Key": f"{n}-{i}"})
                    version = r.json()["model"]["version"] if r.status_code == 200 else None
                    self.outcomes.append((sent, r.status_code, version))
                except httpx.HTTPError as exc:
                    self.outcomes.append((sent, type(exc).__name__, None))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def versions_since(self, moment: float) -> set[str | None]:
        return {v for t, _, v in list(self.outcomes) if t > moment}

    def next_versions(self, count: int = 20) -> set[str | None]:
        """The versions answering the next ``count`` requests sent from now on."""
        moment = time.monotonic()
        wait_for(lambda: sum(t > moment for t, _, _ in list(self.outcomes)) >= count)
        return self.versions_since(moment)


def test_start_rollback_and_promotion_under_load_fail_no_request(
    workspace: Workspace, model_dir: Path, tmp_path: Path
) -> None:
    promote(workspace, put_model(workspace, model_dir, tmp_path, "1").ref, NAME)
    v2 = put_model(workspace, model_dir, tmp_path, "2")
    v3 = put_model(workspace, model_dir, tmp_path, "3")
    settings = rollout_settings(workspace, challenger_share=0.5, min_requests=20, max_error_rate=0.2,
                                max_p99_ms=60_000)  # a loaded CI machine is slow: only errors roll back
    with serving(settings) as (url, app), Load(url) as load:
        wait_for(lambda: load.outcomes)
        # start: the challenger alias is set while clients are served by v1
        assert cli("rollout", "start", v2.ref, "--workspace", str(workspace.root)).exit_code == 0
        wait_for(lambda: "2" in load.versions_since(0))
        # rollback: the challenger starts failing; the champion answers those requests
        app.state.rollout.holder.current.predict_full = _fails
        back = wait_for(lambda: httpx.get(f"{url}/rollout").json()["rolled_back"])
        after_rollback = time.monotonic()
        assert load.next_versions() == {"1"}
        refused = cli("rollout", "promote", "--url", url, "--workspace", str(workspace.root))
        assert refused.exit_code == 1 and "rolled back by the service" in refused.output, refused.output
        # promotion: a new challenger, then promoted; the service follows both aliases
        assert cli("rollout", "start", v3.ref, "--workspace", str(workspace.root)).exit_code == 0
        wait_for(lambda: "3" in load.versions_since(after_rollback))
        done = cli("rollout", "promote", "--url", url, "--workspace", str(workspace.root), "--json")
        assert done.exit_code == 0, done.output
        wait_for(lambda: httpx.get(f"{url}/metadata").json()["model"]["version"] == "3")
        wait_for(lambda: not httpx.get(f"{url}/rollout").json()["active"])
        assert load.next_versions() == {"3"}
        status = httpx.get(f"{url}/rollout").json()
        metrics = httpx.get(f"{url}/metrics").text
    statuses = Counter(s for _, s, _ in load.outcomes)
    print(f"rollout under load: {len(load.outcomes)} requests, {dict(statuses)}")
    assert set(statuses) == {200}, statuses  # zero failed requests through start, rollback, promotion
    assert back["version"] == "2" and "error rate" in back["reason"]
    events = [e["event"] for e in status["events"]]
    assert events == ["started", "rolled back", "started", "ended"], status["events"]
    assert 'modelmill_rollout_rollbacks_total{name="nyc_rentals",version="2"} 1.0' in metrics
    registry = MlflowRegistry.for_workspace(workspace)
    assert registry.get_alias(NAME, "challenger") is None
    assert registry.get_alias(NAME, "prod").version == 3
    assert "error rate" in wait_for(lambda: registry.get_version(NAME, 2).tags.get(ROLLBACK_TAG))
    [note] = workspace.db.read(lambda c: [r[0] for r in c.execute(
        "SELECT e.note FROM alias_events e JOIN versions v ON v.id = e.version_id "
        "WHERE e.alias = 'prod' AND v.version = ?", (v3.version,))])  # fmt: skip
    assert note.startswith("rollout promote of nyc_rentals@challenger v") and "live figures" in note


def _fails(rows: list[Any]) -> Any:
    raise RuntimeError("injected challenger fault")


def test_a_hung_challenger_costs_a_client_its_p99_limit_at_most_then_is_rolled_back(
    two_versions: Workspace,
) -> None:
    row = records(listings(1, seed=8))[0]
    release = threading.Event()
    settings = rollout_settings(two_versions, challenger_share=1.0, min_requests=5, max_p99_ms=200)
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: challenger_serving(client))
        calls: list[int] = []

        def hangs(rows: list[Any]) -> Any:
            calls.append(len(rows))
            return release.wait(30)

        client.app.state.rollout.holder.current.predict_full = hangs
        answers = []
        for _ in range(8):
            started = time.perf_counter()
            response = client.post("/predict", json=row)
            answers.append((response.status_code, response.json()["model"]["version"],
                            time.perf_counter() - started))  # fmt: skip
        status = client.get("/rollout").json()
        release.set()
    assert [(code, version) for code, version, _ in answers] == [(200, "1")] * 8  # the champion answered
    assert max(seconds for *_, seconds in answers) < 5.0  # the 200 ms limit, never the 30 s hang
    # it holds its own 4 threads at most (the 5th request timed out waiting for one), and after
    # the rollback at min_requests (5) the last 3 requests never reached it
    assert len(calls) == CHALLENGER_THREADS == 4
    assert "error rate 100.0%" in status["rolled_back"]["reason"] and not status["active"]
    assert status["rolled_back"]["figures"]["requests"] == 5


def test_a_rolled_back_version_stays_out_after_a_restart_until_started_again(
    two_versions: Workspace, model_dir: Path, tmp_path: Path
) -> None:
    settings = rollout_settings(two_versions, challenger_share=1.0, min_requests=3)
    row = records(listings(1, seed=3))[0]
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: challenger_serving(client))
        client.app.state.rollout.holder.current.predict_full = _fails
        for _ in range(3):
            assert client.post("/predict", json=row).status_code == 200
        registry = MlflowRegistry.for_workspace(two_versions)
        wait_for(lambda: registry.get_version(NAME, 2).tags.get(ROLLBACK_TAG))
    with TestClient(create_app(settings)) as restarted:  # another replica, or the same one restarted
        wait_for(lambda: restarted.get("/ready").status_code == 200)
        wait_for(lambda: restarted.get("/rollout").json()["rolled_back"])
        assert not restarted.get("/rollout").json()["active"]
        assert restarted.post("/predict", json=row).json()["model"]["version"] == "1"
    v2 = two_versions.store.resolve("random_forest_export:challenger").ref
    assert cli("rollout", "start", v2, "--workspace", str(two_versions.root)).exit_code == 0  # a retry
    assert ROLLBACK_TAG not in registry.get_version(NAME, 2).tags
    with TestClient(create_app(settings)) as retried:
        wait_for(lambda: challenger_serving(retried))


# --------------------------------------------------------------------------- status and errors
def test_status_compares_both_models_on_actuals_from_the_request_log(
    two_versions: Workspace, tmp_path: Path
) -> None:
    frame = listings(60, seed=12)
    truth = pd.DataFrame({"id": frame["id"], "price": 100.0 + frame.index})
    truth.to_csv(tmp_path / "actuals.csv", index=False)
    settings = rollout_settings(two_versions, challenger_share=0.5, log_requests=True,
                                log_dir=tmp_path / "log", log_flush_interval=0.05)  # fmt: skip
    with serving(settings) as (url, _):
        wait_for(lambda: httpx.get(f"{url}/rollout").json()["active"])
        for row in records(frame):
            response = httpx.post(f"{url}/predict", json=row, headers={"X-Rollout-Key": str(row["id"])})
            assert response.status_code == 200
        wait_for(lambda: len(list((tmp_path / "log").glob("part-*.parquet"))) >= 1)
        time.sleep(0.2)
        shown = cli("rollout", "status", "--url", url, "--actuals", str(tmp_path / "actuals.csv"))
        data = cli("rollout", "status", "--url", url, "--actuals", str(tmp_path / "actuals.csv"), "--json")
    assert shown.exit_code == 0, shown.output
    assert "champion" in shown.output and "challenger" in shown.output and "on actuals" in shown.output
    body = json.loads(data.output)
    by_role = {row["role"]: row for row in body["actuals"]}
    assert set(by_role) == {"champion", "challenger"}
    assert by_role["champion"]["matched"] + by_role["challenger"]["matched"] == 60
    assert by_role["champion"]["metric"] == "mae" and by_role["challenger"]["value"] > 0


def test_rollout_commands_say_what_is_wrong_in_one_line(workspace: Workspace) -> None:
    no_challenger = cli("rollout", "promote", "--workspace", str(workspace.root))
    assert no_challenger.exit_code == 2 and "is not set" in no_challenger.output
    assert "Traceback" not in no_challenger.output
    unreachable = cli("rollout", "status", "--url", "http://127.0.0.1:9")
    assert unreachable.exit_code == 2 and "cannot reach the service" in unreachable.output
    missing = cli("rollout", "start", "nope:v1", "--workspace", str(workspace.root))
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    bad = cli("serve", "--challenger", "/etc/passwd")
    assert bad.exit_code == 2 and "paths are not accepted" in bad.output
    not_a_mapping = cli("serve", "serve.rollout=5")
    assert not_a_mapping.exit_code == 2 and "serve.rollout must be a mapping" in not_a_mapping.output
    bad_url = cli("rollout", "status", "--url", "http://[::1")
    assert bad_url.exit_code == 2 and "cannot reach the service" in bad_url.output


def test_the_prod_version_is_not_rolled_out_again(
    workspace: Workspace, model_dir: Path, tmp_path: Path
) -> None:
    v1 = put_model(workspace, model_dir, tmp_path, "1")
    promote(workspace, v1.ref, NAME)
    again = cli("rollout", "start", v1.ref, "--workspace", str(workspace.root))
    assert again.exit_code == 2 and "is already prod" in again.output
    assert MlflowRegistry.for_workspace(workspace).get_alias(NAME, "challenger") is None
