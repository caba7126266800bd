"""The weekly retrain job: ingest a batch, run the pipeline, let the gate decide.

Retraining is just a pipeline run with ``etl.sample=INPUT``: the ingest step stores the
batch as the next version of its output (the store deduplicates an unchanged file, and
unchanged steps are cache hits), the step with role ``check`` can stop the run before
anything is trained, and only the step with role ``promote`` (its promotion gate) may move
``prod``. This module turns that run into one decision a scheduler can act on: promoted,
kept, or stopped by the data check. Steps are found by their roles, never by their names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modelmill.core.errors import ModelmillError, UsageError
from modelmill.core.types import RunSummary
from modelmill.runner import Pipeline

Decision = Literal["promoted", "kept", "stopped"]


FAILED_EXIT = 3  # a step failed (not a data-check stop, which is 1): a scheduler can tell them apart


class RetrainFailed(ModelmillError):
    """A step failed for another reason than the data tests: not a decision, an error
    (exit 2 for an input error, else :data:`FAILED_EXIT`)."""

    def __init__(self, message: str, exit_code: int = FAILED_EXIT) -> None:
        super().__init__(message)
        self.exit_code = 2 if exit_code == 2 else FAILED_EXIT


@dataclass
class RetrainResult:
    """The decision of one retrain, and what it was based on."""

    decision: Decision
    line: str
    run_id: str
    candidate: str | None = None
    prod: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when the pipeline decided (promoted or kept), 1 when the data stopped it."""
        return 1 if self.decision == "stopped" else 0

    def to_dict(self) -> dict[str, Any]:
        """The ``retrain --json`` document."""
        return {
            "decision": self.decision,
            "line": self.line,
            "candidate": self.candidate,
            "prod": self.prod,
            "metrics": self.metrics,
            "run_id": self.run_id,
        }


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4g}"


def _lower_is_better(promotion: dict[str, Any]) -> bool:
    """The gate metric's direction: recorded in the document, else the task's."""
    if "lower_is_better" in promotion:
        return bool(promotion["lower_is_better"])
    from modelmill.tasks import get_task

    task = get_task(str(promotion.get("task", "regression")))
    name = str(promotion.get("metric", task.default_metric))
    return task.lower_is_better(name) if name in task.metric_names else True


def decision_line(promotion: dict[str, Any]) -> tuple[Decision, str, str | None]:
    """``(decision, line, prod ref after)`` from the promote step's ``promotion`` document."""
    metric = str(promotion.get("metric", "mae")).upper()
    lower = _lower_is_better(promotion)
    cand, prod = promotion.get("candidate_value"), promotion.get("prod_value")
    if promotion["promoted"]:
        versus = f" {'<' if lower else '>'} prod {_fmt(prod)}" if prod is not None else ", no prod before"
        return "promoted", f"promoted {promotion['candidate']} (test {metric} {_fmt(cand)}{versus})", \
            promotion["candidate"]  # fmt: skip
    kept = promotion.get("prod_after") or promotion.get("prod_before")
    reason = str(promotion.get("reason", ""))
    if reason == "already prod":
        detail = f"candidate {promotion['candidate']} is already prod"
    elif cand is not None and prod is not None and not promotion.get("min_improvement"):
        sign = ">=" if lower else "<="
        detail = f"candidate {metric} {_fmt(cand)} {sign} prod {_fmt(prod)}"
    elif cand is not None and prod is not None:
        detail = f"candidate {metric} {_fmt(cand)}, prod {_fmt(prod)}: {reason}"
    else:
        detail = reason or "the gate declined"
    return "kept", f"kept prod {kept or 'none'} ({detail})", kept


def data_steps(pipeline: Pipeline) -> set[str]:
    """The step with role ``check`` and the steps it reads from (ingest, cleaning): a data
    test failing in any of them (the ingest step tests the types as read) stops a retrain."""
    check = pipeline.role("check")
    if check is None:
        return set()
    found: set[str] = set()
    todo = [check.name]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += pipeline.upstream(pipeline.by_name[name])
    return found


