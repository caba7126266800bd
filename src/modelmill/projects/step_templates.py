"""The files ``modelmill step new`` writes for a step: its source and its test, from templates.

A Python step (``steps/NAME.py``) summarises its input tables with pandas; a command step
(``steps/NAME.sh``) counts rows and columns with awk under a plain ``/bin/sh``. Both work as
written, so a new step runs in the pipeline at once, and its test (``tests/test_NAME.py``) passes
with a plain ``pytest`` in the project folder: the example to extend as the step changes. The
templates are code with braces of their own, so placeholders are ``@key@`` (:func:`_fill`).
"""

from __future__ import annotations

import json
from typing import Any

PY_STEP = '''"""Step @name@: reads @inputs_doc@, writes @outputs_doc@ (conf/config.yaml: steps.@name@).

modelmill calls ``run(ctx)``: ``ctx.input(NAME)`` is the path of an input artifact (read-only),
``ctx.params`` the declared params (JSON values), ``ctx.output(NAME)`` the path to write an output
to (a file, or a folder you make), ``ctx.log_metric(KEY, VALUE)`` records a number (run summary,
MLflow). The step re-runs only when this file, its params or its inputs change.
Its test: pytest tests/test_@name@.py
"""

from __future__ import annotations

import json
from pathlib import Path
import json
from typing import Any

import pandas as pd

INPUTS = @inputs@  # as declared in conf/config.yaml
OUTPUTS = @outputs@


def describe(name: str, path: Path) -> dict[str, Any]:
    """A CSV table's rows, columns and missing values; another artifact's size in bytes."""
    if not name.partition(":")[0].endswith(".csv") or path.is_dir():
        return {"bytes": sum(p.stat().st_size for p in [path, *path.rglob("*")] if p.is_file())}
    frame = pd.read_csv(path)
    missing = {str(c): int(n) for c, n in frame.isna().sum().items() if n}
    return {"rows": len(frame), "columns": [str(c) for c in frame.columns], "missing": missing}


def run(ctx: Any) -> None:
    """Summarise every input as JSON, in every output: replace with your own."""
    summary = {name: describe(name, ctx.input(name)) for name in INPUTS}
    text = json.dumps({"inputs": summary, "params": dict(ctx.params)}, indent=2) + "\\n"
    for name in OUTPUTS:
        ctx.output(name).write_text(text, encoding="utf-8")
    ctx.log_metric("rows", sum(s.get("rows", 0) for s in summary.values()))
'''

PY_TEST = '''"""Step @name@ (steps/@name@.py) on a tiny table, with a stand-in for modelmill's context."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `pytest` in the project imports steps/
from steps.@name@ import OUTPUTS, run  # noqa: E402


def test_@name@(tmp_path: Path) -> None:
    expected = @expected@
    table = tmp_path / "table.csv"
    table.write_text("a,b\\n1,x\\n2,\\n3,z\\n", encoding="utf-8")
    metrics: dict[str, float] = {}
    ctx = SimpleNamespace(input=lambda name: table, output=lambda name: tmp_path / name,
                          params={"example": 1}, log_metric=metrics.__setitem__)
    run(ctx)
    for name in OUTPUTS:
        written = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert written == {"inputs": expected, "params": {"example": 1}}
    assert metrics == {"rows": @rows@}
'''

SH_STEP = """#!/bin/sh
# Step @name@: reads @inputs_doc@, writes @outputs_doc@ (conf/config.yaml: steps.@name@).
# modelmill runs it from the project folder as
#   @command@
# each input a file, each output a path to write; params come as ${param:KEY} in the command and
# as MODELMILL_PARAM_<KEY> variables. A non-zero exit fails the step (modelmill shows the end of
# stderr). Its test: pytest tests/test_@name@.py
set -eu

inputs="@inputs@"  # the first arguments, one per input; the outputs follow
if [ "$#" -ne @count@ ]; then
  echo "usage: sh steps/@name@.sh @usage@" >&2
  exit 2
fi

# each input's rows and columns (a plain CSV: no comma or line break inside a quoted value)
json="{" sep=""
for artifact in $inputs; do
  counts=$(awk -F, 'NR == 1 { columns = NF }
    END { printf "{\\"rows\\": %d, \\"columns\\": %d}", (NR > 1 ? NR - 1 : 0), columns }' "$1")
  json="$json$sep\\"$artifact\\": $counts" sep=", "
  shift
done
for output in "$@"; do
  printf '%s}\\n' "$json" > "$output"
done
"""

SH_TEST = '''"""Step @name@ (steps/@name@.sh) run by /bin/sh on a tiny table, as modelmill runs it."""

import json
import subprocess
from pathlib import Path


def test_@name@(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("a,b,c\\n1,2,3\\n4,5,6\\n", encoding="utf-8")
    outputs = [tmp_path / name for name in @outputs@]
    args = [str(table)] * @n_inputs@ + [str(p) for p in outputs]  # the inputs, then the outputs
    project = Path(__file__).resolve().parents[1]
    subprocess.run(["/bin/sh", "steps/@name@.sh", *args], cwd=project, check=True, capture_output=True)
    for path in outputs:
        assert json.loads(path.read_text(encoding="utf-8")) == @expected@
'''


def _fill(template: str, **values: Any) -> str:
    """``template`` with each ``@key@`` replaced: text as is, values as JSON (which reads as
    Python for the strings, numbers, lists and dicts used here)."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", value if isinstance(value, str) else json.dumps(value))
    return template


def render_files(name: str, decl: dict[str, Any]) -> dict[str, str]:
    """The step's source and its test, by their path in the project."""
    inputs, outputs = list(decl["inputs"]), list(decl["outputs"])
    common = {"name": name, "inputs_doc": ", ".join(inputs), "outputs_doc": ", ".join(outputs),
              "outputs": outputs, "n_inputs": len(inputs)}  # fmt: skip
    if "function" in decl:
        table = {"rows": 3, "columns": ["a", "b"], "missing": {"b": 1}}
        expected = {i: table if i.partition(":")[0].endswith(".csv") else {"bytes": 15} for i in inputs}
        rows = sum(3 for i in inputs if "rows" in expected[i])
        return {f"steps/{name}.py": _fill(PY_STEP, inputs=inputs, **common),
                f"tests/test_{name}.py": _fill(PY_TEST, expected=expected, rows=rows, **common)}  # fmt: skip
    usage = [f"INPUT{n + 1}" for n in range(len(inputs))] + [f"OUTPUT{n + 1}" for n in range(len(outputs))]
    script = _fill(SH_STEP, command=decl["command"], inputs=" ".join(inputs), count=str(len(usage)),
                   usage=" ".join(usage), **common)  # fmt: skip
    expected = {i: {"rows": 2, "columns": 3} for i in inputs}
    return {f"steps/{name}.sh": script, f"tests/test_{name}.py": _fill(SH_TEST, expected=expected, **common)}
