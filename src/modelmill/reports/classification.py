"""The classification sections of the training and evaluation reports: confusion matrix, ROC,
precision-recall and calibration curves, a threshold sweep (binary), per-class and per-group
metrics.

Pure (labels and predicted probabilities in, HTML out), so the train and evaluate steps, a
notebook and a test draw the same picture. A test split may lack a class or hold only one; the
sections then say what is undefined instead of raising::

    html = classification_sections(y_test, model.predict_proba(x_test), model.classes_,
                                   threshold=0.4, groups=x_test["region"], group_label="region")
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from modelmill.core.labels import decide
from modelmill.reports import layout
from modelmill.reports._svg_curves import count_grid, curves, downsample

MAX_CLASSES = 20  # confusion matrix: the largest classes shown, the rest folded into "(other)"
MAX_GROUPS = 30
SWEEP = np.round(np.arange(1, 100) / 100, 2)  # thresholds 0.01 .. 0.99
ONE_CLASS = "undefined: only one class in the data"
Target = tuple[str, np.ndarray, np.ndarray]  # class name, 0/1 truth, score
Labels: TypeAlias = Sequence[Any] | np.ndarray  # a list, array or pandas Series of labels


def _codes(values: Any, classes: Sequence[Any]) -> np.ndarray:
    """The position of each value in ``classes``; -1 where it is not one of them."""
    return pd.Index(list(classes), dtype=object).get_indexer(pd.Series(list(values), dtype=object))


def confusion(y_true: Labels, y_pred: Labels, classes: Sequence[Any]) -> np.ndarray:
    """Counts, shape (k, k): row i = true ``classes[i]``, column j = predicted ``classes[j]``;
    rows whose true or predicted label is not in ``classes`` are not counted."""
    k = len(classes)
    t, p = _codes(y_true, classes), _codes(y_pred, classes)
    ok = (t >= 0) & (p >= 0)
    return np.bincount(t[ok] * k + p[ok], minlength=k * k).reshape(k, k)


def classification_sections(
    y_true: Labels,
    proba: np.ndarray,
    classes: Sequence[Any],
    *,
    threshold: float | None = None,
    groups: Sequence[Any] | None = None,
    group_label: str = "group",
    max_curves: int = 10,
) -> str:
    """The sections as one HTML string. ``proba``: shape (n, len(classes)), column j =
    P(``classes[j]``), in the model's order; ``threshold``: binary only, on P(``classes[1]``);
    ``groups``: one value per row (``group_label`` names it); ``max_curves``: multiclass, the
    one-vs-rest curves drawn for at most this many classes, largest first."""
    p, names = np.asarray(proba, dtype=float), [str(c) for c in classes]
    t = 0.5 if threshold is None else float(threshold)
    y_pred = decide(p, classes, t)
    y_code, pred_code = _codes(y_true, classes), _codes(y_pred, classes)
    if y_code.size == 0:
        return layout.section("Classification", "<p>No rows.</p>", "classification")
    binary = len(names) == 2
    rule = f"{names[1]} when P({names[1]}) ≥ {t:g}, else {names[0]}" if binary else "the most probable class"
    targets, notes = _targets(y_code, p, names, max_curves)
    body = [
        _confusion(confusion(y_true, y_pred, classes), names, rule, int((y_code < 0).sum())),
        _roc(targets, notes),
        _pr(targets, notes),
        _calibration(y_code, pred_code, p, names),
    ]
    if binary:
        body.append(_sweep(y_code == 1, p[:, 1], t, names[1]))
    body.append(_per_class(y_true, y_pred, classes, (y_code, pred_code)))
    if groups is not None:
        body.append(_per_group(y_code, pred_code, p, groups, group_label or "group"))
    return "".join(body)


def _caption(lines: Sequence[str]) -> str:
    return "".join(f'<p class="muted">{escape(line)}</p>' for line in lines)


def _fold(matrix: np.ndarray, names: list[str], limit: int = MAX_CLASSES) -> tuple[np.ndarray, list[str]]:
    """The ``limit`` classes with most true rows, the others summed into an "(other)" row/column."""
    if len(names) <= limit:
        return matrix, names
    keep = np.argsort(-matrix.sum(axis=1), kind="stable")[:limit]
    slot = np.full(len(names), limit)
    slot[keep] = np.arange(limit)
    out = np.zeros((limit + 1, limit + 1), dtype=int)
    np.add.at(out, (slot[:, None], slot[None, :]), matrix)
    return out, [names[i] for i in keep] + ["(other)"]


def _confusion(matrix: np.ndarray, names: list[str], rule: str, unknown: int) -> str:
    counts, labels = _fold(matrix, names)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    head = "true \\ predicted"
    count_rows = [{head: n, **dict(zip(labels, map(int, r), strict=True)), "total": int(r.sum())}
                  for n, r in zip(labels, counts, strict=True)]  # fmt: skip
    share_rows = [{head: n, **{c: round(float(v), 4) for c, v in zip(labels, r, strict=True)}}
                  for n, r in zip(labels, shares, strict=True)]  # fmt: skip
    notes = [f"Decision rule: {rule}. Rows: true class; columns: predicted; shading: share of the row."]
    if len(labels) < len(names):
        notes.append(f"{len(names) - MAX_CLASSES} smaller classes folded into (other).")
    if unknown:
        notes.append(f"{unknown} rows with a label not among the model's classes are not counted.")
    body = (
        count_grid(counts, labels, label="confusion matrix")
        + _caption(notes)
        + layout.scroll(layout.table(count_rows))
        + f"<details><summary>row shares</summary>{layout.scroll(layout.table(share_rows))}</details>"
    )
    return layout.section("Confusion matrix", body, "confusion")


def _targets(
    y_code: np.ndarray, p: np.ndarray, names: list[str], max_curves: int
) -> tuple[list[Target], list[str]]:
    """The (class, truth, score) of each one-vs-rest curve to draw, and notes on those left out."""
    support = np.bincount(y_code[y_code >= 0], minlength=len(names))
    if np.unique(y_code).size < 2 or (len(names) == 2 and not 0 < support[1] < y_code.size):
        return [], [ONE_CLASS]
    if len(names) == 2:
        return [(names[1], (y_code == 1).astype(int), p[:, 1])], []
    order = [j for j in np.argsort(-support, kind="stable") if support[j] > 0]
    notes = ["One-vs-rest: each class against all the others."]
    notes += [f"No curve for {names[j]}: not in the labels." for j in range(len(names)) if support[j] == 0]
    if len(order) > max_curves:
        notes.append(f"{len(order) - max_curves} smaller classes not drawn (max_curves={max_curves}).")
    return [(names[j], (y_code == j).astype(int), p[:, j]) for j in order[:max_curves]], notes


def _roc(targets: list[Target], notes: list[str]) -> str:
    if not targets:
        return layout.section("ROC curve", _caption(notes or [ONE_CLASS]), "roc")
    series = {}
    for name, truth, score in targets:
        fpr, tpr, _ = roc_curve(truth, score)
        series[f"{name} (AUC {roc_auc_score(truth, score):.3f})"] = downsample(fpr, tpr)
    chart = curves(series, xlabel="false positive rate", ylabel="true positive rate", label="ROC curve",
                   diagonal=True)  # fmt: skip
    return layout.section("ROC curve", chart + _caption(["Dashed: chance.", *notes]), "roc")


def _pr(targets: list[Target], notes: list[str]) -> str:
    title = "Precision\N{EN DASH}recall curve"
    if not targets:
        return layout.section(title, _caption(notes or [ONE_CLASS]), "pr")
    series, levels = {}, {}
    for name, truth, score in targets:
        precision, recall, _ = precision_recall_curve(truth, score)
        key = f"{name} (AP {average_precision_score(truth, score):.3f})"
        series[key], levels[key] = downsample(recall, precision), float(truth.mean())
    chart = curves(series, xlabel="recall", ylabel="precision", label="precision-recall curve", hlines=levels)
    return layout.section(title, chart + _caption(["Dotted: the positive base rate.", *notes]), "pr")


def _calibration(y_code: np.ndarray, pred_code: np.ndarray, p: np.ndarray, names: list[str]) -> str:
    if len(names) == 2:
        truth, score, name = (y_code == 1).astype(int), np.clip(p[:, 1], 0, 1), f"P({names[1]})"
        brier = float(np.mean((score - truth) ** 2))
        note = f"Positive class {names[1]}. Brier score {brier:.4f} (lower is better)."
    else:
        truth, score, name = (y_code == pred_code).astype(int), np.clip(p.max(axis=1), 0, 1), "confidence"
        note = "Confidence: the top class probability; observed: the share of correct predictions."
    observed, predicted = calibration_curve(truth, score, n_bins=10, strategy="quantile")
    chart = curves(
        {name: (predicted, observed)},
        xlabel=f"mean predicted {name}",
        ylabel="observed frequency",
        label="calibration curve",
        diagonal=True,
        markers=True,
    )
    notes = [note, "10 quantile bins; dashed: perfect calibration."]
    return layout.section("Calibration", chart + _caption(notes), "calibration")


def sweep(positive: np.ndarray, score: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Precision, recall and F1 of the positive class (rows) when flagging ``score >= t`` for each
    threshold t (columns); 0 where undefined, as sklearn's ``zero_division=0``."""
    s, hits = np.sort(score), np.sort(score[np.asarray(positive, dtype=bool)])
    flagged = s.size - np.searchsorted(s, thresholds, side="left")
    tp = hits.size - np.searchsorted(hits, thresholds, side="left")
    precision = np.divide(tp, flagged, out=np.zeros(len(thresholds)), where=flagged > 0)
    recall = tp / max(hits.size, 1)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(len(thresholds)), where=total > 0)
    return np.vstack([precision, recall, f1])


