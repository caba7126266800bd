"""register: put the candidate in the MLflow registry and promote it to ``prod`` if it wins.

Every run first loads the candidate and predicts its input example: a model that cannot
(a truncated ``model.skops``, an ONNX graph that disagrees) fails the step before anything
is registered or moved. It then registers the candidate as a version of ``model_name``
(reusing the version already registered from the same artifact ref and digest), applies the promotion gate
to the evaluation's test metrics (the metric and its direction come from the task) and, when
the candidate wins, moves ``prod`` in the registry and in the artifact store. The decision is
written as the ``promotion`` output and kept in the store's alias history.

The move of ``prod`` is declared as the step's effect (``ctx.set_alias(..., via=replay_prod)``):
the runner records it with the step's outputs, so the next unchanged run finds evaluate (which
read ``prod``) and this step cached, and a cached run that finds ``prod`` elsewhere moves it
back in both places. The model artifact (``model``) and the registered name (``model_name``)
are params: the pipeline takes them from ``main.model_artifact`` and ``main.model_name``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import ArtifactNotFoundError, BrokenModelError, ModelmillError
from modelmill.registry.mlflow_registry import PROD, MlflowRegistry
from modelmill.registry.promotion import Decision, check_candidate, decide, promote
from modelmill.store.workspace import Workspace

if TYPE_CHECKING:
    from modelmill.runner import StepContext

REPLAY = "modelmill.registry.promotion:replay_prod"


def _current_prod(ctx: StepContext, name: str) -> str | None:
    try:
        return ctx.store.resolve(f"{name}:{PROD}").ref
    except ArtifactNotFoundError:
        return None


def _summary_line(decision: Decision) -> str:
    if decision.promote:
        return f"promoted {decision.candidate} to prod: {decision.reason}"
    if decision.reason == "already prod":
        return f"kept prod {decision.candidate}: already prod"
    return f"kept prod {decision.prod or 'none'}: {decision.reason}"


def run(ctx: StepContext) -> None:
    """Write ``promotion``: the decision, the refs before and after, the registry version."""
    p = ctx.params
    artifact = str(p["model"])
    evaluation: dict[str, Any] = json.loads(ctx.input("evaluation").read_text())
    model = ctx.input_version(artifact)
    assert model is not None  # a required input
    candidate = dict(evaluation["candidate"])
    if candidate.get("ref") != model.ref:
        raise ModelmillError(
            f"the evaluation is of {candidate.get('ref')} but the model input is {model.ref}; "
            "re-run evaluate (main.steps=evaluate,register)"
        )
    prod_metrics = evaluation.get("prod")
    prod_before = _current_prod(ctx, model.name)
    evaluated_prod = prod_metrics.get("ref") if prod_metrics else None

    metric, min_improvement = str(p["metric"]), float(p["min_improvement"])
    if prod_before != evaluated_prod and prod_before != model.ref:
        # prod moved since evaluate compared against it: never promote on stale numbers
        decision = Decision(
            False,
            f"prod is now {prod_before or 'none'} but the evaluation compared against "
            f"{evaluated_prod or 'no prod'}; re-run evaluate",
            candidate=model.ref, prod=prod_before, improvement=None, metric=metric,
            min_improvement=min_improvement,
        )  # fmt: skip
    else:
        if prod_before == model.ref:
            prod_metrics = {**candidate, "ref": model.ref}
        decision = decide(
            candidate, prod_metrics, metric, min_improvement, task=str(p.get("task", "regression"))
        )

    ws = Workspace(ctx.store.root)
    try:
        check_candidate(ws, model)
    except BrokenModelError as exc:
        raise BrokenModelError(
            f"candidate refused: {exc}; it was not registered and prod is unchanged "
            f"({prod_before or 'none'}). Re-run the train step (--force-step train)"
        ) from None
    registry = MlflowRegistry.for_workspace(ws, p.get("tracking_uri"), str(p["experiment_name"]))
    metric_tags = {f"modelmill.test_{k}": v for k, v in candidate.items() if k != "ref"}
    registered, created = registry.register(
        str(p["model_name"]),
        model,
        ctx.input(artifact),
        tags={**metric_tags, "modelmill.test_data": evaluation.get("test_data", "")},
        run_tags={"modelmill.run_id": ctx.run_id},
    )
    ctx.log.info(
        "%s %s as %s v%s", "registered" if created else "found", model.ref, registered.name,
        registered.version,
    )  # fmt: skip

    if decision.promote:
        note = f"register step, run {ctx.run_id}: {decision.reason}"
        promote(ws, model.ref, str(p["model_name"]), p.get("tracking_uri"), note=note,
                experiment=str(p["experiment_name"]), registry=registry)  # fmt: skip
        ctx.set_alias(model.ref, PROD, decision.reason, via=REPLAY)  # recorded and replayed by the runner
    elif decision.reason == "already prod":
        current = registry.get_alias(registered.name, PROD)
        if current is None or current.version != registered.version:
            # the store says prod, the registry disagrees (e.g. a new tracking store): sync it
            registry.set_alias(registered.name, PROD, registered.version)

    line = _summary_line(decision)
    ctx.log.info(line)
    print(line, file=sys.stderr)
    result = {
        "promoted": decision.promote,
        "reason": decision.reason,
        "candidate": model.ref,
        "prod_before": prod_before,
        "prod_after": _current_prod(ctx, model.name),
        "metric": metric,
        "min_improvement": min_improvement,
        "improvement": decision.improvement,
        "candidate_value": decision.candidate_value,
        "prod_value": decision.prod_value,
        "model_name": registered.name,
        "registry_version": registered.version,
        "model_uri": registry.model_uri(registered.name),
    }
    ctx.output("promotion").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    ctx.set_metadata("promotion", promoted=decision.promote, registry_version=registered.version)
    ctx.log_metrics({"promoted": int(decision.promote), "registry_version": registered.version})
