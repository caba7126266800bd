"""A project's own components for the tests: a command step in awk and a Python step pinned, in an
environment of its own, to an older ``pip`` than this suite's (the one older release of a real
library every CPython carries offline: ``ensurepip``'s bundled wheel; the Makefile upgrades the
suite's pip). The environment installs with ``environments.offline=true`` from that wheel folder
only, so no network is needed and the pin is proven installed.
"""

from __future__ import annotations

import ensurepip
from pathlib import Path
from typing import Any

import yaml

from tests.func.projects_helpers import Project

BUNDLED = Path(ensurepip.__file__).with_name("_bundled")
OLD_PIP = ensurepip.version()

COUNT_AWK = """# rows and the mean of one column of a CSV (with a header); the column is a param
NR == 1 { for (i = 1; i <= NF; i++) if ($i == column) c = i; next }
{ n++; s += $c }
END { printf "rows,mean\\n%d,%.6f\\n", n, s / n }
"""

PINNED = '''"""Runs in its own environment: reports the pip it sees and the rows it read."""
import csv
import json

import pip


def run(ctx):
    with open(ctx.input("row_stats.csv"), newline="") as f:
        stats = next(csv.DictReader(f))
    report = {"pip": pip.__version__, "rows": int(stats["rows"]), "scale": ctx.params["scale"]}
    ctx.output("pinned.json").write_text(json.dumps(report))
    ctx.log_metric("pinned_rows", report["rows"] * ctx.params["scale"])
'''


def declare(project: Project | Path, steps: dict, environments: dict | None = None) -> None:
    """Add ``steps`` (and ``environments``) to the project's ``conf/config.yaml``."""
    folder = project.directory if isinstance(project, Project) else project
    path = folder / "conf" / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["steps"] = steps
    if environments is not None:
        config["environments"] = environments
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def stored(project: Project, name: str) -> str:
    """The text of artifact ``name:latest`` in the project's store."""
    import modelmill

    return modelmill.open_workspace(project.workspace).store.path(name).read_text(encoding="utf-8")


def component_steps(column: str) -> dict[str, Any]:
    return {
        "row_stats": {
            "command": "awk -F, -v column={param:column} -f steps/count.awk {input:clean_sample.csv} "
            "> {output:row_stats.csv}",
            "inputs": ["clean_sample.csv"],
            "outputs": {"row_stats.csv": "row_stats"},
            "params": {"column": column},
        },
        "pinned": {
            "function": "steps.pinned:run",
            "environment": "steps/pinned.requirements.txt",
            "inputs": ["row_stats.csv"],
            "outputs": {"pinned.json": "pinned_report"},
            "params": {"scale": 2},
        },
    }


def add_components(folder: Path, column: str = "bmi") -> None:
    """Write the two steps' files into project ``folder`` and declare them in its config."""
    steps = folder / "steps"
    (steps / "count.awk").write_text(COUNT_AWK, encoding="utf-8")
    (steps / "pinned.py").write_text(PINNED, encoding="utf-8")
    (steps / "pinned.requirements.txt").write_text(f"pip=={OLD_PIP}\n", encoding="utf-8")
    declare(folder, component_steps(column), {"offline": True, "find_links": [str(BUNDLED)]})
