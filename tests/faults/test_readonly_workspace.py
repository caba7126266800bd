"""A read-only workspace: every reading command works, every writing command says so (exit 2).

Serving a model from a read-only volume is the normal way to deploy, so the workspace of a
trained, promoted model is made read-only for real (see :mod:`.readonly`): a read-only bind
mount (``mount``, needs root) or ``chmod -R a-w`` (``chmod``; as root, the commands run
without root's permission bypass). Reading commands must answer as on a writable
workspace, ``serve`` must answer ``/predict`` for a store reference and for
``models:/nyc_rentals@prod`` (the workspace's own MLflow SQLite registry); writing commands
must print one line saying the workspace is read-only and how to fix it, exit 2, and change
nothing.

The default run checks every command in one variant (``mount`` as root, else ``chmod``) and
a few in the other; ``-m slow`` checks every command in both.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import MODEL, NAME, Result, assert_clean_error, cli
from .readonly import (
    chmod_tree,
    mount_problem,
    permissions_problem,
    popen,
    readonly_mount,
    run_obeying_permissions,
)

MODES = ("mount", "chmod")
PRIMARY = "mount" if os.geteuid() == 0 else "chmod"


@dataclass
class ReadOnlyWorkspace:
    """A trained workspace made read-only, and how to run commands against it."""

    mode: str
    root: Path
    scratch: Path  # writable: outputs go here
    sample: Path  # a CSV batch of listings
    example: list[dict[str, Any]]  # records for /predict

    @property
    def env(self) -> dict[str, str]:
        return {"MODELMILL_HOME": str(self.root)}

    def cli(self, *args: str) -> Result:
        if self.mode == "mount":
            return cli(*args, env=self.env, cwd=self.scratch)
        return run_obeying_permissions(*args, env=self.env, cwd=self.scratch)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return popen(*args, env=self.env, cwd=self.scratch, obey_permissions=self.mode == "chmod")

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every file under the workspace with its size and modification time."""
        return {
            str(p.relative_to(self.root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(self.root.rglob("*"))
        }


@functools.cache
def _mount_problem() -> str | None:
    return mount_problem()


def _inputs(ws: Path, scratch: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A batch of listings and the model's input example, read while the workspace is writable."""
    from modelmill import Workspace

    store = Workspace(ws).store
    sample = store.get("sample.csv:latest", scratch / "batch.csv")
    split = json.loads((store.path(f"{MODEL}:prod") / "input_example.json").read_text())
    return sample, [dict(zip(split["columns"], row, strict=True)) for row in split["data"]]


@pytest.fixture
def readonly(
    request: pytest.FixtureRequest, trained_workspace: Path, tmp_path: Path
) -> Iterator[ReadOnlyWorkspace]:
    """``trained_workspace`` made read-only in the variant ``request.param``."""
    mode = request.param
    if problem := (_mount_problem() if mode == "mount" else permissions_problem()):
        pytest.skip(problem)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sample, example = _inputs(trained_workspace, scratch)
    ro = ReadOnlyWorkspace(mode, trained_workspace, scratch, sample, example)
    if mode == "mount":
        with readonly_mount(trained_workspace):
            yield ro
        return
    chmod_tree(trained_workspace, writable=False)
    try:
        yield ro
    finally:
        chmod_tree(trained_workspace, writable=True)


def _modes(ids: list[str], smoke: set[str], core: set[str] | None = None) -> list[Any]:
    """Every (mode, id): by default the primary mode's ``core`` ids (all when ``None``) and the
    other mode's ``smoke`` ids; the rest with ``-m slow``."""

    def default(mode: str, i: str) -> bool:
        return (mode == PRIMARY and (core is None or i in core)) or (mode != PRIMARY and i in smoke)

    return [
        pytest.param(mode, i, id=f"{mode}-{i}", marks=() if default(mode, i) else pytest.mark.slow)
        for mode in MODES
        for i in ids
    ]


# ------------------------------------------------------------------------- reading commands
Check = Callable[[Result, ReadOnlyWorkspace], None]


def _prints(*words: str) -> Check:
    def check(result: Result, ro: ReadOnlyWorkspace) -> None:
        for word in words:
            assert word in result.stdout, f"{word!r} not in:\n{result.output}"

    return check


def _wrote(name: str) -> Check:
    def check(result: Result, ro: ReadOnlyWorkspace) -> None:
        assert (ro.scratch / name).exists(), result.output

    return check


READING: dict[str, tuple[Callable[[ReadOnlyWorkspace], list[str]], Check]] = {
    "artifacts list": (lambda ro: ["artifacts", "list"], _prints(f"{MODEL}:v0", "prod")),
    "artifacts show": (lambda ro: ["artifacts", "show", f"{MODEL}:prod"], _prints("model_export")),
    "artifacts verify": (lambda ro: ["artifacts", "verify"], _prints("0 problem(s)")),
    "artifacts get": (lambda ro: ["artifacts", "get", f"{MODEL}:prod", str(ro.scratch / "model")],
                      _wrote("model/MLmodel")),
    "artifacts gc --dry-run": (lambda ro: ["artifacts", "gc", "--dry-run"], _prints("to remove")),
    "lineage": (lambda ro: ["lineage", f"{MODEL}:prod"], _prints("get_data", "sample.csv:v0")),
    "test": (lambda ro: ["test"], _prints("MAE")),
    "test models:/": (lambda ro: ["test", "--model", f"models:/{NAME}@prod"], _prints("MAE")),
    "score models:/": (lambda ro: ["score", str(ro.sample), str(ro.scratch / "a.parquet")],
                       _wrote("a.parquet")),
    "score store ref": (lambda ro: ["score", "--model", f"{MODEL}:prod", str(ro.sample),
                                    str(ro.scratch / "b.parquet")], _wrote("b.parquet")),
    "monitor --no-tracking": (lambda ro: ["monitor", "--no-tracking", str(ro.sample)], _prints("overall")),
}  # fmt: skip


@pytest.mark.parametrize(("readonly", "command"),
                         _modes(sorted(READING), {"artifacts list", "test models:/"},
                                {"artifacts list", "artifacts verify", "test models:/", "score store ref",
                                 "score models:/"}),
                         indirect=["readonly"])  # fmt: skip
def test_reading_commands_work_on_a_readonly_workspace(readonly: ReadOnlyWorkspace, command: str) -> None:
    args, check = READING[command]
    before = readonly.snapshot()
    result = readonly.cli(*args(readonly))
    assert "Traceback" not in result.output, result.output
    assert result.code == 0, result.output
    check(result, readonly)
    assert readonly.snapshot() == before


# ------------------------------------------------------------------------- writing commands
WRITING: dict[str, tuple[Callable[[ReadOnlyWorkspace], list[str]], tuple[str, ...]]] = {
    "run": (lambda ro: ["run", "modeling.random_forest.n_estimators=16"], ()),
    "run without tracking": (lambda ro: ["run", "main.tracking=none"], ()),
    "retrain": (lambda ro: ["retrain", str(ro.sample), "main.tracking=none"], ()),
    "sweep": (lambda ro: ["sweep", "-j", "1", "modeling.max_tfidf_features=5,6", "main.tracking=none"], ()),
    "promote": (lambda ro: ["promote", f"{MODEL}:v0"], ()),
    "artifacts put": (lambda ro: ["artifacts", "put", str(ro.sample), "-n", "batch.csv", "-t", "raw"], ()),
    "artifacts alias": (lambda ro: ["artifacts", "alias", f"{MODEL}:v0", "staging"], ()),
    "artifacts alias --delete": (lambda ro: ["artifacts", "alias", MODEL, "prod", "--delete"], ()),
    "artifacts gc": (lambda ro: ["artifacts", "gc", "--grace", "0"], ()),
    "eda": (lambda ro: ["eda", "--no-tracking"], ()),
    # logging to the workspace's MLflow store is the one write here; --no-tracking reads only
    "monitor": (lambda ro: ["monitor", str(ro.sample)], ("mlflow.db", "--no-tracking")),
}  # fmt: skip


@pytest.mark.parametrize(("readonly", "command"), _modes(sorted(WRITING), {"run", "artifacts put"},
                                {"run", "promote", "artifacts put", "artifacts alias"}),
                         indirect=["readonly"])  # fmt: skip
def test_writing_commands_say_read_only_and_change_nothing(readonly: ReadOnlyWorkspace, command: str) -> None:
    args, words = WRITING[command]
    before = readonly.snapshot()
    result = readonly.cli(*args(readonly))
    assert_clean_error(result, 2, "read-only", *(words or (f"workspace {readonly.root}", "--workspace")))
    assert readonly.snapshot() == before


# ------------------------------------------------------------------------------ servers
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(ro: ReadOnlyWorkspace, *args: str, ready: str) -> Iterator[str]:
    """Start a server command, wait until ``ready`` (a path) answers 200, yield its base URL."""
    port = _free_port()
    proc = ro.popen(*args, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"exited {proc.returncode}:\n{output}")
            try:
                if httpx.get(base + ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{base}{ready} not ready in 120 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


SERVED = {"store ref": f"{MODEL}:prod", "models:/": f"models:/{NAME}@prod"}


@pytest.mark.parametrize(("readonly", "model"), _modes(sorted(SERVED), {"store ref"}), indirect=["readonly"])
def test_serve_answers_predict_from_a_readonly_workspace(readonly: ReadOnlyWorkspace, model: str) -> None:
    before = readonly.snapshot()
    with _serving(readonly, "serve", "--model", SERVED[model], ready="/ready") as base:
        response = httpx.post(f"{base}/predict", json=readonly.example, timeout=30)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == len(readonly.example)
    assert readonly.snapshot() == before


@pytest.mark.parametrize(("readonly", "page"), _modes(["artifacts", "runs"], set(), {"artifacts"}),
                         indirect=["readonly"])  # fmt: skip
def test_ui_browses_a_readonly_workspace(readonly: ReadOnlyWorkspace, page: str) -> None:
    with _serving(readonly, "ui", ready="/healthz") as base:
        path = "/" if page == "artifacts" else "/runs"
        response = httpx.get(base + path, timeout=30)
        assert response.status_code == 200, response.text
        assert (MODEL if page == "artifacts" else "success") in response.text


# ------------------------------------------------------------------ a killed writer's WAL
KILLED_WRITER = """
import os, sqlite3, sys
from modelmill import Workspace
keep = sqlite3.connect(sys.argv[1] + "/index.db")  # held open: closing the last connection checkpoints
keep.execute("SELECT count(*) FROM versions").fetchone()  # now it holds the WAL open
Workspace(sys.argv[1]).store.set_alias(sys.argv[2], "canary")
os._exit(0)  # killed before any checkpoint: the commit lives only in index.db-wal
"""


def test_the_last_commit_of_a_killed_writer_is_read_from_the_wal(trained_workspace: Path) -> None:
    """SQLite reads a WAL database read-only only through its ``-shm``; a writer killed before
    a checkpoint left both, and its last commit exists only there."""
    if problem := _mount_problem():
        pytest.skip(problem)
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(trained_workspace), f"{MODEL}:v0"], check=True)
    assert (trained_workspace / "index.db-wal").stat().st_size > 0
    with readonly_mount(trained_workspace):
        result = cli("artifacts", "show", f"{MODEL}:canary", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["version"] == 0
