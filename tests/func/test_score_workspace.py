"""``modelmill score --model DIR`` needs no workspace: it composes no config (0.4 s of Hydra at
every job's start) and leaves no ``.modelmill`` folder behind; a store reference still opens
the project's workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from modelmill import Workspace
from tests.func.conftest import MODEL, listings, put_model

SCRIPT = """
import sys
from modelmill.cli import main
sys.argv = ["modelmill", "score", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    print("hydra imported:", "hydra" in sys.modules, "exit:", exc.code)
"""


def _score(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "MODELMILL_HOME"} | (env or {})
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=folder, env=clean,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_model_directory_needs_no_workspace_nor_the_config(model_dir: Path, tmp_path: Path) -> None:
    listings(300, seed=5).to_csv(tmp_path / "rows.csv", index=False)
    done = _score(tmp_path, "rows.csv", "out.parquet", "--model", str(model_dir), "--id-col", "id")
    assert "hydra imported: False exit: 0" in done.stdout, done.stderr
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 300
    assert not (tmp_path / ".modelmill").exists()


def test_a_store_reference_opens_the_workspace(model_dir: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    put_model(ws, model_dir, tmp_path, "a")
    listings(50, seed=6).to_csv(tmp_path / "rows.csv", index=False)
    done = _score(tmp_path, "rows.csv", "out.parquet", "--model", f"{MODEL}:latest",
                  env={"MODELMILL_HOME": str(tmp_path / "ws")})  # fmt: skip
    assert "exit: 0" in done.stdout, done.stderr
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 50
    missing = _score(tmp_path, "rows.csv", "out2.parquet", "--model", f"{MODEL}:latest")
    assert "exit: 1" in missing.stdout or "exit: 2" in missing.stdout  # ./.modelmill has no such model
    assert "Traceback" not in missing.stderr and MODEL in missing.stderr
