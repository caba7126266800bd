"""Monitoring a classifier on real tables (scikit-learn's breast cancer and wine data): drift of
the predicted labels (chi-square) and of every class probability (KS), from the model or from a
scored file's columns, and the task's metrics on actuals, equal to scikit-learn's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelmill.monitor.check import _monitor
from modelmill.monitor.inputs import MonitoredModel, read_batch
from modelmill.monitor.live import LiveDrift
from modelmill.monitor.outputs import outputs_for
from modelmill.monitor.quality import Truth, model_quality, read_actuals
from modelmill.serve.drift import DriftFeed, proba_names
from modelmill.tasks import get_task
from modelmill.validation.drift import Thresholds, compare, label_series
from modelmill.validation.reference import build_reference, categorical_summary

LIMITS = Thresholds()
WEEKS = ("2024-01-01", "2024-01-09", "2024-01-16")  # three ISO weeks (Mondays 1, 8 and 15 January)
STARTS = dict(zip(("2024-01-01", "2024-01-08", "2024-01-15"), WEEKS, strict=True))


class Case:
    """A classifier fitted on 40 % of a table, its reference on 30 % held out, a batch of 30 %."""

    def __init__(self, loader: Any, kind: str, string_labels: bool = True) -> None:
        data = loader(as_frame=True)
        features = data.frame.drop(columns=["target"])
        codes = data.target.to_numpy()
        labels = pd.Series(np.asarray(data.target_names)[codes] if string_labels else codes)
        fit_x, rest_x, fit_y, rest_y = train_test_split(
            features, labels, test_size=0.6, random_state=0, stratify=labels
        )
        ref_x, self.x, _, y = train_test_split(rest_x, rest_y, test_size=0.5, random_state=0, stratify=rest_y)
        self.y = y.reset_index(drop=True)
        self.x = self.x.reset_index(drop=True)
        self.task = get_task(kind)
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(fit_x, fit_y)
        self.classes = list(self.model.classes_)
        labels_ref, proba_ref = self.task.predict(self.model, ref_x)
        self.reference = build_reference(ref_x, labels_ref, probabilities=self.named(proba_ref))

    def named(self, proba: np.ndarray) -> dict[str, np.ndarray]:
        return {f"proba_{c}": proba[:, j] for j, c in enumerate(self.classes)}

    def outputs(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return self.task.predict(self.model, rows)

    def scored(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with the columns ``modelmill score`` adds for a classifier."""
        labels, proba = self.outputs(rows)
        return rows.assign(prediction=labels, **self.named(proba))


@pytest.fixture(scope="module")
def cancer() -> Case:
    return Case(load_breast_cancer, "binary")


@pytest.fixture(scope="module")
def wine() -> Case:
    return Case(load_wine, "multiclass")


def _outputs_drift(case: Case, rows: pd.DataFrame) -> dict[str, Any]:
    labels, proba = case.outputs(rows)
    report = compare(case.reference, rows, labels, LIMITS, case.named(proba))
    return {
        f.feature: f for f in report.features if f.feature == "prediction" or f.feature.startswith("proba_")
    }


def test_a_batch_like_the_reference_has_no_prediction_drift(cancer: Case) -> None:
    found = _outputs_drift(cancer, cancer.x)
    assert set(found) == {"prediction", "proba_benign", "proba_malignant"}
    assert found["prediction"].kind == "categorical" and found["prediction"].test == "chi2"
    assert all(f.kind == "numeric" and f.test == "ks" for n, f in found.items() if n != "prediction")
    assert {f.verdict for f in found.values()} == {"ok"}
    assert found["prediction"].p_value > 0.05 and found["prediction"].unseen_share == 0.0


def test_one_class_only_drifts_the_labels_and_the_probabilities(cancer: Case, wine: Case) -> None:
    malignant = cancer.x[cancer.y.to_numpy() == "malignant"]
    found = _outputs_drift(cancer, malignant)
    assert found["prediction"].verdict == "drift" and found["prediction"].p_value < LIMITS.alpha
    assert found["proba_malignant"].verdict == "drift" and found["proba_malignant"].p_value < LIMITS.alpha
    # every measurement 20 % larger: more tumours look malignant
    moved = _outputs_drift(cancer, cancer.x * 1.2)
    assert moved["prediction"].p_value < LIMITS.alpha and moved["prediction"].verdict == "drift"
    assert moved["proba_malignant"].test == "ks" and moved["proba_malignant"].p_value < LIMITS.alpha
    assert (
        moved["proba_malignant"].statistic > 3 * _outputs_drift(cancer, cancer.x)["proba_malignant"].statistic
    )
    data = load_wine(as_frame=True)
    first = data.frame[data.target == 0].drop(columns=["target"])  # 59 rows of class_0
    found = _outputs_drift(wine, first)
    assert found["prediction"].test == "chi2" and found["prediction"].p_value < LIMITS.alpha
    assert found["prediction"].verdict == "drift"
    assert any(
        f.p_value < LIMITS.alpha and f.verdict == "drift" for n, f in found.items() if n != "prediction"
    )


