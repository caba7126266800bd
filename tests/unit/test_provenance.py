"""A run's provenance: git state and diff (``tracking.gitstate``), the lock that reinstalls
(``tracking.lock``), and how they are stored and read back (``runner.provenance``, ``runner.releases``)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from importlib import metadata
from pathlib import Path

import pytest

from modelmill import Workspace
from modelmill.runner import provenance, releases
from modelmill.runner.cache import ExecutionLog
from modelmill.tracking.gitstate import MAX_UNTRACKED_BYTES, apply_diff, read_state, source_diff
from modelmill.tracking.lock import _line, environment_lock, requirement_lines


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit: ``proj/`` (the project folder, with a workspace) and ``lib.py``."""
    root = tmp_path / "repo"
    (root / "proj" / "steps").mkdir(parents=True)
    git(root, "init", "-q")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com"), ("commit.gpgsign", "false"),
                       ("tag.gpgsign", "false")):  # fmt: skip
        git(root, "config", key, value)
    (root / "lib.py").write_text("A = 1\n")
    (root / "proj" / "steps" / "train.py").write_text("RATE = 0.1\n")
    (root / "proj" / "data.bin").write_bytes(bytes(range(256)))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_a_clean_tree_is_its_commit_and_its_release_tag(repo: Path) -> None:
    state = read_state(repo / "proj", exclude=[repo / "proj" / ".modelmill"])
    assert state is not None and state.project == "proj" and not state.dirty
    assert state.commit == git(repo, "rev-parse", "HEAD").strip() and state.release is None
    git(repo, "tag", "-a", "v0.1.0", "-m", "r")
    git(repo, "tag", "v0.2.0-rc.1")
    git(repo, "tag", "nightly")
    state = read_state(repo / "proj")
    assert state is not None and state.tags == ["v0.2.0-rc.1", "v0.1.0"]  # highest first, releases only
    assert state.release == "v0.2.0-rc.1"
    (repo / "lib.py").write_text("A = 2\n")
    dirty = read_state(repo / "proj")
    assert dirty is not None and dirty.changed == ["lib.py"] and dirty.release is None  # dirty: no release


