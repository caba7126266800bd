"""``build(params) -> Pipeline``: make_numbers -> double -> total, and double -> report (a directory).

``params`` keys (all optional): ``n``, ``factor``, ``title`` and ``fail`` (the name of a
step that should raise). ``module`` lets a test point the steps at a copy of this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelmill.runner import Input, Pipeline, step

STEPS = "tests.example_pipeline.steps"
STEP_NAMES = ("make_numbers", "double", "total", "report")


def build(cfg_or_params: Mapping[str, Any] | Any | None = None, *, module: str = STEPS) -> Pipeline:
    """The example pipeline; each step gets only the params it depends on."""
    if cfg_or_params is None:
        p: dict[str, Any] = {}
    elif isinstance(cfg_or_params, Mapping):
        p = dict(cfg_or_params)
    else:  # an attribute-style config (e.g. an OmegaConf node)
        p = {
            k: getattr(cfg_or_params, k)
            for k in ("n", "factor", "title", "fail")
            if hasattr(cfg_or_params, k)
        }
    fail = p.get("fail")

    def params(name: str, **values: Any) -> dict[str, Any]:
        return {**values, "fail": True} if fail == name else values

    return Pipeline(
        [
            step(
                "make_numbers",
                f"{module}:make_numbers",
                outputs={"numbers.json": "numbers"},
                params=params("make_numbers", n=p.get("n", 5)),
            ),
            step(
                "double",
                f"{module}:double",
                inputs=["numbers.json"],
                outputs={"doubled.json": "numbers"},
                params=params("double", factor=p.get("factor", 2)),
            ),
            step(
                "total",
                f"{module}:total",
                inputs=["doubled.json"],
                outputs={"total.txt": "total"},
                params=params("total"),
            ),
            step(
                "report",
                f"{module}:report",
                inputs=["doubled.json"],
                outputs={"report": "report_dir"},
                params=params("report", title=p.get("title", "report")),
            ),
        ]
    )


EFFECT_STEPS = ("make_numbers", "double", "check", "total", "compare", "publish")


def build_with_effects(factor: int = 2, *, via: bool = False, module: str = STEPS) -> Pipeline:
    """make_numbers -> double -> check (sets doubled.json:reference on first use) and
    double -> total -> compare (reads total.txt:prod) -> publish (moves total.txt:prod)."""
    return Pipeline(
        [
            step("make_numbers", f"{module}:make_numbers", outputs={"numbers.json": "numbers"},
                 params={"n": 5}, role="ingest"),
            step("double", f"{module}:double", inputs=["numbers.json"], outputs={"doubled.json": "numbers"},
                 params={"factor": factor}, role="clean"),
            step("check", f"{module}:check",
                 inputs=["doubled.json", Input("doubled.json:reference", external=True, optional=True)],
                 outputs={"check.json": "report"}, role="check"),
            step("total", f"{module}:total", inputs=["doubled.json"], outputs={"total.txt": "total"},
                 role="train"),
            step("compare", f"{module}:compare",
                 inputs=["total.txt", Input("total.txt:prod", external=True, optional=True)],
                 outputs={"comparison.json": "evaluation"}, role="evaluate"),
            step("publish", f"{module}:publish", inputs=["total.txt", "comparison.json"],
                 outputs={"published.json": "promotion"}, params={"via": via}, role="promote"),
        ]
    )  # fmt: skip
