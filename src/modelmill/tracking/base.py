"""The tracking interface the runner talks to, and a tracker that records nothing.

The runner never imports MLflow itself: it calls this small interface, so unit tests
run with :class:`NullTracker` and MLflow's import cost is paid only when tracking is on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    """One pipeline execution = one parent run; each step that runs = one nested run."""

    def start_pipeline(self, run_id: str, config_yaml: str, params: dict[str, Any]) -> None:
        """Begin the parent run (config logged as a file and as flattened params)."""

    def start_step(self, step: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        """Begin a nested run for a step that is about to run."""

    def log_metrics(self, metrics: dict[str, float]) -> None:
        """Metrics of the current step."""

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """A file (plot, report) for the current step."""

    def end_step(self, status: str, tags: dict[str, str]) -> None:
        """Close the current step's run: ``ran``, ``failed`` or ``interrupted``."""

    def end_pipeline(self, status: str, summary: dict[str, Any]) -> str | None:
        """Close the parent run (``success``, ``failed`` or ``interrupted``: then end every
        run this execution opened); returns the tracking run id when known."""


class NullTracker:
    """A tracker that does nothing (unit tests, ``main.tracking=none``)."""

    def start_pipeline(self, run_id: str, config_yaml: str, params: dict[str, Any]) -> None:
        return None

    def start_step(self, step: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        return None

    def log_metrics(self, metrics: dict[str, float]) -> None:
        return None

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        return None

    def end_step(self, status: str, tags: dict[str, str]) -> None:
        return None

    def end_pipeline(self, status: str, summary: dict[str, Any]) -> str | None:
        return None
