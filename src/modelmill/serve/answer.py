"""Who answers a validated request, and what follows the answer.

The champion answers unless a rollout (:mod:`modelmill.serve.rollout`) routes the request's
key to a canary challenger; a challenger that fails answers nothing (the champion does), so
a rollout never fails a request. Every answer is timed per model (``modelmill_model_*``) and
observed by the rollout; the challenger predicts in its own threads within its p99 limit,
and a shadow challenger predicts a copy after the answer, within a bounded backlog. After an
answer: the metrics, the request log (with the answering model's role and the routing key)
and, for the champion, the live drift feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from modelmill.serve.model_holder import LoadedModel
from modelmill.serve.rollout import KEY_HEADER, MAX_SHADOW_BACKLOG, Rollout

log = logging.getLogger("modelmill.serve")

async def _predict(model: LoadedModel, rows: list[Any]) -> tuple[list[Any], Any]:
    """``model.predict_full(rows)``: on the event loop with ONNX (about 2 ms), else in a thread."""
    return model.predict_full(rows) if model.fast else await run_in_threadpool(model.predict_full, rows)


class Answer(NamedTuple):
    """One model's answer: values (a classifier's labels), probabilities or ``None``, seconds."""

    values: list[Any]
    proba: Any
    seconds: float


async def _timed(app: FastAPI, role: str, model: LoadedModel, rows: list[Any]) -> Answer | None:
    """``model``'s answer, timed and observed per model; a failure is observed and re-raised for
    the champion, turned into ``None`` for the challenger (the champion answers instead)."""
    rollout: Rollout | None = app.state.rollout
    version, started = model.target.version, time.perf_counter()
    try:
        if role == "champion" or rollout is None:
            values, proba = await _predict(model, rows)
        else:  # its own threads, its p99 limit at most: a hung challenger costs that, no more
            work = asyncio.get_running_loop().run_in_executor(rollout.executor, model.predict_full, rows)
            try:
                values, proba = await asyncio.wait_for(work, rollout.timeout)
            except TimeoutError:
                raise TimeoutError(f"no answer within max_p99_ms ({rollout.max_p99_ms:g} ms)") from None
    except Exception as exc:
        seconds = time.perf_counter() - started
        app.state.metrics.observe_model(role, version, seconds, None)
        if rollout is not None:
            rollout.failed(role, model, seconds, exc)
        if role == "champion":
            raise
        return None
    seconds = time.perf_counter() - started
    app.state.metrics.observe_model(role, version, seconds, values, proba)
    if rollout is not None:
        rollout.observe(role, model, seconds, values, proba)
    return Answer(values, proba, seconds)


async def answer(
    app: FastAPI, request: Request, champion: LoadedModel, rows: list[Any], endpoint: str
) -> tuple[LoadedModel, list[Any], Any]:
    """Who answers (the champion, or a canary challenger for its share of keys), and the answer;
    a shadow challenger gets a copy afterwards."""
    rollout: Rollout | None = app.state.rollout
    challenger = rollout.challenger(champion) if rollout is not None else None
    key = None
    if rollout is not None and challenger is not None:
        key = rollout.key_of(request.headers.get(KEY_HEADER), rows)
        if rollout.routes_to_challenger(key):
            answered = await _timed(app, "challenger", challenger, rows)
            if answered is not None:
                _served(app, challenger, rows, answered, endpoint, role="challenger", key=key)
                return challenger, answered.values, answered.proba
    answered = await _timed(app, "champion", champion, rows)
    assert answered is not None  # the champion's failure raises
    _served(app, champion, rows, answered, endpoint, key=key)
    if rollout is not None and challenger is not None and rollout.mode == "shadow":
        _shadow(app, rollout, challenger, rows, answered.values, endpoint, key)
    return champion, answered.values, answered.proba


def _shadow(
    app: FastAPI, rollout: Rollout, challenger: LoadedModel, rows: list[Any], answered: list[Any],
    endpoint: str, key: str | None,
) -> None:  # fmt: skip
    """Predict a copy of the request with the challenger after the answer (bounded backlog)."""
    tasks: set[asyncio.Task[None]] = app.state.shadow_tasks
    if len(tasks) >= MAX_SHADOW_BACKLOG:
        rollout.shadow_dropped += 1
        app.state.metrics.shadow_dropped.inc()
        return

    async def mirror() -> None:
        found = await _timed(app, "challenger", challenger, rows)
        if found is None:
            return
        try:
            rollout.compare(challenger, answered, found.values, labels=found.proba is not None)
        except (TypeError, ValueError) as exc:  # answers that do not compare: figures only
            log.warning("shadow %s: answers not comparable: %s", challenger.target.key, exc)
        if app.state.request_log is not None:
            app.state.request_log.append(challenger, rows, found.values, endpoint, found.proba, role="shadow",
                                         key=key, seconds=found.seconds)  # fmt: skip

    task = asyncio.create_task(mirror())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _served(
    app: FastAPI, model: LoadedModel, rows: list[Any], answered: Answer, endpoint: str,
    role: str = "champion", key: str | None = None,
) -> None:  # fmt: skip
    """After a successful prediction: metrics, request log, live drift (appends only). A
    classifier's ``proba`` (``(n, n_classes)``) goes to the log and the drift feed with its labels."""
    values, proba, seconds = answered
    app.state.metrics.observe_predictions(endpoint, values, proba)
    if app.state.request_log is not None:
        log = app.state.request_log
        log.append(model, rows, values, endpoint, proba, role=role, key=key, seconds=seconds)
    if model.drift is not None and role == "champion":
        model.drift.submit(rows, values, proba)
