"""A draft dataset spec for a table: every column's guess, the target's task, the id, the split.

:func:`draft_spec` assembles what :mod:`modelmill.datasets.infer` guesses per column into a
:class:`DraftSpec`, decides the task from the target (or checks the one asked for), picks the
id column and refuses what cannot become a project (a missing target, a target with one value,
nothing left to learn from) with one line naming the fix. :meth:`DraftSpec.as_dict` is the
spec as data (it validates with :func:`modelmill.datasets.spec.load_spec`);
:mod:`modelmill.datasets.spec_yaml` writes it as a commented YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelmill.core.errors import UsageError
from modelmill.core.types import MAX_CLASSES
from modelmill.datasets.infer import (
    ID_NAME,
    INTEGER_CLASSES,
    ColumnGuess,
    guess_column,
    present_values,
    require_column,
)
from modelmill.datasets.spec import DatasetSpec, load_spec

TASKS = ("regression", "binary", "multiclass")
TEST_SIZE, VAL_SIZE, SEED = 0.2, 0.2, 42


@dataclass
class DraftSpec:
    """The inferred spec of one table, with the reason of every choice."""

    name: str
    task: str
    target: str
    id: str | None
    columns: list[ColumnGuess]
    task_reason: str
    rows: int  # rows of the sample the guesses come from
    truncated: bool = False  # the sample is the head of a longer file
    hints: dict[str, str] = field(default_factory=dict)  # split/group suggestions, for comments

    @property
    def split(self) -> dict[str, Any]:
        stratify = self.target if self.task != "regression" else None
        return {"kind": "random", "test_size": TEST_SIZE, "val_size": VAL_SIZE, "stratify": stratify,
                "seed": SEED}  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain data (what ``conf/dataset/NAME.yaml`` holds)."""
        return {
            "name": self.name, "task": self.task, "target": self.target, "id": self.id, "group": None,
            "columns": {c.name: dict(c.entry) for c in self.columns},
            "cleaning": {"max_invalid_share": 0.05, "extra_columns": "allow"},
            "split": self.split,
        }  # fmt: skip

    def validated(self) -> DatasetSpec:
        return load_spec(self.as_dict(), f"the spec inferred for {self.name}")

    def column(self, name: str) -> ColumnGuess:
        return next(c for c in self.columns if c.name == name)


def draft_spec(
    frame: pd.DataFrame,
    *,
    name: str,
    target: str,
    task: str | None = None,
    id_column: str | None = None,
    truncated: bool = False,
) -> DraftSpec:
    """Guess every column of ``frame`` (a sample of the table) and the task from ``target``."""
    names = [str(c) for c in frame.columns]
    require_column(target, names, "--target")
    if id_column is not None:
        require_column(id_column, names, "--id")
        if id_column == target:
            raise UsageError(f"--id '{id_column}' is the target: the id names rows, it is not predicted")
    if task is not None and task not in TASKS:
        raise UsageError(f"--task {task!r}: expected one of {', '.join(TASKS)}")
    rows = len(frame)
    if rows < 2:
        raise UsageError(f"the table has {rows} row(s): a model needs many rows to learn from")
    guesses = [guess_column(n, frame[n]) for n in names]
    by_name = {g.name: g for g in guesses}
    kind, task_reason, target_entry = _target(by_name[target], frame[target], task)
    by_name[target].entry, by_name[target].reason = target_entry, task_reason
    chosen_id = _id(by_name, frame, id_column, target)
    if not any(g.role != "ignore" for g in guesses if g.name not in (target, chosen_id)):
        ignored = "; ".join(f"{g.name}: {g.reason}" for g in guesses if g.name != target)
        raise UsageError(f"no column to learn from: every column but the target is ignored ({ignored})")
    draft = DraftSpec(name, kind, target, chosen_id, guesses, task_reason, rows, truncated)
    draft.hints = _hints(draft)
    return draft


