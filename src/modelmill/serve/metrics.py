"""Prometheus metrics (one ``CollectorRegistry`` per app) and the request guard middleware.

:class:`GuardMiddleware` is a plain ASGI middleware, outermost, so refused requests are
counted too. In order it: times the request, checks ``X-API-Key`` (every path but
``/health``; ``hmac.compare_digest``) and enforces ``max_body_bytes`` (413 from
``Content-Length`` before reading, and again while counting the streamed bytes; the
body, at most ``max_body_bytes``, is buffered and replayed to the app).
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OPEN_PATHS = frozenset({"/health"})
KNOWN_PATHS = frozenset(
    {
        "/health",
        "/ready",
        "/metadata",
        "/metrics",
        "/rollout",
        "/predict",
        "/invocations",
        "/openapi.json",
        "/docs",
    }
)
# any target's scale: 1-2.5-5 steps per decade from 0.01 to a million, the same below zero
_STEPS = sorted({round(m * 10.0**e, 10) for e in range(-2, 7) for m in (1, 2.5, 5)})
PREDICTION_BUCKETS = (*(-v for v in reversed(_STEPS)), 0.0, *_STEPS, float("inf"))


class ServiceMetrics:
    """The app's collectors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelmill_requests_total", "HTTP requests", ["endpoint", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "modelmill_request_duration_seconds",
            "Request latency",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.errors = Counter(
            "modelmill_errors_total", "Requests answered with an error", ["endpoint", "kind"], registry=r
        )
        self.predictions = Histogram(
            "modelmill_prediction_value", "Predicted values", buckets=PREDICTION_BUCKETS, registry=r
        )
        self.rows = Counter("modelmill_predicted_rows_total", "Rows predicted", ["endpoint"], registry=r)
        self.classes = Counter(
            "modelmill_predicted_class_total", "Rows predicted per class (classifiers)", ["label"], registry=r
        )
        self.model_info = Gauge(
            "modelmill_model_info", "The served model version (1)", ["name", "version"], registry=r
        )
        self.swaps = Counter("modelmill_model_swaps_total", "Model version changes", ["outcome"], registry=r)
        self.request_log_rows = Counter(
            "modelmill_request_log_rows_total", "Rows written to the request log", registry=r
        )
        self.request_log_errors = Counter(
            "modelmill_request_log_errors_total",
            "Failed request log writes (never a failed request)",
            registry=r,
        )
        self.request_log_dropped = Counter(
            "modelmill_request_log_dropped_rows_total", "Rows the request log could not keep", registry=r
        )
        self._per_model(r)

    def _per_model(self, r: CollectorRegistry) -> None:
        """Figures per model (``role``: champion or challenger, canary or shadow) and the rollout's."""
        self.model_requests = Counter(
            "modelmill_model_requests_total", "Predictions asked of each model",
            ["role", "version", "outcome"], registry=r,
        )  # fmt: skip
        self.model_latency = Histogram(
            "modelmill_model_predict_seconds", "Prediction latency of each model", ["role", "version"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r,
        )  # fmt: skip
        self.model_predictions = Histogram(
            "modelmill_model_prediction_value", "Predicted values of each model", ["role", "version"],
            buckets=PREDICTION_BUCKETS, registry=r,
        )  # fmt: skip
        self.model_classes = Counter(
            "modelmill_model_predicted_class_total", "Rows per predicted class of each model",
            ["role", "version", "label"], registry=r,
        )  # fmt: skip
        self.rollbacks = Counter(
            "modelmill_rollout_rollbacks_total", "Challengers rolled back", ["name", "version"], registry=r
        )
        self.challenger_info = Gauge(
            "modelmill_rollout_challenger_info", "The challenger being rolled out (1)",
            ["name", "version", "mode"], registry=r,
        )  # fmt: skip
        self.shadow_dropped = Counter(
            "modelmill_rollout_shadow_dropped_total", "Shadow copies not predicted (backlog full)", registry=r
        )

    def observe_model(
        self, role: str, version: str, seconds: float, values: list[Any] | None, proba: Any = None
    ) -> None:
        """One model's answer (``values None``: it failed) for the per-model series."""
        self.model_requests.labels(role, version, "error" if values is None else "ok").inc()
        self.model_latency.labels(role, version).observe(seconds)
        if values is None:
            return
        if proba is None:
            histogram = self.model_predictions.labels(role, version)
            for value in values:
                histogram.observe(value)
        else:
            for value in values:
                self.model_classes.labels(role, version, str(value)).inc()

    def observe_predictions(self, endpoint: str, values: list[Any], proba: Any = None) -> None:
        """A regression's values into the histogram; a classifier's labels (``proba`` given) counted."""
        if proba is None:
            for value in values:
                self.predictions.observe(value)
        else:
            for value in values:
                self.classes.labels(str(value)).inc()
        self.rows.labels(endpoint).inc(len(values))

    def model_event(self, outcome: str, target: Any) -> None:
        self.swaps.labels(outcome).inc()
        if outcome == "swapped":
            self.model_info.clear()
            self.model_info.labels(target.name, target.version).set(1)


async def _send_json(
    send: Any, status: int, body: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    """Metrics, API key and body size limit around the FastAPI app."""

    def __init__(
        self, app: Any, *, metrics: ServiceMetrics, api_key: str | None, max_body_bytes: int
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key.encode() if api_key else None
        self.max_body = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in KNOWN_PATHS else "other"
        status = {"code": 500}
        started = time.perf_counter()

        async def tracked_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self._guarded(scope, receive, tracked_send, path, endpoint)
        finally:
            code = status["code"]
            self.metrics.requests.labels(endpoint, scope.get("method", ""), str(code)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            if code >= 400:
                self.metrics.errors.labels(endpoint, "client" if code < 500 else "server").inc()

    async def _guarded(
        self, scope: dict[str, Any], receive: Any, send: Any, path: str, endpoint: str
    ) -> None:
        headers = dict(scope.get("headers") or [])
        if self.api_key is not None and path not in OPEN_PATHS:
            given = headers.get(b"x-api-key", b"")
            if not hmac.compare_digest(given, self.api_key):
                await _send_json(
                    send,
                    401,
                    {"detail": "missing or invalid X-API-Key header"},
                    ((b"www-authenticate", b"X-API-Key"),),
                )
                return
        too_big = {"detail": f"request body larger than {self.max_body} bytes"}
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(send, 400, {"detail": "invalid Content-Length"})
                return
            if declared > self.max_body:
                await _send_json(send, 413, too_big)
                return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_json(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = {"done": False}

        async def replay() -> dict[str, Any]:
            if not replayed["done"]:
                replayed["done"] = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
