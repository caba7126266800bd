"""A lock of the installed packages that reinstalls them, with the interpreter and platform.

``pip freeze`` writes ``name==version`` for everything, and for a package installed from a
folder, a git checkout or an archive that line names a version no index has: the environment
cannot be rebuilt from it. Each distribution's ``direct_url.json`` (PEP 610) says where it came
from, so the lock writes what reinstalls it:

* from an index: ``name==version``;
* from a VCS: ``name @ git+URL@COMMIT`` (the exact commit pip recorded);
* from an archive URL: ``name @ URL#sha256=...``;
* from a local folder that is a clean git checkout: ``name @ git+file:///FOLDER@COMMIT``;
  a dirty or non-git folder: ``name @ file:///FOLDER`` with a comment saying it reinstalls
  that folder as it is then, on this machine only;
* a folder inside the project's own repository is the project's code, which the run's commit
  (and diff) already records: it is written as a comment, not installed.

The lock is a requirements file (comments hold the interpreter and platform), so ``pip`` and
``uv`` install it as is. :func:`requirement_lines` is what two locks are compared by.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from modelmill.tracking.gitstate import GitFailed, git, repo_root


def interpreter() -> dict[str, str]:
    """The interpreter and platform a run used (what a rebuilt environment must match)."""
    return {
        "implementation": sys.implementation.name,
        "version": ".".join(map(str, sys.version_info[:3])),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "system": platform.system().lower(),
    }


def _local_folder(url: str) -> Path | None:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def _folder_line(name: str, folder: Path, editable: bool, project_repo: Path | None) -> str:
    """The line of a distribution installed from a local folder (see the module docstring)."""
    repo = repo_root(folder) if folder.is_dir() else None
    how = "editable " if editable else ""
    if repo is not None and project_repo is not None and repo.resolve() == project_repo.resolve():
        return f"# project code (recorded by the run's commit, not installed): {name} from {how}{folder}"
    if repo is not None:
        try:
            commit = git(["rev-parse", "HEAD"], repo).strip()
            dirty = bool(git(["status", "--porcelain", "--untracked-files=no"], repo).strip())
        except GitFailed:
            commit, dirty = "", True
        if commit and not dirty:
            sub = folder.resolve().relative_to(repo.resolve()).as_posix()
            fragment = f"#subdirectory={sub}" if sub != "." else ""
            return f"{name} @ git+{repo.resolve().as_uri()}@{commit}{fragment}"
        state = f"a dirty checkout of {commit[:12]}" if commit else "a folder"
        return f"{name} @ {folder.resolve().as_uri()}  # {how}{state}: reinstalls it as it is then, here only"
    return f"{name} @ {folder.resolve().as_uri()}  # {how}local folder: reinstalls only on this machine"


def _name_version(dist: metadata.Distribution) -> tuple[str, str] | None:
    """``(name, version)`` from the ``NAME-VERSION.dist-info`` folder's name (reading every
    distribution's METADATA costs 0.1 s; the folder name says the same), else the metadata."""
    folder = getattr(dist, "_path", None)
    if isinstance(folder, Path) and folder.suffix in (".dist-info", ".egg-info"):
        name, sep, version = folder.stem.partition("-")
        if sep and version and "-" not in version:
            return name, version
    name = dist.metadata["Name"]
    return (name, dist.version) if name else None


def _line(dist: metadata.Distribution, name: str, version: str, project_repo: Path | None) -> str:
    try:
        direct: dict[str, Any] = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        direct = {}
    url = str(direct.get("url") or "")
    if not url:
        return f"{name}=={version}"
    if "vcs_info" in direct:
        vcs = direct["vcs_info"]
        sub = direct.get("subdirectory")
        return f"{name} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}" + (
            f"#subdirectory={sub}" if sub else ""
        )
    folder = _local_folder(url)
    if "dir_info" in direct and folder is not None:
        return _folder_line(name, folder, bool(direct["dir_info"].get("editable")), project_repo)
    archive = direct.get("archive_info") or {}
    hashes = dict(archive.get("hashes") or {})
    if not hashes and "=" in str(archive.get("hash", "")):  # PEP 610's older form: "sha256=..."
        algorithm, _, value = str(archive["hash"]).partition("=")
        hashes[algorithm] = value
    fragment = f"#sha256={hashes['sha256']}" if "sha256" in hashes else ""
    return f"{name} @ {url}{fragment}"


def _site_stamp() -> tuple[tuple[str, int], ...]:
    """The modification times of the folders on ``sys.path``: installing or removing a package
    changes its folder's, so an unchanged stamp means an unchanged environment."""
    stamp = []
    for entry in sys.path:
        try:
            stamp.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(stamp)


_CACHE: dict[tuple[Any, ...], str] = {}


def environment_lock(project_repo: Path | None = None) -> str:
    """The lock of this interpreter's installed distributions (see the module docstring);
    computed once per process while no package is installed or removed."""
    key = (_site_stamp(), str(project_repo))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _lock(project_repo)
    return _CACHE[key]


def _lock(project_repo: Path | None) -> str:
    facts = interpreter()
    found = {nv: d for d in metadata.distributions() if (nv := _name_version(d)) is not None}
    lines = {_line(d, name, version, project_repo) for (name, version), d in found.items()}
    header = [
        "# modelmill environment lock: installs with pip install -r / uv pip install -r",
        f"# python: {facts['implementation']} {facts['version']} on {facts['platform']}",
    ]
    return "\n".join([*header, *sorted(lines, key=lambda ln: ln.lstrip("# ").lower())]) + "\n"


def requirement_lines(lock: str) -> list[str]:
    """The installable lines of a lock (comments and trailing notes dropped), for comparing two."""
    lines = (ln.split("  #")[0].strip() for ln in lock.splitlines())
    return sorted(ln for ln in lines if ln and not ln.startswith("#"))
