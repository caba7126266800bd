"""modelmill's C kernels (``_*_kernel.c`` beside the module that uses one), built once per
machine with its C compiler and loaded with ctypes.

Why C of our own: the few loops that bound batch scoring (walking deep trees, tokenizing
text) run 3-10x faster as 50 lines of C than as any library call we measured (see each
kernel's header). A kernel is compiled at first use with ``$CC`` (default ``cc``) into the
user cache (:func:`~modelmill.core.machine.cache_dir`), keyed by the source, flags, compiler
and platform, written atomically; when that cache cannot be written, into a private
temporary folder (``$TMPDIR/modelmill-<uid>``, 0700). ctypes releases the GIL during a call,
so slices run on several threads. Without a compiler, :class:`KernelUnavailable` says why
and the caller keeps its pure-Python road.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from modelmill.core.machine import cache_dir

FLAGS = ("-O3", "-fno-tree-vectorize", "-fPIC", "-shared")  # vectorized gathers were slower


class KernelUnavailable(RuntimeError):
    """A kernel cannot be built or loaded here (the message says why)."""


def _compiler() -> tuple[str, str]:
    """The C compiler's path and version line, or :class:`KernelUnavailable`."""
    name = os.environ.get("CC") or "cc"
    path = shutil.which(name)
    if path is None:
        raise KernelUnavailable(f"no C compiler ({name!r} is not on PATH; set CC to one)")
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise KernelUnavailable(f"the C compiler {path} does not run ({exc})") from None
    return path, (version.stdout.splitlines() or [""])[0]


def _build(compiler: str, source: Path, target: Path) -> None:
    """Compile into a temporary file beside ``target``, then rename: never a half-written library."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=target.stem, suffix=".so.tmp", dir=target.parent)
    os.close(fd)
    try:
        try:
            done = subprocess.run([compiler, *FLAGS, "-o", temporary, str(source)],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        except subprocess.SubprocessError as exc:  # it hung
            raise KernelUnavailable(f"the C compiler {compiler} did not finish ({exc})") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise KernelUnavailable(f"the C compiler failed on {source.name}: {last}")
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _private_temporary() -> Path | None:
    """``$TMPDIR/modelmill-<uid>``, made ours alone (0700); ``None`` when it exists but another
    user owns it or may write to it: a library found there could be anybody's code."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"modelmill-{uid if uid is not None else 'user'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid) or info.st_mode & 0o022:
        return None
    return folder


def _library_path(source: Path) -> Path:
    compiler, version = _compiler()
    parts = (source.read_text(), " ".join(FLAGS), compiler, version, sys.platform, platform.machine())
    key = hashlib.sha256(b"\0".join(x.encode() for x in parts)).hexdigest()[:16]
    for place in (cache_dir, _private_temporary):  # the temporary folder only when needed
        folder = place()
        if folder is None:
            continue
        target = folder / f"{source.stem.lstrip('_')}-{key}.so"
        if target.is_file():
            return target
        try:
            _build(compiler, source, target)
            return target
        except OSError:  # a read-only or full cache: try the next place
            continue
    raise KernelUnavailable(
        f"cannot write the built kernel to {cache_dir()} nor to a private temporary folder"
    )


@lru_cache(maxsize=8)
def _loaded(source: Path) -> ctypes.CDLL | str:
    try:
        return ctypes.CDLL(str(_library_path(source)))
    except KernelUnavailable as exc:
        return str(exc)
    except OSError as exc:
        return f"the built kernel does not load ({exc})"


def load_library(source: Path) -> ctypes.CDLL:
    """``source`` built (at the first call on this machine) and loaded, once per process; or
    :class:`KernelUnavailable` with the reason (remembered: a failed build is not retried)."""
    loaded = _loaded(source)
    if isinstance(loaded, str):
        raise KernelUnavailable(loaded)
    return loaded


def forget_loaded() -> None:
    """Load (and build, if the cache lost them) every kernel again at its next use (tests)."""
    _loaded.cache_clear()
