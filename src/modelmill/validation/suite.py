"""The whole data-test suite on frames and files: params of a config, validate, check_files.

See the package docstring (:mod:`modelmill.validation`) for where these tests run.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import pandas as pd

from modelmill.core.errors import UsageError
from modelmill.validation.checks import CheckResult, run_checks
from modelmill.validation.report import build_report
from modelmill.validation.stats import run_stats

PathLike = str | os.PathLike[str]


def validate(
    frame: pd.DataFrame, reference: pd.DataFrame | None, params: dict[str, Any]
) -> list[CheckResult]:
    """Every deterministic test, plus the statistical tests when a reference is given."""
    results = run_checks(frame, params, reference)
    if reference is not None:
        results += run_stats(frame, reference, params)
    return results


def params_from_config(cfg: Any) -> dict[str, Any]:
    """The data tests' params of a composed config: the dataset spec's
    :meth:`~modelmill.datasets.spec.DatasetSpec.check_params` plus ``data_check``'s thresholds."""
    from modelmill.datasets.spec import spec_from_config

    return spec_from_config(cfg).data_check_params(cfg.data_check)


def default_params() -> dict[str, Any]:
    """The params of the packaged config (its default dataset and ``data_check`` thresholds)."""
    return dict(_default_params())


@lru_cache(maxsize=1)
def _default_params() -> dict[str, Any]:
    from hydra import compose, initialize_config_module

    with initialize_config_module("modelmill.conf", version_base=None):
        return params_from_config(compose("config"))


def read_sample(path: PathLike, label: str = "sample") -> pd.DataFrame:
    """A CSV or Parquet sample; a missing or unreadable file is a :class:`UsageError` naming it."""
    from modelmill.datasets.io import read_table

    if not os.path.isfile(path):
        raise UsageError(f"{label} {os.fspath(path)}: no such file")
    try:
        return read_table(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{label} {os.fspath(path)} could not be read: {exc}") from None


def check_files(
    csv: PathLike, ref: PathLike | None, params: dict[str, Any] | None = None
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Test the file ``csv`` (against ``ref`` if given): the results and the report document."""
    params = params if params is not None else default_params()
    frame = read_sample(csv, "--csv")
    reference = read_sample(ref, "--ref") if ref is not None else None
    results = validate(frame, reference, params)
    notes = [] if reference is not None else ["no reference given: statistical tests skipped"]
    report = build_report(
        results,
        sample=os.fspath(csv),
        reference=os.fspath(ref) if ref is not None else None,
        params=params,
        notes=notes,
    )
    return results, report
