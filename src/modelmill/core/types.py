"""Plain records shared by the store, runner and CLI (no behaviour, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StepStatus = Literal["ran", "cached", "failed", "skipped"]
# a classification target with more levels is not a class label: modelmill init infers no
# classification task for it, and training refuses it (modelmill.tasks.check_labels)
MAX_CLASSES = 50


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``{"rf": {"depth": 3}}`` -> ``{"rf.depth": 3}``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


@dataclass(frozen=True)
class ArtifactVersion:
    """One immutable version of a named artifact, as recorded in the index."""

    name: str
    version: int
    type: str
    digest: str
    size: int
    kind: Literal["file", "dir"]
    created: float
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    step: str | None = None
    aliases: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name:vN``: the reference that always means exactly this content."""
        return f"{self.name}:v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form used by ``--json`` outputs."""
        data = asdict(self)
        data["ref"] = self.ref
        data["aliases"] = list(self.aliases)
        data["inputs"] = list(self.inputs)
        return data


@dataclass
class StepResult:
    """What happened to one step in one pipeline execution."""

    name: str
    status: StepStatus
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    error: str = ""
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``run --json``."""
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "outputs": self.outputs,
            "inputs": self.inputs,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass
class RunSummary:
    """The outcome of one pipeline execution."""

    run_id: str
    status: Literal["success", "failed"]
    steps: list[StepResult]
    metrics: dict[str, float] = field(default_factory=dict)
    tracking_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``run --json`` document."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "steps": [s.to_dict() for s in self.steps],
            "metrics": self.metrics,
            "tracking_run_id": self.tracking_run_id,
        }
