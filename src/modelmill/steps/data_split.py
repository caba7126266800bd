"""data_split: hold out the test set as the spec's ``split`` declares it.

:func:`split_frame` is the one splitting function of the project: this step calls it with
``test_size`` and the train step with ``val_size`` for its validation part, so both hold out
rows the same way. ``split_params`` is :meth:`DatasetSpec.split_params
<modelmill.datasets.spec.DatasetSpec.split_params>` (``kind``, ``seed``, ``stratify``, ``column``).

* ``random``: scikit-learn's ``train_test_split`` seeded with ``seed``, stratified by the
  ``stratify`` column when every class has at least two rows (rarer classes make stratifying
  impossible: the split falls back to unstratified rather than failing). Exactly the rows
  earlier versions selected.
* ``time``: train on the past, test on the latest dates of ``column``. The latest distinct
  dates go to the test set until it holds the share closest to ``size`` (rows of one date are
  never split: ties stay together); at least one date stays on each side. Rows without a
  date have no place in time, so they are kept on the training side, never tested on.
* ``group``: scikit-learn's ``GroupShuffleSplit`` on ``column`` (seeded): no group on both
  sides, so a model is tested on groups it never saw (hosts, patients, stores). ``size`` is
  the share of *groups* held out, so the row share varies with the group sizes; rows without
  a group form one group of their own.

Both sides keep the frame's row order. A split that cannot hold rows out (one date, one
group, too few rows) is a one-line :class:`~modelmill.core.errors.DataCheckError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelmill.core.errors import ConfigError, DataCheckError
from modelmill.datasets.io import read_stored_table, write_csv
from modelmill.datasets.parse import parse_dates

if TYPE_CHECKING:
    from modelmill.runner import StepContext

CLEAN, TRAINVAL, TEST = "clean_sample.csv", "trainval_data.csv", "test_data.csv"
MISSING_GROUP = "\x00missing"


def _column(frame: pd.DataFrame, column: str | None, key: str) -> pd.Series:
    if column is None or column not in frame.columns:
        raise ConfigError(
            f"{key}={column!r} is not a column of the table ({', '.join(map(str, frame.columns[:12]))}); "
            "use one of its columns"
        )
    return frame[column]


def stratify_column(frame: pd.DataFrame, column: str | None) -> pd.Series | None:
    """The stratification labels, or ``None`` for none; rare classes fall back to none."""
    if column in (None, "none", "", "None"):
        return None
    labels = _column(frame, column, "split.stratify")
    return labels if labels.value_counts().min() >= 2 else None


def _too_small(kind: str, what: str) -> DataCheckError:
    return DataCheckError(f"a {kind} split needs rows on both sides: {what}")


def _random(frame: pd.DataFrame, params: Mapping[str, Any], size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    if len(frame) < 2:
        raise _too_small("random", f"the table has {len(frame)} row(s)")
    train, test = train_test_split(
        frame, test_size=size, random_state=int(params["seed"]),
        stratify=stratify_column(frame, params.get("stratify")),
    )  # fmt: skip
    return train, test


def latest_share(dates: pd.Series, size: float) -> pd.Series:
    """Rows on the latest distinct dates, as close to ``size`` of the rows as whole dates allow."""
    counts = dates.dropna().value_counts().sort_index(ascending=False)  # latest first
    if len(counts) < 2:
        raise _too_small("time", f"'{dates.name}' has {len(counts)} distinct date(s)")
    held = counts.cumsum().to_numpy()[:-1]  # at least one date stays in training
    best = int(np.argmin(np.abs(held - size * len(dates))))
    cutoff = counts.index[best]
    return (dates >= cutoff).fillna(False).astype(bool)


def _time(frame: pd.DataFrame, params: Mapping[str, Any], size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    dates, _ = parse_dates(_column(frame, params.get("column"), "split.column"))
    test = latest_share(dates.rename(params.get("column")), size)
    return frame[~test], frame[test]


def _group(frame: pd.DataFrame, params: Mapping[str, Any], size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import GroupShuffleSplit

    groups = _column(frame, params.get("column"), "split.column")
    groups = groups.astype(object).where(groups.notna(), MISSING_GROUP).astype(str)
    if groups.nunique() < 2:
        raise _too_small("group", f"'{params.get('column')}' has {groups.nunique()} distinct group(s)")
    splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=int(params["seed"]))
    train_idx, test_idx = next(splitter.split(frame, groups=groups))
    return frame.iloc[np.sort(train_idx)], frame.iloc[np.sort(test_idx)]


SPLITTERS = {"random": _random, "time": _time, "group": _group}


def split_frame(
    frame: pd.DataFrame, split_params: Mapping[str, Any], size: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(kept, held_out)``: ``size`` of ``frame`` held out as ``split_params`` declares (the
    module docstring); the test set in data_split, the validation set in train."""
    if "seed" not in split_params:
        raise ConfigError("data_split: params without seed; give the step the dataset spec's "
                          "DatasetSpec.split_params() (see modelmill.pipelines.tabular)")  # fmt: skip
    kind = str(split_params.get("kind", "random"))
    if kind not in SPLITTERS:
        raise ConfigError(f"split.kind={kind!r}: use random, time or group")
    return SPLITTERS[kind](frame, split_params, float(size))


def run(ctx: StepContext) -> None:
    """Write ``trainval_data.csv`` and ``test_data.csv``."""
    frame = read_stored_table(ctx.input(CLEAN))
    trainval, test = split_frame(frame, ctx.params, ctx.params["test_size"])
    write_csv(trainval, ctx.output(TRAINVAL))
    write_csv(test, ctx.output(TEST))
    ctx.set_metadata(TRAINVAL, rows=len(trainval), split=ctx.params.get("kind", "random"))
    ctx.set_metadata(TEST, rows=len(test), split=ctx.params.get("kind", "random"))
    ctx.log_metrics({"trainval_rows": len(trainval), "test_rows": len(test)})
