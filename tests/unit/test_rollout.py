"""The rollout's parts on their own: routing, live figures, the rollback rule, the blocked version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from modelmill.serve.model_holder import ModelHolder
from modelmill.serve.rollout import Rollout, bucket
from modelmill.serve.rollout_stats import Agreement, RoleStats
from modelmill.serve.settings import ServeSettings


def test_a_key_has_one_stable_bucket_and_buckets_spread_evenly() -> None:
    assert bucket("listing-42") == bucket("listing-42")
    assert 0 <= bucket("") < 1
    below = sum(bucket(str(i)) < 0.1 for i in range(20_000)) / 20_000
    assert 0.09 < below < 0.11, below


def test_the_window_judges_recent_requests_and_the_totals_stay() -> None:
    stats = RoleStats(window=10)
    for _ in range(10):
        stats.failed(0.5)
    for _ in range(10):
        stats.observe(0.001, [1.0, 2.0])
    assert stats.error_rate() == 0.0  # the failures left the window
    assert (stats.requests, stats.errors, stats.rows) == (20, 10, 20)
    assert stats.latency_ms(0.99) == pytest.approx(1.0)
    summary = stats.summary()
    assert summary["predictions"]["mean"] == 1.5 and summary["error_rate"] == 0.0


def test_a_classifiers_labels_are_counted_not_averaged() -> None:
    stats = RoleStats(window=10)
    stats.observe(0.001, ["yes", "no", "yes", "yes"], proba=[[0.1, 0.9]] * 4)
    assert stats.summary()["predictions"] == {"classes": {"yes": 0.75, "no": 0.25}}


def test_agreement_of_two_models_on_the_same_rows() -> None:
    values = Agreement()
    values.add([1.0, 2.0], [1.5, 2.0], labels=False)
    assert values.summary() == {"rows": 2, "mean_abs_difference": 0.25}
    labels = Agreement()
    labels.add(["a", "b", "a", "a"], ["a", "a", "a", "a"], labels=True)
    assert labels.summary() == {"rows": 4, "label_agreement": 0.75}


@dataclass(frozen=True)
class _Target:
    name: str = "m"
    version: str = "2"
    resolved: Any = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(eq=False)
class _Model:
    target: _Target
    load_seconds: float = 0.0
    classes: list[Any] | None = None


def _rollout(**limits: Any) -> Rollout:
    settings = ServeSettings(model="models:/m@prod", challenger="models:/m@challenger", **limits)
    rollout = Rollout(settings)
    rollout.holder.current = _Model(_Target())  # type: ignore[assignment]
    return rollout


def test_the_challenger_is_judged_only_after_min_requests_then_rolled_back_on_errors() -> None:
    rollout = _rollout(min_requests=10, max_error_rate=0.2)
    model = rollout.holder.current
    for _ in range(3):
        rollout.failed("challenger", model, 0.001, RuntimeError("x"))
    assert rollout.holder.current is model  # 3 of 3 failed, but too few to judge
    for _ in range(7):
        rollout.observe("challenger", model, 0.001, [1.0], None)
    assert rollout.holder.current is None and "error rate 30.0%" in rollout.rolled_back["reason"]
    assert rollout.holder.blocked == {"m/2"} and [e["event"] for e in rollout.events] == ["rolled back"]
    assert rollout.rollback(model, "again") is False  # nothing left to roll back


def test_a_new_version_is_judged_on_its_own_figures_only() -> None:
    rollout = _rollout(min_requests=5, max_error_rate=0.2)
    old = rollout.holder.current
    rollout.holder.current = new = _Model(_Target(version="3"))  # type: ignore[assignment]
    for _ in range(10):  # late failures of the version it replaced
        rollout.failed("challenger", old, 0.001, RuntimeError("x"))
    rollout.observe("challenger", new, 0.001, [1.0], None)
    assert rollout.holder.current is new and rollout.rolled_back is None
    assert rollout.stats("challenger", new).requests == 1


def test_the_p99_is_judged_on_a_hundred_requests_and_one_slow_answer_is_not_it() -> None:
    rollout = _rollout(min_requests=5, max_p99_ms=50)
    model = rollout.holder.current
    rollout.observe("challenger", model, 1.0, [1.0], None)  # one slow answer among fast ones
    for _ in range(99):
        rollout.observe("challenger", model, 0.001, [1.0], None)
    assert rollout.rolled_back is None
    for _ in range(5):
        rollout.observe("challenger", model, 0.2, [1.0], None)
    assert rollout.rolled_back is not None and "p99 latency" in rollout.rolled_back["reason"]


def test_the_champion_is_never_rolled_back() -> None:
    rollout = _rollout(min_requests=1, max_error_rate=0.0)
    champion = _Model(_Target(version="1"))
    rollout.failed("champion", champion, 0.001, RuntimeError("x"))
    assert rollout.holder.current is not None and rollout.rolled_back is None


def test_a_challenger_of_another_kind_is_not_served() -> None:
    rollout = _rollout()
    champion = _Model(_Target(version="1"), classes=["no", "yes"])
    assert rollout.challenger(champion) is None  # a regression against a classifier
    assert "is a regression and the champion a classifier" in str(rollout.refused)
    rollout.holder.current = _Model(_Target(version="3"), classes=["no", "maybe"])  # type: ignore[assignment]
    assert rollout.challenger(champion) is None and "differ" in str(rollout.refused)
    rollout.holder.current = same = _Model(_Target(version="4"), classes=["no", "yes"])  # type: ignore[assignment]
    assert rollout.challenger(champion) is same


def test_canary_routing_follows_the_key_and_the_share_and_shadow_never_routes() -> None:
    canary = _rollout(challenger_share=0.5)
    keys = [str(i) for i in range(200)]
    assert [canary.routes_to_challenger(k) for k in keys] == [bucket(k) < 0.5 for k in keys]
    assert canary.key_of("header-key", [{"id": 7}]) == "header-key"
    shadow = _rollout(rollout_mode="shadow", challenger_share=1.0)
    assert not any(shadow.routes_to_challenger(k) for k in keys)
    by_column = _rollout(rollout_key="id")
    assert by_column.key_of(None, [{"id": 7}, {"id": 8}]) == "7" and by_column.key_of(None, []) is None


def test_a_blocked_version_is_not_swapped_in_even_if_it_was_loading() -> None:
    holder = ModelHolder()
    model = _Model(_Target())
    holder.current = model  # type: ignore[assignment]
    assert holder.drop(block=True) is model and holder.current is None
    assert holder._swap(model, None) is False and holder.current is None  # type: ignore[arg-type]
    assert holder._swap(_Model(_Target(version="3")), None) is True  # type: ignore[arg-type]
