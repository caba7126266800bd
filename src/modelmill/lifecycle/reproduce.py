"""Reproduce a past run: re-fit its model from the same inputs and compare predictions.

A cache hit would prove nothing, so the steps up to the model are re-run with the
cache forced off in a fresh scratch workspace that holds only the run's pinned inputs
(e.g. the exact ``sample.csv:vN`` it consumed and the data-check reference it compared
against): nothing newer can leak in. The run's recorded config builds the pipeline. The
verdict compares the re-fitted and the original model on the original test split. The steps
are found by their roles: the one with role ``train`` and its model output, the one with
role ``split`` and its test split; the target column comes from the run's dataset spec.

The code is the run's own when its provenance allows (:mod:`modelmill.lifecycle.restore`: a
project run in a git repository): its commit plus its recorded diff, checked out in a
temporary worktree, in the run's environment rebuilt from its lock when that differs from the
current one. Otherwise (``current_code``, a run of the packaged config or outside git) the code
is today's, and a difference from the recorded code fingerprint is reported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from modelmill.core.errors import ModelmillError, UsageError
from modelmill.lifecycle.runs import (
    RecordedRun,
    diff_versions,
    load_run,
    producing_components,
    recorded_git_commit,
)
from modelmill.runner import Pipeline
from modelmill.store.workspace import Workspace


@dataclass
class Reproduction:
    """The verdict of one reproduction and what may explain a difference."""

    run_id: str
    identical: bool
    max_abs_diff: float
    n_predictions: int
    original_model: str
    test_data: str
    rerun_steps: list[str]
    pinned_inputs: list[str]
    differing_outputs: list[str] = field(default_factory=list)  # data only: a model dir embeds its save time
    code_changes: dict[str, list[str]] = field(default_factory=dict)
    library_changes: dict[str, list[str | None]] = field(default_factory=dict)
    git_commit: list[str | None] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)  # whose code re-fitted (restore.py)
    environment: dict[str, Any] = field(default_factory=dict)  # which packages (restore.py)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Reproduction:
        """The :meth:`to_dict` document back (from a reproduction run in another process)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})

    @property
    def exit_code(self) -> int:
        """0 when the predictions are bit-for-bit identical, else 1."""
        return 0 if self.identical else 1

    def to_dict(self) -> dict[str, Any]:
        """The ``reproduce --json`` document."""
        return asdict(self) | {"exit_code": self.exit_code}


def _rerun_steps(pipeline: Pipeline, target: str) -> list[str]:
    """The producer of ``target`` and its ancestors, except sources (their outputs get pinned)."""
    needed: set[str] = set()
    todo = [target]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        s = pipeline.by_name[name]
        todo += [
            pipeline.producer[i.name] for i in s.inputs if not i.external and i.name in pipeline.producer
        ]
    return [n for n in pipeline.order if n in needed and pipeline.by_name[n].inputs]


def _pins(pipeline: Pipeline, run: RecordedRun, rerun: list[str]) -> dict[str, tuple[str, str | None]]:
    """``{recorded ref: (name, alias)}`` of inputs the re-run steps read from the store, not each other."""
    pins: dict[str, tuple[str, str | None]] = {}
    for name in rerun:
        recorded = list((run.step(name) or {}).get("inputs", []))
        for inp in pipeline.by_name[name].inputs:
            ref = next((r for r in recorded if r.split(":")[0] == inp.name), None)
            if ref is None:
                continue  # an optional input that was absent stays absent
            recorded.remove(ref)
            from_run = not inp.external and not inp.pinned and pipeline.producer.get(inp.name) in rerun
            if not from_run:
                alias = inp.ref.partition(":")[2] or None
                pins[ref] = (inp.name, None if alias == "latest" else alias)
    return pins


def _seed(source: Workspace, scratch: Workspace, pins: dict[str, tuple[str, str | None]]) -> None:
    """Copy each pinned version into the scratch store (unaliased ones first: they become ``latest``)."""
    for ref, (name, alias) in sorted(pins.items(), key=lambda item: item[1][1] is not None):
        version = source.store.resolve(ref)
        scratch.store.put(source.store.path(ref), name, version.type, metadata=version.metadata,
                          description=f"pinned from {ref} to reproduce a run",
                          aliases=[alias] if alias else [])  # fmt: skip


