"""``modelmill init``: a project folder for one table, ready for ``modelmill run``.

:func:`init_project` reads a sample of the table (:mod:`modelmill.datasets.sample`), drafts
its dataset spec (:mod:`modelmill.datasets.draft`) and writes::

    DIR/conf/config.yaml          the project's config: names, data source, thresholds
    DIR/conf/dataset/NAME.yaml    the dataset spec, commented, meant to be edited
    DIR/README.md                 what the project is and the next commands
    DIR/.gitignore                .modelmill/ (the workspace: artifacts, runs, models)
    DIR/steps/__init__.py         the package for the project's own steps

The project config starts from the packaged ``config.yaml`` (so it has every key the code
reads, and passes the config-file check), without the NYC table's values: the keys the packaged
dataset spec interpolates (``etl.min_price``, ``modeling.test_size``...) belong to that table;
a project's split and ranges live in its own spec. Everything is written to a temporary folder
first and checked by composing it like ``modelmill run`` does; only then copied into ``DIR``,
so a failure leaves nothing half-written.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from modelmill.core.errors import UsageError
from modelmill.datasets.draft import DraftSpec, draft_spec
from modelmill.datasets.sample import SAMPLE_ROWS, Sample, read_sample
from modelmill.datasets.spec_yaml import render_spec
from modelmill.tasks import get_task

# the model family of a new project: gradient boosting with native categorical handling
# (``gradient_boosting`` when the package ships it, else the plain histogram boosting family)
PROJECT_FAMILIES = ("gradient_boosting", "hist_gradient_boosting")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# a folder holding nothing but these and the data file (at any depth) counts as empty
IGNORED_IN_DIR = (".git", ".DS_Store")
DROPPED_SECTIONS = ("example",)  # the toy pipeline's settings: not a project's
SECTION_NOTES = {
    "main": "names: the registered model (models:/NAME@prod), its store artifact, the MLflow experiment",
    "etl": "the table: a CSV/Parquet path (relative to this folder) or an http(s) URL",
    "data_check": "the data tests' thresholds (conf/dataset/ declares the columns they test)",
    "modeling": "the model family (defaults: model: ...) takes its arguments from modeling.<family>",
    "promotion": "the test metric the promotion gate compares against the model in prod",
    "serve": "modelmill serve (command-line flags win)",
    "monitoring": "drift thresholds of modelmill monitor and serve's live drift gauge",
}


@dataclass(frozen=True)
class InitResult:
    """What ``modelmill init`` wrote and inferred."""

    directory: Path
    name: str
    draft: DraftSpec
    sample: Sample
    files: list[Path]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": str(self.directory), "name": self.name, "task": self.draft.task,
            "target": self.draft.target, "id": self.draft.id, "data": str(self.sample.path),
            "rows_read": self.sample.rows, "sampled": self.sample.truncated,
            "estimated_rows": self.sample.estimated_rows, "seconds": round(self.seconds, 3),
            "columns": {c.name: {"role": c.role, "reason": c.reason} for c in self.draft.columns},
            "files": [str(p) for p in self.files],
        }  # fmt: skip


def project_name(data: Path, name: str | None) -> str:
    """``name`` checked, or the data file's stem made a valid name (``my table.csv.gz`` -> ``my_table``)."""
    if name is not None:
        if not NAME_PATTERN.fullmatch(name):
            raise UsageError(
                f"--name {name!r}: use letters, digits, '_' and '-' (starting with a letter or digit, "
                "at most 64 characters)"
            )
        return name
    stem = data.name.split(".")[0] if not data.name.startswith(".") else data.name.lstrip(".")
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:64]
    return cleaned or "project"


