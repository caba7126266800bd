"""Progress display: a live rich table on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import IO, Protocol

from modelmill.core.types import StepResult

_STYLE = {
    "ran": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "dim",
    "running": "yellow",
}


class Reporter(Protocol):
    """Receives step events from the executor."""

    def start(self, steps: list[str]) -> None: ...

    def step_started(self, name: str) -> None: ...

    def step_finished(self, result: StepResult) -> None: ...

    def close(self) -> None: ...


def _describe(result: StepResult) -> str:
    if result.error:
        return result.error.splitlines()[-1]
    reason = f"({result.reason})" if result.reason else ""
    return " ".join(part for part in (", ".join(result.outputs), reason) if part)


class PlainReporter:
    """One line per event, for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def start(self, steps: list[str]) -> None:
        print(f"pipeline: {' -> '.join(steps)}", file=self.stream, flush=True)

    def step_started(self, name: str) -> None:
        print(f"[{name}] running", file=self.stream, flush=True)

    def step_finished(self, result: StepResult) -> None:
        print(
            f"[{result.name}] {result.status} {result.seconds:.2f}s {_describe(result)}".rstrip(),
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        return None


class RichReporter:
    """A table that updates in place: step, status, time, outputs or reason."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream or sys.stderr)
        self.rows: dict[str, tuple[str, float, str]] = {}
        self.started: dict[str, float] = {}
        self.live = Live(console=self.console, refresh_per_second=8, get_renderable=self._table)

    def _table(self):
        from rich.table import Table

        table = Table(title="modelmill run", expand=False)
        for col in ("step", "status", "seconds", "outputs / reason"):
            table.add_column(col)
        for name, (status, seconds, detail) in self.rows.items():
            if status == "running":
                seconds = time.monotonic() - self.started[name]
            style = _STYLE.get(status, "")
            table.add_row(name, f"[{style}]{status}[/]", f"{seconds:.1f}", detail)
        return table

    def start(self, steps: list[str]) -> None:
        self.rows = {s: ("pending", 0.0, "") for s in steps}
        self.live.start()

    def step_started(self, name: str) -> None:
        self.started[name] = time.monotonic()
        self.rows[name] = ("running", 0.0, "")

    def step_finished(self, result: StepResult) -> None:
        self.rows[result.name] = (result.status, result.seconds, _describe(result))

    def close(self) -> None:
        self.live.stop()


def default_reporter(stream: IO[str] | None = None) -> Reporter:
    """Rich table when the stream is a terminal, plain lines otherwise."""
    target = stream or sys.stderr
    return RichReporter(target) if target.isatty() else PlainReporter(target)
