"""A challenger served next to the champion: canary or shadow, judged live, rolled back on its own.

Why this shape: a hot swap moves every client at once; a rollout lets a new version prove
itself on live traffic first. The champion is the service's model (``--model``, usually
``@prod``); the challenger (``--challenger``, usually ``models:/NAME@challenger``) has its
own :class:`~modelmill.serve.model_holder.ModelHolder` and is polled the same way, so
setting, moving or deleting the ``challenger`` alias starts, replaces or ends a rollout
without a restart.

- **canary**: a request whose key (the ``X-Rollout-Key`` header, else the ``rollout_key``
  column of its first row) hashes below ``share`` is answered by the challenger, so one
  client sees one model; without a key each request draws. A challenger that fails answers
  nothing: the champion answers that request and the failure counts against the challenger.
- **shadow**: the champion answers every request; the challenger predicts a copy afterwards
  (bounded backlog), its answers recorded, never returned.

Each answer is observed (:class:`~modelmill.serve.rollout_stats.RoleStats`); once the
challenger has ``min_requests``, an error rate over ``max_error_rate`` or a p99 latency over
``max_p99_ms`` in the recent window rolls it back: it stops serving at once, the version is
not taken again while the alias names it, the event is logged, counted on ``/metrics``,
shown on ``/rollout`` and ``/metadata``, and tagged on the registry version when the
registry is writable (``modelmill rollout promote`` refuses a rolled-back version).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from typing import Any

from modelmill.registry.mlflow_registry import ROLLBACK_TAG
from modelmill.serve.model_holder import LoadedModel, ModelHolder, ModelSource
from modelmill.serve.rollout_stats import Agreement, RoleStats
from modelmill.serve.settings import ServeSettings

log = logging.getLogger("modelmill.serve")

KEY_HEADER = "x-rollout-key"
MAX_SHADOW_BACKLOG = 64  # shadow predictions in flight; beyond, copies are dropped (counted)


def bucket(key: str) -> float:
    """A stable place in [0, 1) for ``key``: the same key lands in the same place in every process."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Rollout:
    """The challenger of one app: its model, routing, figures and rollback."""

    def __init__(self, settings: ServeSettings, metrics: Any = None) -> None:
        self.uri = str(settings.challenger)
        self.mode = settings.rollout_mode
        self.share = settings.challenger_share
        self.key_column = settings.rollout_key
        self.max_error_rate = settings.max_error_rate
        self.max_p99_ms = settings.max_p99_ms
        self.min_requests = settings.min_requests
        self.window = settings.rollout_window
        self.settings = settings.model_copy(update={"model": self.uri, "fallback": False, "drift_window": 0})
        self.metrics = metrics
        self.holder = ModelHolder()
        self.source: ModelSource | None = None
        self.stats = {"champion": RoleStats(self.window), "challenger": RoleStats(self.window)}
        self.agreement = Agreement()
        self.rolled_back: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.shadow_dropped = 0

    # ------------------------------------------------------------------ the challenger model
    def refresh(self) -> str:
        """Follow the challenger reference: load a new version, drop one whose alias is gone."""
        if self.source is None:
            self.source = ModelSource(self.settings)
        try:
            target = self.source.current()
        except Exception as exc:  # registry unreachable: keep what we have
            self.holder.last_error = f"resolving {self.uri}: {exc}"
            return "missing"
        if target is None:
            if self.holder.current is not None:
                self._drop(f"{self.uri} no longer names a model", "ended")
            return "missing"
        if target.key in self.holder.blocked:
            return "rolled back"
        outcome = self.holder.refresh(self.source, self._on_model)
        if outcome == "swapped":
            self.stats["challenger"] = RoleStats(self.window)  # a new version starts from zero
            self.agreement = Agreement()
            self._event("started", target.key, f"{self.mode} of {self.uri}")
        return outcome

    def challenger(self, champion: LoadedModel) -> LoadedModel | None:
        """The challenger to use now, ``None`` when there is none or it is the champion itself."""
        current = self.holder.current
        if current is None or current.target.key == champion.target.key:
            return None
        return current

    def routes_to_challenger(self, key: str | None) -> bool:
        """Canary routing: the key's stable bucket (or a draw without one) below the share."""
        if self.mode != "canary" or self.share <= 0:
            return False
        return (bucket(key) if key is not None else random.random()) < self.share

    def key_of(self, header: str | None, rows: list[Any]) -> str | None:
        """The request's routing key: the header, else the configured column of its first row."""
        if header:
            return header[:200]
        if self.key_column and rows:
            row = rows[0]
            value = row.get(self.key_column) if isinstance(row, dict) else getattr(row, self.key_column, None)
            return None if value is None else str(value)
        return None

    # ------------------------------------------------------------------ figures and rollback
    def observe(self, role: str, seconds: float, values: list[Any], proba: Any = None) -> None:
        self.stats[role].observe(seconds, values, proba)
        if role == "challenger":
            self._judge()

    def failed(self, role: str, seconds: float, error: BaseException) -> None:
        self.stats[role].failed(seconds)
        if role == "challenger":
            current = self.holder.current
            log.warning("challenger %s failed a request (%s: %s); the champion answered",
                        current.target.key if current else self.uri, type(error).__name__, error)  # fmt: skip
            self._judge()

    def compare(self, champion: list[Any], challenger: list[Any], labels: bool) -> None:
        self.agreement.add(champion, challenger, labels)

    def _judge(self) -> None:
        stats = self.stats["challenger"]
        if stats.recent < self.min_requests:
            return
        rate, p99 = stats.error_rate(), stats.latency_ms(0.99)
        if rate > self.max_error_rate:
            self.rollback(f"error rate {rate:.1%} over max_error_rate {self.max_error_rate:.1%} "
                          f"in the last {stats.recent} requests")  # fmt: skip
        elif p99 is not None and p99 > self.max_p99_ms:
            self.rollback(f"p99 latency {p99:.1f} ms over max_p99_ms {self.max_p99_ms:g} "
                          f"in the last {stats.recent} requests")  # fmt: skip

    def rollback(self, reason: str) -> bool:
        """Drop the challenger now (it serves no further request); ``False`` if none serves."""
        current = self._drop(reason, "rolled back")
        if current is None:
            return False
        figures = self.stats["challenger"].summary()
        self.rolled_back = {"name": current.target.name, "version": current.target.version,
                            "reason": reason, "at": time.time(), "figures": figures}  # fmt: skip
        if self.metrics is not None:
            self.metrics.rollbacks.labels(current.target.name, current.target.version).inc()
        threading.Thread(target=self._tag, args=(current, reason), daemon=True).start()
        return True

    def _drop(self, reason: str, kind: str) -> LoadedModel | None:
        """Stop the challenger now (once: a concurrent drop gets ``None``); a rolled-back
        version is blocked, even if the poller is loading it again at this moment."""
        current = self.holder.drop(block=kind == "rolled back")
        if current is None:
            return None
        log.warning("challenger %s %s: %s; the champion answers every request", current.target.key,
                    kind, reason)  # fmt: skip
        self._event(kind, current.target.key, reason)
        if self.metrics is not None:
            self.metrics.challenger_info.clear()
        return current

    def _tag(self, model: LoadedModel, reason: str) -> None:
        """Mark the registry version rolled back (best effort: the registry may be read-only)."""
        registered = getattr(model.target.resolved, "registry_version", None)
        if registered is None or self.source is None:
            return
        try:
            self.source.resolver.registry.set_version_tag(registered.name, registered.version,
                                                          ROLLBACK_TAG, reason[:5000])  # fmt: skip
        except Exception as exc:
            log.warning("could not tag %s v%s as rolled back: %s", registered.name, registered.version, exc)

    def _on_model(self, outcome: str, target: Any) -> None:
        if self.metrics is not None and outcome == "swapped":
            self.metrics.challenger_info.clear()
            self.metrics.challenger_info.labels(target.name, target.version, self.mode).set(1)

    def _event(self, kind: str, key: str, detail: str) -> None:
        self.events = [*self.events[-19:], {"event": kind, "model": key, "detail": detail, "at": time.time()}]

    def describe(self, champion: LoadedModel | None) -> dict[str, Any]:
        """``/rollout``: the set-up, both models' live figures, their agreement, the events."""
        current = self.holder.current
        return {
            "active": champion is not None and current is not None and self.challenger(champion) is not None,
            "mode": self.mode, "share": self.share if self.mode == "canary" else 0.0,
            "key": {"header": "X-Rollout-Key", "column": self.key_column},
            "limits": {"max_error_rate": self.max_error_rate, "max_p99_ms": self.max_p99_ms,
                       "min_requests": self.min_requests, "window": self.window},
            "champion": _model(champion) | self.stats["champion"].summary(),
            "challenger": {"uri": self.uri, **_model(current), **self.stats["challenger"].summary(),
                           "last_error": self.holder.last_error},
            "agreement": self.agreement.summary(),
            "rolled_back": self.rolled_back,
            "shadow_dropped": self.shadow_dropped,
            "events": self.events,
        }  # fmt: skip


def _model(model: LoadedModel | None) -> dict[str, Any]:
    if model is None:
        return {"name": None, "version": None}
    return {"name": model.target.name, "version": model.target.version, "runtime": model.predictor.runtime}
