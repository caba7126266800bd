"""Content-addressed blob files: ``blobs/sha256/<2 hex>/<digest>``.

A blob is written to ``tmp/`` first, fsynced, then renamed into place, so a reader
never sees a partial blob and a crash leaves only a temp file for ``gc``. Blobs are
made read-only: a step reading its input in place cannot change history by accident.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modelmill.core.hashing import CHUNK, manifest_digest, sha256_path, tree_manifest

Kind = Literal["file", "dir"]


@dataclass(frozen=True)
class Blob:
    """Where a blob lives and what it holds."""

    digest: str
    size: int
    kind: Kind


def fsync_dir(path: Path) -> None:
    """Persist a rename: the directory entry itself must reach the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_hashing(src: Path, dst: Path) -> tuple[str, int]:
    """Copy ``src`` to a new file ``dst`` and return (sha256, size) of what was written."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest(), size


def _make_readonly(path: Path) -> None:
    if path.is_dir():
        for dirpath, _dirs, files in os.walk(path):
            for name in files:
                os.chmod(Path(dirpath) / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    else:
        os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def remove_path(path: Path) -> None:
    """Delete a file or tree, read-only files included."""
    if path.is_dir() and not path.is_symlink():
        for dirpath, _dirs, files in os.walk(path):
            for name in files:
                os.chmod(Path(dirpath) / name, stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class BlobStore:
    """Writes, locates and re-hashes blobs under one workspace."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def path(self, digest: str) -> Path:
        """Location of a blob (whether or not it exists)."""
        return self.root / "sha256" / digest[:2] / digest

    def new_tmp(self, suffix: str = "") -> Path:
        """A unique, not yet existing path in the workspace temp area (same file system)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{uuid.uuid4().hex}{suffix}.partial"

    def ingest(self, src: Path, *, move: bool = False) -> Blob:
        """Store a file or directory; ``move`` consumes ``src`` (it must be in ``tmp``)."""
        if src.is_symlink() or not src.exists():
            raise FileNotFoundError(f"{src} does not exist or is a symlink")
        staged, copied = self._stage(src, move)
        try:
            blob = copied or self._describe(staged)
            self._place(staged, blob.digest)
            return blob
        finally:
            if staged.exists():
                remove_path(staged)

    def _stage(self, src: Path, move: bool) -> tuple[Path, Blob | None]:
        """Move or copy ``src`` into tmp; a copied file is hashed (and fsynced) while copying."""
        staged = self.new_tmp()
        if move:
            os.rename(src, staged)
        elif src.is_dir():
            shutil.copytree(src, staged, symlinks=True)
        else:
            digest, size = copy_hashing(src, staged)
            return staged, Blob(digest, size, "file")
        return staged, None

    def _describe(self, staged: Path) -> Blob:
        if staged.is_dir():
            manifest = tree_manifest(staged)
            for rel, _digest, _size in manifest:
                _fsync_file(staged / rel)
            return Blob(manifest_digest(manifest), sum(m[2] for m in manifest), "dir")
        _fsync_file(staged)
        return Blob(sha256_path(staged), staged.stat().st_size, "file")

    def _place(self, staged: Path, digest: str) -> None:
        final = self.path(digest)
        if final.exists():
            if sha256_path(final) == digest:
                os.utime(final)  # fresh again: gc's grace period must protect the coming commit
                return  # identical content already stored (dedup)
            remove_path(final)  # a corrupted copy: replace it with the good bytes
        final.parent.mkdir(parents=True, exist_ok=True)
        _make_readonly(staged)
        try:
            os.rename(staged, final)
        except OSError:
            if not (final.exists() and sha256_path(final) == digest):
                raise  # not a concurrent writer of the same bytes: a real failure
        fsync_dir(final.parent)

    def actual_digest(self, digest: str) -> str | None:
        """Re-hash a blob; ``None`` when it is missing."""
        path = self.path(digest)
        if not path.exists():
            return None
        return sha256_path(path)