def _sweep(positive: np.ndarray, score: np.ndarray, t: float, name: str) -> str:
    grid = sweep(positive, score, SWEEP)
    chosen = sweep(positive, score, np.array([t]))[:, 0]
    series = {k: (SWEEP, grid[i]) for i, k in enumerate(("precision", "recall", "F1"))}
    chart = curves(series, xlabel=f"threshold on P({name})", ylabel="score", label="threshold sweep", vline=t)
    precision, recall, f1 = chosen
    stated = (
        f"At the threshold {t:g} (red line): precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}."
    )
    notes = [stated, f"Metrics of {name}, predicting it when P({name}) ≥ the threshold."]
    if not positive.any():
        notes.append(f"No {name} rows: recall and F1 are 0 throughout.")
    return layout.section("Threshold sweep", chart + _caption(notes), "thresholds")


def _balanced(y_code: np.ndarray, pred_code: np.ndarray) -> float:
    """The mean recall over the classes present (sklearn's balanced accuracy)."""
    present = np.unique(y_code[y_code >= 0])
    return float(np.mean([np.mean(pred_code[y_code == j] == j) for j in present])) if present.size else np.nan


def _per_class(y_true: Any, y_pred: np.ndarray, classes: Sequence[Any], codes: tuple[np.ndarray, ...]) -> str:
    y_code, pred_code = codes
    scores = precision_recall_fscore_support(
        np.asarray(y_true), y_pred, labels=list(classes), zero_division=0
    )
    rows = [
        {"class": str(c), "precision": round(float(pr), 4), "recall": round(float(rc), 4),
         "F1": round(float(f), 4), "support": int(n)}
        for c, pr, rc, f, n in zip(classes, *scores, strict=True)
    ]  # fmt: skip
    accuracy = float(np.mean(y_code == pred_code))
    note = (
        f"Accuracy {accuracy:.4f}; balanced accuracy {_balanced(y_code, pred_code):.4f}; "
        f"macro F1 {float(np.mean(scores[2])):.4f} over {len(rows)} classes."
    )
    return layout.section("Per-class metrics", layout.table(rows) + _caption([note]), "per-class")


