"""``modelmill rollout``: start, watch, promote and stop a challenger, through the registry.

Why through the registry: the service follows ``models:/NAME@challenger`` the way it follows
``@prod`` (:mod:`modelmill.serve.rollout`), so moving aliases is the whole protocol: setting
``challenger`` starts a rollout on every service watching it, deleting it ends one, and
promotion is :func:`modelmill.registry.promotion.promote` (the same load check, both the
registry and the store, the note kept as the alias event: the lineage record). The live
figures come from the service itself (``GET /rollout``); a comparison on actuals reads its
request log, where every answer carries the answering model's role and the routing key.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from modelmill.core.errors import ArtifactNotFoundError, ModelmillError, UsageError
from modelmill.core.names import parse_ref
from modelmill.registry.mlflow_registry import (
    CHALLENGER,
    DEFAULT_EXPERIMENT,
    PROD,
    ROLLBACK_TAG,
    MlflowRegistry,
    RegistryVersion,
)
from modelmill.registry.promotion import PromotionResult, promote

API_KEY_ENV = "MODELMILL_API_KEY"  # the one the service reads (modelmill.serve.settings)
DEFAULT_URL = "http://127.0.0.1:8000"


class RolledBackError(ModelmillError):
    """The challenger was rolled back by the service: promoting it needs ``--force``."""


class CleanupError(ModelmillError):
    """Promoted, but the ``challenger`` alias is still set: ``modelmill rollout stop`` removes it."""


def start(ws: Any, ref: str, model_name: str, tracking_uri: str | None = None,
          experiment: str = DEFAULT_EXPERIMENT, note: str = "") -> PromotionResult:  # fmt: skip
    """Make the stored model ``ref`` the challenger (checked, registered, both aliases moved).
    Naming a version the services rolled back retries it: its rollback tag is removed."""
    registry = MlflowRegistry.for_workspace(ws, tracking_uri, experiment)
    prod = registry.get_alias(model_name, PROD)
    wanted = ws.store.resolve(ref)
    if prod is not None and prod.artifact == wanted.ref:
        raise UsageError(f"{wanted.ref} is already prod (models:/{model_name}@{PROD} v{prod.version}): "
                         "roll out another version")  # fmt: skip
    said = f"rollout started (modelmill rollout start){': ' + note if note else ''}"
    done = promote(ws, wanted.ref, model_name, tracking_uri, note=said, experiment=experiment,
                   registry=registry, alias=CHALLENGER)  # fmt: skip
    registry.delete_version_tag(model_name, done.registry_version.version, ROLLBACK_TAG)
    return done


def challenger_version(registry: MlflowRegistry, model_name: str) -> RegistryVersion:
    """The version ``NAME@challenger`` names; a :class:`UsageError` saying how to set it otherwise."""
    found = registry.get_alias(model_name, CHALLENGER)
    if found is None:
        raise UsageError(
            f"models:/{model_name}@{CHALLENGER} is not set: start a rollout with "
            f"'modelmill rollout start NAME:vN' first"
        )
    return found


def stop(ws: Any, model_name: str, tracking_uri: str | None = None,
         experiment: str = DEFAULT_EXPERIMENT) -> RegistryVersion:  # fmt: skip
    """End the rollout: delete the ``challenger`` alias (store, then registry); the services drop it."""
    registry = MlflowRegistry.for_workspace(ws, tracking_uri, experiment)
    found = challenger_version(registry, model_name)
    _remove_store_alias(ws, found)  # the store first: the registry alias is what `stop` finds again
    registry.delete_alias(model_name, CHALLENGER)
    return found


def promote_challenger(
    ws: Any, model_name: str, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
    *, live: dict[str, Any] | None = None, force: bool = False, note: str = "",
) -> PromotionResult:  # fmt: skip
    """Make the challenger ``prod`` and end the rollout. A version the service rolled back
    (tagged in the registry, or shown by ``live``) is refused unless ``force``."""
    registry = MlflowRegistry.for_workspace(ws, tracking_uri, experiment)
    found = challenger_version(registry, model_name)
    reason = found.tags.get(ROLLBACK_TAG) or _rolled_back_live(live, found)
    if reason and not force:
        raise RolledBackError(
            f"{model_name} v{found.version} was rolled back by the service ({reason}); nothing was "
            "moved. Start another challenger, or promote this one anyway with --force"
        )
    if found.artifact is None:
        raise UsageError(f"{model_name} v{found.version} was not registered by modelmill: promote it by hand")
    said = f"rollout promote of {model_name}@{CHALLENGER} v{found.version}"
    if live is not None:
        said += f" on live figures {_figures(live)}"
    if reason and force:
        said += f"; forced past a rollback: {reason}"
    said += f"; {note}" if note else ""
    result = promote(ws, found.artifact, model_name, tracking_uri, note=said, experiment=experiment,
                     registry=registry)  # fmt: skip
    try:  # the rollout is over: services drop the challenger
        _remove_store_alias(ws, found)
        registry.delete_alias(model_name, CHALLENGER)
    except Exception as exc:
        raise CleanupError(
            f"{found.artifact} is prod now (registry v{result.registry_version.version}), but the "
            f"challenger alias could not be removed ({exc}); run 'modelmill rollout stop'"
        ) from None
    return result


def _get(url: str, path: str, timeout: float) -> Any:
    """``GET URL/PATH`` of a running service (``X-API-Key`` from ``$MODELMILL_API_KEY``)."""
    import httpx

    headers = {"X-API-Key": key} if (key := os.environ.get(API_KEY_ENV)) else {}
    return httpx.get(url.rstrip("/") + path, headers=headers, timeout=timeout)


def request_log_of(url: str, timeout: float = 5.0) -> str:
    """The request log directory a running service writes (its ``/metadata``)."""
    import httpx

    try:
        where = _get(url, "/metadata", timeout).json().get("request_log")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, AttributeError) as exc:
        raise UsageError(f"cannot read {url}/metadata ({exc}); pass --log-dir") from None
    if not where:
        raise UsageError("the service keeps no request log: start it with --log-requests, or pass --log-dir")
    return str(where)


def live_status(url: str = DEFAULT_URL, timeout: float = 5.0) -> dict[str, Any]:
    """``GET URL/rollout`` of a running service (``X-API-Key`` from ``$MODELMILL_API_KEY``)."""
    import httpx

    try:
        response = _get(url, "/rollout", timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise UsageError(f"cannot reach the service at {url} ({exc}); start it with 'modelmill serve "
                         "--challenger models:/NAME@challenger' or pass --url") from None  # fmt: skip
    if response.status_code != 200:
        raise UsageError(f"{url}/rollout answered {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        raise UsageError(f"{url}/rollout did not answer JSON: is it a modelmill service?") from None
    if not isinstance(body, dict) or "active" not in body:
        raise UsageError(f"{url}/rollout did not answer a rollout status: is it a modelmill service?")
    return body


def _rolled_back_live(live: dict[str, Any] | None, found: RegistryVersion) -> str | None:
    back = (live or {}).get("rolled_back") or {}
    return back.get("reason") if str(back.get("version")) == str(found.version) else None


def _figures(live: dict[str, Any]) -> str:
    def one(role: str) -> str:
        s = live.get(role) or {}
        return (f"{role} v{s.get('version')} {s.get('requests', 0)} requests, error rate "
                f"{s.get('error_rate')}, p99 {s.get('p99_ms')} ms")  # fmt: skip

    return f"({one('champion')}; {one('challenger')})"


def _remove_store_alias(ws: Any, found: RegistryVersion) -> None:
    if found.artifact is None:
        return
    with contextlib.suppress(ArtifactNotFoundError):  # set in the registry only: nothing in the store
        ws.store.remove_alias(parse_ref(found.artifact).name, CHALLENGER)


def quality_by_model(log_dir: str, actuals: str, truth: Any) -> list[dict[str, Any]]:
    """The task's headline metric of each model of a rollout on the actuals: the request log's
    rows (champion, canary and shadow answers) joined to ``actuals`` by the project's id
    column, else by the routing key (``X-Rollout-Key``) each row was logged with."""
    from modelmill.monitor.inputs import read_batch
    from modelmill.monitor.quality import model_quality, read_actuals

    log = read_batch(log_dir, shadow=True)
    if "role" not in log.columns:
        raise UsageError(f"{log_dir} is a request log without roles (written before rollouts existed)")
    log = log.assign(role=log["role"].fillna("champion"))  # parts written before rollouts
    known = read_actuals(actuals, truth)
    key = known.attrs.get("key")
    if key is None or key not in log.columns or log[key].isna().all():
        if key is None or "request_key" not in log.columns:
            raise UsageError(f"the actuals need an id column ({truth.id or 'row'}) to join the request log")
        log = log.assign(**{key: log["request_key"]})
    log = log.assign(**{key: log[key].astype("string")})
    known = known.assign(key=known["key"].astype("string"))
    known.attrs["key"] = key
    rows = []
    for (role, version), group in log.groupby(["role", "model_version"], sort=True):
        entry: dict[str, Any] = {"role": role, "version": str(version), "rows": len(group)}
        try:
            q = model_quality(group.reset_index(drop=True), group["prediction"].to_numpy(), known,
                              (None, "not compared"), truth)  # fmt: skip
            entry |= {"metric": q.metric, "value": q.value, "matched": q.n_matched, "metrics": q.metrics}
        except UsageError as exc:
            entry |= {"metric": None, "value": None, "matched": 0, "why": str(exc)}
        rows.append(entry)
    return rows