def test_labels_are_compared_as_the_references_text() -> None:
    summary = categorical_summary(pd.Series(["0", "1", "1"]))
    assert label_series(summary, np.array([0.0, 1.0, np.nan])).tolist()[:2] == ["0", "1"]
    assert label_series(summary, np.array([1, 0])).tolist() == ["1", "0"]
    assert label_series(categorical_summary(pd.Series(["1.0"])), [1]).tolist() == ["1.0"]


def _binary_figures(y: pd.Series, labels: np.ndarray, proba: np.ndarray, positive: Any) -> dict[str, float]:
    hit = (y == positive).to_numpy().astype(int)
    out = {
        "accuracy": skm.accuracy_score(y, labels),
        "balanced_accuracy": skm.balanced_accuracy_score(y, labels),
        "f1": skm.f1_score(y, labels, pos_label=positive),
        "log_loss": skm.log_loss(hit, proba[:, 1], labels=[0, 1]),
        "brier": skm.brier_score_loss(hit, proba[:, 1]),
    }
    if hit.min() != hit.max():
        out |= {
            "roc_auc": skm.roc_auc_score(hit, proba[:, 1]),
            "pr_auc": skm.average_precision_score(hit, proba[:, 1]),
        }
    return out


def _weeks(y: pd.Series, benign_week: int = 40) -> np.ndarray:
    """Week 3: the first ``benign_week`` benign rows (one class only); the rest in weeks 1 and 2."""
    benign = np.flatnonzero(y.to_numpy() == "benign")[:benign_week]
    week = np.arange(len(y)) % 2
    week[benign] = 2
    return np.asarray(WEEKS)[week]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # sklearn on the one-class week
def test_binary_metrics_on_actuals_by_row_and_per_week(cancer: Case, tmp_path: Path) -> None:
    batch = cancer.x.assign(when=_weeks(cancer.y))
    path = tmp_path / "actuals.csv"
    pd.DataFrame({"row": np.arange(len(batch))[::-1], "diagnosis": cancer.y[::-1]}).to_csv(path, index=False)
    truth = Truth("binary", target="diagnosis")
    labels, proba = cancer.outputs(cancer.x)
    asked: list[str] = []
    quality = model_quality(
        batch, labels, read_actuals(str(path), truth), lambda m: asked.append(m) or (0.9, "test"), truth,
        "when", proba=proba, classes=cancer.classes,
    )  # fmt: skip
    expected = _binary_figures(cancer.y, labels, proba, "malignant")
    assert set(quality.metrics) == set(expected)
    for name, value in expected.items():
        assert quality.metrics[name] == pytest.approx(value, abs=1e-6), name
    assert quality.metric == "roc_auc" and asked == ["roc_auc"] and quality.n_matched == len(batch)
    assert quality.value == pytest.approx(expected["roc_auc"], abs=1e-4) and quality.worse is False
    assert [p["week"] for p in quality.periods] == list(STARTS)
    for period in quality.periods:
        rows = batch["when"].to_numpy() == STARTS[period["week"]]
        figures = _binary_figures(cancer.y[rows], labels[rows], proba[rows], "malignant")
        assert period["n"] == rows.sum()
        for name, value in figures.items():
            assert period[name] == pytest.approx(value, abs=1e-4), (period["week"], name)
    one_class = quality.periods[2]
    assert one_class["roc_auc"] is None and "pr_auc" not in one_class and one_class["accuracy"] is not None


def test_integer_labels_join_by_id_and_headline_without_probabilities(tmp_path: Path) -> None:
    case = Case(load_breast_cancer, "binary", string_labels=False)
    batch = case.x.assign(sample=[f"s{i}" for i in range(len(case.x))])
    path = tmp_path / "actuals.csv"
    shuffled = pd.DataFrame({"sample": batch["sample"], "target": case.y}).sample(frac=1.0, random_state=1)
    shuffled.to_csv(path, index=False)
    truth = Truth("binary", target="target", id="sample")
    actuals = read_actuals(str(path), truth)
    assert pd.api.types.is_integer_dtype(actuals["actual"])
    labels, proba = case.outputs(case.x)
    quality = model_quality(batch, labels, actuals, (None, "none"), truth, proba=proba, classes=case.classes)
    assert quality.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(case.y, proba[:, 1]), abs=1e-6)
    assert quality.metrics["f1"] == pytest.approx(skm.f1_score(case.y, labels), abs=1e-6)
    # labels read back from a scored CSV as text still match the integer actuals
    plain = model_quality(batch, labels.astype(str), actuals, (None, "none"), truth)
    assert plain.metric == "accuracy" and "roc_auc" not in plain.metrics
    assert plain.value == pytest.approx(skm.accuracy_score(case.y, labels), abs=1e-4)


