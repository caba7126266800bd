"""The FastAPI app: ``create_app(settings)``.

Endpoints: ``POST /predict`` (one row or a list of up to ``max_batch``; the request
schema is the served model's signature, shown in ``/openapi.json``), ``POST /invocations``
(MLflow scoring-server payloads ``dataframe_split`` / ``dataframe_records``), ``GET /health``,
``GET /ready``, ``GET /metadata``, ``GET /rollout`` and ``GET /metrics`` (Prometheus). The model loads in the
background from ``lifespan`` and a poller swaps in new versions of the alias (see
:mod:`modelmill.serve.model_holder`), so ``/ready`` is 503 until the first load succeeds.
Each successful prediction is handed to the request log (``log_requests``, see
:mod:`modelmill.serve.request_log`) and to the model's live drift feed
(:mod:`modelmill.serve.drift`); both only append on the request path. With a challenger
(``settings.challenger``) the answers are routed by :mod:`modelmill.serve.rollout` (canary
or shadow, automatic rollback); every answer is timed per model (``modelmill_model_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from modelmill.serve.answer import answer
from modelmill.serve.drift import DriftCollector
from modelmill.serve.metrics import GuardMiddleware, ServiceMetrics
from modelmill.serve.model_holder import LoadedModel, ModelHolder, ModelSource
from modelmill.serve.request_log import RequestLog
from modelmill.serve.rollout import Rollout
from modelmill.serve.settings import ServeSettings, get_settings

log = logging.getLogger("modelmill.serve")


def _errors(exc: ValidationError, prefix: tuple[Any, ...] = ("body",)) -> list[dict[str, Any]]:
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _current(request: Request) -> LoadedModel:
    model = request.app.state.holder.current  # read once: a swap never changes it under us
    if model is None:
        raise _NotReady()
    return model


class _NotReady(Exception):
    pass


async def _poll(app: FastAPI, source: ModelSource, settings: ServeSettings) -> None:
    holder: ModelHolder = app.state.holder
    metrics: ServiceMetrics = app.state.metrics
    while True:
        try:
            outcome = await asyncio.to_thread(holder.refresh, source, metrics.model_event)
            if outcome in ("swapped", "fallback"):
                gc.collect()
                gc.freeze()  # the model's objects leave the collector's scans: fewer latency spikes
        except Exception:  # never let the poller die
            log.exception("model refresh failed")
        if holder.current is not None and not source.moves:
            return  # a fixed version: nothing more to watch
        await asyncio.sleep(settings.poll_interval)


async def _poll_challenger(rollout: Rollout, settings: ServeSettings) -> None:
    """Follow the challenger reference for as long as the service runs (an alias may be set later)."""
    while True:
        try:
            if await asyncio.to_thread(rollout.refresh) == "swapped":
                gc.collect()
        except Exception:  # never let the poller die
            log.exception("challenger refresh failed")
        await asyncio.sleep(settings.poll_interval)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServeSettings = app.state.settings
    source = await asyncio.to_thread(ModelSource, settings)
    app.state.source = source
    if settings.log_requests:
        app.state.request_log = RequestLog(
            settings.log_dir or source.ws.root / "request_log",
            max_bytes=settings.log_max_bytes,
            flush_rows=settings.log_flush_rows,
            flush_interval=settings.log_flush_interval,
            metrics=app.state.metrics,
        )
        app.state.request_log.start()
    tasks = [asyncio.create_task(_poll(app, source, settings), name="modelmill-model-poller")]
    if app.state.rollout is not None:
        tasks.append(
            asyncio.create_task(_poll_challenger(app.state.rollout, settings), name="modelmill-challenger")
        )
    try:
        yield
    finally:
        for task in [*tasks, *app.state.shadow_tasks]:
            task.cancel()
        for task in [*tasks, *app.state.shadow_tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if app.state.rollout is not None:
            app.state.rollout.close()
        if app.state.request_log is not None:
            await asyncio.to_thread(app.state.request_log.close)  # flush what is buffered


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The service for ``settings`` (default: :meth:`ServeSettings.from_env`)."""
    settings = settings or ServeSettings.from_env()
    app = FastAPI(title="modelmill model service", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.holder = ModelHolder()
    app.state.metrics = metrics = ServiceMetrics()
    app.state.request_log = None  # a RequestLog while the lifespan runs with log_requests
    app.state.rollout = Rollout(settings, metrics) if settings.challenger else None
    app.state.shadow_tasks = set()
    metrics.registry.register(DriftCollector(lambda: _drift_feed(app)))

    @app.exception_handler(_NotReady)
    async def not_ready(request: Request, exc: _NotReady) -> JSONResponse:
        return JSONResponse({"detail": "no model loaded yet", "error": app.state.holder.last_error}, 503)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        """200 once a model is loaded (``fallback`` says when it is not the one asked for), else
        503 with the reason (``error``: not set yet, refused and why)."""
        model = _current(request)
        body: dict[str, Any] = {
            "status": "ready", "model": {"name": model.target.name, "version": model.target.version}
        }  # fmt: skip
        if (fallback := request.app.state.holder.fallback) is not None:
            body["fallback"] = fallback
        return JSONResponse(body)

    @app.get("/metadata")
    async def metadata(request: Request, cfg: ServeSettings = Depends(get_settings)) -> dict[str, Any]:
        """The served model (name, version, alias, run ids, signature, load time), last refused swap."""
        holder: ModelHolder = request.app.state.holder
        return {
            "model_uri": cfg.model,
            "model": holder.current.describe() if holder.current else None,
            "last_refused": holder.last_refused,
            "last_error": holder.last_error,
            "fallback": holder.fallback,
            "swaps": holder.swaps,
            "max_batch": cfg.max_batch,
            "poll_interval": cfg.poll_interval,
            "drift": _drift_info(holder.current, cfg),
            "request_log": str(sink.directory) if (sink := request.app.state.request_log) else None,
            "rollout": _rollout_info(request.app, holder.current),
        }

    @app.get("/rollout")
    async def rollout_endpoint(request: Request) -> dict[str, Any]:
        """The rollout: mode, share, limits, champion and challenger live figures, rollback, events."""
        return _rollout_info(request.app, request.app.state.holder.current) or {"active": False}

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        """Prometheus metrics of this app (the live drift gauge is computed now, off the loop)."""
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    async def predict(request: Request, cfg: ServeSettings = Depends(get_settings)) -> JSONResponse:
        """Predict the target of one row (an object of the model's input columns) or of a list of rows."""
        model = _current(request)
        if (refused := _unsupported_type(request)) is not None:
            return refused
        raw = await request.body()
        single = not raw.lstrip().startswith(b"[")
        try:
            if single:
                rows = [model.request_model.model_validate_json(raw)]
            else:
                rows = model.list_adapter.validate_json(raw)
                if len(rows) > cfg.max_batch:
                    return _too_many(len(rows), cfg.max_batch)
        except ValidationError as exc:
            return JSONResponse({"detail": _errors(exc)}, 422)
        if not rows:
            return JSONResponse({"detail": "the list of rows is empty"}, 422)
        model, values, proba = await answer(app, request, model, rows, "/predict")
        t = model.target
        body: dict[str, Any] = {"predictions": values, "model": {"name": t.name, "version": t.version}}
        if proba is not None:  # a classifier: every class's probability, by class name
            names = [str(c) for c in model.classes or ()]
            body["probabilities"] = [dict(zip(names, map(float, row), strict=True)) for row in proba]
        return JSONResponse(body)

    @app.post("/invocations")
    async def invocations(request: Request, cfg: ServeSettings = Depends(get_settings)) -> JSONResponse:
        """MLflow scoring-server protocol: ``dataframe_split`` or ``dataframe_records`` payloads."""
        model = _current(request)
        if (refused := _unsupported_type(request)) is not None:
            return refused
        try:
            records = _mlflow_records(await request.body())
        except ValueError as exc:
            return _bad_request(str(exc))
        if len(records) > cfg.max_batch:
            return _too_many(len(records), cfg.max_batch)
        try:
            rows = model.list_adapter.validate_python(records)
        except ValidationError as exc:
            return _bad_request(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in _errors(exc, ()))
            )
        values = (await answer(app, request, model, rows, "/invocations"))[1]
        return JSONResponse({"predictions": values})  # MLflow's format: labels for a classifier

    def openapi() -> dict[str, Any]:  # regenerated each time: the schema follows the served model
        from modelmill.serve.schema import document_openapi

        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        model = app.state.holder.current
        row = None
        if model is not None:
            row = model.request_model.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
        return document_openapi(schema, row, settings.max_batch, settings.api_key is not None)

    app.openapi = openapi  # type: ignore[method-assign]
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(
        GuardMiddleware, metrics=metrics, api_key=api_key, max_body_bytes=settings.max_body_bytes
    )
    return app


