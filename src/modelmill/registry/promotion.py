"""The promotion gate: should the candidate become ``prod``, and moving ``prod`` everywhere.

:func:`decide` is pure (numbers in, decision out). :func:`promote` first loads the
candidate and predicts its input example (:func:`check_candidate`): a model that does not
load is refused before anything is registered or moved, so ``prod`` never names one. It
then moves the ``prod`` alias in both places that know it: the MLflow registry
(``models:/NAME@prod``) first, then the artifact store (``MODEL_ARTIFACT:prod``). If
the store step fails, the registry alias is moved back, so the two never disagree. The
store's alias event keeps the note (the decision and its numbers): that is the
promotion's lineage record.

A metric's direction comes from the task (:mod:`modelmill.tasks`): lower is better for an
error (``mae``), higher for a score (``r2``, ``roc_auc``). The register step declares its move
of ``prod`` as an effect replayed through :func:`replay_prod`, so a cached register step
leaves both aliases where its execution left them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import ArtifactNotFoundError, BrokenModelError, ConfigError, UsageError
from modelmill.registry.mlflow_registry import DEFAULT_EXPERIMENT, PROD, MlflowRegistry, RegistryVersion
from modelmill.tasks import Task, get_task

if TYPE_CHECKING:
    from modelmill.core.types import ArtifactVersion
    from modelmill.store.workspace import Workspace

MODEL_TYPE = "model_export"
log = logging.getLogger(__name__)
_LOADABLE: set[str] = set()  # digests that passed check_candidate in this process (content-addressed)


@dataclass(frozen=True)
class Decision:
    """The gate's verdict and the numbers behind it."""

    promote: bool
    reason: str
    candidate: str
    prod: str | None
    improvement: float | None
    metric: str = "mae"
    min_improvement: float = 0.0
    candidate_value: float | None = None
    prod_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _value(metrics: Mapping[str, Any], metric: str, role: str) -> float | None:
    if metric not in metrics:
        raise UsageError(
            f"the {role} has no '{metric}' metric (has: {', '.join(sorted(metrics)) or 'none'}); "
            "check promotion.metric"
        )
    raw = metrics[metric]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _lower_is_better(task: Task | str, metric: str) -> bool:
    """The metric's direction in ``task``; a :class:`ConfigError` naming ``promotion.metric`` otherwise."""
    found = task if isinstance(task, Task) else get_task(str(task))
    try:
        return found.lower_is_better(metric)
    except ConfigError as exc:
        raise ConfigError(f"promotion.metric={metric}: {exc}") from None


def _pair(a: float, b: float) -> tuple[str, str]:
    """Two numbers with 2 decimals, or as many more (up to 6) as it takes to tell them apart."""
    for digits in range(2, 7):
        fa, fb = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if fa != fb or a == b:
            return fa, fb
    return f"{a:.6g}", f"{b:.6g}"


def decide(
    candidate_metrics: Mapping[str, Any],
    prod_metrics: Mapping[str, Any] | None,
    metric: str = "mae",
    min_improvement: float = 0.0,
    *,
    task: Task | str = "regression",
) -> Decision:
    """Promote when there is no prod, or the candidate beats prod by at least ``min_improvement``.

    Both mappings hold ``ref`` and the metric (``{"ref": "model:v3", "mae": 31.2, ...}``).
    The ``task`` says the metric's direction (an error is lower-is-better, a score
    higher-is-better; a metric the task lacks is a ConfigError). A strict improvement is always
    required: with ``min_improvement=0`` an equal score keeps prod. A candidate that *is* prod
    (same ref) is not promoted ("already prod").
    """
    lower = _lower_is_better(task, metric)
    min_improvement = float(min_improvement)
    if not math.isfinite(min_improvement) or min_improvement < 0:
        raise ConfigError(f"promotion.min_improvement={min_improvement!r}: expected a number >= 0")
    cand_ref = str(candidate_metrics.get("ref", "candidate"))
    cand = _value(candidate_metrics, metric, "candidate")
    base: dict[str, Any] = {"candidate": cand_ref, "metric": metric, "min_improvement": min_improvement}

    if prod_metrics is None:
        if cand is None:
            return Decision(False, f"candidate test {metric} is not a finite number", prod=None,
                            improvement=None, candidate_value=None, **base)  # fmt: skip
        return Decision(True, f"no prod model yet (candidate test {metric} {cand:.2f})", prod=None,
                        improvement=None, candidate_value=cand, **base)  # fmt: skip

    prod_ref = str(prod_metrics.get("ref", "prod"))
    if prod_ref == cand_ref:
        return Decision(False, "already prod", prod=prod_ref, improvement=0.0, candidate_value=cand,
                        prod_value=cand, **base)  # fmt: skip
    prod = _value(prod_metrics, metric, "prod model")
    if cand is None:
        return Decision(False, f"candidate test {metric} is not a finite number", prod=prod_ref,
                        improvement=None, prod_value=prod, **base)  # fmt: skip
    if prod is None:
        return Decision(True, f"prod {prod_ref} has no finite test {metric}; candidate {cand:.2f}",
                        prod=prod_ref, improvement=None, candidate_value=cand, **base)  # fmt: skip

    improvement = (prod - cand) if lower else (cand - prod)
    c, p = _pair(cand, prod)
    wins = improvement > 0 and improvement >= min_improvement
    if wins:
        reason = f"test {metric} {c} {'<' if lower else '>'} {p} (prod {prod_ref})"
        if min_improvement > 0:
            reason += f", improvement {improvement:.2f} >= {min_improvement:.2f}"
    else:
        direction = "lower" if lower else "higher"
        reason = f"candidate test {metric} {c} is not {direction} than {p} by {min_improvement:.2f}"
        if improvement > 0:
            reason += f" (improvement {improvement:.2f})"
    return Decision(wins, reason, cand_ref, prod_ref, improvement, metric, min_improvement, cand, prod)


