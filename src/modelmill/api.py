"""The Python API the CLI is a thin layer over; notebooks and tools use it too.

>>> import modelmill
>>> ws = modelmill.open_workspace()            # ./.modelmill or $MODELMILL_HOME
>>> ws.store.put("ref.csv", name="clean_sample.csv", type="clean_sample", aliases=["reference"])
>>> summary = modelmill.run(["main.steps=train"])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelmill import config as config_mod
from modelmill.core.errors import ConfigError, PipelineDefinitionError
from modelmill.core.types import RunSummary
from modelmill.pipelines.declared import project_pipeline
from modelmill.runner import Executor, Pipeline, Reporter, Step, provenance
from modelmill.store.lineage import Direction, LineageGraph, build_lineage
from modelmill.store.workspace import Workspace
from modelmill.tracking.base import NullTracker, Tracker


def open_workspace(path: str | Path | None = None) -> Workspace:
    """Open (creating if needed) a workspace; default ``$MODELMILL_HOME``, else ``.modelmill`` in
    the project folder (see :mod:`modelmill.config`), else ``./.modelmill``."""
    return Workspace(path if path is not None else config_mod.default_workspace())


def lineage(ref: str, *, workspace: Workspace | None = None, direction: Direction = "up") -> LineageGraph:
    """What produced ``ref`` (and/or what it produced), as a graph."""
    return build_lineage((workspace or open_workspace()).store, ref, direction)


def load_pipeline(cfg: Any) -> Pipeline:
    """Call the ``main.pipeline`` factory (``'package.module:function'``) with the config.

    The project's folder is on ``sys.path`` first (:func:`modelmill.config.compose` puts it
    there; a recorded config, as ``reproduce`` reads it, gets the current project's), so a
    project's own pipeline and steps (``steps.pipeline:build_pipeline``) import.
    """
    root = config_mod.project_root()
    config_mod.activate_project(root)
    return project_pipeline(cfg, root or Path.cwd())


MODEL_TYPE, TEST_TYPE = "model_export", "test_data"


def _typed_output(s: Step, kind: str, role: str, command: str) -> str:
    """``s``'s output of type ``kind``, else its only output."""
    typed = [o.name for o in s.outputs if o.type == kind]
    if typed or len(s.outputs) == 1:
        return (typed or [s.outputs[0].name])[0]
    raise PipelineDefinitionError(
        f"{command} looks for the output of type '{kind}' of step '{s.name}' (role {role}); it declares "
        f"{', '.join(f'{o.name} ({o.type})' for o in s.outputs) or 'no output'}"
    )


def model_output(pipeline: Pipeline, command: str) -> tuple[Step, str]:
    """The step with role ``train`` and its model output (type ``model_export``, else its only one)."""
    train = pipeline.require_role("train", command)
    return train, _typed_output(train, MODEL_TYPE, "train", command)


def holdout_output(pipeline: Pipeline, command: str) -> tuple[Step, str]:
    """The step with role ``split`` and its test split (the output of type ``test_data``)."""
    split = pipeline.require_role("split", command)
    return split, _typed_output(split, TEST_TYPE, "split", command)


def selected_steps(value: Any) -> list[str] | None:
    """``main.steps``: ``all``, ``"a,b"`` or a list -> step names (``None`` = all)."""
    if value is None:
        return None
    items = [str(v) for v in value] if not isinstance(value, str) else value.split(",")
    items = [i.strip() for i in items if i.strip()]
    return None if items in ([], ["all"]) else items


def make_tracker(
    cfg: Any, ws: Workspace, *, parent_run_id: str | None = None, tags: dict[str, str] | None = None
) -> Tracker:
    """MLflow tracker per ``main.tracking`` (default), or a null tracker.

    ``parent_run_id`` nests the pipeline's MLflow run under another run (a sweep); such
    runs are logged at once, never by a detached process.
    The tracking URI is checked first (``main.tracking_timeout`` seconds at most), so an
    unusable one stops the run before any step, whether or not a step would run.
    """
    kind = str(cfg.main.get("tracking", "mlflow"))
    if kind == "none":
        return NullTracker()
    if kind != "mlflow":
        raise ConfigError(f"main.tracking={kind!r}: expected 'mlflow' or 'none'")
    from modelmill.tracking.mlflow_tracker import MlflowTracker
    from modelmill.tracking.preflight import DEFAULT_TIMEOUT_S, check_tracking_uri

    uri = cfg.main.tracking_uri or ws.default_tracking_uri
    check_tracking_uri(uri, _timeout(cfg.main.get("tracking_timeout", DEFAULT_TIMEOUT_S)))
    return MlflowTracker(
        uri,
        str(cfg.main.experiment_name),
        ws.mlflow_artifact_root,
        defer_when_idle=bool(cfg.main.get("defer_cached_tracking", True)) and parent_run_id is None,
        spool_dir=ws.root / "tmp",
        parent_run_id=parent_run_id,
        tags=tags,
    )


def _timeout(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"main.tracking_timeout={value!r}: expected a number of seconds above 0")
    return seconds


def run(
    overrides: Sequence[str] = (),
    *,
    force: bool | Iterable[str] = False,
    config_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    tracker: Tracker | None = None,
    tracking_parent: str | None = None,
    tracking_tags: dict[str, str] | None = None,
) -> RunSummary:
    """Compose the config, build the pipeline and execute the selected steps.

    ``tracking_parent``/``tracking_tags`` nest the MLflow run under another run (sweeps). The
    run records its provenance (:mod:`modelmill.runner.provenance`): the project's commit, its
    diff when dirty, the lock of the installed packages, the interpreter; the MLflow run is
    tagged with the commit and the release that exact code is.
    """
    cfg = config_mod.compose(overrides, config_dir=config_dir)
    if cfg.get("dataset") is not None:  # a bad spec fails before any step, whatever the pipeline
        from modelmill.datasets.spec import spec_from_config

        spec_from_config(cfg)
    ws = open_workspace(cfg.main.workspace)
    ws.require_writable()
    pipeline = load_pipeline(cfg)
    seen = provenance.observe(config_mod.project_root(config_dir), ws.root)
    tags = {**seen.tracking_tags(), **(tracking_tags or {})}
    tracker = tracker or make_tracker(cfg, ws, parent_run_id=tracking_parent, tags=tags)
    executor = Executor(ws, tracker=tracker, reporter=reporter)
    return executor.run(
        pipeline,
        steps=selected_steps(cfg.main.steps),
        force=force,
        config_yaml=config_mod.to_yaml(cfg),
        config=config_mod.to_container(cfg),
        provenance=lambda: provenance.record(ws, seen),
    )