def test_multiclass_metrics_match_sklearn(wine: Case, tmp_path: Path) -> None:
    path = tmp_path / "actuals.csv"
    pd.DataFrame({"actual": wine.y}).to_csv(path, index=False)  # matched row by row
    truth = Truth("multiclass", target="cultivar")
    labels, proba = wine.outputs(wine.x)
    quality = model_quality(
        wine.x,
        labels,
        read_actuals(str(path), truth),
        (None, "none"),
        truth,
        proba=proba,
        classes=wine.classes,
    )
    expected = {
        "log_loss": skm.log_loss(wine.y, proba, labels=wine.classes),
        "roc_auc_ovr": skm.roc_auc_score(wine.y, proba, multi_class="ovr", labels=wine.classes),
        "accuracy": skm.accuracy_score(wine.y, labels),
        "balanced_accuracy": skm.balanced_accuracy_score(wine.y, labels),
        "f1_macro": skm.f1_score(wine.y, labels, average="macro"),
        "f1_weighted": skm.f1_score(wine.y, labels, average="weighted"),
    }
    assert quality.metrics == pytest.approx(expected, abs=1e-6)
    assert quality.metric == "log_loss" and quality.lower_is_better
    first = wine.y.to_numpy() == "class_0"  # one class: no one-vs-rest AUC, no error
    pd.DataFrame({"actual": wine.y[first]}).to_csv(path, index=False)
    actuals = read_actuals(str(path), truth)
    alone = model_quality(
        wine.x[first], labels[first], actuals, (None, "none"), truth, proba=proba[first], classes=wine.classes
    )
    assert "roc_auc_ovr" not in alone.metrics
    assert alone.metrics["log_loss"] == pytest.approx(
        skm.log_loss(wine.y[first], proba[first], labels=wine.classes), abs=1e-6
    )


def test_a_scored_batch_is_used_without_the_model(cancer: Case, tmp_path: Path) -> None:
    path = tmp_path / "scored.csv"
    cancer.scored(cancer.x).to_csv(path, index=False)
    batch = read_batch(str(path))

    def no_model() -> Any:
        raise AssertionError("the model must not be loaded")

    outputs = outputs_for(batch, cancer.reference, no_model)
    assert outputs.classes == ["benign", "malignant"] and outputs.origin.startswith("input columns")
    from_columns = compare(cancer.reference, batch, outputs.values, LIMITS, outputs.probabilities).to_dict()
    labels, proba = cancer.outputs(cancer.x)
    from_model = compare(cancer.reference, cancer.x, labels, LIMITS, cancer.named(proba)).to_dict()
    assert from_columns == from_model
    assert outputs_for(cancer.x, cancer.reference, cancer.model).origin == "model (Pipeline)"
    # a hand-made file: probability columns in another order, and a feature named like one
    shuffled = batch[["proba_malignant", "proba_benign", *[c for c in batch.columns if c[:6] != "proba_"]]]
    reordered = outputs_for(shuffled.assign(proba_of_default=0.3), cancer.reference, no_model)
    assert reordered.classes == ["benign", "malignant"]
    np.testing.assert_array_equal(reordered.proba, outputs.proba)

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text(yaml.safe_dump({"metadata": {"val_roc_auc": 0.98}}))
    actuals = tmp_path / "actuals.csv"
    pd.DataFrame({"row": np.arange(len(batch)), "diagnosis": cancer.y}).to_csv(actuals, index=False)
    model = MonitoredModel("clf", model_dir, cancer.reference)
    result = _monitor(batch, str(path), model, None, LIMITS, str(actuals), None, Truth("binary", "diagnosis"))
    assert result.prediction_source == outputs.origin and result.drift.to_dict() == from_model
    quality = result.quality
    assert quality is not None and quality.metric == "roc_auc" and quality.baseline == 0.98
    assert quality.value == pytest.approx(skm.roc_auc_score(cancer.y == "malignant", proba[:, 1]), abs=1e-4)
    assert "prediction (ok)" in result.page.html and "proba_malignant (ok)" in result.page.html


def test_the_live_gauge_of_a_classifier(cancer: Case) -> None:
    def feed_with(rows: pd.DataFrame) -> dict[str, float]:
        feed = DriftFeed(LiveDrift(cancer.reference, window=500), 500, cancer.classes)
        labels, proba = cancer.outputs(rows)
        records = rows.to_dict(orient="records")
        feed.submit(records[:50], list(labels[:50]), proba[:50])
        feed.submit(records[50:], list(labels[50:]), cancer.named(proba[50:]))  # a mapping works too
        return feed.scores()

    calm = feed_with(cancer.x)
    assert {"prediction", "proba_benign", "proba_malignant", "worst radius"} <= set(calm)
    assert calm["prediction"] < 0.05
    shifted = feed_with(cancer.x[cancer.y.to_numpy() == "malignant"])
    assert shifted["prediction"] > 0.25 and shifted["proba_malignant"] > 0.25
    assert proba_names({"proba_10": {}, "proba_2": {}}) == ["proba_2", "proba_10"]
