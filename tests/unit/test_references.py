"""The one model-reference resolver: forms, store reads, and the errors that name the fix.

Registry references need MLflow: they are tested in tests/func/test_registry.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmill import Workspace
from modelmill.core.errors import ArtifactNotFoundError, IntegrityError, UsageError
from modelmill.registry.references import (
    DIRECTORY,
    REGISTRY,
    STORE,
    ModelResolver,
    open_model,
    parse_reference,
)


@pytest.mark.parametrize(
    ("text", "kind", "name", "alias", "version", "moves"),
    [
        ("models:/nyc_rentals@prod", REGISTRY, "nyc_rentals", "prod", None, True),
        ("models:/nyc_rentals/3", REGISTRY, "nyc_rentals", None, 3, False),
        ("random_forest_export:v3", STORE, "random_forest_export", None, 3, False),
        ("random_forest_export:prod", STORE, "random_forest_export", "prod", None, True),
        ("random_forest_export", STORE, "random_forest_export", "latest", None, True),
    ],
)
def test_forms(text: str, kind: str, name: str, alias: str | None, version: int | None, moves: bool) -> None:
    ref = parse_reference(text)
    assert (ref.kind, ref.name, ref.alias, ref.version, ref.moves) == (kind, name, alias, version, moves)


def test_a_directory_is_a_model_directory_unless_refused(tmp_path: Path) -> None:
    ref = parse_reference(str(tmp_path))
    assert ref.kind == DIRECTORY and not ref.moves
    with pytest.raises(UsageError, match="no model"):
        parse_reference(str(tmp_path), directories=False)  # the service never reads paths


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("models:/nyc_rentals", "expected models:/NAME@ALIAS or models:/NAME/VERSION"),
        ("models:/nyc_rentals/99999999999999999999", "expected models:/NAME@ALIAS"),
        ("models:/bad name@prod", "invalid registered model name"),
        ("../escape:v1", "no model '../escape:v1'"),
    ],
)
def test_malformed_references_are_usage_errors(text: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_reference(text)


def _stored_model(workspace: Workspace, tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("model_uuid: abc\n")
    (model / "model.skops").write_bytes(b"weights")
    workspace.store.put(model, "random_forest_export", "model_export", aliases=["prod"])
    return model


def test_store_references_resolve_and_read_verified_files(workspace: Workspace, tmp_path: Path) -> None:
    _stored_model(workspace, tmp_path)
    with open_model("random_forest_export:prod", workspace) as model:
        assert model.label == "random_forest_export:v0" and not model.downloaded
        assert (model.path / "model.skops").read_bytes() == b"weights"
        assert model.resolved.store_ref == model.resolved.pinned == "random_forest_export:v0"
    resolver = ModelResolver(workspace)
    assert resolver.find("random_forest_export:v9") is None
    with pytest.raises(
        ArtifactNotFoundError, match=r"no model 'random_forest_export:v9'.*models:/NAME@ALIAS"
    ):
        resolver.resolve("random_forest_export:v9")


def test_a_damaged_store_copy_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    _stored_model(workspace, tmp_path)
    blob = workspace.store.path("random_forest_export:v0", verify=False) / "model.skops"
    blob.chmod(0o644)
    blob.write_bytes(b"weighty")
    with (
        pytest.raises(IntegrityError, match="'random_forest_export:v0' is corrupted"),
        open_model("random_forest_export:v0", workspace),
    ):
        pass


def test_older_store_versions_newest_first(workspace: Workspace, tmp_path: Path) -> None:
    for marker in "abc":
        model = tmp_path / marker
        model.mkdir()
        (model / "MLmodel").write_text(f"model_uuid: {marker}\n")
        workspace.store.put(model, "random_forest_export", "model_export")
    resolver = ModelResolver(workspace)
    latest = resolver.resolve("random_forest_export:latest")
    assert latest.version == 2
    assert [r.pinned for r in resolver.older(latest)] == [
        "random_forest_export:v1",
        "random_forest_export:v0",
    ]
