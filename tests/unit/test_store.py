"""The artifact store: versions, dedup, aliases, lineage, names, integrity, get, gc, concurrency."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import queue
import stat
import time
import traceback
from pathlib import Path

import pytest

from modelmill import (
    ArtifactNotFoundError,
    ArtifactStore,
    ArtifactVersion,
    IntegrityError,
    InvalidNameError,
    ModelmillError,
    StoreError,
    UsageError,
    Workspace,
)
from modelmill.store import build_lineage

HOUR = 3600.0


# ----------------------------------------------------------------- helpers
def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        write(root / rel, text)
    return root


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (files and directories), relative."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def flip_byte(path: Path, offset: int = 0) -> None:
    """Corrupt a (read-only) blob file in place by inverting one byte."""
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def set_age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def blob_files(ws: Workspace) -> set[Path]:
    root = ws.root / "blobs" / "sha256"
    return set(root.glob("*/*")) if root.exists() else set()


# ------------------------------------------------------------ put / versions
def test_put_file_records_every_field(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"id,price\n1,100\n2,250\n"
    src = write(tmp_path / "in" / "sample.csv", data)
    before = time.time()
    v = store.put(
        src,
        "sample.csv",
        "dataset",
        description="raw sample",
        metadata={"rows": 2, "cols": ["id", "price"], "nested": {"a": 1.5}},
        run_id="run-1",
        step="download",
    )
    after = time.time()

    assert isinstance(v, ArtifactVersion)
    assert (v.name, v.version, v.ref) == ("sample.csv", 0, "sample.csv:v0")
    assert v.type == "dataset"
    assert v.kind == "file"
    assert v.description == "raw sample"
    assert v.metadata == {"rows": 2, "cols": ["id", "price"], "nested": {"a": 1.5}}
    assert v.size == len(data)
    assert v.digest == hashlib.sha256(data).hexdigest()
    assert before <= v.created <= after
    assert v.run_id == "run-1"
    assert v.step == "download"
    assert v.aliases == ("latest",)
    assert v.inputs == ()
    # the source is copied, not consumed, and the stored bytes are the source's bytes
    assert src.read_bytes() == data
    assert store.path("sample.csv").read_bytes() == data
    # what resolve() reads back from the index equals what put() returned
    assert store.resolve("sample.csv:v0") == v
    d = v.to_dict()
    assert d["ref"] == "sample.csv:v0"
    assert d["aliases"] == ["latest"]
    assert json.loads(json.dumps(d))["metadata"]["nested"] == {"a": 1.5}


def test_put_defaults(store: ArtifactStore, tmp_path: Path) -> None:
    v = store.put(write(tmp_path / "x", "x"), "x", "text")
    assert (v.description, v.metadata, v.run_id, v.step, v.inputs) == ("", {}, None, None, ())


def test_metadata_is_stored_as_json(store: ArtifactStore, tmp_path: Path) -> None:
    v = store.put(write(tmp_path / "x", "x"), "x", "text", metadata={"p": Path("/a/b"), "n": None})
    # non-JSON values are stored as their string form, not lost and not an error
    assert store.resolve("x").metadata == {"p": "/a/b", "n": None}
    assert v.metadata == {"p": "/a/b", "n": None}


def test_put_directory(store: ArtifactStore, tmp_path: Path) -> None:
    files = {"a.txt": "alpha", "sub/b.txt": "bravo!", "sub/deeper/c.bin": "c" * 1000}
    src = make_tree(tmp_path / "model_dir", files)
    v = store.put(src, "model", "model")
    assert v.kind == "dir"
    assert v.size == sum(len(t) for t in files.values())
    assert len(v.digest) == 64
    stored = store.path("model")
    assert stored.is_dir()
    assert {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()} == set(files)
    for rel, text in files.items():
        assert (stored / rel).read_text() == text


def test_directory_digest_depends_on_content_and_paths(store: ArtifactStore, tmp_path: Path) -> None:
    a = store.put(make_tree(tmp_path / "a", {"f": "1", "g": "2"}), "d", "t")
    renamed = store.put(make_tree(tmp_path / "b", {"f": "1", "h": "2"}), "d", "t")
    changed = store.put(make_tree(tmp_path / "c", {"f": "1", "g": "3"}), "d", "t")
    same = store.put(make_tree(tmp_path / "e", {"g": "2", "f": "1"}), "d", "t")
    assert len({a.digest, renamed.digest, changed.digest}) == 3
    assert [a.version, renamed.version, changed.version] == [0, 1, 2]
    assert same.version == 0  # same files written in another order: same digest


def test_versions_count_up_per_name(store: ArtifactStore, tmp_path: Path) -> None:
    refs = [store.put(write(tmp_path / f"a{i}", f"a{i}"), "a", "t").ref for i in range(3)]
    refs += [store.put(write(tmp_path / f"b{i}", f"b{i}"), "b", "t").ref for i in range(2)]
    assert refs == ["a:v0", "a:v1", "a:v2", "b:v0", "b:v1"]
    assert [v.ref for v in store.versions("a")] == ["a:v0", "a:v1", "a:v2"]
    assert [v.ref for v in store.versions()] == refs
    assert store.names() == ["a", "b"]
    assert store.resolve("a:v1").digest == hashlib.sha256(b"a1").hexdigest()
    # every version keeps its own content
    for i in range(3):
        assert store.read_text(f"a:v{i}") == f"a{i}"


def test_versions_of_unknown_name_is_empty(store: ArtifactStore) -> None:
    assert store.versions("nothing") == []
    assert store.names() == []
    with pytest.raises(InvalidNameError):
        store.versions("../x")


def test_put_missing_source_is_a_store_error(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="could not store"):
        store.put(tmp_path / "nope.csv", "nope", "t")
    assert store.versions() == []


def test_put_symlink_source_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    target = write(tmp_path / "real", "real")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(StoreError):
        store.put(link, "link", "t")
    assert store.versions() == []


def test_put_directory_with_symlink_stores_nothing(
    store: ArtifactStore, workspace: Workspace, tmp_path: Path
) -> None:
    d = make_tree(tmp_path / "d", {"f": "x"})
    (d / "escape").symlink_to("/etc/passwd")
    with pytest.raises((ValueError, ModelmillError)):
        store.put(d, "d", "t")
    assert store.versions() == []
    assert blob_files(workspace) == set()
    assert not any((workspace.root / "tmp").glob("*"))


def test_put_directory_with_symlink_raises_a_modelmill_error(store: ArtifactStore, tmp_path: Path) -> None:
    d = make_tree(tmp_path / "d", {"f": "x"})
    (d / "escape").symlink_to("/etc/passwd")
    with pytest.raises(ModelmillError):
        store.put(d, "d", "t")


def test_put_with_unknown_input_writes_nothing(
    store: ArtifactStore, workspace: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactNotFoundError):
        store.put(write(tmp_path / "x", "x"), "x", "t", inputs=["raw"])
    assert store.versions() == []
    assert blob_files(workspace) == set()


def test_put_with_aliases(store: ArtifactStore, tmp_path: Path) -> None:
    v = store.put(write(tmp_path / "m", "m"), "m", "model", aliases=["prod", "reference"])
    assert v.aliases == ("latest", "prod", "reference")
    assert store.resolve("m:prod") == v
    with pytest.raises(InvalidNameError):
        store.put(write(tmp_path / "m2", "m2"), "m", "model", aliases=["latest"])
    assert len(store.versions("m")) == 1


# ---------------------------------------------------------------------- dedup
def test_identical_content_same_name_returns_existing_version(
    store: ArtifactStore, workspace: Workspace, tmp_path: Path
) -> None:
    v0 = store.put(write(tmp_path / "a", "AAA"), "d", "t", description="first")
    v1 = store.put(write(tmp_path / "b", "BBB"), "d", "t")
    assert store.resolve("d").version == 1

    again = store.put(write(tmp_path / "c", "AAA"), "d", "t", description="second")
    assert again.version == 0
    assert again.digest == v0.digest
    assert again.description == "first"  # the existing version, unchanged
    assert [v.version for v in store.versions("d")] == [0, 1]
    # ``latest`` moved back to the re-put version
    assert store.resolve("d:latest").version == 0
    assert "latest" in again.aliases
    assert "latest" not in store.resolve("d:v1").aliases
    assert store.resolve("d:v1").digest == v1.digest
    assert len(blob_files(workspace)) == 2


def test_identical_content_other_name_gets_its_own_v0_and_shares_the_blob(
    store: ArtifactStore, workspace: Workspace, tmp_path: Path
) -> None:
    store.put(write(tmp_path / "x", "other"), "a", "t")
    a = store.put(write(tmp_path / "s", "shared bytes"), "a", "t")
    b = store.put(write(tmp_path / "s2", "shared bytes"), "b", "other-type")
    assert (a.ref, b.ref) == ("a:v1", "b:v0")
    assert a.digest == b.digest
    assert b.type == "other-type"
    assert store.path("a") == store.path("b")
    assert len(blob_files(workspace)) == 2


def test_dedup_of_directories(store: ArtifactStore, workspace: Workspace, tmp_path: Path) -> None:
    files = {"x": "1", "y/z": "2"}
    v = store.put(make_tree(tmp_path / "one", files), "d", "t")
    again = store.put(make_tree(tmp_path / "two", files), "d", "t")
    other = store.put(make_tree(tmp_path / "three", files), "e", "t")
    assert again == store.resolve("d:v0")
    assert again.version == v.version == 0
    assert other.ref == "e:v0"
    assert len(blob_files(workspace)) == 1


# -------------------------------------------------------------------- aliases
@pytest.fixture
def three(store: ArtifactStore, tmp_path: Path) -> ArtifactStore:
    """``model`` with versions v0, v1, v2."""
    for i in range(3):
        store.put(write(tmp_path / f"m{i}", f"model {i}"), "model", "model")
    return store


def aliases_by_version(store: ArtifactStore, name: str) -> dict[int, tuple[str, ...]]:
    return {v.version: v.aliases for v in store.versions(name)}


def test_latest_moves_on_every_new_version(store: ArtifactStore, tmp_path: Path) -> None:
    for i in range(3):
        store.put(write(tmp_path / f"m{i}", str(i)), "m", "t")
        assert store.resolve("m").version == i
        assert store.resolve("m:latest").version == i
        assert aliases_by_version(store, "m")[i] == ("latest",)
        assert all("latest" not in a for v, a in aliases_by_version(store, "m").items() if v != i)


def test_set_alias_points_at_exactly_one_version_and_moves(three: ArtifactStore) -> None:
    v = three.set_alias("model:v1", "reference")
    assert (v.ref, v.aliases) == ("model:v1", ("reference",))
    assert three.resolve("model:reference").version == 1
    assert aliases_by_version(three, "model") == {0: (), 1: ("reference",), 2: ("latest",)}

    three.set_alias("model:v0", "reference")
    three.set_alias("model", "prod")  # a bare name means latest: v2
    assert three.resolve("model:reference").version == 0
    assert three.resolve("model:prod").version == 2
    assert aliases_by_version(three, "model") == {0: ("reference",), 1: (), 2: ("latest", "prod")}

    # an alias can be set from another alias
    three.set_alias("model:reference", "prod")
    assert aliases_by_version(three, "model") == {0: ("prod", "reference"), 1: (), 2: ("latest",)}


def test_aliases_are_per_name(three: ArtifactStore, tmp_path: Path) -> None:
    three.put(write(tmp_path / "o", "other"), "other", "t")
    three.set_alias("model:v1", "prod")
    three.set_alias("other:v0", "prod")
    assert three.resolve("model:prod").ref == "model:v1"
    assert three.resolve("other:prod").ref == "other:v0"


def test_new_version_does_not_move_custom_alias(three: ArtifactStore, tmp_path: Path) -> None:
    three.set_alias("model:v2", "prod")
    three.put(write(tmp_path / "m3", "model 3"), "model", "model")
    assert three.resolve("model:prod").version == 2
    assert three.resolve("model").version == 3


@pytest.mark.parametrize("alias", ["latest", "v2", "", "2x", "a:b", "a/b", "a b", "pröd", "x" * 65])
def test_set_alias_refuses_reserved_and_malformed(three: ArtifactStore, alias: str) -> None:
    with pytest.raises(InvalidNameError):
        three.set_alias("model:v0", alias)
    assert three.resolve("model:latest").version == 2
    assert aliases_by_version(three, "model")[0] == ()


def test_set_alias_latest_message(three: ArtifactStore) -> None:
    with pytest.raises(InvalidNameError, match="moved automatically"):
        three.set_alias("model:v0", "latest")


def test_set_alias_on_missing_version(three: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError):
        three.set_alias("model:v7", "prod")
    with pytest.raises(ArtifactNotFoundError):
        three.set_alias("nomodel", "prod")
    assert not three.exists("model:prod")


def test_remove_alias(three: ArtifactStore) -> None:
    three.set_alias("model:v0", "reference")
    three.remove_alias("model", "reference")
    assert not three.exists("model:reference")
    with pytest.raises(ArtifactNotFoundError, match="reference"):
        three.resolve("model:reference")
    # the version itself stays
    assert three.resolve("model:v0").aliases == ()
    assert len(three.versions("model")) == 3
    with pytest.raises(ArtifactNotFoundError, match="has no alias 'reference'"):
        three.remove_alias("model", "reference")
    with pytest.raises(InvalidNameError):
        three.remove_alias("model", "latest")
    assert three.resolve("model:latest").version == 2


def test_resolve_forms(three: ArtifactStore) -> None:
    three.set_alias("model:v0", "reference")
    assert three.resolve("model").version == 2
    assert three.resolve("model:latest").version == 2
    assert three.resolve("model:v1").version == 1
    assert three.resolve("model:reference").version == 0
    assert three.read_text("model:v1") == "model 1"
    assert three.read_text("model:reference") == "model 0"


@pytest.mark.parametrize("ref", ["model:v3", "model:v10", "model:prod", "nomodel", "nomodel:v0"])
def test_resolve_missing_raises_not_found(three: ArtifactStore, ref: str) -> None:
    with pytest.raises(ArtifactNotFoundError):
        three.resolve(ref)
    assert three.exists(ref) is False
    with pytest.raises(ArtifactNotFoundError):
        three.path(ref)
    with pytest.raises(ArtifactNotFoundError):
        three.get(ref, Path("out"))
    assert not Path("out").exists()


def test_not_found_message_lists_versions_and_aliases(three: ArtifactStore) -> None:
    three.set_alias("model:v0", "reference")
    with pytest.raises(ArtifactNotFoundError) as exc:
        three.resolve("model:v9")
    msg = str(exc.value)
    assert "model:v9" in msg
    assert "v0..v2" in msg
    assert "latest" in msg and "reference" in msg
    assert exc.value.exit_code == 2


def test_not_found_message_suggests_close_names(three: ArtifactStore, tmp_path: Path) -> None:
    three.put(write(tmp_path / "c", "c"), "clean_sample.csv", "dataset")
    with pytest.raises(ArtifactNotFoundError, match=r"Did you mean: model\?") as exc:
        three.resolve("modle")
    assert "no artifact named 'modle'" in str(exc.value)
    with pytest.raises(ArtifactNotFoundError, match=r"clean_sample\.csv"):
        three.resolve("clean_sampel.csv:v0")
    with pytest.raises(ArtifactNotFoundError) as exc:
        three.resolve("zzzzzzzz")
    assert "Did you mean" not in str(exc.value)


def test_not_found_in_empty_store(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"no artifact named 'sample\.csv'"):
        store.resolve("sample.csv")


# -------------------------------------------------------------------- lineage
@pytest.fixture
def chain(store: ArtifactStore, tmp_path: Path) -> ArtifactStore:
    """raw:v0 --clean@r1--> clean:v0 --train@r2--> model:v0 (and params:v0 also feeds train)."""
    store.put(write(tmp_path / "raw", "raw"), "raw", "dataset")
    store.put(write(tmp_path / "params", "{}"), "params", "config")
    store.put(
        write(tmp_path / "clean", "clean"), "clean", "dataset", inputs=["raw"], run_id="r1", step="clean"
    )
    store.put(
        write(tmp_path / "model", "model"),
        "model",
        "model",
        inputs=["clean:latest", "params:v0"],
        run_id="r2",
        step="train",
    )
    return store


UP_EDGES = {
    ("raw:v0", "clean@r1"),
    ("clean@r1", "clean:v0"),
    ("clean:v0", "train@r2"),
    ("params:v0", "train@r2"),
    ("train@r2", "model:v0"),
}


def test_put_records_inputs_run_and_step(chain: ArtifactStore) -> None:
    model = chain.resolve("model")
    assert model.inputs == ("clean:v0", "params:v0")
    assert (model.run_id, model.step) == ("r2", "train")
    assert chain.resolve("clean").inputs == ("raw:v0",)
    assert chain.resolve("raw").inputs == ()


def test_inputs_are_pinned_to_the_version_at_put_time(chain: ArtifactStore, tmp_path: Path) -> None:
    chain.put(write(tmp_path / "raw2", "raw 2"), "raw", "dataset")
    assert chain.resolve("clean").inputs == ("raw:v0",)
    nxt = chain.put(write(tmp_path / "c2", "clean 2"), "clean", "dataset", inputs=["raw"], step="clean")
    assert nxt.inputs == ("raw:v1",)


def test_lineage_up(chain: ArtifactStore) -> None:
    g = build_lineage(chain, "model", "up")
    assert g.root == "model:v0"
    assert g.edges == UP_EDGES
    assert set(g.nodes) == {"model:v0", "train@r2", "clean:v0", "params:v0", "clean@r1", "raw:v0"}
    assert g.nodes["model:v0"] == {"kind": "artifact", "type": "model", "label": "model:v0 (model) [latest]"}
    assert g.nodes["train@r2"] == {"kind": "step", "label": "<- train (run r2)"}
    assert g.nodes["params:v0"]["type"] == "config"


def test_lineage_down(chain: ArtifactStore) -> None:
    g = build_lineage(chain, "raw:v0", "down")
    assert g.root == "raw:v0"
    assert g.edges == {
        ("raw:v0", "clean@r1"),
        ("clean@r1", "clean:v0"),
        ("clean:v0", "train@r2"),
        ("train@r2", "model:v0"),
    }
    assert "params:v0" not in g.nodes  # a co-input is not downstream of raw
    assert build_lineage(chain, "params", "down").edges == {
        ("params:v0", "train@r2"),
        ("train@r2", "model:v0"),
    }


def test_lineage_both(chain: ArtifactStore) -> None:
    g = build_lineage(chain, "clean", "both")
    assert g.root == "clean:v0"
    assert g.edges == {
        ("raw:v0", "clean@r1"),
        ("clean@r1", "clean:v0"),
        ("clean:v0", "train@r2"),
        ("train@r2", "model:v0"),
    }
    assert build_lineage(chain, "clean", "up").edges == {("raw:v0", "clean@r1"), ("clean@r1", "clean:v0")}


def test_lineage_of_source_artifact_has_no_edges(chain: ArtifactStore) -> None:
    g = build_lineage(chain, "raw", "up")
    assert g.edges == set()
    assert set(g.nodes) == {"raw:v0"}
    down = build_lineage(chain, "model", "down")
    assert (down.edges, set(down.nodes)) == (set(), {"model:v0"})


def test_lineage_without_step_links_versions_directly(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "a"), "a", "t")
    store.put(write(tmp_path / "b", "b"), "b", "t", inputs=["a"])
    store.put(write(tmp_path / "c", "c"), "c", "t", inputs=["b"], run_id="r9")
    assert build_lineage(store, "c", "up").edges == {("a:v0", "b:v0"), ("b:v0", "put@r9"), ("put@r9", "c:v0")}
    assert build_lineage(store, "a", "down").edges == {
        ("a:v0", "b:v0"),
        ("b:v0", "put@r9"),
        ("put@r9", "c:v0"),
    }


def test_lineage_unknown_ref(chain: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError):
        build_lineage(chain, "modle", "up")


def test_lineage_to_text(chain: ArtifactStore) -> None:
    chain.set_alias("model:v0", "prod")
    assert build_lineage(chain, "model", "up").to_text() == "\n".join(
        [
            "upstream:",
            "  model:v0 (model) [latest, prod]",
            "    <- train (run r2)",
            "      clean:v0 (dataset) [latest]",
            "        <- clean (run r1)",
            "          raw:v0 (dataset) [latest]",
            "      params:v0 (config) [latest]",
        ]
    )
    assert build_lineage(chain, "raw", "down").to_text() == "\n".join(
        [
            "downstream:",
            "  raw:v0 (dataset) [latest]",
            "    -> clean (run r1)",
            "      clean:v0 (dataset) [latest]",
            "        -> train (run r2)",
            "          model:v0 (model) [latest, prod]",
        ]
    )
    both = build_lineage(chain, "clean", "both").to_text()
    assert both.startswith("upstream:\n  clean:v0 (dataset) [latest]\n    <- clean (run r1)\n")
    assert "\ndownstream:\n  clean:v0 (dataset) [latest]\n    -> train (run r2)\n" in both


def test_lineage_to_json(chain: ArtifactStore) -> None:
    doc = json.loads(build_lineage(chain, "model", "up").to_json())
    assert doc["root"] == "model:v0"
    assert {(e["from"], e["to"]) for e in doc["edges"]} == UP_EDGES
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["raw:v0"] == {
        "id": "raw:v0",
        "kind": "artifact",
        "type": "dataset",
        "label": "raw:v0 (dataset) [latest]",
    }
    assert nodes["clean@r1"]["kind"] == "step"
    assert len(doc["nodes"]) == 6


def test_lineage_to_dot(chain: ArtifactStore) -> None:
    dot = build_lineage(chain, "model", "up").to_dot()
    lines = dot.splitlines()
    assert lines[0] == "digraph lineage {"
    assert lines[-1] == "}"
    assert '  "model:v0" [shape=box, label="model:v0 (model) [latest]"];' in lines
    assert '  "train@r2" [shape=ellipse, label="<- train (run r2)"];' in lines
    for a, b in UP_EDGES:
        assert f'  "{a}" -> "{b}";' in lines
    assert sum("->" in line and "label" not in line for line in lines) == len(UP_EDGES)


def test_lineage_to_dot_escapes_quotes(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "a"), "a", 'say "hi"')
    dot = build_lineage(store, "a").to_dot()
    assert r'label="a:v0 (say \"hi\") [latest]"' in dot


def test_lineage_down_diamond_has_every_edge(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "r", "raw"), "raw", "data")
    store.put(write(tmp_path / "a", "a"), "a", "data", inputs=["raw"], run_id="r1", step="sa")
    store.put(write(tmp_path / "b", "b"), "b", "data", inputs=["raw"], run_id="r1", step="sb")
    store.put(write(tmp_path / "m", "m"), "model", "model", inputs=["a", "b"], run_id="r1", step="train")
    up = build_lineage(store, "model", "up")
    down = build_lineage(store, "raw", "down")
    assert ("b:v0", "train@r1") in up.edges
    assert down.edges == up.edges


# ---------------------------------------------------------------------- names
GOOD_NAMES = ["sample.csv", "clean_sample.csv", "model-v2_final", "A", "0.1", "x" * 128]
BAD_NAMES = [
    "a/b",
    "..",
    "../x",
    "a..b",
    "/abs",
    "a\\b",
    "a\x00b",
    "a\nb",
    "a\tb",
    "a\x7fb",
    "",
    ":",
    "a:b",
    ".hidden",
    "-flag",
    "_x",
    "a b",
    "x" * 129,
    "naïve",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_accepted(store: ArtifactStore, tmp_path: Path, name: str) -> None:
    v = store.put(write(tmp_path / "src", name), name, "t")
    assert v.ref == f"{name}:v0"
    assert store.resolve(name).ref == f"{name}:v0"
    assert store.resolve(f"{name}:v0").name == name
    assert store.get(name, tmp_path / "out").read_text() == name


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_are_refused_and_write_nothing(
    store: ArtifactStore, workspace: Workspace, tmp_path: Path, name: str
) -> None:
    src = write(tmp_path / "src" / "data.txt", "payload")
    absolute = tmp_path / "abs"  # where '/abs'-style names would land if taken as paths
    before = snapshot(tmp_path)
    with pytest.raises(InvalidNameError, match="invalid artifact name"):
        store.put(src, name, "t")
    with pytest.raises(InvalidNameError):
        store.put(src, str(absolute), "t")
    # as a reference, "a:b" is the well-formed "alias b of a", which just does not exist
    ref_error = (InvalidNameError, ArtifactNotFoundError) if ":" in name else InvalidNameError
    with pytest.raises(ref_error):
        store.resolve(name)
    with pytest.raises(ref_error):
        store.get(name, tmp_path / "out")
    with pytest.raises(ref_error):
        store.put(src, "ok", "t", inputs=[name])
    assert snapshot(tmp_path) == before
    assert not absolute.exists()
    assert not (tmp_path / "x").exists()
    assert not (workspace.root / "blobs").exists()
    assert not (workspace.root / "tmp").exists()
    assert store.versions() == []


def test_invalid_name_error_is_a_usage_error() -> None:
    with pytest.raises(InvalidNameError) as exc:
        Workspace(Path("w")).store.put(Path("nothing"), "a/b", "t")
    assert exc.value.exit_code == 2
    assert "clean_sample.csv" in str(exc.value)  # the message shows a valid example


@pytest.mark.parametrize("ref", ["model:", "model:a:b", ":v0", "model:latest:v1", "model:1x", "model:_x"])
def test_malformed_refs(three: ArtifactStore, ref: str) -> None:
    with pytest.raises(InvalidNameError):
        three.resolve(ref)


# ---------------------------------------------------------------- corruption
def test_corrupted_file_blob_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a0", "first version"), "data.csv", "t")
    v1 = store.put(write(tmp_path / "a1", "second version, the one we corrupt"), "data.csv", "t")
    blob = store.path(v1, verify=False)
    flip_byte(blob, 7)

    with pytest.raises(IntegrityError, match=r"'data\.csv:v1' is corrupted") as exc:
        store.path("data.csv")
    assert exc.value.exit_code == 1
    with pytest.raises(IntegrityError, match=r"data\.csv:v1"):
        store.read_text("data.csv:v1")

    dest = tmp_path / "out" / "data.csv"
    dest.parent.mkdir()
    with pytest.raises(IntegrityError, match=r"data\.csv:v1"):
        store.get("data.csv", dest)
    assert list(dest.parent.iterdir()) == []  # no destination file, no .partial left behind

    problems = store.verify()
    assert len(problems) == 1
    (p,) = problems
    assert (p.ref, p.expected) == ("data.csv:v1", v1.digest)
    assert p.actual == hashlib.sha256(blob.read_bytes()).hexdigest()
    assert "data.csv:v1" in str(p) and "hashes to" in str(p)
    # the other version is unaffected
    assert store.read_text("data.csv:v0") == "first version"
    # path(verify=False) still hands out the location without checking
    assert store.path("data.csv", verify=False) == blob


def test_corruption_in_a_shared_blob_is_reported_for_each_version(
    store: ArtifactStore, tmp_path: Path
) -> None:
    a = store.put(write(tmp_path / "a", "shared"), "a", "t")
    store.put(write(tmp_path / "b", "shared"), "b", "t")
    flip_byte(store.path(a, verify=False))
    assert sorted(p.ref for p in store.verify()) == ["a:v0", "b:v0"]


def test_missing_blob_is_reported(store: ArtifactStore, tmp_path: Path) -> None:
    v = store.put(write(tmp_path / "a", "soon gone"), "a", "t")
    store.path(v).unlink()
    (p,) = store.verify()
    assert (p.ref, p.expected, p.actual) == ("a:v0", v.digest, None)
    assert "missing" in str(p)
    with pytest.raises(IntegrityError, match="'a:v0' is corrupted: its content is missing"):
        store.path("a")
    with pytest.raises(IntegrityError, match="a:v0"):
        store.get("a", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_putting_the_content_again_repairs_a_corrupted_blob(store: ArtifactStore, tmp_path: Path) -> None:
    src = write(tmp_path / "a", "precious")
    v = store.put(src, "a", "t")
    flip_byte(store.path(v, verify=False))
    assert len(store.verify()) == 1
    again = store.put(src, "a", "t")
    assert again.ref == "a:v0"
    assert store.verify() == []
    assert store.read_text("a") == "precious"


def test_extra_file_in_directory_artifact_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(make_tree(tmp_path / "d", {"w.bin": "weights", "meta/info.json": "{}"}), "model", "model")
    stored = store.path("model")
    (stored / "meta" / "extra.txt").write_text("sneaked in")
    (p,) = store.verify()
    assert p.ref == "model:v0"
    with pytest.raises(IntegrityError, match="model:v0"):
        store.path("model")
    with pytest.raises(IntegrityError, match="model:v0"):
        store.get("model", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_changed_file_in_directory_artifact_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(make_tree(tmp_path / "d", {"w.bin": "weights", "meta/info.json": "{}"}), "model", "model")
    flip_byte(store.path("model") / "w.bin", 3)
    assert [p.ref for p in store.verify()] == ["model:v0"]


def test_removed_file_in_directory_artifact_is_detected(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(make_tree(tmp_path / "d", {"w.bin": "weights", "meta/info.json": "{}"}), "model", "model")
    (store.path("model") / "meta" / "info.json").unlink()
    assert [p.ref for p in store.verify()] == ["model:v0"]


def test_verify_is_empty_for_intact_store(store: ArtifactStore, tmp_path: Path) -> None:
    assert store.verify() == []
    store.put(write(tmp_path / "a", "a"), "a", "t")
    store.put(make_tree(tmp_path / "d", {"x": "1"}), "d", "t")
    assert store.verify() == []


def test_stored_blobs_are_read_only(store: ArtifactStore, tmp_path: Path) -> None:
    f = store.path(store.put(write(tmp_path / "a", "a"), "a", "t"))
    d = store.path(store.put(make_tree(tmp_path / "d", {"x": "1"}), "d", "t"))
    for path in (f, d / "x"):
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


# ------------------------------------------------------------------------ get
def test_get_copies_file_to_dest(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "v0 bytes"), "sample.csv", "t")
    store.put(write(tmp_path / "b", "v1 bytes"), "sample.csv", "t")
    out = store.get("sample.csv:v0", tmp_path / "copy.csv")
    assert out == tmp_path / "copy.csv"
    assert out.read_text() == "v0 bytes"
    assert store.get("sample.csv", tmp_path / "latest.csv").read_text() == "v1 bytes"
    # the copy is the user's: writing to it does not touch the store
    out.write_text("edited")
    assert store.verify() == []
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_get_default_dest_is_cwd_name(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "hello"), "sample.csv", "t")
    out = store.get("sample.csv")
    assert out.resolve() == (Path.cwd() / "sample.csv").resolve()
    assert out.read_text() == "hello"


def test_get_refuses_to_overwrite(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "stored"), "a", "t")
    existing = write(tmp_path / "existing.txt", "mine")
    with pytest.raises(UsageError, match="already exists"):
        store.get("a", existing)
    assert existing.read_text() == "mine"
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    write(outdir / "a", "also mine")
    with pytest.raises(UsageError, match="already exists"):
        store.get("a", outdir)
    assert (outdir / "a").read_text() == "also mine"


def test_get_into_existing_directory_writes_dir_slash_name(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "stored"), "sample.csv", "t")
    store.put(make_tree(tmp_path / "t", {"x": "1", "y/z": "2"}), "model", "model")
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assert store.get("sample.csv", outdir) == outdir / "sample.csv"
    assert (outdir / "sample.csv").read_text() == "stored"
    got = store.get("model", outdir)
    assert got == outdir / "model"
    assert (got / "x").read_text() == "1"
    assert (got / "y" / "z").read_text() == "2"
    assert sorted(p.name for p in outdir.iterdir()) == ["model", "sample.csv"]


def test_get_directory_to_new_path(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(make_tree(tmp_path / "t", {"x": "1", "y/z": "2"}), "model", "model")
    got = store.get("model", tmp_path / "fresh")
    assert got == tmp_path / "fresh"
    assert snapshot(got) == {"x", "y", "y/z"}
    assert store.verify() == []


def test_get_into_missing_parent_is_not_reported_as_corruption(store: ArtifactStore, tmp_path: Path) -> None:
    store.put(write(tmp_path / "a", "intact"), "a", "t")
    dest = tmp_path / "no" / "such" / "dir" / "a.txt"
    with pytest.raises(UsageError, match="does not exist") as info:
        store.get("a", dest)
    assert not isinstance(info.value, IntegrityError)
    assert str(dest.parent) in str(info.value)
    assert store.verify() == []


# ------------------------------------------------------------------------- gc
def test_gc_removes_stale_temp_files_and_orphan_blobs_only(
    store: ArtifactStore, workspace: Workspace, tmp_path: Path
) -> None:
    kept = store.put(write(tmp_path / "k", "kept"), "kept", "t")
    kept_dir = store.put(make_tree(tmp_path / "kd", {"x": "kept dir"}), "kdir", "t")
    for ref in (kept, kept_dir):
        set_age(store.path(ref), 10 * HOUR)  # old but referenced: never collected

    # what a crashed writer leaves: blobs placed but never committed, and temp files
    old_orphan = store.blobs.ingest(write(tmp_path / "o1", "old orphan"))
    old_orphan_dir = store.blobs.ingest(make_tree(tmp_path / "o2", {"f": "old orphan dir"}))
    new_orphan = store.blobs.ingest(write(tmp_path / "o3", "fresh orphan"))
    set_age(store.blobs.path(old_orphan.digest), 2 * HOUR)
    set_age(store.blobs.path(old_orphan_dir.digest), 2 * HOUR)

    tmp = workspace.root / "tmp"
    tmp.mkdir(exist_ok=True)
    old_tmp = write(tmp / "abc.partial", "half a blob")
    old_tmp_dir = make_tree(tmp / "def.partial", {"a/b": "half a tree"})
    os.chmod(old_tmp_dir / "a" / "b", stat.S_IRUSR)
    new_tmp = write(tmp / "fresh.partial", "being written right now")
    for p in (old_tmp, old_tmp_dir):
        set_age(p, 2 * HOUR)

    expected = {
        old_tmp,
        old_tmp_dir,
        store.blobs.path(old_orphan.digest),
        store.blobs.path(old_orphan_dir.digest),
    }
    everything_before = snapshot(workspace.root)

    dry = store.gc(grace_seconds=HOUR, dry_run=True)
    assert set(dry) == expected
    assert len(dry) == len(expected)
    assert snapshot(workspace.root) == everything_before

    removed = store.gc(grace_seconds=HOUR)
    assert set(removed) == expected
    for p in expected:
        assert not p.exists()
    assert new_tmp.exists()
    assert store.blobs.path(new_orphan.digest).exists()
    assert store.verify() == []
    assert store.read_text("kept") == "kept"
    assert (store.path("kdir") / "x").read_text() == "kept dir"

    # once the grace has passed (grace 0), the fresh leftovers go too, referenced blobs stay
    removed = store.gc(grace_seconds=0)
    assert set(removed) == {new_tmp, store.blobs.path(new_orphan.digest)}
    assert list(tmp.iterdir()) == []
    assert blob_files(workspace) == {store.path(kept), store.path(kept_dir)}
    assert store.verify() == []
    assert store.gc(grace_seconds=0) == []


def test_gc_on_empty_workspace(store: ArtifactStore) -> None:
    assert store.gc(grace_seconds=0) == []
    assert store.gc(grace_seconds=0, dry_run=True) == []


def test_gc_keeps_blob_shared_by_dedup(store: ArtifactStore, workspace: Workspace, tmp_path: Path) -> None:
    a = store.put(write(tmp_path / "a", "same"), "a", "t")
    store.put(write(tmp_path / "b", "same"), "b", "t")
    set_age(store.path(a), 10 * HOUR)
    assert store.gc(grace_seconds=0) == []
    assert store.verify() == []


def test_gc_racing_a_put_that_reuses_an_old_orphan_blob(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "a", "content a crashed writer had already placed")
    orphan = store.blobs.ingest(src)  # placed, never committed (writer was killed)
    set_age(store.blobs.path(orphan.digest), 2 * HOUR)

    real_write = store.db.write
    raced: list[list[Path]] = []

    def write_after_concurrent_gc(fn):  # type: ignore[no-untyped-def]
        # another process runs `artifacts gc` (default 1 h grace) between this put's blob
        # placement and its index commit: the window the grace period exists to protect
        if not raced:
            raced.append(store.gc(grace_seconds=HOUR))
        return real_write(fn)

    monkeypatch.setattr(store.db, "write", write_after_concurrent_gc)
    v = store.put(src, "a", "t")
    assert raced == [[]], f"gc removed the blob of the version being committed: {raced}"
    assert store.verify() == []
    assert store.read_text(v.ref).startswith("content")


# ---------------------------------------------------------------- concurrency
WRITERS = 4
PER_WRITER = 50


def _writer(root: str, wid: int, n: int, start, results) -> None:  # type: ignore[no-untyped-def]
    """One process: ``n`` distinct versions to ``shared`` and to ``own-<wid>``."""
    try:
        store = Workspace(root).store
        src = Path(root).parent / f"src-{wid}"
        src.mkdir()
        start.wait(60)  # a barrier: every writer is ready before any of them writes
        got: list[tuple[str, int]] = []
        for i in range(n):
            shared = write(src / f"s{i}", f"writer {wid} shared item {i}\n")
            own = write(src / f"o{i}", f"writer {wid} own item {i}\n")
            got.append((store.put(shared, "shared", "t", metadata={"w": wid, "i": i}).ref, i))
            got.append((store.put(own, f"own-{wid}", "t", metadata={"w": wid, "i": i}).ref, i))
        results.put((wid, "ok", got))
    except BaseException:
        results.put((wid, "error", traceback.format_exc()))
        raise


def test_concurrent_writers(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    root = tmp_path / "shared-ws"
    Workspace(root)
    start = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(root), w, PER_WRITER, start, results)) for w in range(WRITERS)
    ]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    outcomes = {}
    try:
        for _ in procs:
            wid, status, payload = results.get(timeout=120)
            outcomes[wid] = (status, payload)
    except queue.Empty:
        pass
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    elapsed = time.monotonic() - t0
    errors = {w: out for w, (status, out) in outcomes.items() if status != "ok"}
    assert not errors, "worker exceptions:\n" + "\n".join(errors.values())
    assert sorted(outcomes) == list(range(WRITERS)), "a worker did not report"
    assert [p.exitcode for p in procs] == [0] * WRITERS

    store = Workspace(root).store
    shared = store.versions("shared")
    total = WRITERS * PER_WRITER
    assert [v.version for v in shared] == list(range(total))
    assert len({v.digest for v in shared}) == total
    assert {(v.metadata["w"], v.metadata["i"]) for v in shared} == {
        (w, i) for w in range(WRITERS) for i in range(PER_WRITER)
    }
    # the writers really ran side by side: their versions interleave
    owners = [v.metadata["w"] for v in shared]
    switches = sum(a != b for a, b in itertools.pairwise(owners))
    assert switches > WRITERS, f"writers ran one after another ({switches} switches), not concurrently"
    # each writer saw its own shared versions in increasing order, and no number was handed out twice
    handed_out = []
    for w, (_status, got) in sorted(outcomes.items()):
        mine = [int(ref.split(":v")[1]) for ref, _i in got if ref.startswith("shared:")]
        assert mine == sorted(mine)
        handed_out += mine
        own = [ref for ref, _i in got if ref.startswith(f"own-{w}:")]
        assert own == [f"own-{w}:v{i}" for i in range(PER_WRITER)]
    assert sorted(handed_out) == list(range(total))
    for w in range(WRITERS):
        own_versions = store.versions(f"own-{w}")
        assert [v.version for v in own_versions] == list(range(PER_WRITER))
        assert [v.metadata["i"] for v in own_versions] == list(range(PER_WRITER))
        assert store.resolve(f"own-{w}").version == PER_WRITER - 1
    # the last commit is the highest version, and latest points there
    assert store.resolve("shared").version == total - 1
    # content matches the metadata recorded with it (no cross-wiring between writers)
    for v in shared[:: total // 20]:
        assert store.read_text(v.ref) == f"writer {v.metadata['w']} shared item {v.metadata['i']}\n"
    assert len(store.versions()) == 2 * total
    assert store.verify() == []
    assert store.gc(grace_seconds=0) == []
    assert elapsed < 60, f"{WRITERS}x{2 * PER_WRITER} puts took {elapsed:.1f}s"


def test_put_many_stores_all_or_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    from modelmill.store import PutRequest

    good = write(tmp_path / "good", "fine")
    with pytest.raises(StoreError, match="missing"):
        missing = PutRequest(tmp_path / "missing", "second.csv", "t")
        store.put_many([PutRequest(good, "first.csv", "t"), missing])
    assert store.versions() == []  # the first output is not visible either
    both = store.put_many([PutRequest(good, "first.csv", "t"), PutRequest(good, "second.csv", "t")])
    assert [v.ref for v in both] == ["first.csv:v0", "second.csv:v0"]
    assert store.gc(grace_seconds=0, dry_run=True) == []  # the earlier orphan blob is now referenced
