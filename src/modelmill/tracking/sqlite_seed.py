"""A new workspace's SQLite MLflow database starts as a copy of a migrated empty one.

MLflow creates a SQLite tracking store by running its whole Alembic migration chain,
about 1-2 s on every new workspace (and in every test that tracks). The result depends
only on the installed MLflow, SQLAlchemy and Alembic versions, so it is built once per
set of versions in the user cache (``$MODELMILL_CACHE_DIR``, else
``$XDG_CACHE_HOME/modelmill``, else ``~/.cache/modelmill``) and copied from there.

Anything unexpected (read-only cache, a failed build) falls back to MLflow creating the
database itself: seeding is an optimisation, never a requirement. A database that does not
exist in a directory nobody may write (a read-only workspace) cannot be created by MLflow
either: that is reported at once, as :class:`WorkspaceReadOnlyError`.

An existing database on a read-only volume needs nothing special: MLflow's store keeps
SQLite's default rollback journal, which reads without writing, and it neither migrates nor
creates anything when the schema is current and the Default experiment exists.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from importlib import metadata
from pathlib import Path

from modelmill.core.errors import WorkspaceReadOnlyError
from modelmill.core.machine import cache_dir

logger = logging.getLogger(__name__)

_VERSIONED = ("mlflow", "sqlalchemy", "alembic")


def local_sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URI (``None`` for other stores or in-memory)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri == prefix or ":memory:" in uri:
        return None
    return Path(uri[len(prefix) :].split("?", 1)[0])


def seed_sqlite(uri: str, artifact_root: Path | None) -> bool:
    """Create the database of ``uri`` from the cached template when it does not exist yet.

    Returns whether it was seeded. The copy is linked into place only if no other process
    created the file meanwhile, so a concurrent first use never overwrites a live store. An
    existing file that is not a database raises :class:`DatabaseCorruptError` naming it, before
    MLflow's first query fails with a long SQLAlchemy traceback.
    """
    from modelmill.tracking.preflight import check_local_database  # it imports this module

    target = local_sqlite_path(uri)
    if target is not None and target.exists():
        check_local_database(uri)
    if target is None or target.exists():
        return False
    if target.parent.is_dir() and not os.access(target.parent, os.W_OK):
        raise WorkspaceReadOnlyError(
            f"MLflow store {target} does not exist and {target.parent} is read-only, so it cannot be "
            "created: nothing was registered or tracked there. Point main.tracking_uri (--tracking-uri) "
            "at the store that holds the runs and models, or use a store reference (NAME:ALIAS)."
        )
    try:
        template = _template()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".mlflow-seed-") as tmp:
            staged = Path(tmp) / "mlflow.db"
            shutil.copyfile(template, staged)
            if artifact_root is not None:  # MLflow's Default experiment, as it would create it
                _set_default_location(staged, (artifact_root / "0").as_uri())
            os.link(staged, target)
        return True
    except FileExistsError:
        return False
    except Exception as exc:  # any failure: MLflow creates the database itself
        logger.debug("could not seed %s from a template: %s", target, exc)
        return False


def _versions_key() -> str:
    parts = []
    for name in _VERSIONED:
        try:
            parts.append(f"{name}-{metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}-none")
    return "_".join(parts)


def _template() -> Path:
    """The migrated empty database for the installed versions (built on first use)."""
    path = cache_dir() / f"mlflow-empty_{_versions_key()}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        staged = Path(tmp) / "mlflow.db"
        _build(staged, Path(tmp) / "artifacts")
        os.replace(staged, path)
    return path


def _build(path: Path, artifact_root: Path) -> None:
    """Let MLflow create and migrate a store at ``path``, then close every connection."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{path}", str(artifact_root))
    store.engine.dispose()
    with sqlite3.connect(path) as conn:  # one self-contained file: no WAL left behind
        conn.execute("PRAGMA journal_mode=DELETE")


def _set_default_location(path: Path, location: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (location,))
    conn.close()