def _stopped(summary: RunSummary, pipeline: Pipeline) -> RetrainResult | None:
    """The data-check stop, if that is why the run failed (a decision, exit 1)."""
    failed = next((s for s in summary.steps if s.status == "failed"), None)
    if failed is None:
        return None
    if failed.name not in data_steps(pipeline) or not failed.error.startswith("DataCheckError"):
        where = "an input error" if failed.exit_code == 2 else "a failure"
        raise RetrainFailed(
            f"retrain run {summary.run_id} stopped by {where} in step '{failed.name}': {failed.error}",
            failed.exit_code,
        )
    reason = failed.error.removeprefix("DataCheckError: ").strip()
    reason = " ".join(line.strip() for line in reason.splitlines() if line.strip())
    return RetrainResult("stopped", f"stopped by data check: {reason}", summary.run_id)


def promotion_output(pipeline: Pipeline) -> str:
    """The artifact name of the promote step's decision document (type ``promotion``)."""
    promote = pipeline.require_role("promote", "retrain")
    typed = [o.name for o in promote.outputs if o.type == "promotion"]
    if typed or len(promote.outputs) == 1:
        return (typed or [promote.outputs[0].name])[0]
    raise UsageError(
        f"retrain reads the decision of step '{promote.name}' (role promote) from an output of type "
        f"'promotion'; it declares {', '.join(o.name for o in promote.outputs) or 'no output'}"
    )


def interpret(summary: RunSummary, store: Any, pipeline: Pipeline) -> RetrainResult:
    """The decision of a finished pipeline run (see :func:`retrain`)."""
    stopped = _stopped(summary, pipeline)
    if stopped is not None:
        return stopped
    promote = pipeline.require_role("promote", "retrain")
    document = promotion_output(pipeline)
    step = next((s for s in summary.steps if s.name == promote.name), None)
    promotion_ref = next((o for o in (step.outputs if step else []) if o.split(":")[0] == document), None)
    if promotion_ref is None:
        raise RetrainFailed(
            f"retrain run {summary.run_id} did not reach step '{promote.name}' (role promote); "
            "retrain needs the full pipeline (do not set main.steps)"
        )
    promotion = json.loads(store.read_text(promotion_ref))
    decision, line, prod = decision_line(promotion)
    metrics = {k: v for k, v in summary.metrics.items() if k.startswith(("test_", "prod_test_"))}
    return RetrainResult(decision, line, summary.run_id, promotion["candidate"], prod, metrics)


def retrain(
    batch: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    workspace: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    reporter: Any = None,
) -> RetrainResult:
    """Ingest ``batch`` as the next ``sample.csv``, run the whole pipeline and report the gate's decision.

    ``config_dir``: the project's Hydra config folder (default: the ``conf/`` found from the
    current folder, else the packaged NYC config), as ``modelmill run --config-dir``.

    Raises :class:`UsageError` for a missing batch or a partial step selection, and
    :class:`RetrainFailed` when a step other than data_check fails.
    """
    from modelmill import config as config_mod
    from modelmill.api import load_pipeline, open_workspace, run

    path = Path(os.path.expanduser(str(batch)))
    if not path.is_file():
        raise UsageError(f"retrain input {str(batch)!r}: no such file (a CSV or Parquet batch)")
    clashing = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in ("etl.sample", "main.steps")]
    if clashing:
        raise UsageError(f"retrain sets etl.sample and runs every step; remove {', '.join(clashing)}")
    extra = [f"main.workspace={Path(workspace).absolute()}"] if workspace is not None else []
    full = [*overrides, *extra, f"etl.sample={path.absolute()}"]
    cfg = config_mod.compose(full, config_dir=config_dir)
    pipeline = load_pipeline(cfg)
    promotion_output(pipeline)  # a pipeline without a promote step fails now, before it runs
    ws = open_workspace(cfg.main.workspace)  # the one the run will use
    summary = run(full, config_dir=config_dir, reporter=reporter)
    return interpret(summary, ws.store, pipeline)