def refuse_prod_by_hand(artifact_type: str, alias: str) -> None:
    """Setting ``prod`` on a model as a plain alias would skip the load check and leave the
    registry behind: only :func:`promote` moves it (a :class:`UsageError` otherwise)."""
    if alias == PROD and artifact_type == MODEL_TYPE:
        raise UsageError(
            f"'{PROD}' of a model is moved by 'modelmill promote NAME:vN', which checks that the model "
            "loads and predicts and moves the MLflow registry's alias with it; use that instead"
        )


@dataclass(frozen=True)
class PromotionResult:
    """What :func:`promote` moved."""

    artifact: str
    model_name: str
    registry_version: RegistryVersion
    registered: bool
    prod_before: str | None
    registry_prod_before: int | None
    note: str
    alias: str = PROD

    @property
    def model_uri(self) -> str:
        """``models:/NAME@prod`` (or the alias moved)."""
        return f"models:/{self.model_name}@{self.alias}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "artifact": self.artifact,
            "model_name": self.model_name,
            "registry_version": self.registry_version.version,
            "registered": self.registered,
            "prod_before": self.prod_before,
            "registry_prod_before": self.registry_prod_before,
            "model_uri": self.model_uri,
            "source": self.registry_version.source,
            "note": self.note,
        }


def promote(
    ws: Workspace,
    artifact_ref: str,
    model_name: str,
    tracking_uri: str | None = None,
    note: str = "",
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    registry: MlflowRegistry | None = None,
    alias: str = PROD,
) -> PromotionResult:
    """Make ``artifact_ref`` the ``prod`` model: register it if needed, then move both aliases.
    ``alias``: another alias moved the same checked way (``challenger``: a rollout's start).

    Raises :class:`ArtifactNotFoundError` (exit 2) for an unknown ref,
    :class:`UsageError` (exit 2) for an artifact that is not a ``model_export`` and
    :class:`BrokenModelError` (exit 1) for a model that does not load or predict its input
    example; in each case nothing is registered and no alias moves.
    """
    store = ws.store
    version = store.resolve(artifact_ref)
    if version.type != MODEL_TYPE or version.kind != "dir":
        raise UsageError(
            f"'{version.ref}' is a {version.type} {version.kind}, not a {MODEL_TYPE} directory; "
            "only exported models can be promoted"
        )
    try:
        check_candidate(ws, version)
    except BrokenModelError as exc:
        raise BrokenModelError(
            f"cannot promote {version.ref}: {exc}; nothing was registered or moved. Re-export it "
            "(re-run the train step) or promote another version"
        ) from None
    registry = registry or MlflowRegistry.for_workspace(ws, tracking_uri, experiment)
    registered, created = registry.register(model_name, version, store.path(version))
    try:
        prod_before: str | None = store.resolve(f"{version.name}:{alias}").ref
    except ArtifactNotFoundError:
        prod_before = None
    previous = registry.get_alias(model_name, alias)
    was = f"v{previous.version}" if previous else "none"
    full_note = (
        f"{note or 'promoted'}; registry {model_name} v{registered.version} (was {was}); "
        f"store {alias} was {prod_before or 'none'}"
    )
    registry.set_alias(model_name, alias, registered.version)
    try:
        store.set_alias(version.ref, alias, note=full_note)
    except BaseException:
        # never leave the registry pointing somewhere the store does not
        if previous is not None:
            registry.set_alias(model_name, alias, previous.version)
        else:
            registry.delete_alias(model_name, alias)
        raise
    try:
        tag = "modelmill.promotion" if alias == PROD else f"modelmill.{alias}"
        registry.set_version_tag(model_name, registered.version, tag, full_note[:5000])
    except Exception as exc:  # cosmetic: both aliases have moved already
        log.warning("could not tag %s v%s: %s", model_name, registered.version, exc)
    return PromotionResult(
        artifact=version.ref,
        model_name=model_name,
        registry_version=registered,
        registered=created,
        prod_before=prod_before,
        registry_prod_before=previous.version if previous else None,
        note=full_note,
        alias=alias,
    )


def check_candidate(ws: Workspace, version: ArtifactVersion) -> None:
    """Load the stored model ``version`` (verified by the store) and predict its input example,
    with scikit-learn and with ONNX when it has a graph, as the service will; a
    :class:`BrokenModelError` naming the cause when it cannot (see
    :func:`modelmill.registry.checks.load_checked`)."""
    if version.digest in _LOADABLE:
        return
    from modelmill.registry.checks import load_checked

    load_checked(ws.store.path(version), label=version.ref)
    _LOADABLE.add(version.digest)


def replay_prod(ws: Workspace, ref: str, alias: str, note: str, params: Mapping[str, Any]) -> None:
    """Move ``prod`` back to ``ref`` in the registry and the store: the replay of the promote
    step's effect (:meth:`~modelmill.runner.context.StepContext.set_alias` ``via``) when a
    cached run finds ``prod`` elsewhere. ``params`` are the step's (``model_name``,
    ``tracking_uri``, ``experiment_name``)."""
    if alias != PROD:
        raise UsageError(f"replay_prod moves '{PROD}', not '{alias}'")
    promote(
        ws,
        ref,
        str(params["model_name"]),
        params.get("tracking_uri"),
        note=note,
        experiment=str(params.get("experiment_name") or DEFAULT_EXPERIMENT),
    )
