"""Broken models: one that does not load, a damaged registry copy, temporary copies.

The promises:

* a model that does not load (a truncated ``model.skops``) is never promoted, by hand
  (``modelmill promote``: exit 1, nothing registered, no alias moved) or by the pipeline's
  register step; ``modelmill test --model`` on it is a one-line error;
* a registry copy that no longer hashes to the digest recorded at registration (a flipped
  byte in ``model.skops`` or ``onnx/model.onnx``) is refused by ``score`` and ``test``
  (exit 1, naming the version and the fix) and by the service; the fix the message names
  (``modelmill promote`` of the store artifact) works;
* a service whose alias names a model it cannot load at start says why on ``/ready`` (503)
  and in its log, and serves the newest older version that loads only with ``--fallback``;
* ``score``, ``monitor`` and ``test`` with a ``models:/`` model leave nothing in ``$TMPDIR``,
  on success, on failure and on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest

from modelmill import Workspace

from .conftest import MODEL, NAME, assert_clean_error, cli, cli_subprocess

PROD_URI = f"models:/{NAME}@prod"


# --------------------------------------------------------------------------- helpers
def registry_state(ws: Path) -> tuple[int | None, int]:
    """(version ``prod`` names, number of versions) of the registered model."""
    with sqlite3.connect(ws / "mlflow.db") as conn:
        prod = conn.execute(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = 'prod'", (NAME,)
        ).fetchone()
        (count,) = conn.execute("SELECT count(*) FROM model_versions WHERE name = ?", (NAME,)).fetchone()
    return (int(prod[0]) if prod else None), int(count)


def store_prod(ws: Path) -> str:
    return Workspace(ws).store.resolve(f"{MODEL}:prod").ref


def registry_copy(ws: Path, version: int) -> Path:
    """The directory holding the registry's own copy of ``version`` (under ``mlartifacts``)."""
    with sqlite3.connect(ws / "mlflow.db") as conn:
        (run_id,) = conn.execute(
            "SELECT run_id FROM model_versions WHERE name = ? AND version = ?", (NAME, version)
        ).fetchone()
        (uri,) = conn.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
    return Path(unquote(urlparse(uri).path)) / "model"


