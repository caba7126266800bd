"""The Optuna search space built from Hydra overrides: distributions, value text, study names."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from modelmill.core.errors import ConfigError
from modelmill.sweep.bayes import run_optuna
from modelmill.sweep.bayes_space import format_value, search_space, study_name_for

DEPTH = "modeling.random_forest.max_depth"
FEATURES = "modeling.random_forest.max_features"


def hydra_value(text: str) -> object:
    return OverridesParser.create().parse_override(f"k={text}").value()


def test_intervals_choices_and_ranges_map_to_optuna_distributions() -> None:
    space = search_space(
        [
            "etl.demo_rows=1500",
            f"{DEPTH}=int(interval(5,40))",
            f"{FEATURES}=interval(0.1,1)",
            "modeling.test_size=tag(log, interval(0.05, 0.5))",
            "modeling.val_size=tag(log, int(interval(1, 100)))",
            "modeling.max_tfidf_features=5,10,30",
            "modeling.random_seed=range(1,4)",
            "+extra.mode=choice(fast,'x y','5',true,[1,2])",
        ]
    )
    assert space.fixed == ["etl.demo_rows=1500"]
    dists = space.distributions
    assert dists[DEPTH] == IntDistribution(5, 40)
    assert dists[FEATURES] == FloatDistribution(0.1, 1.0)  # interval() is a float range
    assert dists["modeling.test_size"] == FloatDistribution(0.05, 0.5, log=True)
    assert dists["modeling.val_size"] == IntDistribution(1, 100, log=True)
    assert dists["modeling.max_tfidf_features"] == CategoricalDistribution([5, 10, 30])
    assert dists["modeling.random_seed"] == CategoricalDistribution([1, 2, 3])
    assert dists["extra.mode"] == CategoricalDistribution(["fast", "x y", "5", True, "[1,2]"])
    # the trial's override keeps the +prefix; Hydra reads every value back unchanged
    [mode] = [p for p in space.params if p.key == "extra.mode"]
    assert mode.override("x y").startswith("+extra.mode=")
    assert [hydra_value(mode.text(c)) for c in ("fast", "x y", "5", True)] == ["fast", "x y", "5", True]
    assert hydra_value(mode.text("[1,2]")) == [1, 2]


VALUES = [0, 17, -3, 0.5, 1e-05, 3.0, 1e20, 0.30000000000000004, True, False, None]
TEXTS = ["a b", "5", "1.5", "true", "null", "it's", "a,b", "x=y", "${x}", "é"]


@pytest.mark.parametrize("value", [*VALUES, *TEXTS])
def test_value_text_parses_back_to_the_same_value_and_type(value: object) -> None:
    parsed = hydra_value(format_value(value))
    assert type(parsed) is type(value) and parsed == value


def test_a_trials_overrides_and_the_plans_two_representatives() -> None:
    space = search_space(
        [f"{DEPTH}=int(interval(5,40))", "modeling.max_tfidf_features=5,10,30", "etl.demo_rows=9"]
    )
    assert space.overrides({DEPTH: 7, "modeling.max_tfidf_features": 10}) == [
        "etl.demo_rows=9", f"{DEPTH}=7", "modeling.max_tfidf_features=10",
    ]  # fmt: skip
    assert space.texts({DEPTH: 7, "modeling.max_tfidf_features": 10}) == {
        DEPTH: "7", "modeling.max_tfidf_features": "10",
    }  # fmt: skip
    low, high = space.representatives()
    assert low[1:] == [f"{DEPTH}=5", "modeling.max_tfidf_features=5"]
    assert high[1:] == [f"{DEPTH}=40", "modeling.max_tfidf_features=30"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (f"{DEPTH}=int(interval(40,5))", "low"),
        (f"{FEATURES}=tag(log, interval(0, 1))", "log"),
        ("a=choice(1,1)", "twice"),
        ("a=choice(null,1)", "bad sweep override"),
        ("main.workspace=a,b", "cannot vary"),
        ("a=[1,", "Hydra syntax"),
    ],
)
def test_bad_search_spaces_are_config_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        search_space([override])


def test_a_key_swept_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="swept twice"):
        search_space(["a=1,2", "a=interval(0,1)"])


def test_no_parameter_or_no_trials_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="at least one parameter"):
        run_optuna(["etl.demo_rows=1500"], 3)
    with pytest.raises(ConfigError, match="1 or more"):
        run_optuna([f"{DEPTH}=int(interval(5,40))"], 0)


def test_the_default_study_name_depends_on_what_the_trials_compute_only() -> None:
    base = [f"{DEPTH}=int(interval(5,40))", "etl.demo_rows=1500", "modeling.max_tfidf_features=5,10"]
    name = study_name_for(search_space(base), "val_mae", "minimize")
    assert name.startswith("optuna-")
    # the same command again, fixed overrides reordered, another workspace: the same study
    assert study_name_for(search_space(base), "val_mae", "minimize") == name
    moved = [base[2], "main.workspace=/elsewhere", "main.tracking=none", base[1], base[0]]
    assert study_name_for(search_space(moved), "val_mae", "minimize") == name
    # another space, fixed value or metric: another study
    for other in ([*base[:2], "modeling.max_tfidf_features=5,30"], [base[0], "etl.demo_rows=2000", base[2]]):
        assert study_name_for(search_space(other), "val_mae", "minimize") != name
    assert study_name_for(search_space(base), "val_r2", "maximize") != name


def test_trials_stream_through_a_launchers_own_pool_or_in_batches() -> None:
    import contextlib

    from modelmill.sweep.bayes import open_pool

    class Streaming:
        jobs = 2
        the_pool = object()

        @contextlib.contextmanager
        def pool(self):  # type: ignore[no-untyped-def]
            yield self.the_pool

    class Batches:
        jobs = 2

        def __init__(self) -> None:
            self.batches: list[list[int]] = []

        def run(self, payloads):  # type: ignore[no-untyped-def]
            self.batches.append([p["index"] for p in payloads])
            yield from reversed(payloads)  # completion order need not be submission order

    streaming = Streaming()
    with open_pool(streaming, 2) as pool:  # type: ignore[arg-type]
        assert pool is streaming.the_pool
    batches = Batches()
    with open_pool(batches, 2) as pool:  # type: ignore[arg-type]
        pool.submit({"index": 0})
        pool.submit({"index": 1})
        assert pool.next_result() == {"index": 1}
        pool.submit({"index": 2})  # while trial 0's result is still buffered
        assert [pool.next_result(), pool.next_result()] == [{"index": 0}, {"index": 2}]
    assert batches.batches == [[0, 1], [2]]
