"""Make a directory read-only the way a deployment does, for the read-only fault tests.

Two ways, both real: a read-only bind mount of the directory onto itself (root with mount
permission; this is how a container sees a ``:ro`` volume), and ``chmod -R a-w``. Root
ignores file modes, so as root the ``chmod`` variant runs the commands without the
capabilities that let it (``CAP_DAC_OVERRIDE`` and friends, dropped before ``exec``): they
then see the modes exactly as an unprivileged owner of the files would.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import Result


def mount_problem() -> str | None:
    """Why a read-only bind mount cannot be made here (``None``: it can)."""
    if os.geteuid() != 0:
        return "a read-only bind mount needs root"
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"modelmill-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        with readonly_mount(probe):
            return None
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc)
        return f"mounting is not permitted here ({detail!r})"
    finally:
        probe.rmdir()


@contextmanager
def readonly_mount(path: Path) -> Iterator[Path]:
    """``path`` bind-mounted read-only onto itself for the block."""
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def chmod_tree(path: Path, writable: bool) -> None:
    """``chmod -R a-w`` (or give the owner write back, to clean up)."""
    for dirpath, dirs, files in os.walk(path):
        for name in [*dirs, *files, None]:
            target = Path(dirpath) / name if name else Path(dirpath)
            if target.is_symlink():
                continue
            mode = target.stat().st_mode
            mode = mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
            os.chmod(target, mode)


_PR_CAPBSET_DROP = 24
# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore file modes
_BYPASS_CAPABILITIES = (1, 2, 3)


def _obey_permissions() -> None:
    """In the child, before exec: drop root's permission bypass from the capability bounding
    set, so the program runs as uid 0 but with the file modes enforced like for any owner."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _BYPASS_CAPABILITIES:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def _preexec() -> Callable[[], None] | None:
    return _obey_permissions if os.geteuid() == 0 else None


def permissions_problem() -> str | None:
    """Why file modes cannot be enforced on the commands here (``None``: they can)."""
    if os.geteuid() != 0:
        return None
    try:
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_obey_permissions, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"root cannot drop its permission bypass here ({exc})"
    return None


def run_obeying_permissions(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> Result:
    """``modelmill ARGS`` like ``conftest.cli``, but with file modes enforced even for root."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelmill.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        cwd=cwd,
        preexec_fn=_preexec(),
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def popen(*args: str, env: dict[str, str], cwd: Path, obey_permissions: bool) -> subprocess.Popen[str]:
    """A long-running ``modelmill ARGS`` (serve, ui)."""
    return subprocess.Popen(
        [sys.executable, "-m", "modelmill.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        preexec_fn=_preexec() if obey_permissions else None,
    )
