"""Bayesian sweeps: Optuna's ask/tell API over pipeline trials, resumable from SQLite.

``modelmill sweep --optuna N KEY=interval(lo,hi) KEY=choice(a,b) ...``

* The overrides are parsed by Hydra itself: ``interval(lo,hi)`` is a float range,
  ``int(interval(lo,hi))`` an integer range, ``tag(log, ...)`` samples on a log scale;
  ``choice(...)``, ``a,b,c`` and ``range(...)`` are categorical; every other override is
  fixed for all trials. A sampled value goes back to Hydra as ``key=value`` text that
  parses to the same value and type.
* The study lives in the workspace (``<workspace>/optuna.db``). Its default name is
  derived from the search space, the fixed overrides and the metric, so running the same
  command again resumes the same study.
* ``N`` is the number of *finished* trials (succeeded or failed) the study should have:
  a resumed study runs only the remainder, and the table lists the earlier invocations'
  trials too (rebuilt from the user attributes stored with each Optuna trial).
* Trials left ``RUNNING`` by a process that died (SIGKILL, power loss) or was interrupted
  are marked ``FAIL`` (user attribute ``interrupted``) at the next start and their
  parameters are enqueued, so they are tried again first; they do not count towards ``N``.
  A lock file per study (``<workspace>/locks/``) refuses a second concurrent process.
* A failed trial (a bad value, a failed step) is told to Optuna as ``FAIL`` with its error
  in the user attributes; the other trials go on.
* Parallelism: ``launcher.jobs`` trials are in flight; when one finishes it is told and
  the next is asked (TPE's constant liar spreads the in-flight trials). With ``-j 1`` the
  same seed and space on a fresh workspace give the same sequence of parameters (a
  resumed study reseeds with ``seed + trials so far``, so it never replays the first run).
* Shared steps: the plan is made from two representative trials, every parameter at its
  lower bound / first choice and at its upper bound / last choice, so any step whose
  params depend on a sampled key is planned per trial; the others run once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmill import api
from modelmill import config as config_mod
from modelmill.core.errors import ConfigError
from modelmill.sweep.bayes_space import SearchSpace, format_value, search_space, study_name_for
from modelmill.sweep.orchestrate import SweepOptions, SweepSession, SweepSummary
from modelmill.sweep.pools import TrialPool, open_pool
from modelmill.sweep.ranking import metric_key, resolve_direction
from modelmill.sweep.trial import TrialResult

OPTUNA_MISSING = "--optuna needs the optuna extra: pip install 'modelmill[optuna]'"
RESULT_ATTR = "modelmill.result"  # the TrialResult dict of a finished trial
INTERRUPTED_ATTR = "interrupted"  # why a trial never finished (it is retried, not counted)


# ------------------------------------------------------------------- the study
def run_optuna(
    overrides: Sequence[str],
    n_trials: int,
    opts: SweepOptions | None = None,
    *,
    study_name: str | None = None,
    seed: int = 42,
) -> SweepSummary:
    """Run (or resume) an Optuna study until it has ``n_trials`` finished trials; rank them all."""
    opts = opts or SweepOptions()
    optuna = _import_optuna()
    if n_trials < 1:
        raise ConfigError(f"--optuna {n_trials}: expected 1 or more trials")
    space = search_space(overrides)
    if not space.params:
        raise ConfigError(
            "--optuna needs at least one parameter to search, e.g. "
            "'modeling.random_forest.max_depth=int(interval(5,40))' or 'modeling.max_tfidf_features=5,10,30'"
        )
    key = metric_key(opts.metric)
    direction = resolve_direction(key, opts.direction)
    name = study_name or study_name_for(space, key, direction, opts.config_dir)
    representatives = space.representatives()
    cfg = config_mod.compose(representatives[0], config_dir=opts.config_dir)
    ws = api.open_workspace(cfg.main.workspace)
    ws.require_writable()  # the study lock and database live in the workspace
    root = ws.root
    with _study_lock(root, name):
        held = _open_study(optuna, root, name, key, direction, seed)
        earlier = _earlier_results(held.study)
        remaining = n_trials - len(earlier)
        session = SweepSession(representatives, space.keys, opts, overrides)
        session.results.extend(earlier)
        session.summary.study = {
            "name": name,
            "storage": str(root / "optuna.db"),
            "earlier_trials": len(earlier),
            "new_trials": max(0, remaining),
        }
        if remaining > 0 and session.run_shared(representatives[0]):
            _run_trials(held, space, session, remaining, n_trials)
        return session.finish()


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError(OPTUNA_MISSING) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@contextlib.contextmanager
def _study_lock(root: Path, name: str) -> Iterator[None]:
    """One process per study: an exclusive lock the OS drops when the process dies."""
    locks = root / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"optuna-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"
    with open(path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no guard
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise ConfigError(
                f"Optuna study '{name}' is being run by another sweep ({owner}); wait for it to "
                f"finish, or stop it, then run again to resume (lock: {path})"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Study:
    """The Optuna study and the storage it lives in (storage calls take trial ids)."""

    study: Any
    storage: Any

    def trial_id(self, number: int) -> int:
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return int(self.storage.get_trial_id_from_study_id_trial_number(study_id, number))

    def retire(self, number: int, params: dict[str, Any], reason: str) -> None:
        """Mark an unfinished trial FAIL (interrupted) and enqueue its parameters to run again."""
        from optuna.trial import TrialState

        self.storage.set_trial_user_attr(self.trial_id(number), INTERRUPTED_ATTR, reason)
        self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        if params:
            self.study.enqueue_trial(params)


def _open_study(optuna: Any, root: Path, name: str, metric: str, direction: str, seed: int) -> _Study:
    """Create or load the study, retire trials a dead process left running, seed the sampler."""
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{root / 'optuna.db'}", engine_kwargs={"connect_args": {"timeout": 60}}
    )
    study = optuna.create_study(
        storage=storage, study_name=name, direction=direction, load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )  # fmt: skip
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"study '{name}' is set to {study.direction.name.lower()}, this sweep would {direction} "
            f"{metric}: use another --study name"
        )
    recorded = study.user_attrs.get("metric")
    if recorded is None:
        study.set_user_attr("metric", metric)
    elif recorded != metric:
        raise ConfigError(f"study '{name}' ranks by {recorded}, not {metric}: use another --study name")
    held = _Study(study, storage)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        held.retire(trial.number, trial.params, "its sweep process stopped before the trial finished")
    # a resumed study must not replay the first invocation's random start: reseed by progress
    sampler = optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False)))
    return _Study(optuna.load_study(study_name=name, storage=storage, sampler=sampler), storage)


def _earlier_results(study: Any) -> list[TrialResult]:
    """The finished trials of earlier invocations (interrupted ones are retried, not listed)."""
    from optuna.trial import TrialState

    results = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.RUNNING, TrialState.WAITING) or INTERRUPTED_ATTR in trial.user_attrs:
            continue
        stored = trial.user_attrs.get(RESULT_ATTR)
        if stored:
            results.append(TrialResult.from_dict({**stored, "index": trial.number}))
            continue
        # a trial told by something else (another tool on the same storage)
        texts = {k: (format_value(v) if not isinstance(v, str) else v) for k, v in trial.params.items()}
        result = TrialResult(trial.number, [], texts)
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            result.status = "ok"
            result.metrics = {str(study.user_attrs.get("metric", "value")): float(trial.value)}
        else:
            result.error = str(trial.user_attrs.get("error", trial.state.name))
        results.append(result)
    return results


def _run_trials(held: _Study, space: SearchSpace, session: SweepSession, remaining: int, total: int) -> None:
    """Keep ``jobs`` trials in flight until ``remaining`` more have finished."""
    study = held.study
    jobs = max(1, min(session.launcher.jobs, remaining))
    in_flight: dict[int, Any] = {}
    asked = 0

    def ask_and_submit(pool: TrialPool) -> None:
        nonlocal asked
        trial = study.ask(space.distributions)
        asked += 1
        in_flight[trial.number] = trial
        values = {k: trial.params[k] for k in space.keys}
        pool.submit(session.payload(trial.number, space.overrides(values), space.texts(values), remaining))

    try:
        with open_pool(session.launcher, jobs) as pool:
            while asked < remaining and len(in_flight) < jobs:
                ask_and_submit(pool)
            while in_flight:
                data = _checked(pool.next_result(), session.summary.metric)
                trial = in_flight.pop(data["index"])
                _tell(study, trial, data, session.summary.metric)
                session.collect({k: v for k, v in data.items() if k != "metric_missing"}, total)
                if data.get("metric_missing") and not session.summary.error:
                    # a pipeline that works but reports no such metric: every trial would fail
                    session.summary.error = f"--metric: {data['error']}"
                    session.summary.exit_code = 2
                if asked < remaining and not session.summary.error:
                    ask_and_submit(pool)
    finally:  # Ctrl-C or a crash: the unfinished trials are retried by the next invocation
        for trial in in_flight.values():
            with contextlib.suppress(Exception):
                held.retire(trial.number, trial.params, "its sweep was interrupted")


def _checked(data: dict[str, Any], metric: str) -> dict[str, Any]:
    """A trial that succeeded without reporting the ranking metric failed, for the study."""
    value = data.get("metrics", {}).get(metric)
    if data.get("status") == "ok" and (value is None or math.isnan(value)):
        reported = ", ".join(sorted(data.get("metrics", {}))) or "none"
        error = f"no trial reported '{metric}'; metrics reported: {reported}"
        data = {**data, "status": "failed", "error": error, "metric_missing": True}
    return data


def _tell(study: Any, trial: Any, data: dict[str, Any], metric: str) -> None:
    from optuna.trial import TrialState

    data = {k: v for k, v in data.items() if k != "metric_missing"}
    trial.set_user_attr(RESULT_ATTR, json.loads(json.dumps(data, default=str)))
    if data.get("status") == "ok":
        study.tell(trial, float(data["metrics"][metric]))
    else:
        trial.set_user_attr("error", str(data.get("error", ""))[:2000])
        study.tell(trial, state=TrialState.FAIL)
