"""Damaged workspace files: a flipped byte in a blob, an index or MLflow database that is not a database.

Every command names the damaged file and the fix in one line (exit 1), and refuses to use damaged
content: a model whose blob no longer matches its digest is never scored or served.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmill import Workspace

from .conftest import MODEL, NAME, assert_clean_error, cli

GARBAGE = b"this is not a database, it was overwritten by accident\n" * 200


def _listings(path: Path, rows: int = 50) -> Path:
    from modelmill.datasets import generate_listings
    from modelmill.datasets.io import write_csv

    write_csv(generate_listings(rows, seed=9).drop(columns=["price"]), path)
    return path


def _flip(path: Path, offset: int = 100) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_model_blob_is_never_scored(trained_workspace: Path, tmp_path: Path) -> None:
    ws = Workspace(trained_workspace)
    version = ws.store.resolve(f"{MODEL}:prod")
    skops = next(p for p in ws.store.path(version, verify=False).rglob("model.skops"))
    _flip(skops.resolve())
    verify = cli("artifacts", "verify")
    assert verify.code == 1 and version.ref in verify.output, verify.output
    listings = str(_listings(tmp_path / "in.csv"))
    result = cli("score", listings, str(tmp_path / "out.csv"), "--model", version.ref)
    assert_clean_error(result, 1, version.ref)
    assert not (tmp_path / "out.csv").exists()


COMMANDS = {
    "artifacts list": lambda tmp: ["artifacts", "list"],
    "artifacts verify": lambda tmp: ["artifacts", "verify"],
    "lineage": lambda tmp: ["lineage", f"{MODEL}:prod"],
    "run": lambda tmp: ["run", "main.tracking=none", "main.steps=get_data"],
    "score": lambda tmp: ["score", str(_listings(tmp / "in.csv")), str(tmp / "out.csv"), "--model",
                          f"{MODEL}:prod"],
}  # fmt: skip


def _default(commands: dict[str, object], core: set[str]) -> list[object]:
    """``core`` commands by default, the others with ``-m slow``."""
    return [c if c in core else pytest.param(c, marks=pytest.mark.slow) for c in sorted(commands)]


@pytest.mark.parametrize("command", _default(COMMANDS, {"artifacts list", "run"}))
def test_an_index_that_is_not_a_database_is_one_line(
    trained_workspace: Path, tmp_path: Path, command: str
) -> None:
    for leftover in trained_workspace.glob("index.db*"):
        leftover.unlink()
    (trained_workspace / "index.db").write_bytes(GARBAGE)
    result = cli(*COMMANDS[command](tmp_path))
    assert_clean_error(result, 1, str(trained_workspace / "index.db"))


MLFLOW_COMMANDS = {
    "promote": lambda tmp: ["promote", f"{MODEL}:prod"],
    "score": lambda tmp: ["score", str(_listings(tmp / "in.csv")), str(tmp / "out.csv")],
    "test": lambda tmp: ["test", "--model", f"models:/{NAME}@prod"],
    "monitor": lambda tmp: ["monitor", str(_listings(tmp / "in.csv", 200))],
    "run": lambda tmp: ["run", "main.steps=get_data"],
}


@pytest.mark.parametrize("command", _default(MLFLOW_COMMANDS, {"promote", "score", "run"}))
def test_an_mlflow_database_that_is_not_a_database_is_one_line(
    trained_workspace: Path, tmp_path: Path, command: str
) -> None:
    (trained_workspace / "mlflow.db").write_bytes(GARBAGE)
    result = cli(*MLFLOW_COMMANDS[command](tmp_path))
    assert_clean_error(result, 1, str(trained_workspace / "mlflow.db"), "not a")
    assert not (tmp_path / "out.csv").exists()
