"""A new workspace's MLflow database is copied from a cached, migrated template."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modelmill.tracking.sqlite_seed import local_sqlite_path, seed_sqlite


def test_only_local_sqlite_files_are_seeded(tmp_path: Path) -> None:
    assert local_sqlite_path(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db"
    assert local_sqlite_path("sqlite:///:memory:") is None
    assert local_sqlite_path("http://localhost:5000") is None
    assert local_sqlite_path("postgresql://u@h/db") is None
    assert seed_sqlite("http://localhost:5000", None) is False


def test_seeded_store_is_a_working_mlflow_store(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}"
    assert seed_sqlite(uri, tmp_path / "ws" / "mlartifacts") is True
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    [default] = client.search_experiments()
    assert default.artifact_location == (tmp_path / "ws" / "mlartifacts" / "0").as_uri()
    exp = client.create_experiment("e")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "mae", 1.5)
    client.create_registered_model("m")
    assert client.get_run(run.info.run_id).data.metrics == {"mae": 1.5}


def test_an_existing_database_is_never_replaced(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    sqlite3.connect(db).close()
    before = db.stat().st_ino
    assert seed_sqlite(f"sqlite:///{db}", None) is False
    assert db.stat().st_ino == before


def test_template_is_built_once_per_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(cache))
    assert seed_sqlite(f"sqlite:///{tmp_path / 'a.db'}", None)
    [template] = cache.glob("mlflow-empty_mlflow-*.db")
    built = template.stat().st_mtime_ns
    assert seed_sqlite(f"sqlite:///{tmp_path / 'b.db'}", None)
    assert template.stat().st_mtime_ns == built
    assert not list(cache.glob(".build-*"))


def test_unwritable_cache_falls_back_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(blocker / "cache"))
    assert seed_sqlite(f"sqlite:///{tmp_path / 'c.db'}", None) is False
    assert not (tmp_path / "c.db").exists()
