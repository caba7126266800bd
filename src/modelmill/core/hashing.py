"""Digests of files, directory trees and JSON-able values.

Pure functions over bytes already on disk; no writes. A directory's digest is the
sha256 of its manifest (relative path, file digest and size, sorted), so it does not
depend on the order the file system lists entries in, nor on timestamps.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
DIR_PREFIX = b"modelmill-tree-v1\n"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def iter_tree(root: Path) -> Iterator[Path]:
    """Files under ``root`` in a stable order; symlinks are refused (they could point outside)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                raise ValueError(f"symlink {path} not allowed in an artifact directory")
            yield path


def tree_manifest(root: Path) -> list[tuple[str, str, int]]:
    """``(relative posix path, sha256, size)`` for every file under ``root``."""
    return [(p.relative_to(root).as_posix(), sha256_file(p), p.stat().st_size) for p in iter_tree(root)]


def manifest_digest(manifest: list[tuple[str, str, int]]) -> str:
    """Digest of a directory from its manifest."""
    digest = hashlib.sha256(DIR_PREFIX)
    for rel, file_digest, size in sorted(manifest):
        digest.update(f"{rel}\0{file_digest}\0{size}\n".encode())
    return digest.hexdigest()


def sha256_path(path: str | os.PathLike[str]) -> str:
    """Digest of a file or a directory tree."""
    p = Path(path)
    return manifest_digest(tree_manifest(p)) if p.is_dir() else sha256_file(p)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal values always serialise equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sha256_json(value: Any) -> str:
    """Digest of a JSON-able value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def sha256_text(text: str) -> str:
    """Digest of a string."""
    return hashlib.sha256(text.encode()).hexdigest()
