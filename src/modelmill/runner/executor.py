"""Runs a pipeline: resolve inputs, consult the cache, run or skip, store outputs.

Per step: inputs resolve to exact versions (the upstream step's output in this
execution, else the store); the cache key is computed; a hit whose outputs still
verify is reported ``cached``; otherwise the step runs in a scratch directory and its
outputs are stored only if it succeeded, so a failed step leaves nothing behind. The
next execution resumes naturally: finished steps are cache hits.

Interrupted (Ctrl-C, or SIGTERM under :func:`~modelmill.runner.interrupt.sigterm_interrupts`),
the executor records the run as ``interrupted``, ends the tracking runs it opened, and
raises :class:`~modelmill.runner.interrupt.Interrupted` naming the step and the resume. A
run whose process died without a word (SIGKILL) is marked ``failed`` by the next run.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from modelmill.core.errors import ArtifactNotFoundError, IntegrityError, ModelmillError
from modelmill.core.types import ArtifactVersion, RunSummary, StepResult
from modelmill.runner.cache import CacheKey, Execution, ExecutionLog, explain_change, make_key
from modelmill.runner.context import StepContext
from modelmill.runner.fingerprint import code_fingerprint, library_versions
from modelmill.runner.interrupt import Interrupted, signal_name
from modelmill.runner.pipeline import Pipeline
from modelmill.runner.progress import PlainReporter, Reporter
from modelmill.runner.step import Step
from modelmill.store.store import PutRequest
from modelmill.store.workspace import Workspace
from modelmill.tracking.base import NullTracker, Tracker

logger = logging.getLogger(__name__)


def new_run_id() -> str:
    """Sortable, unique: ``20261123-154501-3f9a1c``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class Executor:
    """Executes selected steps of a pipeline against one workspace."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        tracker: Tracker | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.ws = workspace
        self.store = workspace.store
        self.log = ExecutionLog(workspace.db)
        self.tracker = tracker or NullTracker()
        self.reporter = reporter or PlainReporter()
        self.libraries = library_versions()

    def run(
        self,
        pipeline: Pipeline,
        *,
        steps: Iterable[str] | None = None,
        force: bool | Iterable[str] = False,
        config_yaml: str = "",
        config: dict | None = None,
    ) -> RunSummary:
        """Run the selection; never raises for a failing step (see the summary's status).

        Raises :class:`Interrupted` on Ctrl-C (or SIGTERM turned interrupt) and
        :class:`~modelmill.core.errors.WorkspaceReadOnlyError` before anything starts on a
        read-only workspace.
        """
        selected = pipeline.select(steps)
        forced = {s.name for s in selected} if force is True else set(force or ())
        unknown_forced = forced - set(pipeline.by_name)
        if unknown_forced:
            pipeline.select(unknown_forced)  # raises with the list of known steps
        self.ws.require_writable()
        self.log.fail_orphaned_runs()
        run_id = new_run_id()
        self.log.start_run(run_id, config_yaml)
        self.tracker.start_pipeline(run_id, config_yaml, config or {})
        produced: dict[str, ArtifactVersion] = {}
        results: list[StepResult] = []
        current: str | None = None
        self.reporter.start([s.name for s in selected])
        try:
            for s in selected:
                current = s.name
                if results and results[-1].status in ("failed", "skipped"):
                    result = StepResult(s.name, "skipped", reason="an earlier step failed")
                else:
                    result = self._run_step(pipeline, s, run_id, produced, s.name in forced)
                results.append(result)
                self.reporter.step_finished(result)
            current = None
            return self._finish(run_id, results)
        except KeyboardInterrupt as exc:
            raise self._interrupted(run_id, current, results, exc) from None
        except BaseException as exc:  # a runner bug: record it, then re-raise
            self.log.finish_run(run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            self.reporter.close()
            shutil.rmtree(self.ws.runs_dir / run_id, ignore_errors=True)

    def _interrupted(
        self, run_id: str, step: str | None, results: list[StepResult], exc: KeyboardInterrupt
    ) -> Interrupted:
        """Record the interrupted run, end its tracking runs, and say where to resume.

        A second Ctrl-C during this clean-up abandons it: what stays open is closed as an
        orphan by the next run.
        """
        finished = [r.name for r in results if r.status in ("ran", "cached")]
        if step is None:
            where, resume = "while recording the run; every step finished and is stored", ""
        else:
            where = f"during step '{step}'"
            resume = (f"; {len(finished)} finished step(s) are stored and the next run resumes at "
                      f"'{step}' (finished steps are cache hits)")  # fmt: skip
        message = f"interrupted ({signal_name(exc)}) {where} in run {run_id}{resume}"
        summary = {"run_id": run_id, "status": "interrupted", "error": message,
                   "steps": [r.to_dict() for r in results]}  # fmt: skip
        for end in (
            lambda: self.log.finish_run(run_id, "interrupted", summary),
            lambda: self.tracker.end_pipeline("interrupted", summary),
        ):
            try:
                end()
            except KeyboardInterrupt:
                break
            except Exception as error:  # never hide the interrupt behind a clean-up failure
                logger.warning("while stopping run %s: %s", run_id, error)
        return Interrupted(message, getattr(exc, "signal_name", "SIGINT"))

    def _finish(self, run_id: str, results: list[StepResult]) -> RunSummary:
        failed = any(r.status == "failed" for r in results)
        status: Literal["success", "failed"] = "failed" if failed else "success"
        metrics: dict[str, float] = {}
        for r in results:
            metrics.update(r.metrics)
        summary = RunSummary(run_id, status, results, metrics)
        summary.tracking_run_id = self.tracker.end_pipeline(status, summary.to_dict())
        self.log.finish_run(run_id, status, summary.to_dict())
        return summary

    # ------------------------------------------------------------------ a step
    def _run_step(
        self,
        pipeline: Pipeline,
        s: Step,
        run_id: str,
        produced: dict[str, ArtifactVersion],
        forced: bool,
    ) -> StepResult:
        started = time.monotonic()
        try:
            inputs = self._resolve_inputs(pipeline, s, produced)
            key = make_key(
                code_fingerprint(s.module),
                s.params,
                {n: (v.digest if v else None) for n, v in inputs.items()},
                self.libraries,
            )
            hit = None if forced or not s.cache else self._cache_hit(s, key)
        except (ModelmillError, OSError) as exc:
            code = getattr(exc, "exit_code", 1)
            return StepResult(s.name, "failed", time.monotonic() - started, error=str(exc), exit_code=code)
        if hit is not None:
            versions = [self.store.resolve(ref) for ref in hit.outputs]
            for v in versions:
                produced[v.name] = v
                self.store.mark_latest(v)
            return StepResult(
                s.name,
                "cached",
                time.monotonic() - started,
                outputs=list(hit.outputs),
                inputs=[v.ref for v in inputs.values() if v],
                metrics=dict(hit.metrics),
                reason=f"same key as run {hit.run_id}",
            )
        reason = "forced" if forced else self._why(s, key) if s.cache else "always runs (cache=False)"
        return self._execute(s, run_id, inputs, key, produced, reason, started)

    def _resolve_inputs(
        self, pipeline: Pipeline, s: Step, produced: dict[str, ArtifactVersion]
    ) -> dict[str, ArtifactVersion | None]:
        resolved: dict[str, ArtifactVersion | None] = {}
        for inp in s.inputs:
            if not inp.external and not inp.pinned and inp.name in produced:
                resolved[inp.key] = produced[inp.name]
                continue
            try:
                resolved[inp.key] = self.store.resolve(inp.ref)
            except ArtifactNotFoundError as exc:
                if inp.optional:
                    resolved[inp.key] = None
                    continue
                producer = pipeline.producer.get(inp.name)
                hint = f" Run step '{producer}' first (main.steps={producer},{s.name})." if producer else ""
                raise ArtifactNotFoundError(f"input of step '{s.name}': {exc}{hint}") from None
        return resolved

    def _cache_hit(self, s: Step, key: CacheKey) -> Execution | None:
        for candidate in self.log.candidates(s.name, key.digest):
            try:
                for ref in candidate.outputs:
                    self.store.path(ref)  # exists and verifies
            except (ArtifactNotFoundError, IntegrityError):
                continue
            return candidate
        return None

    def _why(self, s: Step, key: CacheKey) -> str:
        if self.log.candidates(s.name, key.digest):
            return "outputs of the cached run are missing or corrupted"
        previous = self.log.previous(s.name)
        if previous is None:
            return "first run"
        return explain_change(previous.components, key.components) or "no cached run matches"

    def _execute(
        self,
        s: Step,
        run_id: str,
        inputs: dict[str, ArtifactVersion | None],
        key: CacheKey,
        produced: dict[str, ArtifactVersion],
        reason: str,
        started: float,
    ) -> StepResult:
        scratch = self.ws.runs_dir / run_id / s.name
        scratch.mkdir(parents=True, exist_ok=True)
        input_refs = [v.ref for v in inputs.values() if v is not None]
        ctx = StepContext(s, run_id, self.store, self.tracker, inputs, scratch)
        wall = time.time()
        self.reporter.step_started(s.name)
        self.tracker.start_step(
            s.name,
            dict(s.params),
            {
                "modelmill.inputs": ",".join(input_refs),
                "modelmill.cache_key": key.digest,
                "modelmill.rerun_reason": reason,
            },
        )
        started = time.monotonic()  # a step's time excludes connecting to the tracker
        try:
            s.load()(ctx)
            outputs = self._store_outputs(s, ctx, run_id, input_refs)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            detail = error if isinstance(exc, ModelmillError) else traceback.format_exc(limit=-3)
            self.log.record(
                run_id,
                s.name,
                key,
                "failed",
                wall,
                inputs=input_refs,
                outputs=[],
                metrics=ctx.metrics,
                error=detail,
            )
            self.tracker.end_step("failed", {"modelmill.error": error[:5000]})
            return StepResult(
                s.name,
                "failed",
                time.monotonic() - started,
                inputs=input_refs,
                metrics=ctx.metrics,
                reason=reason,
                error=error,
                exit_code=getattr(exc, "exit_code", 1),
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        refs = [v.ref for v in outputs]
        produced.update({v.name: v for v in outputs})
        self.log.record(
            run_id, s.name, key, "ran", wall, inputs=input_refs, outputs=refs, metrics=ctx.metrics
        )
        self.tracker.end_step("ran", {"modelmill.outputs": ",".join(refs)})
        return StepResult(
            s.name,
            "ran",
            time.monotonic() - started,
            outputs=refs,
            inputs=input_refs,
            metrics=ctx.metrics,
            reason=reason,
        )

    def _store_outputs(
        self, s: Step, ctx: StepContext, run_id: str, input_refs: list[str]
    ) -> list[ArtifactVersion]:
        missing = [o.name for o in s.outputs if not ctx.output(o.name).exists()]
        if missing:
            raise ModelmillError(
                f"step '{s.name}' finished without writing declared output(s) "
                f"{', '.join(missing)}; write each to ctx.output(name)"
            )
        requests = [
            PutRequest(ctx.output(o.name), o.name, o.type, o.description, ctx.metadata[o.name],
                       tuple(input_refs), run_id, s.name, move=True)
            for o in s.outputs
        ]  # fmt: skip
        return self.store.put_many(requests)  # one transaction: all outputs or none