def flip_a_byte(path: Path) -> None:
    """Change one byte: in an ONNX graph, one letter of its producer name (it still loads and
    predicts exactly as before: only the digest can tell), elsewhere the middle byte."""
    data = bytearray(path.read_bytes())
    at = data.find(b"skl2onnx") + 7 if path.suffix == ".onnx" else len(data) // 2
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def model_copy(ws: Path, dest: Path, marker: str, truncate: bool = False) -> Path:
    """A writable copy of the prod model, made distinct by a marker file (``truncate``: its
    ``model.skops`` cut in half, as a crashed copy or a full disk leaves it)."""
    shutil.copytree(Workspace(ws).store.path(f"{MODEL}:prod"), dest, copy_function=shutil.copyfile)
    (dest / "marker.txt").write_text(marker)
    if truncate:
        skops = dest / "model.skops"
        skops.write_bytes(skops.read_bytes()[: skops.stat().st_size // 2])
    return dest


def put(path: Path, name: str = MODEL, kind: str = "model_export") -> str:
    result = cli("artifacts", "put", str(path), "--name", name, "--type", kind, "--json")
    assert result.code == 0, result.output
    return str(json.loads(result.stdout)["ref"])


def listings_csv(path: Path, rows: int = 60) -> Path:
    from modelmill.datasets.nyc_demo import generate_listings

    generate_listings(rows, seed=7).drop(columns=["price"]).to_csv(path, index=False)
    return path


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty ``$TMPDIR`` for the subprocess: whatever it leaves there is a leak."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    return tmp, {"TMPDIR": str(tmp)}


def leftovers(tmp: Path) -> list[str]:
    """What is left in ``tmp`` but onnxruntime's ``.ses`` (a 50-byte session id it keeps)."""
    return sorted(p.name for p in tmp.iterdir() if p.name != ".ses")


# --------------------------------------------------------------------------- a model that does not load
def test_promote_refuses_a_model_that_does_not_load(trained_workspace: Path, tmp_path: Path) -> None:
    broken = put(model_copy(trained_workspace, tmp_path / "broken", "b", truncate=True))
    before = (store_prod(trained_workspace), registry_state(trained_workspace))

    result = cli("promote", broken)
    assert_clean_error(result, 1, f"cannot promote {broken}", "does not load", "nothing was")
    assert (store_prod(trained_workspace), registry_state(trained_workspace)) == before

    result = cli("test", "--model", broken)
    assert_clean_error(result, 1, broken, "does not load")


def test_register_step_refuses_an_unloadable_candidate(trained_workspace: Path, tmp_path: Path) -> None:
    broken = put(model_copy(trained_workspace, tmp_path / "broken", "b", truncate=True))
    prod = store_prod(trained_workspace)
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({
        "candidate": {"ref": broken, "mae": 1.0, "r2": 0.99},  # far better on paper
        "prod": {"ref": prod, "mae": 80.0, "r2": 0.1},
        "test_data": "test_data.csv:v0",
        "n_test": 100,
    }))  # fmt: skip
    put(evaluation, "evaluation", "evaluation")
    registry_before = registry_state(trained_workspace)

    result = cli("run", "main.steps=register", "main.tracking=none")
    assert_clean_error(result, 1, "register", "candidate refused", "does not load")
    assert store_prod(trained_workspace) == prod
    assert registry_state(trained_workspace) == registry_before  # not even registered


# --------------------------------------------------------------------------- damaged registry copies
@pytest.mark.parametrize("damaged", ["onnx/model.onnx", pytest.param("model.skops", marks=pytest.mark.slow)])
def test_a_damaged_registry_copy_is_refused_and_the_named_fix_works(
    trained_workspace: Path, tmp_path: Path, damaged: str
) -> None:
    prod, _ = registry_state(trained_workspace)
    assert prod is not None
    flip_a_byte(registry_copy(trained_workspace, prod) / damaged)
    out = tmp_path / "out.parquet"

    result = cli("score", str(listings_csv(tmp_path / "in.csv")), str(out))
    line = assert_clean_error(result, 1, f"models:/{NAME}/{prod}", "corrupted", "modelmill promote")
    assert not out.exists()
    if damaged == "model.skops":
        return  # refused the same way: the fix below is shown once

    assert_clean_error(cli("test", "--model", PROD_URI), 1, "corrupted")
    fix = line.split("modelmill promote ")[1].split()[0]  # the store artifact it was registered from
    assert cli("promote", fix).code == 0
    assert registry_state(trained_workspace)[0] != prod  # a fresh copy, a new version
    result = cli("test", "--model", PROD_URI, "--json")
    assert result.code == 0, result.output


# --------------------------------------------------------------------------- serving
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_until(log: Path, *flags: str, until: str, timeout: float = 90) -> dict[str, object]:
    """Run ``modelmill serve``; return the first ``/ready`` body with ``until`` in it (then stop)."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelmill.cli", "serve", "--port", str(port), "--poll-interval", "0.2",
             *flags],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text()}"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
            except httpx.TransportError:
                ready = None
            if ready is not None and until in ready.text:
                body = ready.json() | {"_status": ready.status_code}
                body["_metadata"] = httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=5).json()
                return body
            time.sleep(0.2)
        raise AssertionError(f"/ready never said {until!r}:\n{log.read_text()}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_says_why_it_cannot_load_prod_and_falls_back_only_when_asked(
    trained_workspace: Path, tmp_path: Path
) -> None:
    good, _ = registry_state(trained_workspace)
    assert cli("promote", put(model_copy(trained_workspace, tmp_path / "v2", "2"))).code == 0
    prod, _ = registry_state(trained_workspace)
    assert prod is not None and good is not None and prod > good
    (registry_copy(trained_workspace, prod) / "model.skops").write_bytes(b"truncated")

    body = _serve_until(tmp_path / "serve.log", until="corrupted")
    assert body["_status"] == 503 and f"version {prod}" in str(body["error"])
    assert "corrupted" in (tmp_path / "serve.log").read_text()  # the log says why too

    body = _serve_until(tmp_path / "fallback.log", "--fallback", until="ready")
    assert body["_status"] == 200 and body["model"] == {"name": NAME, "version": str(good)}
    fallback = body["fallback"]
    assert isinstance(fallback, dict) and fallback["wanted"]["version"] == str(prod)
    assert "corrupted" in fallback["reason"]
    assert body["_metadata"]["fallback"] == fallback  # type: ignore[index]


# --------------------------------------------------------------------------- temporary copies
@pytest.mark.parametrize("command", ["score", pytest.param("monitor", marks=pytest.mark.slow),
                                     pytest.param("test", marks=pytest.mark.slow)])  # fmt: skip
def test_registry_downloads_leave_nothing_in_tmpdir(  # subprocesses: TMPDIR is read once per process
    trained_workspace: Path, tmp_path: Path, tmpdir_env: tuple[Path, dict[str, str]], command: str
) -> None:
    tmp, env = tmpdir_env
    batch = listings_csv(tmp_path / "in.csv")
    args = {
        "score": lambda out: ["score", str(batch), str(tmp_path / out)],
        "monitor": lambda out: ["monitor", str(batch), "--no-tracking"],
        "test": lambda out: ["test", "--model", PROD_URI],
    }[command]
    result = cli_subprocess(*args("out.parquet"), env=env)
    assert result.code == 0, result.output
    assert leftovers(tmp) == []
    if command == "monitor":  # a failure after the download
        narrow = tmp_path / "narrow.csv"
        narrow.write_text("id,latitude\n1,40.7\n")
        failed = cli_subprocess("monitor", str(narrow), "--no-tracking", env=env)
        assert_clean_error(failed, 2, "lacks columns")
    else:  # a download that fails verification
        prod, _ = registry_state(trained_workspace)
        flip_a_byte(registry_copy(trained_workspace, prod or 0) / "model.skops")
        assert_clean_error(cli_subprocess(*args("o2.parquet"), env=env), 1, "corrupted")
    assert leftovers(tmp) == []


def test_ctrl_c_during_score_leaves_nothing_in_tmpdir(
    trained_workspace: Path, tmp_path: Path, tmpdir_env: tuple[Path, dict[str, str]]
) -> None:
    tmp, env = tmpdir_env
    batch = listings_csv(tmp_path / "in.csv", rows=400)
    out = tmp_path / "out.parquet"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelmill.cli", "score", str(batch), str(out), "--chunk-rows", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env, "MODELMILL_SCORE_THROTTLE": "0.5"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not [p for p in tmp.iterdir() if p.is_dir()]:  # the registry download is there
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(3.0)  # the model loads, a few chunks are scored (0.5 s each)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode != 0 and not out.exists()
    assert leftovers(tmp) == []
