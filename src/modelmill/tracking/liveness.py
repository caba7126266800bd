"""Which process opened a run, and whether that process is still alive.

A process killed with SIGKILL (or by the OOM killer, or a power cut) never closes the runs
it opened: they would stay ``RUNNING`` forever. Every run therefore records its owner:
host name, pid and the kernel's start time of that pid (so a pid reused by a later process
is not mistaken for the owner). A later writer marks the runs of a dead owner failed.
Runs opened on another host are never touched: their owner cannot be checked from here.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST_TAG = "modelmill.host"
PID_TAG = "modelmill.pid"
STARTED_TAG = "modelmill.pid_started"


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time in clock ticks since boot)`` from ``/proc/PID/stat``; ``None``
    when there is no such process. Raises ``OSError`` where ``/proc`` does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if not Path("/proc/self/stat").exists():
            raise OSError("no /proc on this system") from None
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and ')'
    return fields[0], fields[19]


@dataclass(frozen=True)
class Owner:
    """The process that opened a run."""

    host: str
    pid: int
    started: str = ""  # "" where the start time cannot be read (no /proc)

    def tags(self) -> dict[str, str]:
        """Run tags recording this owner."""
        return {HOST_TAG: self.host, PID_TAG: str(self.pid), STARTED_TAG: self.started}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (kept in the workspace index)."""
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Owner | None:
        """The owner recorded in run tags, if any."""
        return cls.from_dict({"host": tags.get(HOST_TAG), "pid": tags.get(PID_TAG),
                              "started": tags.get(STARTED_TAG, "")})  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Owner | None:
        """Inverse of :meth:`to_dict`; ``None`` for anything incomplete."""
        if not isinstance(data, dict) or not data.get("host") or not str(data.get("pid", "")).isdigit():
            return None
        return cls(str(data["host"]), int(data["pid"]), str(data.get("started") or ""))

    def is_dead(self) -> bool:
        """True only when this host can tell the owner has exited (or its pid was reused)."""
        if self.host != socket.gethostname():
            return False
        try:
            stat = _proc_stat(self.pid)
        except OSError:  # no /proc: the pid's existence is all we can check
            return not pid_exists(self.pid)
        if stat is None or stat[0] in ("Z", "X"):  # gone, or a zombie nobody has reaped yet
            return True
        return bool(self.started) and stat[1] != self.started


def pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (also when another user owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@functools.cache
def _current(pid: int) -> Owner:
    try:
        stat = _proc_stat(pid)
    except OSError:
        stat = None
    return Owner(socket.gethostname(), pid, stat[1] if stat else "")


def current() -> Owner:
    """This process (computed once per pid: a forked child gets its own)."""
    return _current(os.getpid())