def _check_directory(directory: Path, data: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder: choose another project folder")
    if not directory.is_dir() or force:
        return
    files = (p for p in directory.rglob("*") if p.is_file() and p != data)
    kept = (p for p in files if not set(p.relative_to(directory).parts) & set(IGNORED_IN_DIR))
    present = sorted({str(p.relative_to(directory).parts[0]) for p in itertools.islice(kept, 50)})
    if present:
        shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
        raise UsageError(
            f"{directory} is not empty ({shown}): choose a new folder, or pass --force to write the "
            "project files into it (files of the same name are replaced)"
        )


def _data_reference(data: Path, directory: Path) -> str:
    """The data file as ``etl.sample`` names it: relative to the project when inside it."""
    try:
        return data.relative_to(directory).as_posix()
    except ValueError:
        return str(data)


def project_family() -> str:
    """The model family a new project trains: the first of :data:`PROJECT_FAMILIES` packaged."""
    models = resources.files("modelmill.conf").joinpath("model")
    for family in PROJECT_FAMILIES:
        if models.joinpath(f"{family}.yaml").is_file():
            return family
    return PROJECT_FAMILIES[-1]


def _nyc_keys() -> set[str]:
    """Config keys the packaged dataset spec interpolates (``${etl.min_price}``...): that table's values."""
    keys: set[str] = set()
    for spec in resources.files("modelmill.conf").joinpath("dataset").iterdir():
        if spec.name.endswith(".yaml"):
            keys |= set(re.findall(r"\$\{([a-z_]+\.[a-z_.]+)\}", spec.read_text(encoding="utf-8")))
    return keys


def _row_limits(sample: Sample, packaged: dict[str, Any]) -> tuple[int, int]:
    """``data_check.min_rows``/``max_rows`` for this table: half its rows at least (capped at the
    packaged minimum), ten times its rows at most (never below the packaged maximum)."""
    rows = sample.estimated_rows
    low = max(1, min(int(packaged.get("min_rows", 1000)), rows // 2))
    high = max(int(packaged.get("max_rows", 1_000_000)), rows * 10)
    return low, high


def project_config(draft: DraftSpec, sample: Sample, data_ref: str) -> dict[str, Any]:
    """The project's ``conf/config.yaml`` as data (sections in the packaged order)."""
    packaged = yaml.safe_load(resources.files("modelmill.conf").joinpath("config.yaml").read_text("utf-8"))
    dropped = _nyc_keys()
    config: dict[str, Any] = {}
    for section, values in packaged.items():
        if section in ("defaults", *DROPPED_SECTIONS) or not isinstance(values, dict):
            continue
        kept = {k: v for k, v in values.items() if f"{section}.{k}" not in dropped}
        config[section] = kept
    name = draft.name
    config["main"].update(
        project_name=name, experiment_name=name, model_name=name, model_artifact=f"{name}_model"
    )
    config["etl"] = {"sample": data_ref, **{k: v for k, v in config.get("etl", {}).items()
                                            if k not in ("sample", "demo_rows", "demo_seed")}}  # fmt: skip
    low, high = _row_limits(sample, packaged.get("data_check", {}))
    config.setdefault("data_check", {}).update(min_rows=low, max_rows=high)
    config.setdefault("promotion", {})["metric"] = get_task(draft.task).default_metric
    irrelevant = ("target_transform",) if get_task(draft.task).is_classifier else ("class_weight", "decision")
    config["modeling"] = {k: v for k, v in config.get("modeling", {}).items() if k not in irrelevant}
    return config


def render_config(draft: DraftSpec, sample: Sample, data_ref: str) -> str:
    """``conf/config.yaml``: the defaults list, then each section with what it is for."""
    config = project_config(draft, sample, data_ref)
    lines = [
        f"# modelmill project {draft.name!r}: predicts {draft.target!r} ({draft.task}) from {data_ref}.",
        "# Override any key on the command line: modelmill run promotion.min_improvement=0.5",
        "# The table itself (columns, target, split) is declared in conf/dataset/" + f"{draft.name}.yaml.",
        "defaults:",
        "  - _self_",
        f"  - dataset: {draft.name}",
        "  # the model family (conf/model/ of modelmill), e.g. hist_gradient_boosting or random_forest",
        f"  - model: {project_family()}",
    ]
    for section, values in config.items():
        lines += ["", f"# {SECTION_NOTES[section]}" if section in SECTION_NOTES else f"# {section}"]
        lines.append(
            yaml.safe_dump({section: values}, sort_keys=False, default_flow_style=False, width=100).rstrip()
        )
    return "\n".join(lines) + "\n"


README = """\
# {name}

A modelmill project: predicts `{target}` ({task}) from `{data}`.

    modelmill run                                 # check, split, train, evaluate, register, promote
    modelmill serve                               # answer POST /predict with models:/{name}@prod
    modelmill score NEW.csv predictions.parquet   # score a file ({id_note})
    modelmill monitor NEW.csv                     # drift of new rows against the training data
    modelmill eda                                 # an HTML profile of the table
    modelmill ui                                  # browse runs, artifacts and reports

Run them in this folder (or below it).

- `conf/dataset/{name}.yaml`: the table's columns, their roles and why each was inferred;
  edit it, then `modelmill run` re-runs what depends on the change.
- `conf/config.yaml`: names (the registered model `{name}`, the MLflow experiment), the data
  file, the data tests' thresholds, the model family, serving and monitoring.
- `steps/`: this project's own pipeline steps (empty to start with).
- `.modelmill/`: the workspace (artifacts, runs, models, MLflow); not committed.
"""


def render_readme(draft: DraftSpec, data_ref: str) -> str:
    id_note = f"rows named by {draft.id}" if draft.id else "rows numbered in order"
    return README.format(name=draft.name, target=draft.target, task=draft.task, data=data_ref,
                         id_note=id_note)  # fmt: skip


STEPS_INIT = '''"""This project's own pipeline steps.

A step is a function ``run(ctx)`` in a module here (``steps/my_step.py``); declare it in a
pipeline of your own (``main.pipeline``) with ``step("my_step", "steps.my_step:run", ...)``.
See ``modelmill.pipelines.tabular`` for the packaged pipeline this project runs.
"""
'''


def _files(draft: DraftSpec, sample: Sample, data_ref: str) -> dict[str, str]:
    return {
        "conf/config.yaml": render_config(draft, sample, data_ref),
        f"conf/dataset/{draft.name}.yaml": render_spec(draft, data_ref),
        "README.md": render_readme(draft, data_ref),
        ".gitignore": ".modelmill/\n__pycache__/\n",
        "steps/__init__.py": STEPS_INIT,
    }


def _check_composes(conf: Path) -> None:
    """The written config composes (the config-file check included) and its spec validates."""
    from modelmill.config import compose
    from modelmill.datasets.spec import spec_from_config

    spec_from_config(compose([], config_dir=conf))


def init_project(
    directory: str | Path,
    data: str | Path,
    target: str,
    *,
    name: str | None = None,
    task: str | None = None,
    id_column: str | None = None,
    force: bool = False,
    sample_rows: int = SAMPLE_ROWS,
) -> InitResult:
    """Write a project for the table at ``data`` into ``directory`` (see the module docstring)."""
    started = time.perf_counter()
    directory, data = Path(directory).absolute(), Path(data).absolute()
    project = project_name(data, name)
    _check_directory(directory, data, force)
    sample = read_sample(data, sample_rows)
    draft = draft_spec(sample.frame, name=project, target=target, task=task, id_column=id_column,
                       truncated=sample.truncated)  # fmt: skip
    draft.validated()
    files = _files(draft, sample, _data_reference(data, directory))
    with tempfile.TemporaryDirectory(prefix="modelmill-init-") as tmp:
        for relative, text in files.items():
            path = Path(tmp) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        _check_composes(Path(tmp) / "conf")
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for relative in files:
            target_path = directory / relative
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / relative, target_path)
            written.append(target_path)
    return InitResult(directory, project, draft, sample, written, time.perf_counter() - started)
