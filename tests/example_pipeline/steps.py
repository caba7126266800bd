"""Step functions of the example pipeline.

Every step records its execution in the counter file (see :mod:`.helpers`) and raises
when its ``fail`` param is true, so tests can count real executions and resume runs.
"""

from __future__ import annotations

from typing import Any

from .helpers import count_execution, read_json, scale, write_json


def _begin(ctx: Any) -> None:
    count_execution(ctx.step.name)
    if ctx.params.get("fail"):
        raise RuntimeError(f"step {ctx.step.name} failed on purpose")


def make_numbers(ctx: Any) -> None:
    """``numbers.json``: the list 1..n."""
    _begin(ctx)
    n = int(ctx.params.get("n", 5))
    write_json(ctx.output("numbers.json"), list(range(1, n + 1)))
    ctx.set_metadata("numbers.json", count=n)


def double(ctx: Any) -> None:
    """``doubled.json``: every number times ``factor``."""
    _begin(ctx)
    numbers = read_json(ctx.input("numbers.json"))
    assert isinstance(numbers, list)
    write_json(ctx.output("doubled.json"), scale(numbers, int(ctx.params.get("factor", 2))))


def total(ctx: Any) -> None:
    """``total.txt``: the sum, also logged as the metric ``total``."""
    _begin(ctx)
    values = read_json(ctx.input("doubled.json"))
    assert isinstance(values, list)
    result = sum(values)
    ctx.output("total.txt").write_text(f"{result}\n")
    ctx.log_metric("total", result)
    ctx.log_metric("count", len(values))


def report(ctx: Any) -> None:
    """``report``: a directory with one file per value and an index."""
    _begin(ctx)
    values = read_json(ctx.input("doubled.json"))
    assert isinstance(values, list)
    out = ctx.output("report")
    (out / "values").mkdir(parents=True)
    for i, v in enumerate(values):
        (out / "values" / f"{i:03d}.txt").write_text(f"{v}\n")
    write_json(out / "index.json", {"items": len(values), "title": ctx.params.get("title", "report")})


def write_nothing(ctx: Any) -> None:
    """A buggy step: it declares outputs but writes none of them."""
    _begin(ctx)


# ---------------------------------------------------------------- steps with effects (alias moves)
def check(ctx: Any) -> None:
    """``check.json``: compares ``doubled.json`` with its ``reference``; sets it on first use."""
    _begin(ctx)
    reference = ctx.input_version("doubled.json:reference")
    write_json(ctx.output("check.json"), {"compared_to": reference.ref if reference else None})
    if reference is None:
        ctx.set_alias("doubled.json", "reference", "first checked data")


def compare(ctx: Any) -> None:
    """``comparison.json``: the total against the one ``prod`` names (like evaluate)."""
    _begin(ctx)
    prod = ctx.input_version("total.txt:prod")
    write_json(ctx.output("comparison.json"), {"prod": prod.ref if prod else None})


def publish(ctx: Any) -> None:
    """``published.json``; moves ``total.txt:prod`` to its input (like register), through
    :func:`mirror_prod` when the ``via`` param is true (like the promotion module)."""
    _begin(ctx)
    total = ctx.input_version("total.txt")
    via = "tests.example_pipeline.steps:mirror_prod" if ctx.params.get("via") else None
    if via:
        mirror_prod(None, total.ref, "prod", "published", ctx.params, store=ctx.store)
    ctx.set_alias("total.txt", "prod", "published", via=via)
    write_json(ctx.output("published.json"), {"published": total.ref})


def mirror_prod(ws: Any, ref: str, alias: str, note: str, params: Any, *, store: Any = None) -> None:
    """Move ``alias`` in the store and in an outside "registry" (the file ``$MODELMILL_TEST_MIRROR``)."""
    import os

    (store or ws.store).set_alias(ref, alias, note=note)
    target = os.environ.get("MODELMILL_TEST_MIRROR")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(f"{alias}={ref}\n")


def publish_without_output(ctx: Any) -> None:
    """A buggy publish: it declares the prod move, then writes no output (so the step fails)."""
    _begin(ctx)
    ctx.set_alias("total.txt", "prod", "never applied")


def total_again(ctx: Any) -> None:
    """The same computation as :func:`total` under another name (a renamed step function)."""
    total(ctx)
