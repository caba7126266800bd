"""evaluate: score the candidate model, and the ``prod`` one if there is one, on the test set.

Both are loaded as MLflow pyfunc models straight from the (read-only) store, so the test
goes through the same schema enforcement a served request does. A prod model that can
no longer be loaded or scored is reported with ``"error"`` and null metrics (the
promotion gate then treats it as having no score) instead of failing the step.

The params name the model artifact (``model``), the ``task`` whose metrics are logged
(``test_*``, ``prod_test_*``), the ``target`` and the ``group`` column (may be null). When
the pipeline declares the output ``evaluation_report.html``, the step also writes the HTML
evaluation report: metrics side by side with deltas, and per value of ``group`` when the
spec declares one (see :mod:`modelmill.reports.evaluation`); the promotion verdict is the
register step's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import DataCheckError
from modelmill.datasets.io import read_stored_table
from modelmill.steps.train import features_and_target
from modelmill.tasks import Task, get_task, per_class

if TYPE_CHECKING:
    from modelmill.runner import StepContext

TEST = "test_data.csv"
REPORT = "evaluation_report.html"


@dataclass
class Scored:
    """One model's predictions on the test rows: values (or labels) and a classifier's
    probabilities with its classes."""

    values: Any
    proba: Any = None
    classes: list[Any] = field(default_factory=list)


def predict(model_dir: Path, features: Any, task: Task) -> Scored:
    """Predictions of the MLflow model at ``model_dir`` (through its schema enforcement; the
    frame's columns converted to the signature's types first, as a served request's are); a
    classifier's probabilities from the same model (``predict_proba`` of the loaded pipeline)."""
    import numpy as np

    from modelmill.registry.export import as_model_input, load_pyfunc

    model = load_pyfunc(model_dir)
    rows = as_model_input(features, model.metadata.get_input_schema())
    if not task.is_classifier:
        return Scored(np.asarray(model.predict(rows), dtype=float))
    raw = model.get_raw_model()
    labels = np.asarray(model.predict(rows)).ravel()
    return Scored(labels, np.asarray(raw.predict_proba(rows), dtype=float), list(raw.classes_))


def score(scored: Scored, target: Any, task: Task, log: Any = None) -> dict[str, float]:
    """The task's metrics of ``scored`` against ``target``. Test rows of a class the model never
    saw cannot be scored by probability: they are left out (here, and of the per-class figures
    and the majority baseline), with a warning on ``log``; a :class:`DataCheckError` when no row is left."""
    if not task.is_classifier:
        return task.score(target, scored.values)
    known = target.isin(scored.classes).to_numpy()
    if not known.any():
        known_classes = ", ".join(map(str, scored.classes))
        raise DataCheckError(f"no test row has a class the model knows ({known_classes}): the test split and "
                             "the training rows disagree; keep split.stratify on the target")  # fmt: skip
    if not known.all():
        unseen = sorted(map(str, set(target[~known])))
        message = (f"{int((~known).sum())} test row(s) of class(es) {', '.join(unseen[:10])} the model "
                   "never saw are left out of the metrics; keep split.stratify on the target")  # fmt: skip
        if log is not None:
            log.warning(message)
    proba = scored.proba[known]
    return task.score(target[known], scored.values[known], proba, scored.classes)


def _score_prod(
    ctx: StepContext, prod_ref: str, features: Any, target: Any, task: Task
) -> tuple[dict[str, Any] | None, Scored | None]:
    """The prod model's scores and predictions (``None`` when there is none or it failed)."""
    if not ctx.has_input(prod_ref):
        return None, None
    version = ctx.input_version(prod_ref)
    ref = version.ref if version is not None else prod_ref
    try:
        predicted = predict(ctx.input(prod_ref), features, task)
        return {"ref": ref, **score(predicted, target, task)}, predicted
    except Exception as exc:  # an old prod model must not block evaluating the candidate
        ctx.log.warning("prod model %s could not be evaluated: %s", ref, exc)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return {"ref": ref, **dict.fromkeys(task.metric_names), "error": error}, None


Pair = tuple[Scored, Scored | None]  # the candidate's and the prod model's predictions


def _write_report(ctx: StepContext, evaluation: dict[str, Any], groups: Any, target: Any,
                  predictions: Pair, group: str | None, task: Task) -> None:  # fmt: skip
    """``evaluation_report.html`` when the pipeline declares it (older definitions do not)."""
    from modelmill.reports import evaluation_report, group_metrics

    try:
        path = ctx.output(REPORT)
    except KeyError:
        return
    by_group, sections = None, ""
    candidate = predictions[0]
    if candidate.proba is not None:  # a classifier: its charts (per group too) on the test rows
        from modelmill.reports.classification import classification_sections

        known = target.isin(candidate.classes).to_numpy()
        sections = classification_sections(
            target[known], candidate.proba[known], candidate.classes,
            threshold=evaluation.get("threshold"), groups=None if groups is None else groups[known],
            group_label=str(group or "group"),
        )  # fmt: skip
    elif groups is not None:
        cand, prod = (group_metrics(target, p.values, groups) if p is not None else {} for p in predictions)
        by_group = {g: {"candidate": m, "prod": prod.get(g)} for g, m in cand.items()}
    context = {"test_data": evaluation["test_data"], "test rows": evaluation["n_test"],
               **({"accuracy of always answering the majority class": evaluation["majority_accuracy"]}
                  if "majority_accuracy" in evaluation else {}),
               "verdict": "decided by the register step (promotion gate)"}  # fmt: skip
    directions = {m.name: m.lower_is_better for m in task.metrics}
    report = evaluation_report(evaluation["candidate"], evaluation["prod"], by_group=by_group,
                               group_label=str(group or ""), group_metric=task.default_metric,
                               context=context, directions=directions, sections=sections)  # fmt: skip
    ctx.log_artifact(report.save(path))
    ctx.set_metadata(REPORT, candidate=evaluation["candidate"]["ref"],
                     prod=evaluation["prod"]["ref"] if evaluation["prod"] else None)  # fmt: skip


def _majority(ctx: StepContext, candidate: dict[str, Any], target: Any) -> dict[str, Any]:
    """What always answering the most frequent class scores: on an imbalanced target (1% positives)
    a 99% accuracy is that and nothing more, so it is said, and the figures to judge by named."""
    shares = target.value_counts(normalize=True)
    label, share = shares.index[0], float(shares.iloc[0])
    found = {"majority_class": label.item() if hasattr(label, "item") else label, "majority_accuracy": share}
    if candidate.get("accuracy") is not None and candidate["accuracy"] <= share + 1e-9:
        ctx.log.warning(
            "test accuracy %.4g is no better than always answering %r (%.4g of the test rows): judge "
            "this model by roc_auc, pr_auc and balanced_accuracy, not accuracy", candidate["accuracy"],
            found["majority_class"], share,
        )  # fmt: skip
    return found


def _decision(ctx: StepContext, model: str) -> dict[str, Any]:
    """A classifier's threshold and classes, as the train step recorded them with the model."""
    version = ctx.input_version(model)
    decision = (version.metadata or {}).get("decision") if version is not None else None
    return {"threshold": decision.get("threshold"), "classes": decision.get("classes")} if decision else {}


def run(ctx: StepContext) -> None:
    """Write ``evaluation`` (JSON); log ``test_<metric>`` and ``prod_test_<metric>`` (the task's metrics)."""
    params = dict(ctx.params)
    model, group = str(params["model"]), params.get("group")
    prod_ref = f"{model}:prod"
    task = get_task(str(params.get("task", "regression")))
    test = read_stored_table(ctx.input(TEST))
    features, target = features_and_target(test, str(params["target"]), TEST, task.kind)
    candidate_version = ctx.input_version(model)
    test_version = ctx.input_version(TEST)
    cand_pred = predict(ctx.input(model), features, task)
    candidate: dict[str, Any] = {
        "ref": candidate_version.ref if candidate_version is not None else model,
        **score(cand_pred, target, task, ctx.log),
    }
    prod_version = ctx.input_version(prod_ref)
    prod: dict[str, Any] | None
    if prod_version is not None and prod_version.digest == getattr(candidate_version, "digest", None):
        prod, prod_pred = {**candidate, "ref": prod_version.ref}, cand_pred  # the same model: no rescoring
    else:
        prod, prod_pred = _score_prod(ctx, prod_ref, features, target, task)
    names = [k for k in task.metric_names if candidate.get(k) is not None]  # undefined ones are absent
    metrics = {f"test_{k}": candidate[k] for k in names}
    if prod is not None and prod.get(task.default_metric) is not None:
        metrics |= {f"prod_test_{k}": prod[k] for k in names if prod.get(k) is not None}
    ctx.log_metrics(metrics)
    main = task.default_metric
    ctx.log.info(
        "candidate %s: test %s %s%s", candidate["ref"], main, candidate.get(main, "n/a (undefined here)"),
        f"; prod {prod['ref']}: {main} {prod.get(main)}" if prod else "; no prod model",
    )  # fmt: skip
    evaluation = {
        "candidate": candidate,
        "prod": prod,
        "test_data": test_version.ref if test_version is not None else TEST,
        "n_test": len(test),
        **_decision(ctx, model),
    }
    if task.is_classifier:  # what always answering the majority scores, and each class's figures
        known = target.isin(cand_pred.classes).to_numpy()  # the rows the metrics are computed on
        evaluation |= _majority(ctx, candidate, target[known])
        evaluation["per_class"] = per_class(target[known], cand_pred.values[known], cand_pred.classes)
    ctx.output("evaluation").write_text(json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
    ctx.set_metadata(
        "evaluation",
        candidate=candidate["ref"],
        prod=prod["ref"] if prod else None,
        **{f"test_{k}": candidate[k] for k in names},
        n_test=len(test),
    )
    groups = features[group] if group and group in features.columns else None
    _write_report(ctx, evaluation, groups, target, (cand_pred, prod_pred), group, task)
