"""References that cannot exist: a clear error (exit 2) on the command line, 4xx in the web UI."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelmill import Workspace
from modelmill.ui import create_app

from .conftest import assert_clean_error, cli

HUGE = "v99999999999999999999"  # beyond SQLite's signed 64-bit integers


@pytest.fixture
def stored(workspace: Workspace, tmp_path: Path) -> Workspace:
    source = tmp_path / "a.csv"
    source.write_text("x\n1\n")
    workspace.store.put(source, "a.csv", "raw_data")
    return workspace


REFS = {
    f"a.csv:{HUGE}": "invalid artifact reference",
    "a.csv:v٣": "invalid artifact reference",
    "a.csv:": "invalid artifact reference",
    "a.csv:v7": "'a.csv:v7' does not exist",
    "a.csv:v-1": "'a.csv:v-1' does not exist",  # a well-formed alias nobody set
}


@pytest.mark.parametrize("ref", sorted(REFS))
def test_artifacts_show_of_an_impossible_reference_is_exit_2(stored: Workspace, ref: str) -> None:
    result = cli("artifacts", "show", ref, "--workspace", str(stored.root))
    assert_clean_error(result, 2, REFS[ref])


@pytest.mark.parametrize("version", [HUGE, "v٣", "v²", "9" * 400])
def test_the_ui_answers_404_for_impossible_versions(stored: Workspace, version: str) -> None:
    client = TestClient(create_app(stored.root))
    for path in (f"/artifacts/a.csv/{version}", f"/reports/a.csv/{version}/x.html"):
        assert client.get(path).status_code == 404, path


def test_prod_of_a_model_moves_only_through_promote(workspace: Workspace, tmp_path: Path) -> None:
    """'prod' set as a plain alias would skip the load check and leave the registry behind."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("not really a model\n")
    version = workspace.store.put(model, "some_model", "model_export")
    where = ["--workspace", str(workspace.root)]
    assert_clean_error(cli("artifacts", "alias", version.ref, "prod", *where), 2, "modelmill promote")
    put = cli("artifacts", "put", str(model), "--name", "other", "--type", "model_export",
              "--alias", "prod", *where)  # fmt: skip
    assert_clean_error(put, 2, "modelmill promote")
    assert not workspace.store.exists("some_model:prod") and not workspace.store.exists("other")
    client = TestClient(create_app(workspace.root, allow_writes=True))
    form = client.post(f"/artifacts/some_model/v{version.version}/alias", data={"alias": "prod"})
    assert form.status_code == 400 and "modelmill promote" in form.text
    assert not workspace.store.exists("some_model:prod")
    assert cli("artifacts", "alias", version.ref, "staging", *where).code == 0  # other aliases are free
