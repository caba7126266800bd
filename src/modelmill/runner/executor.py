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
from typing import Any, Literal

from modelmill.core.errors import ArtifactNotFoundError, IntegrityError, ModelmillError
from modelmill.core.types import ArtifactVersion, RunSummary, StepResult
from modelmill.runner.cache import (
    CacheKey,
    Execution,
    ExecutionLog,
    explain_change,
    explained_inputs,
    make_key,
)
from modelmill.runner.context import StepContext
from modelmill.runner.effects import Effect, EffectLog, alias_moves, load_via
from modelmill.runner.fingerprint import FingerprintMemo, code_fingerprint, library_versions
from modelmill.runner.interrupt import Interrupted, signal_name
from modelmill.runner.pipeline import Pipeline
from modelmill.runner.progress import PlainReporter, Reporter
from modelmill.runner.step import Step
from modelmill.store.store import AliasMove, MovedAlias, PutRequest
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
        self.tracker = tracker or NullTracker()
        self.reporter = reporter or PlainReporter()
        self.libraries = library_versions()
        self.code_memo = FingerprintMemo(workspace.root / "tmp" / "code_fingerprints.json")

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
            self.code_memo.save()
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
        note = ""
        try:
            inputs = self._resolve_inputs(pipeline, s, produced)
            key = self._key(s, inputs)
            hit = None if forced or not s.cache else self._cache_hit(s, key)
            if hit is None and not forced and s.cache:  # rule 2 of modelmill.runner.cache
                explained = explained_inputs(inputs, self.store, self.effects, pipeline.by_name)
                if explained is not None:
                    hit = self._cache_hit(s, self._key(s, explained[0]))
                    if hit is not None:
                        inputs, note = explained[0], f" ({'; '.join(explained[1])})"
            if hit is not None:
                self._replay(s, hit, run_id)
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
                reason=f"same key as run {hit.run_id}{note}",
            )
        reason = "forced" if forced else self._why(s, key) if s.cache else "always runs (cache=False)"
        return self._execute(s, run_id, inputs, key, produced, reason, started)

    def _key(self, s: Step, inputs: dict[str, ArtifactVersion | None]) -> CacheKey:
        return make_key(
            code_fingerprint(s.module, self.code_memo),
            s.params,
            {n: (v.digest if v else None) for n, v in inputs.items()},
            self.libraries,
            function=s.function,
        )

    def _replay(self, s: Step, hit: Execution, run_id: str) -> None:
        """Leave the aliases where the cached execution's effects left them.

        An alias already there is not touched (a cached run writes nothing for it); one that
        is elsewhere is moved back, through the effect's ``via`` function when it has one (it
        moves what else must follow, e.g. the MLflow registry's alias), and the move is
        recorded as a replay of the same effect.
        """
        for recorded in self.effects.of_execution(hit.id):
            alias_ref = f"{recorded.name}:{recorded.alias}"
            if self.store.exists(alias_ref) and self.store.resolve(alias_ref).ref == recorded.ref:
                continue
            effect = Effect(recorded.ref, recorded.alias, recorded.note, recorded.via)
            note = f"replayed by run {run_id} (cached {s.name} of run {hit.run_id}): {recorded.note}"
            since = self.store.alias_watermark()
            if effect.via is not None:
                self._call_via(s, effect, note)

            def link(conn: Any, _: list[str], moved: list[MovedAlias], effect: Effect = effect) -> None:
                EffectLog.insert(conn, hit.id, run_id, s.name, [effect], moved, replay=True)

            self.store.put_many([], aliases=[AliasMove(recorded.ref, recorded.alias, note, since)], then=link)

    def _call_via(self, s: Step, effect: Effect, note: str) -> None:
        """Move an effect's alias through its ``via`` function (which moves what must follow it)."""
        try:
            load_via(str(effect.via))(self.ws, effect.target, effect.alias, note, dict(s.params))
        except ModelmillError:
            raise
        except Exception as exc:
            raise ModelmillError(
                f"step '{s.name}': moving {effect.name}:{effect.alias} to {effect.target} through "
                f"{effect.via} failed: {type(exc).__name__}: {exc}"
            ) from exc

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
        since = self.store.alias_watermark()  # alias moves after this are the step's own
        try:
            s.load()(ctx)
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
        for effect in effects:  # an effect with `via` is moved by that function, never by the store alone
            if effect.via is not None and not self._points_at(effect):
                self._call_via(s, effect, effect.note)

        def record(conn: Any, outputs: list[str], moved: list[MovedAlias]) -> None:
            execution = ExecutionLog.insert(conn, run_id, s.name, key, "ran", wall, inputs=input_refs,
                                            outputs=outputs, metrics=ctx.metrics)  # fmt: skip
            EffectLog.insert(conn, execution, run_id, s.name, effects, moved)

        moves = alias_moves(effects, since, f"effect of step {s.name}, run {run_id}")
        return self.store.put_many(requests, aliases=moves, then=record)

    def _points_at(self, effect: Effect) -> bool:
        ref = f"{effect.name}:{effect.alias}"
        return self.store.exists(ref) and self.store.resolve(ref).ref == effect.target


def one_line(message: str, limit: int = 400) -> str:
    """``message`` as one line of at most ``limit`` characters: a foreign exception's text may
    hold a whole data frame (MLflow's schema errors do), and the user gets one line; the full
    text stays in the run log and the MLflow tag."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
