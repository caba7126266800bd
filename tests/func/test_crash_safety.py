"""SIGKILL a writer at random moments: the store must hold whole versions or nothing.

A child process (public API only: ``modelmill.open_workspace(path).store.put``) writes a
large file artifact and a multi-file directory artifact in a loop. The test kills it
with SIGKILL after a random (seeded) delay and then checks the workspace: every stored
version verifies, version numbers are contiguous, every alias resolves to intact
content, each version holds exactly the bytes the child meant for it, nothing staged
(``*.partial``) shows up as an artifact, and ``gc(grace_seconds=0)`` empties ``tmp/``.
The next child continues on the same workspace, so recovery after a crash is exercised
too (including re-putting content whose blob the killed writer had already placed).

``MODELMILL_CRASH_SEED`` and ``MODELMILL_CRASH_ITERATIONS`` override the defaults.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelmill import Workspace

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

SEED = int(os.environ.get("MODELMILL_CRASH_SEED", "20240611"))
ITERATIONS = int(os.environ.get("MODELMILL_CRASH_ITERATIONS", "8"))
SLOW_ITERATIONS = 50
KILLS_PER_WORKSPACE = 4  # then start a fresh workspace, so verify() cost and disk use stay bounded
FILE_MB = 32
TREE_FILES = 4
TREE_FILE_MB = 4
STAMP = 32  # the first bytes of each artifact say which version they belong to
MAX_DELAY_S = 0.9
NAMES = ("big.bin", "tree")
HEX64 = re.compile(r"[0-9a-f]{64}")

CHILD = r"""
import sys
from pathlib import Path

import modelmill

STAMP = int(sys.argv[3])
store = modelmill.open_workspace(sys.argv[1]).store
src = Path(sys.argv[2])
jobs = [("big.bin", src / "big.bin", src / "big.bin"), ("tree", src / "tree", src / "tree" / "stamp.txt")]
# resume numbering where the store stands, so content a killed writer had half-stored
# (blob placed, index row not committed) is put again by this one
counters = {name: len(store.versions(name)) for name, _, _ in jobs}
print("ready", flush=True)
while True:
    for name, path, stamp_file in jobs:
        i = counters[name]
        with open(stamp_file, "r+b") as fh:
            fh.write(f"{name}:{i}".encode().ljust(STAMP, b"."))
        print(f"begin {name} {i}", flush=True)
        v = store.put(path, name, "data", metadata={"i": i})
        assert v.version == i, (v.ref, i)
        print(f"end {name} {i}", flush=True)
        counters[name] = i + 1
"""


def stamp(name: str, i: int) -> bytes:
    return f"{name}:{i}".encode().ljust(STAMP, b".")


def rmtree_readonly(path: Path) -> None:
    """Remove a workspace whose blobs are read-only files."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            os.chmod(Path(dirpath) / name, stat.S_IRUSR | stat.S_IWUSR)
    shutil.rmtree(path)


def prepare_sources(src: Path, rng: random.Random) -> None:
    src.mkdir()
    (src / "big.bin").write_bytes(b"." * STAMP + rng.randbytes((FILE_MB << 20) - STAMP))
    tree = src / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "stamp.txt").write_bytes(b"." * STAMP)
    for k in range(TREE_FILES):
        where = tree / "sub" if k % 2 else tree
        (where / f"part-{k}.bin").write_bytes(rng.randbytes(TREE_FILE_MB << 20))


@dataclass
class Stats:
    kills: int = 0
    mid_put: int = 0  # killed between "begin" and "end" of a put
    no_progress: int = 0  # the version count did not advance during the child's life
    orphan_blobs: int = 0  # placed blobs whose index commit never landed (collected by gc)
    temp_leftovers: int = 0  # staged files in tmp/ (collected by gc)
    versions: int = 0
    delays: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"seed={SEED} kills={self.kills} mid_put={self.mid_put} no_progress={self.no_progress} "
            f"orphan_blobs={self.orphan_blobs} temp_leftovers={self.temp_leftovers} "
            f"versions_committed={self.versions}"
        )


