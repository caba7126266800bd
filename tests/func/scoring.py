"""Helpers shared by the ``modelmill score`` tests (test_score*.py): one small trained model,
and a scoring subprocess killed once it has staged some chunks."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from modelmill import Workspace

MODEL = "random_forest_export"


def train_small_model(ws_path: Path) -> Path:
    """A 5-tree forest on 1200 demo rows in a fresh workspace at ``ws_path``; its model directory."""
    from modelmill.api import run

    steps = "main.steps=get_data,basic_cleaning,data_check,data_split,train"
    summary = run([f"main.workspace={ws_path}", "etl.demo_rows=1200", "modeling.random_forest.n_estimators=5",
                   "main.tracking=none", steps])  # fmt: skip
    assert summary.status == "success", [r.error for r in summary.steps]
    return Workspace(ws_path).store.path(f"{MODEL}:latest")


def kill_after_chunks(cmd: list[str], env: dict[str, str], output: Path, chunks: int) -> Path:
    """Run ``cmd`` (a throttled ``modelmill score`` writing ``output``), SIGKILL it once its
    manifest records ``chunks`` staged chunks; the manifest's path."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = Path(f"{output}.parts/manifest.json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text() or "{}").get("chunks", 0) >= chunks:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return manifest
