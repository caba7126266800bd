"""data_split: hold out a seeded, optionally stratified test set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmill.datasets.io import read_listings, write_csv

if TYPE_CHECKING:
    import pandas as pd

    from modelmill.runner import StepContext


def stratify_column(frame: pd.DataFrame, column: str) -> pd.Series | None:
    """The stratification labels, or ``None`` for ``none``; rare classes fall back to none."""
    if column in ("none", "", "None"):
        return None
    if column not in frame.columns:
        from modelmill.core.errors import ConfigError

        raise ConfigError(f"modeling.stratify_by={column!r} is not a column; use a column name or none")
    labels = frame[column]
    return labels if labels.value_counts().min() >= 2 else None


def run(ctx: StepContext) -> None:
    """Write ``trainval_data.csv`` and ``test_data.csv``."""
    from sklearn.model_selection import train_test_split

    frame = read_listings(ctx.input("clean_sample.csv"))
    p = ctx.params
    trainval, test = train_test_split(
        frame, test_size=p["test_size"], random_state=p["random_seed"],
        stratify=stratify_column(frame, p["stratify_by"]),
    )  # fmt: skip
    write_csv(trainval, ctx.output("trainval_data.csv"))
    write_csv(test, ctx.output("test_data.csv"))
    ctx.set_metadata("trainval_data.csv", rows=len(trainval))
    ctx.set_metadata("test_data.csv", rows=len(test))
    ctx.log_metrics({"trainval_rows": len(trainval), "test_rows": len(test)})
