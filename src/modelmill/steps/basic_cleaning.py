"""basic_cleaning: drop implausible prices, listings outside NYC and duplicate ids.

It does not impute: imputation belongs to the inference pipeline so that production
requests get exactly the same treatment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from modelmill.datasets.io import read_listings, write_csv

if TYPE_CHECKING:
    from modelmill.runner import StepContext


def clean(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The cleaned frame and how many rows each rule removed (rules apply in order)."""
    removed: dict[str, int] = {}
    rules = {
        "price_range": frame["price"].between(params["min_price"], params["max_price"]),
        "outside_nyc": frame["longitude"].between(*params["longitude"])
        & frame["latitude"].between(*params["latitude"]),
    }
    for rule, keep in rules.items():
        keep = keep.reindex(frame.index, fill_value=False)
        removed[rule] = int((~keep).sum())
        frame = frame[keep]
    duplicated = frame["id"].duplicated(keep="first")
    removed["duplicate_id"] = int(duplicated.sum())
    frame = frame[~duplicated].copy()
    frame["last_review"] = pd.to_datetime(frame["last_review"], errors="coerce").dt.strftime("%Y-%m-%d")
    return frame.reset_index(drop=True), removed


def run(ctx: StepContext) -> None:
    """Write ``clean_sample.csv`` and log rows removed per rule."""
    raw = read_listings(ctx.input("sample.csv"))
    frame, removed = clean(raw, ctx.params)
    for rule, count in removed.items():
        ctx.log.info("rule %s removed %d rows", rule, count)
    ctx.log_metrics({f"removed_{rule}": n for rule, n in removed.items()} | {"clean_rows": len(frame)})
    write_csv(frame, ctx.output("clean_sample.csv"))
    raw_version = ctx.input_version("sample.csv")
    source = raw_version.metadata.get("source") if raw_version else None
    ctx.set_metadata("clean_sample.csv", rows=len(frame), removed=removed, source=source)
