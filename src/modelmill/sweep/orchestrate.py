"""Run a sweep: shared steps once, trials in parallel, a ranked table, an optional promotion.

The flow (one function per stage below): expand the overrides with Hydra, plan which
steps are shared, open an MLflow group run, run the shared steps once, run the trials
through a launcher, rank them, store the table as an artifact, and with
``promote_best`` send the best trial through the pipeline's own promotion gate.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelmill import api
from modelmill import config as config_mod
from modelmill.core.types import RunSummary
from modelmill.sweep.launchers import Launcher, LocalLauncher, default_jobs
from modelmill.sweep.plan import Plan, make_plan
from modelmill.sweep.ranking import check_metric, metric_key, rank, resolve_direction
from modelmill.sweep.space import expand, trial_values
from modelmill.sweep.trial import TrialResult

RESULTS = "sweep_results"


@dataclass
class SweepSummary:
    """Everything ``modelmill sweep`` prints; :meth:`to_dict` is its ``--json``."""

    sweep_id: str
    metric: str
    direction: str
    swept_keys: list[str]
    plan: Plan
    shared: dict[str, str] = field(default_factory=dict)  # shared step -> ran/cached/failed
    trials: list[TrialResult] = field(default_factory=list)  # ranked, best first
    error: str = ""
    exit_code: int = 0
    promotion: dict[str, Any] | None = None
    results_ref: str | None = None
    tracking_run_id: str | None = None
    study: dict[str, Any] | None = None  # Optuna: name, storage, earlier/new trial counts
    seconds: float = 0.0

    @property
    def best(self) -> TrialResult | None:
        """The top trial, if any succeeded."""
        top = self.trials[0] if self.trials else None
        return top if top is not None and top.status == "ok" and self.metric in top.metrics else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        best = self.best
        return {
            "sweep_id": self.sweep_id, "metric": self.metric, "direction": self.direction,
            "swept_keys": self.swept_keys, "shared_steps": self.shared,
            "per_trial_steps": self.plan.per_trial, "error": self.error,
            "best": best.index if best else None, "trials": [t.to_dict() for t in self.trials],
            "promotion": self.promotion, "results": self.results_ref,
            "tracking_run_id": self.tracking_run_id, "study": self.study, "seconds": round(self.seconds, 2),
        }  # fmt: skip


@dataclass
class SweepOptions:
    """How to run the sweep (CLI options)."""

    jobs: int | None = None
    launcher: Launcher | None = None
    metric: str = "mae"
    direction: str = "auto"
    promote_best: bool = False
    config_dir: str | Path | None = None
    on_trial: Callable[[TrialResult, int, int], None] | None = None
    on_shared: Callable[[RunSummary], None] | None = None


class SweepSession:
    """State shared by grid and Optuna sweeps: plan, workspace, group run, launcher.

    ``representative`` is one trial's override list: it fixes the plan (shared steps)
    and runs the shared steps; every trial must agree with it on those steps' params.
    """

    def __init__(self, trials: Sequence[Sequence[str]], swept_keys: list[str], opts: SweepOptions,
                 raw_overrides: Sequence[str]) -> None:  # fmt: skip
        self.started = time.perf_counter()
        # the project's conf/ found here goes to every trial, whatever folder its process starts in
        opts.config_dir = config_mod.project_config_dir(opts.config_dir)
        self.opts = opts
        self.plan, configs = make_plan(trials, config_dir=opts.config_dir)
        if opts.promote_best and not self.plan.publish:
            api.load_pipeline(configs[0]).require_role("promote", "--promote-best")  # says what is missing
        cfg = configs[0]
        self.ws = api.open_workspace(cfg.main.workspace)
        self.ws.require_writable()  # before the group run: a read-only workspace changes nothing
        self.pinned = [f"main.workspace={self.ws.root}"]
        key = metric_key(opts.metric)
        self.summary = SweepSummary(
            f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}", key,
            resolve_direction(key, opts.direction), swept_keys, self.plan,
        )  # fmt: skip
        self.group = _start_group(cfg, self.ws, self.summary, list(raw_overrides))
        self.summary.tracking_run_id = self.group.run_id if self.group else None
        self.tags = {"modelmill.sweep": self.summary.sweep_id}
        self.launcher = opts.launcher or LocalLauncher(opts.jobs or default_jobs())
        self.results: list[TrialResult] = []

    def run_shared(self, representative: Sequence[str]) -> bool:
        """Run the shared steps once (nothing to do when there are none)."""
        if not self.plan.shared:
            return True
        return _run_shared(self.summary, [*representative, *self.pinned], self.opts, self.tags)

    def payload(
        self, index: int, overrides: Sequence[str], params: dict[str, str], total: int
    ) -> dict[str, Any]:
        """What a launcher sends to :func:`modelmill.sweep.trial.run_trial`."""
        return {
            "index": index, "overrides": [*overrides, *self.pinned], "params": params,
            "steps": self.plan.trial_steps,
            "threads": max(1, default_jobs() // max(1, min(self.launcher.jobs, total))),
            "parent_run_id": self.summary.tracking_run_id,
            "tags": {**self.tags, "modelmill.trial": str(index)},
            "config_dir": str(self.opts.config_dir) if self.opts.config_dir else None,
            "model_step": self.plan.model_step, "model_artifact": self.plan.model_artifact,
        }  # fmt: skip

    def collect(self, data: dict[str, Any], total: int) -> TrialResult:
        """Record one finished trial and report it."""
        result = TrialResult.from_dict(data)
        self.results.append(result)
        if self.opts.on_trial:
            self.opts.on_trial(result, len(self.results), total)
        return result

    def finish(self) -> SweepSummary:
        """Rank, promote the best if asked, store the table, close the group run."""
        summary = self.summary
        if self.results:
            check_metric(self.results, summary.metric)
            summary.trials = rank(self.results, summary.metric, summary.direction)
        if self.opts.promote_best and summary.best is not None and not summary.error:
            summary.promotion = _promote(summary.best, self.plan, self.pinned, self.opts, self.tags)
        _finish(summary, self.group, self.ws, self.started)
        return summary


def run_sweep(overrides: Sequence[str], options: SweepOptions | None = None) -> SweepSummary:
    """Run every combination of ``overrides`` (Hydra sweep syntax) and rank the trials."""
    opts = options or SweepOptions()
    grid = expand(overrides)
    session = SweepSession(grid.trials, grid.swept_keys, opts, overrides)
    if session.run_shared(grid.trials[0]):
        total = len(grid.trials)
        payloads = [
            session.payload(i, t, trial_values(t, grid.swept_keys), total) for i, t in enumerate(grid.trials)
        ]
        for data in session.launcher.run(payloads):
            session.collect(data, total)
    return session.finish()


def _start_group(cfg: Any, ws: Any, summary: SweepSummary, overrides: list[str]) -> Any:
    if str(cfg.main.get("tracking", "mlflow")) != "mlflow":
        return None
    from modelmill.tracking.groups import GroupRun

    group = GroupRun(cfg.main.tracking_uri or ws.default_tracking_uri, str(cfg.main.experiment_name),
                     ws.mlflow_artifact_root)  # fmt: skip
    group.start(
        summary.sweep_id,
        {"overrides": " ".join(overrides), "metric": summary.metric, "direction": summary.direction},
        {"modelmill.kind": "sweep", "modelmill.sweep": summary.sweep_id},
    )
    return group


def _run_shared(
    summary: SweepSummary, overrides: list[str], opts: SweepOptions, tags: dict[str, str]
) -> bool:
    """Run the shared steps once; False (with the error recorded) when one fails.

    One pass settles them: an alias a shared step moves (data_check sets ``reference`` on
    first use) is a declared effect, so the trials find every shared step cached.
    """
    result = api.run(
        [*overrides, f"main.steps=[{','.join(summary.plan.shared)}]"],
        config_dir=opts.config_dir,
        reporter=_quiet_reporter(),
        tracking_parent=summary.tracking_run_id,
        tracking_tags={**tags, "modelmill.sweep_phase": "shared"},
    )
    summary.shared.update({s.name: s.status for s in result.steps})
    if opts.on_shared:
        opts.on_shared(result)
    failed = [s for s in result.steps if s.status == "failed"]
    if failed:
        summary.error = f"shared step '{failed[0].name}' failed: {failed[0].error}"
        summary.exit_code = failed[0].exit_code or 1
        return False
    return True


def _promote(best: TrialResult, plan: Plan, pinned: list[str], opts: SweepOptions,
             tags: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """Re-run the best trial with the publishing steps: all else is cached; the gate decides."""
    result = api.run(
        [*best.overrides, *pinned, f"main.steps=[{','.join([*plan.trial_steps, *plan.publish])}]"],
        config_dir=opts.config_dir,
        reporter=_quiet_reporter(),
        tracking_tags={**tags, "modelmill.sweep_phase": "promote"},
    )
    failed = [s for s in result.steps if s.status == "failed"]
    return {
        "trial": best.index,
        "model": best.model,
        "status": result.status,
        "promoted": bool(result.metrics.get("promoted", 0)),
        "metrics": {k: v for k, v in result.metrics.items() if k.startswith(("test_", "prod_", "promoted"))},
        "steps": {s.name: s.status for s in result.steps},
        "error": failed[0].error if failed else "",
    }


def _finish(summary: SweepSummary, group: Any, ws: Any, started: float) -> None:
    summary.seconds = time.perf_counter() - started
    payload = json.dumps(summary.to_dict(), indent=2, default=str)
    if summary.trials:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sweep.json"
            path.write_text(payload)
            models = sorted({t.model for t in summary.trials if t.model})
            meta = {"sweep_id": summary.sweep_id, "metric": summary.metric}
            version = ws.store.put(path, RESULTS, "sweep_results", inputs=models, metadata=meta)
            summary.results_ref = version.ref
    if group is not None:
        best = summary.best
        metrics = {f"best_{summary.metric}": best.metrics[summary.metric]} if best else {}
        metrics["trials_ok"] = sum(t.status == "ok" for t in summary.trials)
        metrics["trials_failed"] = sum(t.status != "ok" for t in summary.trials)
        tags = {
            "modelmill.best_trial": str(best.index) if best else "",
            "modelmill.best_model": (best.model or "") if best else "",
        }
        group.finish(not summary.error, metrics, tags, {"sweep.json": payload})


def _quiet_reporter() -> Any:
    from modelmill.sweep.trial import _Silent

    return _Silent()