def _drift_feed(app: FastAPI) -> Any:
    model = app.state.holder.current
    return model.drift if model is not None else None


def _rollout_info(app: FastAPI, champion: LoadedModel | None) -> dict[str, Any] | None:
    rollout: Rollout | None = app.state.rollout
    return None if rollout is None else rollout.describe(champion)


def _drift_info(model: LoadedModel | None, cfg: ServeSettings) -> dict[str, Any]:
    """``/metadata``'s ``drift``: is the ``modelmill_feature_drift_psi`` gauge there, and if not why."""
    if model is None:
        return {"window": cfg.drift_window, "available": False, "reason": "no model loaded yet"}
    return {"window": cfg.drift_window, "available": model.drift is not None, "reason": model.drift_reason}


def _too_many(count: int, limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"too many rows in one request: {count} > max_batch {limit}; "
            "split the batch or use `modelmill score` for files"
        },
        413,
    )


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error_code": "BAD_REQUEST", "message": message}, 400)


def _unsupported_type(request: Request) -> JSONResponse | None:
    """415 for a body declared as anything but JSON (no Content-Type: read as JSON)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return None
    kind = declared.split(";")[0].strip().lower()
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        return None
    return JSONResponse(
        {"detail": f"unsupported Content-Type {declared[:100]!r}: send the body as application/json"}, 415
    )


def _mlflow_records(raw: bytes) -> list[dict[str, Any]]:
    from pydantic_core import from_json

    from modelmill.serve.schema import records_from_split

    try:  # pydantic's parser: bounded nesting depth (json.loads raised RecursionError: a 500)
        payload = from_json(raw)
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object with 'dataframe_split' or 'dataframe_records'")
    keys = set(payload) - {"params"}
    if not isinstance(payload.get("params", {}), dict):
        raise ValueError("'params' must be a JSON object")
    if keys == {"dataframe_split"} and isinstance(payload["dataframe_split"], dict):
        records = records_from_split(payload["dataframe_split"])
    elif keys == {"dataframe_records"} and isinstance(payload["dataframe_records"], list):
        records = payload["dataframe_records"]
        if not all(isinstance(r, dict) for r in records):
            raise ValueError("dataframe_records must be a list of objects")
    else:
        raise ValueError(
            "the payload must have exactly one of 'dataframe_split' or 'dataframe_records' "
            f"(got {sorted(keys)}); tensor inputs ('instances', 'inputs') are not supported"
        )
    if not records:
        raise ValueError("the payload has no rows")
    return records
