"""Build-time validation of steps and pipelines: every mistake fails early with a useful message."""

from __future__ import annotations

import re

import pytest

from modelmill.core.errors import PipelineDefinitionError, UsageError
from modelmill.runner import Input, Output, Pipeline, Step, step
from tests.example_pipeline import steps as example_steps
from tests.example_pipeline.pipeline import STEP_NAMES, build

MOD = "tests.example_pipeline.steps"


def _mk(name: str, inputs: tuple[str | Input, ...] = (), outputs: dict[str, str] | None = None) -> Step:
    return step(name, f"{MOD}:make_numbers", inputs=inputs, outputs=outputs or {})


# ------------------------------------------------------------------ step()
@pytest.mark.parametrize("name", ["1bad", "has-dash", "", "with space", "a" * 65, "dotted.name"])
def test_bad_step_name(name: str) -> None:
    with pytest.raises(PipelineDefinitionError, match=r"invalid step name .*Python-identifier-like"):
        step(name, f"{MOD}:make_numbers")


def test_bad_step_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        step("9x", f"{MOD}:make_numbers")
    assert info.value.exit_code == 2
    assert repr("9x") in str(info.value)


def test_lambda_func_rejected() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"step 'a': func must be a named function"):
        step("a", lambda ctx: None)


def test_non_callable_func_rejected() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"func must be a named function"):
        step("a", 42)  # type: ignore[arg-type]


def test_named_function_accepted() -> None:
    s = step("a", example_steps.make_numbers, outputs={"numbers.json": "numbers"})
    assert s.module == MOD
    assert s.load() is example_steps.make_numbers


@pytest.mark.parametrize(
    "ref",
    [
        "tests.example_pipeline.steps.make_numbers",
        "tests.example_pipeline.steps:",
        ":make_numbers",
        "mod:func:extra",
        "mod/path:func",
        "mod:func-name",
        "mod: func",
    ],
)
def test_func_string_must_be_module_colon_function(ref: str) -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        step("a", ref)
    msg = str(info.value)
    assert msg.startswith("step 'a': function reference")
    assert repr(ref) in msg
    assert "'package.module:function'" in msg


def test_func_string_is_not_imported_at_build_time() -> None:
    # Building must not import step code: a missing module only fails when the step is loaded.
    s = step("a", "no_such_module_xyz.sub:fn")
    assert s.module == "no_such_module_xyz.sub"
    with pytest.raises(PipelineDefinitionError, match=r"step 'a': cannot load function"):
        s.load()


def test_load_missing_attribute() -> None:
    s = step("a", f"{MOD}:no_such_function")
    with pytest.raises(PipelineDefinitionError, match=r"cannot load function .*no_such_function"):
        s.load()


def test_load_non_callable() -> None:
    s = step("a", "tests.example_pipeline.pipeline:STEPS")
    with pytest.raises(PipelineDefinitionError, match=r"is not callable"):
        s.load()


@pytest.mark.parametrize(
    "params",
    [{"x": object()}, {"s": {1, 2}}, {"b": b"bytes"}, {"nested": {"deep": [1, object()]}}],
)
def test_non_json_params_rejected(params: dict) -> None:
    with pytest.raises(PipelineDefinitionError, match=r"step 'a': params must be JSON values"):
        step("a", f"{MOD}:make_numbers", params=params)


def test_json_params_are_copied() -> None:
    original = {"n": 3, "nested": {"list": [1, 2.5, "x", None, True]}}
    s = step("a", f"{MOD}:make_numbers", params=original)
    assert s.params == original
    original["nested"]["list"].append(99)  # later mutation does not leak into the step
    assert s.params["nested"]["list"] == [1, 2.5, "x", None, True]


@pytest.mark.parametrize("name", ["../evil", "a/b", "-leading", "with:colon", "a..b", "", "sp ace"])
def test_invalid_output_name(name: str) -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        step("a", f"{MOD}:make_numbers", outputs={name: "numbers"})
    msg = str(info.value)
    assert msg.startswith("step 'a': output invalid artifact name")
    assert repr(name) in msg


def test_output_needs_a_type() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"outputs should map artifact name to type"):
        step("a", f"{MOD}:make_numbers", outputs={"numbers.json": ""})
    with pytest.raises(PipelineDefinitionError, match=r"outputs should map artifact name to type"):
        step("a", f"{MOD}:make_numbers", outputs=["numbers.json"])  # type: ignore[list-item]


def test_output_objects_accepted() -> None:
    s = step("a", f"{MOD}:make_numbers", outputs=[Output("numbers.json", "numbers", "1..n")])
    assert s.outputs == (Output("numbers.json", "numbers", "1..n"),)


@pytest.mark.parametrize("ref", ["../x", "x:", "x:1bad", "x:a:b", "x:_under"])
def test_invalid_input_reference(ref: str) -> None:
    with pytest.raises(PipelineDefinitionError, match=r"^step 'a': input invalid artifact"):
        step("a", f"{MOD}:make_numbers", inputs=[ref])


def test_input_of_wrong_type() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"should be an artifact reference string"):
        step("a", f"{MOD}:make_numbers", inputs=[42])  # type: ignore[list-item]


def test_input_properties() -> None:
    assert Input("numbers.json").name == "numbers.json"
    assert not Input("numbers.json").pinned
    assert Input("numbers.json:v3").pinned
    assert Input("numbers.json:reference", external=True).name == "numbers.json"


# ------------------------------------------------------------------ Pipeline
def test_example_pipeline_builds_in_dag_order() -> None:
    p = build()
    assert p.order == list(STEP_NAMES)
    assert p.producer == {
        "numbers.json": "make_numbers",
        "doubled.json": "double",
        "total.txt": "total",
        "report": "report",
    }
    assert p.upstream(p.by_name["total"]) == ["double"]
    assert p.upstream(p.by_name["make_numbers"]) == []


