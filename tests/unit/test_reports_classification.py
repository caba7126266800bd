"""The classification report sections (modelmill.reports.classification) on real models:
logistic regressions fitted on sklearn's breast-cancer (binary, string labels) and wine
(3 classes, int labels) data, scored on a held-out split."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelmill.core.labels import decide
from modelmill.reports._svg import PAD_L, PAD_R, W
from modelmill.reports.classification import (
    ONE_CLASS,
    SWEEP,
    classification_sections,
    confusion,
    sweep,
)


@dataclass(frozen=True)
class Scored:
    y: np.ndarray
    proba: np.ndarray
    classes: np.ndarray
    predicted: np.ndarray  # model.predict on the test split


def _fit(x: np.ndarray, y: np.ndarray) -> Scored:
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x_train, y_train)
    return Scored(y_test, model.predict_proba(x_test), model.classes_, model.predict(x_test))


@pytest.fixture(scope="module")
def cancer() -> Scored:
    x, y = load_breast_cancer(return_X_y=True)
    return _fit(x, np.where(y == 0, "malignant", "benign"))


@pytest.fixture(scope="module")
def wine() -> Scored:
    x, y = load_wine(return_X_y=True)
    return _fit(x[:, :2], y)  # two features only: a model that makes mistakes


class _Text(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.feed(html)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def section(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}">')
    return html[start : html.index("</section>", start)]


def text(html: str) -> str:
    return " ".join("".join(_Text(html).parts).split())


def first_table(html: str) -> list[list[str]]:
    """The cell texts of the first table, header row first."""
    chunk = html[html.index("<table>") : html.index("</table>")]
    return [
        [unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in chunk.split("<tr>")[1:]
    ]


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", html, flags=re.S)]


def legend(html: str) -> list[str]:
    return [t.text or "" for s in svgs(html) for t in s.iter("text") if t.get("class") == "legend"]


def test_decide_and_confusion_agree_with_the_model_and_sklearn(cancer: Scored, wine: Scored) -> None:
    for data in (cancer, wine):
        assert (decide(data.proba, data.classes) == data.predicted).all()
        matrix = confusion(data.y, data.predicted, data.classes)
        assert (matrix == confusion_matrix(data.y, data.predicted, labels=data.classes)).all()
    low = decide(cancer.proba, cancer.classes, 0.2)
    assert (low == np.where(cancer.proba[:, 1] >= 0.2, "malignant", "benign")).all()
    assert (low == "malignant").sum() > (cancer.predicted == "malignant").sum()
    # labels outside the classes are not counted
    assert confusion(["a", "b", "zzz"], ["a", "zzz", "b"], ["a", "b"]).tolist() == [[1, 0], [0, 0]]


@pytest.mark.parametrize("threshold", [0.3, None])
def test_confusion_table_counts_equal_sklearn(cancer: Scored, threshold: float | None) -> None:
    html = section(
        classification_sections(cancer.y, cancer.proba, cancer.classes, threshold=threshold), "confusion"
    )
    predicted = decide(cancer.proba, cancer.classes, threshold)
    expected = confusion_matrix(cancer.y, predicted, labels=cancer.classes)
    rows = first_table(html)
    assert rows[0] == ["true \\ predicted", "benign", "malignant", "total"]
    assert [r[0] for r in rows[1:]] == ["benign", "malignant"]
    assert [[int(v) for v in r[1:3]] for r in rows[1:]] == expected.tolist()
    assert f"≥ {threshold or 0.5:g}" in text(html)
    cells = [c for s in svgs(html) for c in s.iter("rect") if c.get("class") == "cell"]
    assert len(cells) == 4


def test_multiclass_confusion_and_per_class_tables_match_sklearn(wine: Scored) -> None:
    html = classification_sections(wine.y, wine.proba, wine.classes)
    expected = confusion_matrix(wine.y, wine.predicted, labels=wine.classes)
    assert expected.trace() < expected.sum()  # the model does err: the check below means something
    rows = first_table(section(html, "confusion"))
    assert [[int(v) for v in r[1:4]] for r in rows[1:]] == expected.tolist()
    precision, recall, f1, support = precision_recall_fscore_support(
        wine.y, wine.predicted, labels=wine.classes, zero_division=0
    )
    table = first_table(section(html, "per-class"))
    assert table[0] == ["class", "precision", "recall", "F1", "support"]
    got = np.array([[float(v) for v in r[1:]] for r in table[1:]])
    np.testing.assert_allclose(got[:, :3], np.c_[precision, recall, f1], atol=5e-5)
    assert got[:, 3].tolist() == support.tolist()
    assert f"balanced accuracy {balanced_accuracy_score(wine.y, wine.predicted):.4f}" in text(html)


def test_binary_per_class_table_at_the_threshold(cancer: Scored) -> None:
    html = section(
        classification_sections(cancer.y, cancer.proba, cancer.classes, threshold=0.2), "per-class"
    )
    predicted = decide(cancer.proba, cancer.classes, 0.2)
    expected = precision_recall_fscore_support(cancer.y, predicted, labels=cancer.classes, zero_division=0)
    got = np.array([[float(v) for v in r[1:]] for r in first_table(html)[1:]])
    np.testing.assert_allclose(got.T, np.array(expected), atol=5e-5)


def test_roc_and_pr_legends_state_sklearn_auc_and_ap(cancer: Scored, wine: Scored) -> None:
    html = classification_sections(cancer.y, cancer.proba, cancer.classes)
    positive = cancer.y == "malignant"
    auc = roc_auc_score(positive, cancer.proba[:, 1])
    assert legend(section(html, "roc")) == [f"malignant (AUC {auc:.3f})"]
    ap = average_precision_score(positive, cancer.proba[:, 1])
    assert legend(section(html, "pr")) == [f"malignant (AP {ap:.3f})"]
    (pr_svg,) = svgs(section(html, "pr"))
    (ref,) = [e for e in pr_svg.iter("line") if e.get("class") == "ref"]
    assert f"{positive.mean():.3g}" in "".join(ref.itertext())

    multi = classification_sections(wine.y, wine.proba, wine.classes)
    entries = legend(section(multi, "roc"))
    support = np.bincount(wine.y)
    assert [int(e.split()[0]) for e in entries] == list(np.argsort(-support, kind="stable"))  # largest first
    for entry in entries:
        c = int(entry.split()[0])
        assert entry == f"{c} (AUC {roc_auc_score(wine.y == c, wine.proba[:, c]):.3f})"
    assert len(legend(section(multi, "pr"))) == 3


def test_curves_are_downsampled_to_about_200_points() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p1 = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    html = classification_sections(y, np.c_[1 - p1, p1], [0, 1])
    for anchor in ("roc", "pr"):
        (curve,) = [e for s in svgs(section(html, anchor)) for e in s.iter("polyline")]
        assert 100 < len(curve.get("points", "").split()) <= 200


def test_threshold_sweep_marks_the_threshold_and_states_sklearn_values(cancer: Scored) -> None:
    html = section(
        classification_sections(cancer.y, cancer.proba, cancer.classes, threshold=0.3), "thresholds"
    )
    (chart,) = svgs(html)
    (marker,) = [e for e in chart.iter("line") if e.get("class") == "marker"]
    assert float(marker.get("x1", "nan")) == pytest.approx(PAD_L + 0.3 * (W - PAD_R - PAD_L), abs=0.06)
    assert "".join(marker.itertext()) == "threshold 0.3"
    predicted = decide(cancer.proba, cancer.classes, 0.3)
    kw = {"pos_label": "malignant", "zero_division": 0}
    f1 = f1_score(cancer.y, predicted, **kw)
    precision, recall = precision_score(cancer.y, predicted, **kw), recall_score(cancer.y, predicted, **kw)
    assert (
        f"At the threshold 0.3 (red line): precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}."
        in (text(html))
    )
    assert legend(html) == ["precision", "recall", "F1"]


def test_sweep_equals_sklearn_on_the_grid(cancer: Scored) -> None:
    positive = cancer.y == "malignant"
    grid = sweep(positive, cancer.proba[:, 1], SWEEP)
    assert grid.shape == (3, 99)
    for i in (0, 9, 49, 90, 98):
        predicted = cancer.proba[:, 1] >= SWEEP[i]
        expected = [
            f(positive, predicted, zero_division=0) for f in (precision_score, recall_score, f1_score)
        ]
        np.testing.assert_allclose(grid[:, i], expected, atol=1e-12)


def test_calibration_curve_and_brier_score(cancer: Scored, wine: Scored) -> None:
    html = section(classification_sections(cancer.y, cancer.proba, cancer.classes), "calibration")
    positive = cancer.y == "malignant"
    assert f"Brier score {brier_score_loss(positive, cancer.proba[:, 1]):.4f}" in text(html)
    observed, _ = calibration_curve(positive, cancer.proba[:, 1], n_bins=10, strategy="quantile")
    (chart,) = svgs(html)
    (curve,) = [e for e in chart.iter("polyline")]
    assert len(curve.get("points", "").split()) == observed.size
    multi = section(classification_sections(wine.y, wine.proba, wine.classes), "calibration")
    assert "Confidence: the top class probability" in text(multi)
    assert "Brier" not in text(multi)


def test_every_svg_parses_and_has_an_accessible_name(cancer: Scored, wine: Scored) -> None:
    binary = classification_sections(cancer.y, cancer.proba, cancer.classes, threshold=0.4)
    multi = classification_sections(wine.y, wine.proba, wine.classes)
    for html, expected in ((binary, 5), (multi, 4)):  # the sweep is binary only
        assert html.count("<svg") == expected
        charts = svgs(html)
        assert len(charts) == expected
        assert all(c.get("aria-label") and c.get("role") == "img" for c in charts)
    ids = re.findall(r'<section id="([^"]+)">', binary)
    assert ids == ["confusion", "roc", "pr", "calibration", "thresholds", "per-class"]
    assert "thresholds" not in re.findall(r'<section id="([^"]+)">', multi)


def test_a_class_absent_from_the_labels_loses_its_curves_with_a_note(wine: Scored) -> None:
    keep = wine.y != 2
    html = classification_sections(wine.y[keep], wine.proba[keep], wine.classes)
    for anchor in ("roc", "pr"):
        part = section(html, anchor)
        assert "No curve for 2: not in the labels." in text(part)
        assert sorted(int(e.split()[0]) for e in legend(part)) == [0, 1]
    rows = first_table(section(html, "confusion"))
    assert rows[3][0] == "2" and rows[3][-1] == "0"
    assert [r[-1] for r in first_table(section(html, "per-class"))[1:]] == [
        str(n) for n in np.bincount(wine.y[keep], minlength=3)
    ]


def test_max_curves_keeps_the_largest_classes(wine: Scored) -> None:
    html = classification_sections(wine.y, wine.proba, wine.classes, max_curves=2)
    part = section(html, "roc")
    largest = list(np.argsort(-np.bincount(wine.y), kind="stable")[:2])
    assert [int(e.split()[0]) for e in legend(part)] == largest
    assert "1 smaller classes not drawn (max_curves=2)." in text(part)


@pytest.mark.parametrize("which", ["binary", "multiclass"])
def test_one_class_in_five_rows_is_undefined_not_an_error(cancer: Scored, wine: Scored, which: str) -> None:
    data = cancer if which == "binary" else wine
    rows = np.flatnonzero(data.y == data.classes[0])[:5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sklearn "only one class" warnings either
        html = classification_sections(data.y[rows], data.proba[rows], data.classes, groups=["g"] * 5)
    for anchor in ("roc", "pr"):
        part = section(html, anchor)
        assert text(part).endswith(ONE_CLASS)
        assert "<svg" not in part
    assert first_table(section(html, "per-group"))[1][-1] == "n/a"
    assert len(svgs(html)) == (3 if which == "binary" else 2)  # confusion, calibration (+ sweep)
    if which == "binary":
        assert "recall 0.0000, F1 0.0000" in text(section(html, "thresholds"))


def test_group_table_shows_na_for_a_single_class_group(cancer: Scored) -> None:
    groups = np.where(np.arange(cancer.y.size) % 3 == 0, "mixed-a", "mixed-b").astype(object)
    groups[np.flatnonzero(cancer.y == "benign")[:7]] = "benign-only"
    html = section(
        classification_sections(cancer.y, cancer.proba, cancer.classes, groups=groups, group_label="site"),
        "per-group",
    )
    assert "<h2>Metrics by site</h2>" in html
    rows = first_table(html)
    assert rows[0] == ["site", "n", "accuracy", "balanced accuracy", "ROC AUC"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["benign-only"][1:] == ["7", *by_name["benign-only"][2:4], "n/a"]
    assert [int(r[1]) for r in rows[1:]] == sorted((int(r[1]) for r in rows[1:]), reverse=True)
    predicted = decide(cancer.proba, cancer.classes)
    for name in ("mixed-a", "mixed-b"):
        mask = groups == name
        auc = roc_auc_score(cancer.y[mask] == "malignant", cancer.proba[mask, 1])
        assert float(by_name[name][4]) == pytest.approx(auc, abs=5e-5)
        accuracy = np.mean(predicted[mask] == cancer.y[mask])
        assert float(by_name[name][2]) == pytest.approx(accuracy, abs=5e-5)


def test_multiclass_group_auc_is_sklearn_macro_ovr(wine: Scored) -> None:
    groups = np.arange(wine.y.size) % 2
    html = section(classification_sections(wine.y, wine.proba, wine.classes, groups=groups), "per-group")
    rows = {r[0]: r for r in first_table(html)[1:]}
    for g in (0, 1):
        mask = groups == g
        auc = roc_auc_score(wine.y[mask], wine.proba[mask], multi_class="ovr", labels=wine.classes)
        balanced = balanced_accuracy_score(wine.y[mask], wine.predicted[mask])
        assert float(rows[str(g)][4]) == pytest.approx(auc, abs=5e-5)
        assert float(rows[str(g)][3]) == pytest.approx(balanced, abs=5e-5)


def test_at_most_30_groups_largest_first() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(40), np.arange(40) + 2)
    y = rng.integers(0, 2, groups.size)
    p1 = rng.random(groups.size)
    html = section(classification_sections(y, np.c_[1 - p1, p1], [0, 1], groups=groups), "per-group")
    rows = first_table(html)[1:]
    assert [r[0] for r in rows] == [str(g) for g in range(39, 9, -1)]
    assert "10 smaller groups not shown." in text(html)


def test_probabilities_that_do_not_sum_to_one_are_scored_as_given(wine: Scored) -> None:
    scaled = wine.proba * np.linspace(0.8, 1.1, wine.y.size)[:, None]
    assert not np.allclose(scaled.sum(axis=1), 1)  # sklearn's multiclass roc_auc_score would refuse these
    groups = np.arange(wine.y.size) % 2
    html = classification_sections(wine.y, scaled, wine.classes, groups=groups)
    for entry in legend(section(html, "roc")):
        c = int(entry.split()[0])
        assert entry == f"{c} (AUC {roc_auc_score(wine.y == c, scaled[:, c]):.3f})"
    base = classification_sections(wine.y, wine.proba, wine.classes)
    assert first_table(section(html, "confusion")) == first_table(section(base, "confusion"))  # same argmax
    mask = groups == 0
    macro = np.mean([roc_auc_score(wine.y[mask] == c, scaled[mask, c]) for c in wine.classes])
    assert float(first_table(section(html, "per-group"))[1][4]) == pytest.approx(macro, abs=5e-5)


def test_more_than_20_classes_fold_into_other() -> None:
    rng = np.random.default_rng(2)
    classes = [f"c{i:02d}" for i in range(25)]
    y = np.array(classes)[np.minimum(rng.geometric(0.12, 2000) - 1, 24)]
    proba = rng.dirichlet(np.ones(25), y.size)
    html = section(classification_sections(y, proba, classes), "confusion")
    rows = first_table(html)
    assert len(rows) == 22 and rows[-1][0] == "(other)" and rows[0][-2] == "(other)"
    support = {c: int((y == c).sum()) for c in classes}
    shown = [r[0] for r in rows[1:-1]]
    assert sorted(support.values(), reverse=True)[:20] == [support[c] for c in shown]
    assert int(rows[-1][-1]) == sum(v for c, v in support.items() if c not in shown)
    assert sum(int(r[-1]) for r in rows[1:]) == y.size
    assert "5 smaller classes folded into (other)." in text(html)
    assert len([c for s in svgs(html) for c in s.iter("rect") if c.get("class") == "cell"]) == 21 * 21