def check_workspace(root: Path, context: str) -> tuple[int, list[Path]]:
    """Every invariant that must hold after a crash; returns (versions, paths gc removed)."""
    ws = Workspace(root)
    store = ws.store
    assert store.verify() == [], context

    total = 0
    for name in store.names():
        assert name in NAMES, f"{context}: unexpected artifact {name!r}"
        versions = store.versions(name)
        assert [v.version for v in versions] == list(range(len(versions))), context
        total += len(versions)
        latest = store.resolve(name)
        assert latest == versions[-1], f"{context}: latest is {latest.ref}, not the newest version"
        for v in versions:
            assert v.metadata == {"i": v.version}, f"{context}: {v.ref} metadata {v.metadata}"
            assert v.kind == ("file" if name == "big.bin" else "dir")
            expected_size = FILE_MB << 20 if name == "big.bin" else STAMP + TREE_FILES * (TREE_FILE_MB << 20)
            assert v.size == expected_size, f"{context}: {v.ref} size {v.size}"
            stored = store.path(v, verify=False)  # verify() above already re-hashed it
            with open(stored if v.kind == "file" else stored / "stamp.txt", "rb") as fh:
                assert fh.read(STAMP) == stamp(name, v.version), f"{context}: {v.ref} holds other content"
            for alias in v.aliases:
                target = store.resolve(f"{name}:{alias}")
                assert target == v, context
                assert store.path(target).exists()  # verifies the digest again

    blob_root = root / "blobs"
    if blob_root.exists():
        partial = [p for p in blob_root.rglob("*") if p.name.endswith(".partial")]
        assert partial == [], f"{context}: staged files inside blobs/: {partial}"
        for blob in (blob_root / "sha256").glob("*/*"):
            assert HEX64.fullmatch(blob.name) and blob.parent.name == blob.name[:2], blob

    removed = store.gc(grace_seconds=0)
    tmp = root / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == [], f"{context}: tmp/ not empty after gc"
    # gc removed nothing the index refers to (what it left is exactly the referenced set,
    # and every referenced blob was verified above)
    referenced = {v.digest for v in store.versions()}
    on_disk = {b.name for b in (blob_root / "sha256").glob("*/*")} if blob_root.exists() else set()
    assert on_disk == referenced, f"{context}: blobs on disk differ from the index after gc"
    return total, removed


def kill_loop(tmp_path: Path, iterations: int) -> Stats:
    rng = random.Random(SEED)
    src = tmp_path / "src"
    prepare_sources(src, rng)
    stats = Stats()
    root: Path | None = None
    before = 0
    try:
        for it in range(iterations):
            if it % KILLS_PER_WORKSPACE == 0:
                if root is not None:
                    rmtree_readonly(root)
                root = tmp_path / f"ws-{it // KILLS_PER_WORKSPACE}"
                before = 0
            assert root is not None
            delay = rng.uniform(0.0, MAX_DELAY_S)
            context = f"iteration {it} (seed {SEED}, kill after {delay:.3f}s)"
            stderr_path = tmp_path / f"child-{it}.stderr"
            with open(stderr_path, "w") as stderr:
                child = subprocess.Popen(
                    [sys.executable, "-c", CHILD, str(root), str(src), str(STAMP)],
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    cwd=tmp_path,
                )
                try:
                    ready = child.stdout.readline() if child.stdout else ""
                    assert ready == "ready\n", f"{context}: child failed: {stderr_path.read_text()}"
                    time.sleep(delay)
                    os.kill(child.pid, signal.SIGKILL)
                    out, _ = child.communicate(timeout=60)
                finally:
                    if child.poll() is None:
                        child.kill()
                        child.wait()
            assert child.returncode == -signal.SIGKILL, (
                f"{context}: child exited by itself ({child.returncode}):\n{stderr_path.read_text()}"
            )
            lines = out.splitlines()
            stats.kills += 1
            stats.delays.append(delay)
            stats.mid_put += bool(lines) and lines[-1].startswith("begin")

            after, removed = check_workspace(root, context)
            assert after >= before, f"{context}: versions disappeared ({before} -> {after})"
            committed = sum(line.startswith("end") for line in lines)
            # a put that printed "end" is committed; one more may have committed unseen
            assert committed <= after - before <= committed + 1, f"{context}: {lines[-3:]}"
            stats.no_progress += after == before
            stats.orphan_blobs += sum("sha256" in p.parts for p in removed)
            stats.temp_leftovers += sum(p.parent.name == "tmp" for p in removed)
            stats.versions += after - before
            before = after

        # after all that, the survivor workspace still takes a normal write
        assert root is not None
        store = Workspace(root).store
        extra = tmp_path / "after.txt"
        extra.write_text("written after the last crash")
        v = store.put(extra, "after.txt", "text")
        assert store.read_text(v.ref) == "written after the last crash"
        assert store.verify() == []
    finally:
        for path in tmp_path.glob("ws-*"):
            rmtree_readonly(path)
        shutil.rmtree(src, ignore_errors=True)
    return stats


def report(stats: Stats, record_property: pytest.RecordProperty) -> None:
    record_property("crash_stats", str(stats))
    print(f"\ncrash safety: {stats}")
    if stats.mid_put == 0:
        # not a failure (timing-dependent), but worth knowing: the kills never hit a write
        print("crash safety: note: no kill landed in the middle of a put")


def test_sigkill_during_put_leaves_a_consistent_store(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    stats = kill_loop(tmp_path, ITERATIONS)
    assert stats.kills == ITERATIONS
    report(stats, record_property)


@pytest.mark.slow
def test_sigkill_during_put_leaves_a_consistent_store_soak(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    stats = kill_loop(tmp_path, max(SLOW_ITERATIONS, ITERATIONS))
    assert stats.kills == max(SLOW_ITERATIONS, ITERATIONS)
    report(stats, record_property)
