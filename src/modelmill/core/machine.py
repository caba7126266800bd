"""What this machine offers modelmill: its cache folder and the cores this process may use."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import tempfile
from collections.abc import Iterator
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


def resident_bytes() -> int | None:
    """This process's resident set now (``/proc/self/statm``), ``None`` where there is none."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Objects that exist now (modules, a loaded model) are left out of the garbage collector's
    passes until the block ends: a batch job's full passes otherwise walk them again and again
    (3.7% of the course forest's CSV job, 1.6% frozen). Unfrozen at the end, so nothing stays
    uncollectable; left alone when the caller froze objects itself."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class HeapTrimmer:
    """:func:`release_free_memory` only once the resident set has grown ``margin`` bytes past
    what the last trim left. Each batch chunk frees 60+ MB that the next one allocates again:
    trimming after every chunk gave it back and took it again page by page (1.2 us a row of
    system time on 1M listings); every fourth chunk or so bounds the peak as well (about 30 MB
    higher) for a third of that."""

    def __init__(self, margin: int) -> None:
        self.margin = margin
        self._floor: int | None = None

    def __call__(self) -> None:
        now = resident_bytes()
        if now is not None and self._floor is not None and now <= self._floor + self.margin:
            return
        release_free_memory()
        self._floor = resident_bytes()


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