def _predict(model_dir: Any, features: Any) -> Any:
    """Predictions with every ``n_jobs`` set to 1.

    A forest's parallel predict sums the trees in thread-completion order, so the same
    model can differ from itself by ~1e-14; a bit-for-bit verdict needs a fixed order.
    """
    import numpy as np

    from modelmill.registry.export import as_model_input, load_sklearn

    model = load_sklearn(model_dir)
    if hasattr(model, "get_params"):
        model.set_params(**{k: 1 for k in model.get_params(deep=True) if k.split("__")[-1] == "n_jobs"})
    rows = as_model_input(features)
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):  # a classifier: its probabilities
        return np.asarray(model.predict_proba(rows), dtype=float)
    return np.asarray(model.predict(rows), dtype=float)


def _target(cfg: Any) -> str | None:
    """The run's target column (its dataset spec), ``None`` when the config declares no spec."""
    if cfg.get("dataset") is None:
        return None
    from modelmill.datasets.spec import spec_from_config

    return spec_from_config(cfg).target


def _compare(ws: Workspace, scratch: Workspace, refs: tuple[str, str], new_model: str,
             target: str | None) -> tuple[float, int]:  # fmt: skip
    """Max absolute difference between both models' predictions on the run's test split."""
    import numpy as np

    from modelmill.datasets.io import read_stored_table

    model_ref, test_ref = refs
    test = read_stored_table(ws.store.path(test_ref))
    features = test.drop(columns=[target] if target else [], errors="ignore")
    old = _predict(ws.store.path(model_ref), features)
    new = _predict(scratch.store.path(new_model), features)
    if old.shape != new.shape or not np.array_equal(np.isnan(old), np.isnan(new)):
        return float("inf"), len(old)
    both = ~np.isnan(old)
    return float(np.max(np.abs(old[both] - new[both]), initial=0.0)), len(old)


def _provenance(ws: Workspace, run: RecordedRun, pipeline: Pipeline, rerun: list[str], result: Reproduction,
                cfg: Any) -> None:  # fmt: skip
    """Fill code/library/git differences between the run's recorded environment and this one."""
    from modelmill.runner.fingerprint import code_fingerprint, library_versions

    recorded_libs: dict[str, str] = {}
    for name in rerun:
        components = producing_components(ws, name, list((run.step(name) or {}).get("outputs", [])))
        if components is None:
            result.warnings.append(f"no recorded execution for step '{name}': its code version is unknown")
            continue
        recorded_libs |= components.get("libraries", {})
        changed = diff_versions(components.get("code", {}), code_fingerprint(pipeline.by_name[name].module))
        if changed:
            result.code_changes[name] = sorted(changed)
    result.library_changes = diff_versions(recorded_libs, library_versions()) if recorded_libs else {}
    if result.code_changes:
        listed = "; ".join(f"{s}: {', '.join(m)}" for s, m in result.code_changes.items())
        result.warnings.append(f"the code differs from the run's: {listed}")
    _git_commit(ws, run, cfg, result)


def _git_commit(ws: Workspace, run: RecordedRun, cfg: Any, result: Reproduction) -> None:
    """The run's commit (its provenance, else MLflow's tag) against the code here: the same when
    the commit is and the trees are both clean, or both dirty with the same diff."""
    from modelmill import config as config_mod
    from modelmill.runner import provenance
    from modelmill.tracking.gitstate import GitFailed, read_state, source_diff

    recorded = (provenance.read(ws, run.run_id) or {}).get("git") or {}
    commit = recorded.get("commit") or recorded_git_commit(ws, cfg, run.summary)
    if not commit:
        return
    try:
        now = read_state((config_mod.project_root() or Path.cwd()).absolute(), exclude=[ws.root])
        same_diff = (
            now is not None and now.dirty and bool(recorded.get("diff"))
            and source_diff(now)[0] == Path(ws.store.path(recorded["diff"])).read_bytes()
        )  # fmt: skip
    except (GitFailed, OSError, ModelmillError):
        now, same_diff = None, False
    then = commit[:12] + ("+dirty" if recorded.get("dirty") else "")
    result.git_commit = [then, now.label() if now else None]
    clean_both = not (now and now.dirty) and not recorded.get("dirty")
    same = now is not None and now.commit == commit and (same_diff or clean_both)
    if not same:
        result.warnings.append(f"the run's code was git commit {then}, here it is {result.git_commit[1]}")


