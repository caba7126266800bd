"""What this machine offers modelmill: its cache folder and the cores this process may use."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "MODELMILL_CACHE_DIR"


def cache_dir() -> Path:
    """Where modelmill keeps machine-wide caches (the MLflow database template, built kernels):
    ``$MODELMILL_CACHE_DIR``, else ``$XDG_CACHE_HOME/modelmill``, else ``~/.cache/modelmill``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry (some containers)
            base = os.path.join(tempfile.gettempdir(), "modelmill-cache")
    return Path(base) / "modelmill"


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere a
    no-op). Between batch chunks, the pages pandas, onnxruntime and Arrow freed otherwise
    stay in the process's arenas, one per thread: 75 MB of the course forest's peak RSS."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
