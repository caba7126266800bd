"""The built container image (``make image``) started for real: ``/ready``, one prediction, non-root.

The image serves ``models:/nyc_rentals@prod`` from an MLflow SQLite registry on the host (a
workspace made here, like the serve tests' one), mounted read-only into the container at the
same absolute path (its artifact locations are absolute) and named by ``MLFLOW_TRACKING_URI``.
Docker is used when ``docker info`` works, else Debian's podman with the runc runtime (crun
fails on cgroups and rlimits on this kind of machine). ``make test-image`` builds and runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from modelmill import Workspace
from modelmill.registry.promotion import promote
from tests.func.conftest import NAME, listings, model_dir, put_model, records  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

IMAGE = os.environ.get("MODELMILL_IMAGE", "modelmill-serve")
READY_TIMEOUT = 180.0


def _engine() -> list[str] | None:
    """The container command: docker with a working engine, else podman with runc, else None."""
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return ["docker"]
    if shutil.which("podman"):
        return ["podman", "--runtime", os.environ.get("MODELMILL_OCI_RUNTIME", "runc")]
    return None


def _run(engine: list[str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*engine, *args], capture_output=True, text=True, check=check, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


@pytest.fixture(scope="module")
def engine() -> list[str]:
    found = _engine()
    if found is None:
        pytest.skip(
            "neither podman nor a working Docker engine is installed: 'make podman' (as root) "
            "installs Debian's podman, runc and mmdebstrap; 'make test-image' builds and runs it"
        )
    if _run(found, "image", "inspect", IMAGE, check=False).returncode != 0:
        message = f"image {IMAGE} is not built: run 'make image' (or 'make test-image')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_image_serves_a_registry_model_as_a_non_root_user(
    engine: list[str],
    model_dir: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = Workspace(tmp_path / "ws")
    version = put_model(ws, model_dir, tmp_path, "1")
    promote(ws, version.ref, NAME)
    root = ws.root.resolve()
    port = _free_port()
    name = f"modelmill-test-{uuid.uuid4().hex[:8]}"
    base = f"http://127.0.0.1:{port}"
    run_args = [
        "run", "-d", "--name", name, "--network", "host",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        "-v", f"{root}:{root}:ro",
        "-e", f"MLFLOW_TRACKING_URI=sqlite:///{root / 'mlflow.db'}",
        IMAGE,
        "modelmill", "serve", "--host", "127.0.0.1", "--port", str(port), "--model", f"models:/{NAME}@prod",
    ]  # fmt: skip
    started = time.monotonic()  # start-to-ready: from `run` (container created and started) to /ready
    try:
        _run(engine, *run_args)
        status, body = 0, None
        while time.monotonic() - started < READY_TIMEOUT:
            status, body = _get(f"{base}/ready")
            if status == 200:
                break
            state = _run(engine, "inspect", "--format", "{{.State.Running}}", name, check=False).stdout
            logs = _run(engine, "logs", name, check=False) if state.strip() == "false" else None
            assert logs is None, f"the container exited:\n{logs.stdout}{logs.stderr}"
            time.sleep(0.1)
        ready_s = time.monotonic() - started
        logs = _run(engine, "logs", name, check=False)
        assert status == 200, f"not ready after {READY_TIMEOUT} s:\n{logs.stdout}{logs.stderr}"
        assert body["model"] == {"name": NAME, "version": "1"}

        # one listing, compared with the same pipeline on the host
        from modelmill.registry.export import load_sklearn

        frame = listings(1, seed=11)
        request = urllib.request.Request(
            f"{base}/predict", data=json.dumps(records(frame)[0]).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        assert answer["model"] == {"name": NAME, "version": "1"}
        assert answer["predictions"] == pytest.approx(list(load_sklearn(model_dir).predict(frame)), rel=1e-4)

        # the serving process is the container's PID 1 (no shell): its real, effective, saved and
        # filesystem uids are the image's user inside, and not root seen from the host either
        status = _run(engine, "exec", name, "cat", "/proc/1/status").stdout
        assert "modelmill" in _run(engine, "exec", name, "cat", "/proc/1/cmdline").stdout
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids == ["10001"] * 4, uids
        pid = _run(engine, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        host_status = Path(f"/proc/{pid}/status")
        if host_status.exists():  # the engine runs on this machine
            host_uids = next(line for line in host_status.read_text().splitlines() if line.startswith("Uid:"))
            assert "0" not in host_uids.split()[1:], host_uids

        stop_started = time.monotonic()
        _run(engine, "stop", "--time", "10", name)
        assert _run(engine, "inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "false"
        stop_s = time.monotonic() - stop_started
        assert stop_s < 10, "the server did not stop on SIGTERM"
        size = int(_run(engine, "image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
        with capsys.disabled():
            print(f"\n[image] {IMAGE}: {size / 1e6:.0f} MB, start-to-ready {ready_s:.1f} s, "
                  f"stop {stop_s:.1f} s, "
                  f"serving uid {uids[0]}, engine {engine[0]}")  # fmt: skip
    finally:
        _run(engine, "rm", "-f", name, check=False)


_DIGEST = """
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".c") and "__pycache__" not in p.parts)
print(hashlib.sha256(b"".join(str(p.relative_to(root)).encode() + hashlib.sha256(p.read_bytes()).digest()
                             for p in files)).hexdigest(), len(files))
"""


def test_the_image_holds_this_checkouts_code(engine: list[str]) -> None:
    """A builder's cache must not serve yesterday's modelmill: the installed package's Python and C
    sources are this checkout's ``src/modelmill``, file for file."""
    import sys

    import modelmill

    source = Path(modelmill.__file__).parent
    here = subprocess.run([sys.executable, "-c", _DIGEST, str(source)], capture_output=True, text=True,
                          check=True).stdout.split()  # fmt: skip
    python = ["run", "--rm", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit",
              "nproc=1024:1024", "--entrypoint", "python", IMAGE, "-c"]  # fmt: skip
    where = "import modelmill, os; print(os.path.dirname(modelmill.__file__))"
    installed = _run(engine, *python, where).stdout.strip()
    inside = _run(engine, *python, _DIGEST, installed).stdout.split()
    assert inside == here, f"the image's modelmill ({inside}) is not this checkout's ({here}): make image"
