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
