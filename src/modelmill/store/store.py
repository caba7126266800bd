"""The artifact store: named, versioned, aliased, content-addressed artifacts.

A ``put`` first places the blob (temp file, fsync, rename), then commits the index
row, the ``latest`` alias and the lineage edges in one transaction. Killed at any
point, the store holds either the whole new version or none of it; at worst an
unreferenced blob or temp file remains, which ``gc`` removes.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from modelmill.core.errors import (
    ArtifactNotFoundError,
    IntegrityError,
    StoreError,
    UsageError,
    WorkspaceReadOnlyError,
)
from modelmill.core.hashing import sha256_path
from modelmill.core.names import LATEST, ArtifactRef, parse_ref, validate_alias, validate_name
from modelmill.core.types import ArtifactVersion
from modelmill.store.blobs import Blob, BlobStore, copy_hashing, fsync_dir, remove_path
from modelmill.store.db import Database

_COLUMNS = "id, name, version, type, digest, size, kind, created, description, metadata, run_id, step"


@dataclass(frozen=True)
class PutRequest:
    """One artifact to store with :meth:`ArtifactStore.put_many` (same fields as ``put``)."""

    path: Path
    name: str
    type: str
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str | ArtifactRef, ...] = ()
    run_id: str | None = None
    step: str | None = None
    aliases: tuple[str, ...] = ()
    move: bool = False


@dataclass(frozen=True)
class AliasMove:
    """An alias to move in the same transaction as :meth:`ArtifactStore.put_many`'s versions.

    ``ref`` is an exact reference, or the bare name of an artifact stored by the same call
    (its new version). ``since`` is an alias event id: a move to ``ref`` recorded after it
    (the caller made it itself, e.g. through the promotion module) is kept instead of being
    made again, and "before" means the alias's position at that event.
    """

    ref: str
    alias: str
    note: str = ""
    since: int | None = None


@dataclass(frozen=True)
class MovedAlias:
    """Where an :class:`AliasMove` left the alias, where it pointed before, and the event that moved it."""

    name: str
    alias: str
    ref: str
    previous: str | None
    event: int


@dataclass(frozen=True)
class VerifyProblem:
    """One version whose content does not match its digest."""

    ref: str
    expected: str
    actual: str | None

    def __str__(self) -> str:
        state = "missing" if self.actual is None else f"hashes to {self.actual[:12]}"
        return f"{self.ref}: content {state}, expected {self.expected[:12]}"


class ArtifactStore:
    """Read and write artifacts in one workspace directory."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        self.blobs = BlobStore(root / "blobs", root / "tmp")
        db.ensure_schema(resources.files("modelmill.store").joinpath("schema.sql").read_text())

    # ----------------------------------------------------------------- writing
    def put(
        self,
        path: str | os.PathLike[str],
        name: str,
        type: str,
        *,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        inputs: Iterable[str | ArtifactRef] = (),
        run_id: str | None = None,
        step: str | None = None,
        aliases: Iterable[str] = (),
        move: bool = False,
    ) -> ArtifactVersion:
        """Store a file or directory as the next version of ``name`` (or return the identical one).

        ``inputs`` are the artifact versions the producing run consumed (lineage).
        ``move`` lets the runner hand over a scratch file without a copy.
        """
        request = PutRequest(Path(path), name, type, description, dict(metadata or {}), tuple(inputs),
                             run_id, step, tuple(aliases), move)  # fmt: skip
        return self.put_many([request])[0]

    def put_many(
        self,
        requests: Sequence[PutRequest],
        *,
        aliases: Sequence[AliasMove] = (),
        then: Callable[[sqlite3.Connection, list[str], list[MovedAlias]], None] | None = None,
    ) -> list[ArtifactVersion]:
        """Store several artifacts in one index transaction: all of them become visible, or none.

        The runner stores a step's outputs this way, so a step whose second output fails
        to store leaves no first output behind either. ``aliases`` are moved in the same
        transaction, after the versions exist; ``then`` runs last in it with the refs stored
        (in the order of ``requests``) and the moves made (the runner records the step's
        execution and effects there).
        """
        self._require_writable()  # before a blob is staged: a read-only workspace stays untouched
        prepared = [self._prepare(r) for r in requests]
        for move in aliases:
            validate_alias(move.alias)

        def commit(conn: sqlite3.Connection) -> list[int]:
            ids = [self._commit_one(conn, r, blob, input_ids) for r, blob, input_ids in prepared]
            moved = [self._move(conn, move) for move in aliases]
            if then is not None:
                rows = [self._row_by_id(conn, i) for i in ids]
                then(conn, [f"{r['name']}:v{r['version']}" for r in rows], moved)
            return ids

        ids = self.db.write(commit)
        return self.db.read(lambda c: [self._load(c, self._row_by_id(c, i)) for i in ids])

    def _prepare(self, r: PutRequest) -> tuple[PutRequest, Blob, list[int]]:
        validate_name(r.name)
        for alias in r.aliases:
            validate_alias(alias)
        input_ids = [int(self._resolve_row(parse_ref(i))["id"]) for i in r.inputs]
        try:
            blob = self.blobs.ingest(r.path, move=r.move)
        except (OSError, ValueError) as exc:  # ValueError: a symlink inside a directory
            raise StoreError(f"could not store {r.path} as '{r.name}': {exc}") from exc
        return r, blob, input_ids

    def _commit_one(self, conn: sqlite3.Connection, r: PutRequest, blob: Blob, input_ids: list[int]) -> int:
        row = conn.execute(
            "SELECT id FROM versions WHERE name = ? AND digest = ? ORDER BY version DESC",
            (r.name, blob.digest),
        ).fetchone()
        if row is not None:
            version_id = int(row["id"])
        else:
            nxt = conn.execute(
                "SELECT COALESCE(MAX(version), -1) + 1 FROM versions WHERE name = ?", (r.name,)
            ).fetchone()[0]
            meta_json = json.dumps(r.metadata, sort_keys=True, default=str)
            cur = conn.execute(
                f"INSERT INTO versions ({_COLUMNS}) VALUES (NULL,?,?,?,?,?,?,?,?,?,?,?)",
                (r.name, nxt, r.type, blob.digest, blob.size, blob.kind, time.time(), r.description,
                 meta_json, r.run_id, r.step),
            )  # fmt: skip
            version_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT OR IGNORE INTO lineage (version_id, input_id) VALUES (?, ?)",
                [(version_id, i) for i in input_ids],
            )
        for alias in [LATEST, *r.aliases]:
            self._set_alias(conn, r.name, alias, version_id, note=f"put by {r.run_id or 'user'}")
        return version_id

    def set_alias(self, ref: str | ArtifactRef, alias: str, note: str = "") -> ArtifactVersion:
        """Point ``alias`` of the referenced name at exactly that version."""
        validate_alias(alias)
        parsed = parse_ref(ref)

        def commit(conn: sqlite3.Connection) -> sqlite3.Row:
            row = self._resolve_in(conn, parsed)
            self._set_alias(conn, parsed.name, alias, int(row["id"]), note=note or "set by user")
            return row

        row = self.db.write(commit)
        return self.db.read(lambda c: self._load(c, row))

    def _move(self, conn: sqlite3.Connection, move: AliasMove) -> MovedAlias:
        """Apply one :class:`AliasMove` inside ``conn``'s transaction."""
        parsed = parse_ref(move.ref)
        row = self._resolve_in(conn, parsed)
        name, target = parsed.name, int(row["id"])
        events = "SELECT id, version_id FROM alias_events WHERE name = ? AND alias = ?"
        newest = conn.execute(f"{events} ORDER BY id DESC LIMIT 1", (name, move.alias)).fetchone()
        if move.since is None:
            current = conn.execute(
                "SELECT version_id FROM aliases WHERE name = ? AND alias = ?", (name, move.alias)
            ).fetchone()
            before = current[0] if current is not None else None
        else:
            old = conn.execute(
                f"{events} AND id <= ? ORDER BY id DESC LIMIT 1", (name, move.alias, move.since)
            )
            found = old.fetchone()
            before = found["version_id"] if found is not None else None
        kept = (
            move.since is not None and newest is not None and newest["id"] > move.since
            and newest["version_id"] == target
        )  # fmt: skip
        if kept:
            event = int(newest["id"])
        else:
            self._set_alias(conn, name, move.alias, target, note=move.note or "set by a step")
            event = int(conn.execute("SELECT MAX(id) FROM alias_events").fetchone()[0])
        previous = None
        if before is not None:
            prev = conn.execute("SELECT name, version FROM versions WHERE id = ?", (before,)).fetchone()
            previous = f"{prev['name']}:v{prev['version']}"
        return MovedAlias(name, move.alias, f"{name}:v{row['version']}", previous, event)

    def alias_event(self, name: str, alias: str) -> int | None:
        """The id of the newest event of ``name:alias`` (what last moved or removed it), if any."""
        row = self.db.read(
            lambda c: c.execute(
                "SELECT MAX(id) FROM alias_events WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
        )
        return int(row[0]) if row is not None and row[0] is not None else None

    def alias_watermark(self) -> int:
        """The newest alias event id of the whole store (0 when none): moves after it are newer."""
        row = self.db.read(lambda c: c.execute("SELECT MAX(id) FROM alias_events").fetchone())
        return int(row[0] or 0)

    def mark_latest(self, version: ArtifactVersion, note: str = "reused from cache") -> None:
        """Move ``latest`` to an existing version (a cache hit reuses it as the newest result)."""

        def commit(conn: sqlite3.Connection) -> None:
            row = self._resolve_in(conn, ArtifactRef(version.name, version=version.version))
            current = conn.execute(
                "SELECT version_id FROM aliases WHERE name = ? AND alias = ?",
                (version.name, LATEST),
            ).fetchone()
            if current is None or current[0] != row["id"]:
                self._set_alias(conn, version.name, LATEST, int(row["id"]), note=note)

        self.db.write(commit)

    def remove_alias(self, name: str, alias: str) -> None:
        """Delete an alias (not ``latest``); the versions stay."""
        validate_name(name)
        validate_alias(alias)

        def commit(conn: sqlite3.Connection) -> None:
            cur = conn.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))
            if cur.rowcount == 0:
                raise ArtifactNotFoundError(f"'{name}' has no alias '{alias}'")
            conn.execute(
                "INSERT INTO alias_events (name, alias, version_id, at, note) VALUES (?,?,NULL,?,?)",
                (name, alias, time.time(), "removed"),
            )

        self.db.write(commit)

    @staticmethod
    def _set_alias(conn: sqlite3.Connection, name: str, alias: str, vid: int, note: str) -> None:
        conn.execute(
            "INSERT INTO aliases (name, alias, version_id, updated) VALUES (?,?,?,?) "
            "ON CONFLICT (name, alias) DO UPDATE SET version_id = excluded.version_id, "
            "updated = excluded.updated",
            (name, alias, vid, time.time()),
        )
        conn.execute(
            "INSERT INTO alias_events (name, alias, version_id, at, note) VALUES (?,?,?,?,?)",
            (name, alias, vid, time.time(), note),
        )

    # ----------------------------------------------------------------- reading
    def resolve(self, ref: str | ArtifactRef) -> ArtifactVersion:
        """The version a reference means now (``name``, ``name:vN``, ``name:alias``)."""
        parsed = parse_ref(ref)
        return self.db.read(lambda c: self._load(c, self._resolve_in(c, parsed)))

    def exists(self, ref: str | ArtifactRef) -> bool:
        """Whether the reference resolves (no error for a missing name or alias)."""
        try:
            self.resolve(ref)
        except ArtifactNotFoundError:
            return False
        return True

    def path(self, ref: str | ArtifactRef | ArtifactVersion, *, verify: bool = True) -> Path:
        """Read-only path of the stored content, verified against its digest first."""
        version = ref if isinstance(ref, ArtifactVersion) else self.resolve(ref)
        blob_path = self.blobs.path(version.digest)
        if verify:
            self._check(version, self.blobs.actual_digest(version.digest))
        return blob_path

    def get(self, ref: str | ArtifactRef, dest: str | os.PathLike[str] | None = None) -> Path:
        """Copy verified content to ``dest`` (default: ``./NAME``) and return the path written.

        An existing directory as ``dest`` receives ``dest/NAME``. The copy is made under a
        temporary name and renamed only once its digest matched.
        """
        version = self.resolve(ref)
        target = Path(dest) if dest is not None else Path(version.name)
        if (target.is_dir() and version.kind == "file") or target.is_dir():
            target = target / version.name
        if target.exists():
            raise UsageError(f"{target} already exists; choose another destination or remove it")
        if not target.parent.is_dir():
            raise UsageError(f"destination directory {target.parent} does not exist; create it first")
        staged = target.parent / f".{target.name}.{os.getpid()}.partial"
        try:
            if version.kind == "file":
                actual, _ = copy_hashing(self.blobs.path(version.digest), staged)
            else:
                # copyfile, not copy2: the user's copy is writable, unlike the blob
                shutil.copytree(self.blobs.path(version.digest), staged, copy_function=shutil.copyfile)
                actual = sha256_path(staged)
            self._check(version, actual)
            os.rename(staged, target)
            fsync_dir(target.parent.resolve())
        except FileNotFoundError:
            self._check(version, None)
            raise
        finally:
            if staged.exists():
                remove_path(staged)
        return target

    def read_text(self, ref: str | ArtifactRef) -> str:
        """Verified text content of a file artifact."""
        return self.path(ref).read_text()

    def versions(self, name: str | None = None) -> list[ArtifactVersion]:
        """Every version (of one name, or all names), oldest first."""
        where, args = ("WHERE name = ?", (validate_name(name),)) if name else ("", ())

        def query(conn: sqlite3.Connection) -> list[ArtifactVersion]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM versions {where} ORDER BY name, version", args
            ).fetchall()
            return [self._load(conn, r) for r in rows]

        return self.db.read(query)

    def names(self) -> list[str]:
        """Artifact names in the store, sorted."""
        return self.db.read(
            lambda c: [r[0] for r in c.execute("SELECT DISTINCT name FROM versions ORDER BY name")]
        )

    # ------------------------------------------------------------- maintenance
    def verify(self) -> list[VerifyProblem]:
        """Re-hash every stored version; an empty list means the store is intact."""
        problems: list[VerifyProblem] = []
        checked: dict[str, str | None] = {}
        for version in self.versions():
            if version.digest not in checked:
                checked[version.digest] = self.blobs.actual_digest(version.digest)
            actual = checked[version.digest]
            if actual != version.digest:
                problems.append(VerifyProblem(version.ref, version.digest, actual))
        return problems

    def gc(self, grace_seconds: float = 3600.0, dry_run: bool = False) -> list[Path]:
        """Remove temp files and unreferenced blobs older than ``grace_seconds``.

        The grace period protects a concurrent writer whose blob is placed but whose
        index commit has not landed yet. ``dry_run`` only reads (it works read-only).
        """
        if not dry_run:
            self._require_writable()
        cutoff = time.time() - grace_seconds
        referenced = set(
            self.db.read(lambda c: [r[0] for r in c.execute("SELECT DISTINCT digest FROM versions")])
        )
        stale: list[Path] = []
        if self.blobs.tmp.exists():
            stale += [p for p in self.blobs.tmp.iterdir() if p.lstat().st_mtime < cutoff]
        sha_root = self.blobs.root / "sha256"
        if sha_root.exists():
            for blob in sha_root.glob("*/*"):
                if blob.name not in referenced and blob.lstat().st_mtime < cutoff:
                    stale.append(blob)
        if not dry_run:
            for path in stale:
                remove_path(path)
        return stale

    # ----------------------------------------------------------------- helpers
    def _require_writable(self) -> None:
        if self.db.read_only is not None:
            raise WorkspaceReadOnlyError(self.db.read_only)

    def _check(self, version: ArtifactVersion, actual: str | None) -> None:
        if actual != version.digest:
            state = "is missing" if actual is None else f"hashes to sha256:{actual[:12]}"
            raise IntegrityError(
                f"artifact '{version.ref}' is corrupted: its content {state} but was stored as "
                f"sha256:{version.digest[:12]}. Re-create it (re-run the step that produced it, "
                "with --force) or restore it with 'modelmill artifacts put'."
            )

    def _resolve_row(self, ref: ArtifactRef) -> sqlite3.Row:
        return self.db.read(lambda c: self._resolve_in(c, ref))

    def _resolve_in(self, conn: sqlite3.Connection, ref: ArtifactRef) -> sqlite3.Row:
        if ref.version is not None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM versions WHERE name = ? AND version = ?",
                (ref.name, ref.version),
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT {', '.join('v.' + c.strip() for c in _COLUMNS.split(','))} "
                "FROM aliases a JOIN versions v ON v.id = a.version_id "
                "WHERE a.name = ? AND a.alias = ?",
                (ref.name, ref.alias),
            ).fetchone()
        if row is None:
            raise ArtifactNotFoundError(self._not_found_message(conn, ref))
        return row

    @staticmethod
    def _not_found_message(conn: sqlite3.Connection, ref: ArtifactRef) -> str:
        known = conn.execute("SELECT COUNT(*) FROM versions WHERE name = ?", (ref.name,)).fetchone()[0]
        if not known:
            import difflib

            names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM versions")]
            close = difflib.get_close_matches(ref.name, names, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            return f"no artifact named '{ref.name}' in this workspace.{hint}"
        aliases = [r[0] for r in conn.execute("SELECT alias FROM aliases WHERE name = ?", (ref.name,))]
        return (
            f"'{ref}' does not exist: '{ref.name}' has versions v0..v{known - 1} "
            f"and aliases {', '.join(sorted(aliases))}"
        )

    @staticmethod
    def _row_by_id(conn: sqlite3.Connection, version_id: int) -> sqlite3.Row:
        row = conn.execute(f"SELECT {_COLUMNS} FROM versions WHERE id = ?", (version_id,)).fetchone()
        assert row is not None, version_id
        return row

    @staticmethod
    def _load(conn: sqlite3.Connection, row: sqlite3.Row) -> ArtifactVersion:
        aliases = tuple(
            r[0]
            for r in conn.execute(
                "SELECT alias FROM aliases WHERE version_id = ? ORDER BY alias", (row["id"],)
            )
        )
        inputs = tuple(
            f"{r[0]}:v{r[1]}"
            for r in conn.execute(
                "SELECT v.name, v.version FROM lineage l JOIN versions v ON v.id = l.input_id "
                "WHERE l.version_id = ? ORDER BY v.name, v.version",
                (row["id"],),
            )
        )
        return ArtifactVersion(
            name=row["name"],
            version=row["version"],
            type=row["type"],
            digest=row["digest"],
            size=row["size"],
            kind=row["kind"],
            created=row["created"],
            description=row["description"],
            metadata=json.loads(row["metadata"]),
            run_id=row["run_id"],
            step=row["step"],
            aliases=aliases,
            inputs=inputs,
        )