def test_untracked_files_count_under_the_project_but_not_byte_code_or_the_workspace(repo: Path) -> None:
    (repo / "notes.txt").write_text("outside the project folder\n")
    (repo / "proj" / ".modelmill").mkdir()
    (repo / "proj" / ".modelmill" / "index.db").write_bytes(b"x")
    (repo / "proj" / "steps" / "__pycache__").mkdir()
    (repo / "proj" / "steps" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x")
    state = read_state(repo / "proj", exclude=[repo / "proj" / ".modelmill"])
    assert state is not None and not state.dirty, state
    (repo / "proj" / "steps" / "helper.py").write_text("B = 1\n")
    state = read_state(repo / "proj", exclude=[repo / "proj" / ".modelmill"])
    assert state is not None and state.untracked == ["proj/steps/helper.py"] and state.dirty


def test_the_diff_turns_a_checkout_of_the_commit_into_the_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "lib.py").write_text("A = 2\n")  # modified, not staged
    (repo / "proj" / "steps" / "train.py").unlink()  # deleted
    (repo / "proj" / "steps" / "staged.py").write_text("S = 1\n")
    git(repo, "add", "proj/steps/staged.py")  # a new file, staged
    (repo / "proj" / "steps" / "helper.py").write_text("B = 1\n")  # untracked
    (repo / "proj" / "data.bin").write_bytes(bytes(range(255, -1, -1)))  # binary, modified
    (repo / "proj" / "big.csv").write_bytes(b"1\n" * (MAX_UNTRACKED_BYTES // 2 + 1))  # untracked, too big
    index_before = (repo / ".git" / "index").read_bytes()
    state = read_state(repo / "proj")
    assert state is not None
    patch, left_out = source_diff(state)
    assert left_out == ["proj/big.csv"]
    assert (repo / ".git" / "index").read_bytes() == index_before  # the user's index is untouched
    assert git(repo, "diff", "--cached", "--name-only").split() == ["proj/steps/staged.py"]

    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "--detach", str(tree), state.commit)
    (tmp_path / "patch").write_bytes(patch)
    apply_diff(tree, tmp_path / "patch")
    for name in ("lib.py", "proj/steps/staged.py", "proj/steps/helper.py", "proj/data.bin"):
        assert (tree / name).read_bytes() == (repo / name).read_bytes(), name
    assert not (tree / "proj" / "steps" / "train.py").exists() and not (tree / "proj" / "big.csv").exists()


def test_an_edit_in_the_second_the_index_was_written_is_still_in_the_diff(repo: Path) -> None:
    """Git compares whole seconds of mtime; an edit of the same size in the second the index was
    written is seen only by git's racy-entry check, which reads the index file's own mtime. The
    copy of the index the diff works on must keep that mtime (a later copy would hide the edit)."""
    git(repo, "config", "core.trustctime", "false")
    data, index = repo / "proj" / "data.bin", repo / ".git" / "index"
    past = time.time_ns() - 10 * 10**9
    os.utime(data, ns=(past, past))
    git(repo, "add", "proj/data.bin")  # the index records the past mtime
    data.write_bytes(bytes(range(255, -1, -1)))  # same size, new content, then the same mtime again
    os.utime(data, ns=(past, past))
    os.utime(index, ns=(past, past))  # as if the index had been written in that same second
    state = read_state(repo / "proj")
    assert state is not None and state.changed == ["proj/data.bin"]  # git status itself sees it
    patch, _ = source_diff(state)
    assert b"proj/data.bin" in patch


def test_outside_git_there_is_no_state(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None
    git(tmp_path, "init", "-q")
    assert read_state(tmp_path) is None  # no commit yet


def _dist(site: Path, name: str, version: str, direct: dict | None = None) -> metadata.Distribution:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if direct is not None:
        (info / "direct_url.json").write_text(json.dumps(direct))
    return metadata.PathDistribution(info)


def test_the_lock_writes_what_reinstalls_each_distribution(repo: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    plain = _dist(site, "numpy", "2.0.1")
    assert _line(plain, "numpy", "2.0.1", None) == "numpy==2.0.1"
    vcs = _dist(site, "tool", "0.3", {"url": "https://example.com/tool.git",
                                      "vcs_info": {"vcs": "git", "commit_id": "abc123"}})  # fmt: skip
    assert _line(vcs, "tool", "0.3", None) == "tool @ git+https://example.com/tool.git@abc123"
    archive = _dist(site, "arch", "1.0", {"url": "https://example.com/arch-1.0.tar.gz",
                                          "archive_info": {"hash": "sha256=ff00"}})  # fmt: skip
    assert _line(archive, "arch", "1.0", None) == "arch @ https://example.com/arch-1.0.tar.gz#sha256=ff00"
    # a folder of the project's own repository is its code: recorded by the commit, not installed
    own = _dist(site, "proj", "0.1", {"url": (repo / "proj").as_uri(), "dir_info": {"editable": True}})
    assert _line(own, "proj", "0.1", repo).startswith("# project code")
    # another clean git checkout: that exact commit; dirty: the folder as it is, marked
    commit = git(repo, "rev-parse", "HEAD").strip()
    assert _line(own, "proj", "0.1", None) == f"proj @ git+{repo.as_uri()}@{commit}#subdirectory=proj"
    (repo / "lib.py").write_text("A = 3\n")
    dirty = _line(own, "proj", "0.1", None)
    assert dirty.startswith(f"proj @ {(repo / 'proj').as_uri()}  # editable a dirty checkout")
    lines = requirement_lines(f"# header\n{dirty}\nnumpy==2.0.1\n")
    assert lines == ["numpy==2.0.1", f"proj @ {(repo / 'proj').as_uri()}"]  # the notes are no requirement


def test_this_environment_locks_with_its_interpreter() -> None:
    lock = environment_lock()
    assert lock.startswith("# modelmill environment lock") and "# python: cpython" in lock
    assert any(line.startswith("pandas==") for line in lock.splitlines())
    assert environment_lock() is lock  # once per process while nothing is installed


def test_a_run_records_its_provenance_once_per_content(repo: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    log = ExecutionLog(ws.db)
    seen = provenance.observe(repo / "proj", ws.root)
    assert seen.tracking_tags()["modelmill.git_dirty"] == "false" and seen.patch == b""
    first = provenance.record(ws, seen)
    again = provenance.record(ws, provenance.observe(repo / "proj", ws.root))
    assert first["lock"] == again["lock"]
    assert [v.ref for v in ws.store.versions(provenance.LOCK)] == [first["lock"]]  # stored once
    assert first["git"]["diff"] is None and first["git"]["project"] == "proj"
    log.start_run("run-1", "", first)
    (repo / "lib.py").write_text("A = 2\n")
    dirty = provenance.record(ws, provenance.observe(repo / "proj", ws.root))
    assert dirty["git"]["dirty"]
    assert ws.store.read_text(dirty["git"]["diff"]).startswith("diff --git a/lib.py")
    log.start_run("run-2", "", dirty)
    commit = first["git"]["commit"]
    assert provenance.read(ws, "run-1") == first and provenance.clean_runs_at(ws, commit) == ["run-1"]
    assert provenance.read(ws, "run-0") is None

    # a release made after the run still names it (the run predates its tag); a dirty run never
    assert releases.origin(ws, "run-1")["release"] is None
    releases.add(ws, releases.ReleaseRecord("0.1.0", "v0.1.0", commit, time.time()))
    assert releases.origin(ws, "run-1")["release"] == "v0.1.0"
    assert releases.origin(ws, "run-2")["release"] is None and releases.origin(ws, None) is None


def test_outside_git_a_run_records_its_environment_only(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    doc = provenance.record(ws, provenance.observe(None, ws.root))  # the packaged config, from tmp_path's cwd
    assert doc["git"] is None and doc["project"] is None and doc["lock"] == f"{provenance.LOCK}:v0"
    assert doc["interpreter"]["implementation"] == "cpython"
