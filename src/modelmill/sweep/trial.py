"""One trial: a pipeline run with the trial's overrides, in whatever process runs it.

:func:`run_trial` is what launchers execute (a local worker process or a Ray task): it
takes and returns plain dicts, so it pickles anywhere, and it never raises, so a bad
parameter value fails its own trial and never the sweep.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

THREAD_VARS = ("LOKY_MAX_CPU_COUNT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class TrialResult:
    """What one trial did; JSON-ready through :meth:`to_dict`."""

    index: int
    overrides: list[str]
    params: dict[str, str]
    status: str = "failed"  # ok | failed
    metrics: dict[str, float] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    error: str = ""
    seconds: float = 0.0
    run_id: str | None = None
    tracking_run_id: str | None = None

    def overrides_short(self) -> list[str]:
        """The swept values as ``key=value`` (for progress lines)."""
        return [f"{k}={v}" for k, v in self.params.items()]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what crosses process boundaries and what ``--json`` prints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def limit_threads(threads: int) -> None:
    """Cap the threads a trial's libraries start, so parallel trials share the cores.

    joblib (a forest's ``n_jobs=-1``) and OpenMP (gradient boosting) read these at use;
    the cap changes speed only, never results, and is not part of any cache key.
    """
    for name in THREAD_VARS:
        os.environ[name] = str(max(1, threads))


def run_trial(payload: dict[str, Any]) -> dict[str, Any]:
    """Run the pipeline for one trial and return a :class:`TrialResult` as a dict.

    ``payload``: ``index``, ``overrides`` (the trial's, fixed ones included), ``params``
    (the swept values), ``steps`` (names), ``threads``, ``parent_run_id``, ``tags``,
    ``config_dir``, ``model_step`` and ``model_artifact`` (the step with role ``train`` and
    its model output: the trial's model).
    """
    from modelmill.api import run

    if payload.get("threads"):
        limit_threads(int(payload["threads"]))
    result = TrialResult(payload["index"], list(payload["overrides"]), dict(payload["params"]))
    started = time.perf_counter()
    try:
        summary = run(
            [*payload["overrides"], f"main.steps=[{','.join(payload['steps'])}]"],
            config_dir=payload.get("config_dir"),
            reporter=_Silent(),
            tracking_parent=payload.get("parent_run_id"),
            tracking_tags=payload.get("tags") or {},
        )
    except Exception as exc:  # a bad value Hydra or the runner rejects: this trial fails
        result.error = f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - started
        if not str(exc):
            result.error += "\n" + traceback.format_exc(limit=3)
        return result.to_dict()
    result.seconds = time.perf_counter() - started
    result.run_id = summary.run_id
    result.tracking_run_id = summary.tracking_run_id
    result.metrics = {k: float(v) for k, v in summary.metrics.items()}
    result.steps = {s.name: s.status for s in summary.steps}
    failed = [s for s in summary.steps if s.status == "failed"]
    if failed:
        result.error = (
            f"{failed[0].name}: {failed[0].error.strip().splitlines()[-1] if failed[0].error else ''}"
        )
    else:
        result.status = "ok"
    artifact = payload.get("model_artifact")
    for s in summary.steps:
        if s.name == payload.get("model_step") and s.outputs:
            named = [o for o in s.outputs if o.split(":")[0] == artifact]
            result.model = (named or s.outputs)[0]
    return result.to_dict()


class _Silent:
    """A reporter that prints nothing (the sweep reports per trial)."""

    def start(self, steps: list[str]) -> None:
        return None

    def step_started(self, name: str) -> None:
        return None

    def step_finished(self, result: Any) -> None:
        return None

    def close(self) -> None:
        return None