def _target(guess: ColumnGuess, series: pd.Series, task: str | None) -> tuple[str, str, dict[str, Any]]:
    """The task, why, and the target's column entry."""
    present = present_values(series)
    name = guess.name
    if present.empty:
        raise UsageError(f"--target '{name}' has no value in the {len(series):,} rows read")
    values = guess.values if guess.values is not None else present.astype(str)
    distinct = int(values.nunique())
    if distinct < 2:
        raise UsageError(
            f"--target '{name}' has one value ({str(values.iloc[0])[:30]!r}) in the {len(series):,} "
            "rows read: there is nothing to predict; pick another column"
        )
    numeric = guess.kind in ("number", "integer")
    if guess.kind == "date":
        raise UsageError(f"--target '{name}' holds dates: a target is a number (regression) or a class label")
    inferred = _task_of(name, guess.kind, distinct, numeric)
    chosen = task or inferred
    _check_task(name, chosen, distinct, numeric, values)
    missing = len(series) - len(present)
    note = f"; {missing:,} rows without a target: cleaning drops them" if missing else ""
    counted = f"{distinct:,} distinct values in {len(present):,} rows"
    if chosen == "regression":
        entry = {"role": "numeric", **{k: v for k, v in guess.entry.items() if k in ("parse", "thousands")}}
        if entry.get("parse") == "boolean":
            entry.pop("parse")
        why = f"the target: a number with {counted}, so task regression" + note
        return chosen, why + (" (--task)" if task else ""), entry
    entry = {"role": "categorical"}
    if guess.kind == "integer":
        entry["type"] = "integer"
    classes = ", ".join(str(v) for v in sorted(values.unique().tolist(), key=str)[:8])
    why = f"the target: {distinct} classes ({classes}{' ...' if distinct > 8 else ''}), so task {chosen}"
    return chosen, why + (" (--task)" if task else "") + note, entry


def _task_of(name: str, kind: str, distinct: int, numeric: bool) -> str:
    if distinct == 2:
        return "binary"
    if numeric and not (kind == "integer" and distinct <= INTEGER_CLASSES):
        return "regression"
    if distinct <= MAX_CLASSES:
        return "multiclass"
    raise UsageError(
        f"--target '{name}' has {distinct:,} distinct text values: neither a number (regression) nor "
        f"class labels (at most {MAX_CLASSES} classes); pick another column or clean this one"
    )


def _check_task(name: str, task: str, distinct: int, numeric: bool, values: pd.Series) -> None:
    if task == "regression" and not numeric:
        example = str(values.iloc[0])[:30]
        raise UsageError(f"--task regression: the target '{name}' is not numeric (values like {example!r})")
    if task == "binary" and distinct != 2:
        raise UsageError(
            f"--task binary: the target '{name}' has {distinct:,} classes, not 2; use --task multiclass"
        )
    if task == "multiclass" and not 2 < distinct <= MAX_CLASSES:
        fix = (
            "use --task binary" if distinct == 2 else f"at most {MAX_CLASSES} classes; use --task regression"
        )
        raise UsageError(f"--task multiclass: the target '{name}' has {distinct:,} classes: {fix}")


def _id(by_name: dict[str, ColumnGuess], frame: pd.DataFrame, asked: str | None, target: str) -> str | None:
    """The id column: the one asked for (checked unique), else the first identifier named like one."""
    if asked is None:
        found = [g for g in by_name.values() if g.name != target and g.reason.startswith("identifier")
                 and ID_NAME.search(g.name)]  # fmt: skip
        return found[0].name if found else None
    present = frame[asked].dropna()
    repeated = int(present.duplicated().sum())
    if repeated:
        raise UsageError(
            f"--id '{asked}' has repeated values ({repeated:,} of {len(present):,} rows repeat one): "
            "an id names one row; pick a unique column or leave --id out"
        )
    if len(present) < len(frame):
        raise UsageError(
            f"--id '{asked}' is missing in {len(frame) - len(present):,} rows: an id names every row"
        )
    guess = by_name[asked]
    integer = guess.kind == "integer" or pd.api.types.is_integer_dtype(frame[asked].dtype)
    guess.entry = {"role": "ignore", "type": "integer"} if integer else {"role": "ignore"}
    guess.reason = "the id (--id): names rows in scores, never a model input"
    return asked


def _hints(draft: DraftSpec) -> dict[str, str]:
    """Suggestions written as comments: a time split when there is a date, a group to slice by."""
    hints: dict[str, str] = {}
    dates = [c.name for c in draft.columns if c.role == "date"]
    if dates:
        hints["split"] = (f"{dates[0]} is a date: to test on the latest rows instead, use "
                          f"kind: time, column: {dates[0]}")  # fmt: skip
    groups = [c.name for c in draft.columns if c.role == "categorical" and c.name != draft.target
              and c.values is not None and 2 <= c.values.nunique() <= 12]  # fmt: skip
    if groups:
        hints["group"] = f"e.g. group: {groups[0]} (the reports' metrics per {groups[0]})"
    return hints