def reproduce(run_id: str, *, workspace: str | os.PathLike[str] | None = None, keep_scratch: bool = False,
              reporter: Any = None, current_code: bool = False, rebuild_env: bool = False,
              offline: bool | None = None) -> Reproduction:  # fmt: skip
    """Re-fit run ``run_id``'s model from its pinned inputs with its own code (and environment)
    when they can be restored, else (or with ``current_code``) with the code here; compare it
    with the original. ``rebuild_env`` rebuilds the run's environment even when its lock is
    the current one; ``offline`` installs it from ``environments.find_links`` wheels only."""
    from modelmill.api import open_workspace

    ws = open_workspace(os.fspath(workspace) if workspace is not None else None)
    run = load_run(ws, run_id)
    if not current_code:
        from modelmill.lifecycle import restore

        plan = restore.plan(ws, run, rebuild_env=rebuild_env, offline=offline)
        if plan.restorable:
            return restore.reproduce_restored(ws, run, plan, keep_scratch=keep_scratch)
        result = refit(ws, run, keep_scratch=keep_scratch, reporter=reporter)
        result.warnings.insert(0, plan.reason)
        return result
    return refit(ws, run, keep_scratch=keep_scratch, reporter=reporter)


def refit(
    ws: Workspace, run: RecordedRun, *, keep_scratch: bool = False, reporter: Any = None
) -> Reproduction:
    """Re-fit ``run``'s model in this process, with the code importable here, and compare."""
    from omegaconf import OmegaConf

    from modelmill.api import holdout_output, load_pipeline, model_output
    from modelmill.runner import Executor
    from modelmill.tracking.base import NullTracker

    run_id = run.run_id
    cfg = OmegaConf.create(run.config_yaml)
    pipeline = load_pipeline(cfg)
    (train, model), (split, test) = model_output(pipeline, "reproduce"), holdout_output(pipeline, "reproduce")
    model_ref, test_ref = run.output(train.name, model), run.output(split.name, test)
    if model_ref is None or test_ref is None:
        raise UsageError(
            f"run {run_id} ({run.status}) produced no {model if model_ref is None else test}; "
            "only runs that trained a model can be reproduced"
        )
    rerun = _rerun_steps(pipeline, train.name)
    pins = _pins(pipeline, run, rerun)
    (ws.root / "tmp").mkdir(parents=True, exist_ok=True)
    scratch_dir = tempfile.mkdtemp(prefix=f"reproduce-{run_id}-", dir=ws.root / "tmp")
    try:
        scratch = Workspace(scratch_dir)
        _seed(ws, scratch, pins)
        summary = Executor(scratch, tracker=NullTracker(), reporter=reporter).run(
            pipeline, steps=rerun, force=True, config_yaml=run.config_yaml
        )
        failed = next((s for s in summary.steps if s.status == "failed"), None)
        if failed is not None:
            raise ModelmillError(f"re-running run {run_id} failed at step '{failed.name}': {failed.error}")
        new = {v.split(":")[0]: v for s in summary.steps for v in s.outputs}
        max_diff, n = _compare(ws, scratch, (model_ref, test_ref), new[model], _target(cfg))
        result = Reproduction(run_id, max_diff == 0.0, max_diff, n, model_ref, test_ref, rerun, sorted(pins))
        for name in rerun:
            for ref in (run.step(name) or {}).get("outputs", []):
                art = ref.split(":")[0]
                if (
                    art != model
                    and art in new
                    and scratch.store.resolve(new[art]).digest != ws.store.resolve(ref).digest
                ):
                    result.differing_outputs.append(ref)
        _provenance(ws, run, pipeline, rerun, result, cfg)
        return result
    finally:
        if not keep_scratch:
            shutil.rmtree(scratch_dir, ignore_errors=True)
