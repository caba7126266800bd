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
``max_p99_ms`` in the recent window (p99 once it holds 100 requests) rolls it back: it stops
serving at once, the version is not taken again while the alias names it, the event is
logged, counted on ``/metrics``, shown on ``/rollout`` and ``/metadata``, and tagged on the
registry version when the registry is writable; a tagged version is not served by any
service (a restart, another replica) until ``modelmill rollout start`` names it again, and
``modelmill rollout promote`` refuses it.

The challenger predicts in its own small thread pool and gets at most ``max_p99_ms`` per
request: a hung or slow challenger costs a client that much at worst (then the champion
answers, and the timeout counts as an error), never a thread the champion needs. A
challenger of another kind (regression against classes, other classes) is not served.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelmill.registry.mlflow_registry import ROLLBACK_TAG
from modelmill.serve.model_holder import LoadedModel, ModelHolder, ModelSource
from modelmill.serve.rollout_stats import P99_SAMPLES, Figures, RoleStats
from modelmill.serve.settings import ServeSettings

log = logging.getLogger("modelmill.serve")

KEY_HEADER = "x-rollout-key"
CHALLENGER_THREADS = 4  # the challenger's own pool: a slow one never takes the champion's threads
MAX_SHADOW_BACKLOG = 16  # shadow copies waiting or running; beyond, copies are dropped (counted)


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
        self.settings = settings.model_copy(update={"model": self.uri, "fallback": False, "drift_window": 0})
        self.metrics = metrics
        self.holder = ModelHolder()
        self.source: ModelSource | None = None
        self.figures = Figures(settings.rollout_window)
        self.rolled_back: dict[str, Any] | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=20)
        self.shadow_dropped = 0
        self.refused: str | None = None  # why the loaded challenger is not served next to this champion
        self.executor = ThreadPoolExecutor(CHALLENGER_THREADS, thread_name_prefix="modelmill-challenger")
        self._fits: dict[tuple[str, str], str | None] = {}

    @property
    def timeout(self) -> float:
        """Seconds the challenger gets per request (its p99 limit) before the champion answers."""
        return self.max_p99_ms / 1000

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

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
        if (tagged := _rollback_tag(target)) is not None:
            self.holder.last_error = f"{target.label} was rolled back: {tagged}"
            found = {"name": target.name, "version": target.version, "reason": tagged, "at": None}
            self.rolled_back = self.rolled_back or found | {"figures": None}
            return "rolled back"
        outcome = self.holder.refresh(self.source, self._on_model, target)
        if outcome == "swapped":
            self._event("started", target.key, f"{self.mode} of {self.uri}")
        return outcome

    def challenger(self, champion: LoadedModel) -> LoadedModel | None:
        """The challenger to use now: ``None`` when there is none, it is the champion itself, or
        it answers another kind of question (classes) than the champion."""
        current = self.holder.current
        if current is None or current.target.key == champion.target.key:
            return None
        pair = (champion.target.key, current.target.key)
        if pair not in self._fits:
            self._fits[pair] = self.refused = _misfit(champion, current)
            if self.refused:
                log.error("challenger %s is not served: %s", current.target.key, self.refused)
        return None if self._fits[pair] else current

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
    def stats(self, role: str, model: LoadedModel) -> RoleStats:
        return self.figures.of(role, model.target.key)

    def observe(self, role: str, model: LoadedModel, seconds: float, values: list[Any], proba: Any) -> None:
        self.stats(role, model).observe(seconds, values, proba)
        if role == "challenger":
            self._judge(model)

    def failed(self, role: str, model: LoadedModel, seconds: float, error: BaseException) -> None:
        self.stats(role, model).failed(seconds)
        if role == "challenger":
            log.warning("challenger %s failed a request (%s: %s); the champion answered",
                        model.target.key, type(error).__name__, error)  # fmt: skip
            self._judge(model)

    def compare(self, challenger: LoadedModel, champion: list[Any], values: list[Any], labels: bool) -> None:
        self.figures.agreement(challenger.target.key).add(champion, values, labels)

    def _judge(self, model: LoadedModel) -> None:
        stats = self.stats("challenger", model)
        if stats.recent < self.min_requests or self.holder.current is not model:
            return
        rate, p99 = stats.error_rate(), stats.latency_ms(0.99)
        if rate > self.max_error_rate:
            self.rollback(model, f"error rate {rate:.1%} over max_error_rate {self.max_error_rate:.1%} "
                                 f"in the last {stats.recent} requests")  # fmt: skip
        elif stats.recent >= P99_SAMPLES and p99 is not None and p99 > self.max_p99_ms:
            self.rollback(model, f"p99 latency {p99:.1f} ms over max_p99_ms {self.max_p99_ms:g} "
                                 f"in the last {stats.recent} requests")  # fmt: skip

    def rollback(self, model: LoadedModel, reason: str) -> bool:
        """Drop ``model`` now if it is the challenger (it serves no further request)."""
        if self._drop(reason, "rolled back", only=model) is None:
            return False
        t = model.target
        self.rolled_back = {"name": t.name, "version": t.version, "reason": reason, "at": time.time(),
                            "figures": self.stats("challenger", model).summary()}  # fmt: skip
        if self.metrics is not None:
            self.metrics.rollbacks.labels(t.name, t.version).inc()
        threading.Thread(target=self._tag, args=(model, reason), daemon=True).start()
        return True

    def _drop(self, reason: str, kind: str, only: LoadedModel | None = None) -> LoadedModel | None:
        """Stop the challenger now (once: a concurrent drop gets ``None``); a rolled-back
        version is blocked, even if the poller is loading it again at this moment."""
        current = self.holder.drop(block=kind == "rolled back", only=only)
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
        self.events.append({"event": kind, "model": key, "detail": detail, "at": time.time()})

    def describe(self, champion: LoadedModel | None) -> dict[str, Any]:
        """``/rollout``: the set-up, both models' live figures, their agreement, the events."""
        current = self.holder.current
        serving = champion is not None and self.challenger(champion) is not None
        empty = RoleStats(self.figures.window).summary()
        mine = self.stats("champion", champion).summary() if champion else empty
        theirs = self.stats("challenger", current).summary() if current else empty
        return {
            "active": serving, "mode": self.mode, "share": self.share if self.mode == "canary" else 0.0,
            "key": {"header": "X-Rollout-Key", "column": self.key_column},
            "limits": {"max_error_rate": self.max_error_rate, "max_p99_ms": self.max_p99_ms,
                       "min_requests": self.min_requests, "window": self.figures.window},
            "champion": _model(champion) | mine,
            "challenger": {"uri": self.uri, **_model(current), **theirs, "last_error": self.holder.last_error,
                           "refused": self.refused if current else None},
            "agreement": self.figures.agreement(current.target.key).summary() if current else {"rows": 0},
            "rolled_back": self.rolled_back,
            "shadow_dropped": self.shadow_dropped,
            "events": list(self.events),
        }  # fmt: skip


def _misfit(champion: LoadedModel, challenger: LoadedModel) -> str | None:
    """Why ``challenger`` cannot stand in for ``champion`` (another task or other classes), or ``None``."""
    mine, theirs = champion.classes, challenger.classes
    if (mine is None) != (theirs is None):
        kinds = ("a regression" if m is None else "a classifier" for m in (theirs, mine))
        return "it is {} and the champion {}".format(*kinds)
    if mine is not None and [str(c) for c in mine] != [str(c) for c in theirs or ()]:
        return f"its classes {[str(c) for c in theirs or ()][:10]} differ from the champion's"
    return None


def _rollback_tag(target: Any) -> str | None:
    registered = getattr(target.resolved, "registry_version", None)
    return None if registered is None else registered.tags.get(ROLLBACK_TAG)


def _model(model: LoadedModel | None) -> dict[str, Any]:
    if model is None:
        return {"name": None, "version": None}
    return {"name": model.target.name, "version": model.target.version, "runtime": model.predictor.runtime}
