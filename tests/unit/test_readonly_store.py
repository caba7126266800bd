"""The store over a read-only index: reads work, every write stops before touching anything.

Whether a workspace is read-only is decided from the file system (a read-only mount, no
write permission); the fault suite (``tests/faults/test_readonly_workspace.py``) makes it
so for real. Here the index is opened read-only on purpose, to check the store's side fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmill import Workspace
from modelmill.core.errors import UsageError, WorkspaceReadOnlyError
from modelmill.store.db import Database
from modelmill.store.store import ArtifactStore

MESSAGE = "workspace X is read-only"


@pytest.fixture
def readonly_store(workspace: Workspace, tmp_path: Path) -> ArtifactStore:
    (tmp_path / "a.txt").write_text("a\n")
    workspace.store.put(tmp_path / "a.txt", "a.txt", "text", aliases=["reference"])
    return ArtifactStore(workspace.root, Database(workspace.root / "index.db", read_only=MESSAGE))


def test_reads_work(readonly_store: ArtifactStore) -> None:
    assert readonly_store.resolve("a.txt:reference").version == 0
    assert readonly_store.read_text("a.txt") == "a\n"
    assert readonly_store.verify() == []
    assert readonly_store.gc(grace_seconds=0, dry_run=True) == []


def _untouched(store: ArtifactStore) -> None:
    assert [v.ref for v in store.versions()] == ["a.txt:v0"]
    assert not store.blobs.tmp.exists() or not any(store.blobs.tmp.iterdir())


@pytest.mark.parametrize("write", ["put", "set_alias", "remove_alias", "gc"])
def test_every_write_raises_before_changing_anything(
    readonly_store: ArtifactStore, tmp_path: Path, write: str
) -> None:
    (tmp_path / "b.txt").write_text("b\n")
    calls = {
        "put": lambda: readonly_store.put(tmp_path / "b.txt", "b.txt", "text"),
        "set_alias": lambda: readonly_store.set_alias("a.txt:v0", "prod"),
        "remove_alias": lambda: readonly_store.remove_alias("a.txt", "reference"),
        "gc": lambda: readonly_store.gc(grace_seconds=0),
    }
    with pytest.raises(WorkspaceReadOnlyError, match=MESSAGE) as info:
        calls[write]()
    assert info.value.exit_code == 2
    _untouched(readonly_store)


def test_a_readonly_directory_without_an_index_is_not_a_workspace(tmp_path: Path) -> None:
    db = Database(tmp_path / "index.db", read_only=MESSAGE)
    with pytest.raises(UsageError, match="not a modelmill workspace"):
        db.read(lambda c: c.execute("SELECT 1").fetchone())