def test_unknown_input_lists_produced_and_suggests() -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        Pipeline(
            [
                _mk("make", outputs={"numbers.json": "numbers"}),
                _mk("use", inputs=("number.json",), outputs={"doubled.json": "numbers"}),
            ]
        )
    msg = str(info.value)
    assert "step 'use' reads 'number.json', which no step produces." in msg
    assert "Did you mean numbers.json" in msg  # closest match first
    assert "Produced artifacts: doubled.json, numbers.json." in msg
    assert "Input('number.json:latest', external=True)" in msg


def test_unknown_input_without_close_match() -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        Pipeline([_mk("use", inputs=("zzz_unrelated",))])
    msg = str(info.value)
    assert "Did you mean" not in msg
    assert "Produced artifacts: none." in msg
    assert "Input('zzz_unrelated:latest', external=True)" in msg


def test_external_and_pinned_inputs_need_no_producer() -> None:
    p = Pipeline(
        [
            _mk("a", inputs=(Input("ref.csv:reference", external=True),), outputs={"x": "t"}),
            _mk("b", inputs=("other.csv:v2", "x"), outputs={"y": "t"}),
            _mk("c", inputs=(Input("x", external=True),)),
        ]
    )
    assert p.order == ["a", "b", "c"]
    assert p.upstream(p.by_name["b"]) == ["a"]
    assert p.upstream(p.by_name["c"]) == []  # external: read from the store, no DAG edge


def test_duplicate_outputs() -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        Pipeline([_mk("a", outputs={"numbers.json": "n"}), _mk("b", outputs={"numbers.json": "n"})])
    assert str(info.value) == (
        "output 'numbers.json' is produced by both 'a' and 'b'; "
        "each artifact name must have exactly one producing step"
    )


def test_duplicate_step_names() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"two steps are named 'a'; names must be unique"):
        Pipeline([_mk("a", outputs={"x": "t"}), _mk("a", outputs={"y": "t"})])


def test_non_step_items_rejected() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"pipeline items must be Step objects"):
        Pipeline([_mk("a"), "b"])  # type: ignore[list-item]


def test_two_step_cycle_is_shown() -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        Pipeline([_mk("a", inputs=("y",), outputs={"x": "t"}), _mk("b", inputs=("x",), outputs={"y": "t"})])
    assert str(info.value) == "the steps form a cycle: a -> b -> a; a pipeline must be acyclic"


def test_three_step_cycle_behind_a_tail_is_shown() -> None:
    with pytest.raises(PipelineDefinitionError) as info:
        Pipeline(
            [
                _mk("start", inputs=("c_out",), outputs={"s_out": "t"}),
                _mk("a", inputs=("b_out",), outputs={"a_out": "t"}),
                _mk("b", inputs=("c_out",), outputs={"b_out": "t"}),
                _mk("c", inputs=("a_out",), outputs={"c_out": "t"}),
            ]
        )
    msg = str(info.value)
    match = re.search(r"cycle: (.*); a pipeline", msg)
    assert match, msg
    cycle = match.group(1).split(" -> ")
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["a", "b", "c"]  # the tail step 'start' is not part of the cycle
    assert "start" not in cycle


def test_self_cycle() -> None:
    with pytest.raises(PipelineDefinitionError, match=r"cycle: a -> a;"):
        Pipeline([_mk("a", inputs=("x",), outputs={"x": "t"})])


def test_order_follows_dag_not_declaration() -> None:
    p = Pipeline(
        [
            _mk("total", inputs=("doubled",), outputs={"total": "t"}),
            _mk("double", inputs=("numbers",), outputs={"doubled": "t"}),
            _mk("side", outputs={"side": "t"}),
            _mk("make", outputs={"numbers": "t"}),
        ]
    )
    assert p.order.index("make") < p.order.index("double") < p.order.index("total")
    assert sorted(p.order) == ["double", "make", "side", "total"]


# ------------------------------------------------------------------ select()
def test_select_all() -> None:
    p = build()
    assert [s.name for s in p.select(None)] == list(STEP_NAMES)
    assert [s.name for s in p.select([])] == list(STEP_NAMES)
    assert [s.name for s in p.select(["all"])] == list(STEP_NAMES)


def test_select_follows_dag_order() -> None:
    p = build()
    assert [s.name for s in p.select(["report", "make_numbers"])] == ["make_numbers", "report"]
    assert [s.name for s in p.select(["total", "double", "total"])] == ["double", "total"]
    assert [s.name for s in p.select(iter(["double"]))] == ["double"]


def test_select_unknown_step_with_hint() -> None:
    p = build()
    with pytest.raises(PipelineDefinitionError) as info:
        p.select(["dubble", "total"])
    msg = str(info.value)
    assert "unknown step 'dubble' (did you mean double?)" in msg
    assert "Steps of this pipeline: make_numbers, double, total, report" in msg


def test_select_several_unknown_steps() -> None:
    p = build()
    with pytest.raises(PipelineDefinitionError) as info:
        p.select(["totl", "zzzzzz"])
    msg = str(info.value)
    assert "'totl' (did you mean total?)" in msg
    assert "; 'zzzzzz'." in msg
    assert "zzzzzz' (did you mean" not in msg


def test_build_accepts_attribute_config() -> None:
    class Cfg:
        n = 3
        factor = 4

    p = build(Cfg())
    assert p.by_name["make_numbers"].params == {"n": 3}
    assert p.by_name["double"].params == {"factor": 4}


def test_build_fail_param_only_on_named_step() -> None:
    p = build({"fail": "double"})
    assert p.by_name["double"].params == {"factor": 2, "fail": True}
    assert "fail" not in p.by_name["make_numbers"].params
