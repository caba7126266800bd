"""A full disk: one line, exit 1, nothing half-written; after freeing space the work resumes.

The disk is a small tmpfs mounted for the test, so this needs root (and a kernel that lets the
container mount); elsewhere it is skipped. Sizes are chosen so the space runs out at different
moments: while the pipeline stores its first artifacts, while it trains, and while
``modelmill score`` assembles its output.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FAST, MODEL, assert_clean_error, cli


def _mount(path: Path, kilobytes: int, remount: bool = False) -> None:
    options = f"{'remount,' if remount else ''}size={kilobytes}k"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True,
                   capture_output=True)  # fmt: skip


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs at ``tmp_path/disk``; resize it with ``_mount(path, KB, remount=True)``."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        _mount(disk, 1024)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _no_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name or p.name.endswith(".partial")]


# the fast pipeline's workspace ends at about 4.3 MB (2 MB of blobs, 0.9 MB of MLflow database)
SIZES_KB = [2500]
SLOW_SIZES_KB = [k for k in range(1000, 4500, 250) if k not in SIZES_KB]


@pytest.mark.parametrize(
    "kilobytes", [*SIZES_KB, *(pytest.param(k, marks=pytest.mark.slow) for k in SLOW_SIZES_KB)]
)
def test_run_on_a_full_disk_fails_cleanly_and_resumes(small_disk: Path, kilobytes: int) -> None:
    _mount(small_disk, kilobytes, remount=True)
    home = small_disk / "ws"
    env = {"MODELMILL_HOME": str(home)}
    full = cli("run", *[o for o in FAST if o != "main.tracking=none"], env=env)
    assert_clean_error(full, 1)
    assert any(w in full.stderr.lower() for w in ("no space left", "full")), full.stderr

    _mount(small_disk, 200_000, remount=True)
    verify = cli("artifacts", "verify", env=env)
    assert verify.code == 0, verify.output
    assert cli("artifacts", "show", f"{MODEL}:prod", env=env).code == 2  # nothing was promoted

    again = cli("run", *[o for o in FAST if o != "main.tracking=none"], "--json", env=env)
    assert again.code == 0, again.output
    assert cli("artifacts", "show", f"{MODEL}:prod", env=env).code == 0


def test_score_on_a_full_disk_fails_cleanly_and_resumes(
    small_disk: Path, trained_workspace: Path, tmp_path: Path
) -> None:
    from modelmill.datasets import generate_listings
    from modelmill.datasets.io import write_csv

    source = tmp_path / "in.csv"
    write_csv(generate_listings(60_000, seed=5).drop(columns=["price"]), source)
    _mount(small_disk, 256, remount=True)  # the staged parts alone take about 250 KB
    output = small_disk / "preds.parquet"
    args = ["score", str(source), str(output), "--model", f"{MODEL}:prod", "--chunk-rows", "10000"]
    full = cli(*args)
    assert_clean_error(full, 1, "no space left")
    assert not output.exists()
    assert _no_temporaries(small_disk) == []

    _mount(small_disk, 100_000, remount=True)
    resumed = cli(*args, "--resume", "--json")
    assert resumed.code == 0, resumed.output
    assert output.is_file()
    assert _no_temporaries(small_disk) == []
    assert sorted(p.name for p in small_disk.iterdir()) == ["preds.parquet", "preds.parquet.rejects.csv"]
