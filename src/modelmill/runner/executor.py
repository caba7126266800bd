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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from modelmill.core.errors import ModelmillError
from modelmill.core.types import ArtifactVersion, RunSummary, StepResult
from modelmill.runner.cache import CacheKey, ExecutionLog
from modelmill.runner.context import StepContext
from modelmill.runner.effects import EffectLog, alias_moves
from modelmill.runner.fingerprint import FingerprintMemo, library_versions
from modelmill.runner.interrupt import interrupted_run
from modelmill.runner.launch import Launcher
from modelmill.runner.lookup import CacheLookup
from modelmill.runner.pipeline import Pipeline
from modelmill.runner.progress import PlainReporter, Reporter
from modelmill.runner.replay import EffectReplayer
from modelmill.runner.step import Step
from modelmill.store.store import MovedAlias, PutRequest
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
        self.effects = EffectLog(workspace.db)
        self.replayer = EffectReplayer(workspace, self.effects)
        self.tracker = tracker or NullTracker()
        self.reporter = reporter or PlainReporter()
        self.libraries = library_versions()
        self.code_memo = FingerprintMemo(workspace.root / "tmp" / "code_fingerprints.json")
        self.launcher = Launcher(workspace.root / "envs", self.code_memo)
        self.lookup = CacheLookup(self.store, self.log, self.effects, self.launcher)

    def run(
        self,
        pipeline: Pipeline,
        *,
        steps: Iterable[str] | None = None,
        force: bool | Iterable[str] = False,
        config_yaml: str = "",
        config: dict | None = None,
        provenance: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    ) -> RunSummary:
        """Run the selection; never raises for a failing step (see the summary's status).

        ``provenance`` (:func:`modelmill.runner.provenance.record`) is recorded with the run; a
        callable is called once the run is accepted, so a refused run stores none of it.

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
        self.launcher.prepare(selected)  # a missing program or an uninstallable lock: before any step
        self.log.fail_orphaned_runs()
        run_id = new_run_id()
        self.log.start_run(run_id, config_yaml, provenance() if callable(provenance) else provenance)
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
            raise interrupted_run(self.log, self.tracker, run_id, current, results, exc) from None
        except BaseException as exc:  # a runner bug: record it, then re-raise
            self.log.finish_run(run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            self.reporter.close()
            self.code_memo.save()
            shutil.rmtree(self.ws.runs_dir / run_id, ignore_errors=True)

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
            found = self.lookup.find(pipeline, s, produced, self.libraries, s.cache and not forced)
            hit, inputs, key = found.hit, found.inputs, found.key
            if hit is not None:
                self.replayer.replay(s, hit, run_id)
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
                reason=f"same key as run {hit.run_id}{found.note}",
            )
        reason = "forced" if forced else self.lookup.why(s, key) if s.cache else "always runs (cache=False)"
        return self._execute(s, run_id, inputs, key, produced, reason, started)

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
        since = self.store.alias_watermark()  # alias moves after this are the step's own
        try:
            self.launcher.run(s, ctx, self.ws.runs_dir / run_id / f"{s.name}.work")
            outputs = self._commit(s, ctx, run_id, key, wall, input_refs, since)
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
                error=error if isinstance(exc, ModelmillError) else one_line(error),
                exit_code=getattr(exc, "exit_code", 1),
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        refs = [v.ref for v in outputs]
        produced.update({v.name: v for v in outputs})
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

    def _commit(
        self,
        s: Step,
        ctx: StepContext,
        run_id: str,
        key: CacheKey,
        wall: float,
        input_refs: list[str],
        since: int,
    ) -> list[ArtifactVersion]:
        """Store the outputs, apply the effects and record the execution in one transaction."""
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
        effects = list(ctx.effects.values())
        self.replayer.apply_via(s, effects)

        def record(conn: Any, outputs: list[str], moved: list[MovedAlias]) -> None:
            execution = ExecutionLog.insert(conn, run_id, s.name, key, "ran", wall, inputs=input_refs,
                                            outputs=outputs, metrics=ctx.metrics)  # fmt: skip
            EffectLog.insert(conn, execution, run_id, s.name, effects, moved)

        moves = alias_moves(effects, since, f"effect of step {s.name}, run {run_id}")
        return self.store.put_many(requests, aliases=moves, then=record)


def one_line(message: str, limit: int = 400) -> str:
    """``message`` as one line of at most ``limit`` characters: a foreign exception's text may
    hold a whole data frame (MLflow's schema errors do), and the user gets one line; the full
    text stays in the run log and the MLflow tag."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
