"""Hostile HTTP bodies: whatever a client sends, ``modelmill serve`` answers 4xx, never 5xx.

One real ``modelmill serve`` per runtime (ONNX, the default when the model has a graph, and
scikit-learn) serves the trained workspace's ``models:/nyc_rentals@prod``; every body is
sent to ``/predict`` (a listing, or a list) and to ``/invocations`` (wrapped in an MLflow
``dataframe_records`` payload where that makes it a different test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import relocate_mlflow

DEPTHS = (10_000, 100_000)


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


# bodies sent as they are to both endpoints
RAW: dict[str, bytes] = {
    **{f"arrays nested {d:,} deep": nested(d) for d in DEPTHS},
    "objects nested 10,000 deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    **{f"payload nested {d:,} deep": b'{"dataframe_records": ' + nested(d) + b"}" for d in DEPTHS},
    "split data nested 10,000 deep": b'{"dataframe_split": {"columns": ["name"], "data": '
    + nested(10_000)
    + b"}}",
    "invalid UTF-8": b'{"name": "\xff\xfe\xfd"}',
    "a 900 KB string": json.dumps("x" * 900_000).encode(),
    "empty": b"",
    "null": b"null",
    "a number": b"42",
    "truncated": b'{"name": "a',
    "a list of 100,000 numbers": json.dumps(list(range(100_000))).encode(),
    "NUL bytes": b"\x00" * 1000,
}
# one listing's fields: sent as the /predict body, and in a dataframe_records payload
LISTING: dict[str, bytes] = {
    "a field nested 10,000 deep": b'{"name": ' + nested(10_000) + b"}",
    "an integer of 5,000 digits": b'{"minimum_nights": ' + b"9" * 5000 + b"}",
    "an integer beyond int64": b'{"minimum_nights": 99999999999999999999999}',
    "a float beyond double": b'{"latitude": 1e999}',
    "NaN": b'{"latitude": NaN}',
    "Infinity": b'{"longitude": Infinity}',
    "-Infinity": b'{"reviews_per_month": -Infinity}',
    "a lone surrogate": b'{"name": "\\ud800"}',
    "a number as text": b'{"minimum_nights": "3"}',
    "an unknown field": b'{"price": 10}',
}
# odd but valid listings: predicted (200) or refused (4xx), never a 5xx
ODD: dict[str, dict[str, object]] = {
    "dates outside pandas' range": {"last_review": "0001-01-01"},
    "a date in the year 3000": {"last_review": "3000-01-01"},
    "not a date": {"last_review": "yesterday"},
    "int64 extremes": {"minimum_nights": 2**63 - 1, "number_of_reviews": -(2**63), "host_id": 2**63 - 1},
    "a 900 KB name": {"name": "x" * 900_000},
    "control characters": {"name": "\x00\x01\u2028\ufeff", "room_type": "\x00"},
    "tiny floats": {"latitude": 5e-324, "longitude": -5e-324},
}


def _bodies(endpoint: str, body: bytes) -> bytes:
    return body if endpoint == "/predict" else b'{"dataframe_records": [' + body + b"]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=["auto", pytest.param("sklearn", marks=pytest.mark.slow)])
def service(request: pytest.FixtureRequest, trained_template: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[str]:  # fmt: skip
    """``modelmill serve --runtime R`` on a copy of the trained workspace: its base URL."""
    root = tmp_path_factory.mktemp(f"hostile-{request.param}")
    ws = root / "ws"
    shutil.copytree(trained_template, ws, symlinks=True)
    relocate_mlflow(ws / "mlflow.db", str(trained_template), str(ws))
    port = _free_port()
    env = {**os.environ, "MODELMILL_HOME": str(ws), "MODELMILL_CACHE_DIR": str(root / "cache")}
    log = root / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelmill.cli", "serve", "--port", str(port), "--runtime", request.param],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def post(base: str, path: str, body: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return httpx.post(base + path, content=body, headers=headers, timeout=60)


def test_a_valid_listing_is_predicted(service: str) -> None:  # the service under attack works
    response = post(service, "/predict", b'{"room_type": "Private room"}')
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", ["/predict", "/invocations"])
@pytest.mark.parametrize("name", sorted(RAW))
def test_hostile_bodies_get_4xx(service: str, endpoint: str, name: str) -> None:
    response = post(service, endpoint, RAW[name])
    assert 400 <= response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("endpoint", ["/predict", "/invocations"])
@pytest.mark.parametrize("name", sorted(LISTING))
def test_hostile_listings_get_4xx(service: str, endpoint: str, name: str) -> None:
    response = post(service, endpoint, _bodies(endpoint, LISTING[name]))
    assert 400 <= response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("endpoint", ["/predict", "/invocations"])
@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_but_valid_listings_never_get_5xx(service: str, endpoint: str, name: str) -> None:
    response = post(service, endpoint, _bodies(endpoint, json.dumps(ODD[name]).encode()))
    assert response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv"])
def test_a_body_that_is_not_declared_json_gets_415(service: str, content_type: str) -> None:
    for endpoint in ("/predict", "/invocations"):
        response = post(service, endpoint, _bodies(endpoint, b'{"room_type": "Private room"}'), content_type)
        assert response.status_code == 415 and "application/json" in response.json()["detail"]


def test_every_path_answers_a_hostile_body_without_5xx(service: str) -> None:
    body = nested(100_000)
    for path in ("/health", "/ready", "/metadata", "/metrics", "/openapi.json", "/docs", "/nope"):
        for method in ("GET", "POST", "PUT"):
            response = httpx.request(method, service + path, content=body, timeout=60)
            assert response.status_code < 500, f"{method} {path}: {response.status_code}"