def _auc(y_code: np.ndarray, p: np.ndarray) -> float | str:
    """ROC AUC of P(classes[1]) (binary), else the mean one-vs-rest AUC over the classes both present
    and absent in some rows (sklearn's macro ovr when every class is present); "n/a" if none."""
    columns = [1] if p.shape[1] == 2 else range(p.shape[1])
    aucs = [roc_auc_score(y_code == j, p[:, j]) for j in columns if 0 < np.sum(y_code == j) < y_code.size]
    return round(float(np.mean(aucs)), 4) if aucs else "n/a"


def _per_group(y_code: np.ndarray, pred_code: np.ndarray, p: np.ndarray, groups: Any, label: str) -> str:
    values = pd.Series(np.asarray(groups, dtype=object).ravel()).where(lambda s: s.notna(), "(missing)")
    rows = []
    for name, idx in values.astype(str).groupby(values.astype(str)).indices.items():
        yc, pc = y_code[idx], pred_code[idx]
        accuracy, balanced = round(float(np.mean(yc == pc)), 4), round(_balanced(yc, pc), 4)
        rows.append(
            {label: name, "n": int(idx.size), "accuracy": accuracy, "balanced accuracy": balanced,
             "ROC AUC": _auc(yc, p[idx])}
        )  # fmt: skip
    rows.sort(key=lambda r: (-r["n"], r[label]))
    notes = ["Largest groups first; ROC AUC n/a where a group holds one class only."]
    if len(rows) > MAX_GROUPS:
        notes.append(f"{len(rows) - MAX_GROUPS} smaller groups not shown.")
    body = layout.table(rows[:MAX_GROUPS]) + _caption(notes)
    return layout.section(f"Metrics by {label}", body, "per-group")
