"""Model quality once true prices are known: MAE of past predictions, overall and per week.

Actuals are a CSV of ``id`` and ``price`` (or ``actual``); they are joined by ``id`` to the
monitored batch's predictions. Weeks come from ``time_col`` (``timestamp`` of the service's
request log, or e.g. ``last_review``); without one the batch is a single period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelmill.core.errors import UsageError

ACTUAL_COLUMNS = ("actual", "price")


@dataclass
class Quality:
    """MAE of the joined rows against the model's baseline MAE."""

    n_matched: int
    n_actuals: int
    mae: float
    baseline_mae: float | None
    baseline_source: str
    periods: list[dict[str, Any]] = field(default_factory=list)
    time_col: str | None = None

    @property
    def ratio(self) -> float | None:
        return self.mae / self.baseline_mae if self.baseline_mae else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ratio_to_baseline": None if self.ratio is None else round(self.ratio, 4)}


def read_actuals(path: str) -> pd.DataFrame:
    """``id`` and ``actual`` from a CSV with ``id`` and ``actual`` or ``price``."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"actuals file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"actuals file {path} could not be read as CSV: {exc}") from None
    column = next((c for c in ACTUAL_COLUMNS if c in frame.columns), None)
    if "id" not in frame.columns or column is None:
        raise UsageError(
            f"actuals file {path} needs columns id and price (or actual); has {list(frame.columns)}"
        )
    return pd.DataFrame({"id": frame["id"], "actual": pd.to_numeric(frame[column], errors="coerce")})


def model_quality(
    batch: pd.DataFrame,
    predictions: np.ndarray,
    actuals: pd.DataFrame,
    baseline: tuple[float | None, str],
    time_col: str | None = None,
) -> Quality:
    """MAE overall and per week of ``time_col`` over the rows of ``batch`` that have an actual."""
    if "id" not in batch.columns:
        raise UsageError("--actuals needs an id column in the input to join on")
    if time_col is not None and time_col not in batch.columns:
        raise UsageError(f"--time-col {time_col} is not a column of the input")
    scored = pd.DataFrame({"id": batch["id"].to_numpy(), "prediction": predictions})
    if time_col is not None:
        scored["time"] = pd.to_datetime(batch[time_col].to_numpy(), errors="coerce", format="mixed")
    joined = scored.merge(actuals.drop_duplicates("id", keep="last"), on="id", how="inner")
    joined = joined[np.isfinite(joined["actual"]) & np.isfinite(joined["prediction"])]
    if joined.empty:
        raise UsageError("no row of the input matches an id of the actuals file")
    joined["error"] = (joined["prediction"] - joined["actual"]).abs()
    periods = []
    if time_col is not None:
        week = joined["time"].dt.tz_localize(None) if joined["time"].dt.tz is not None else joined["time"]
        joined["week"] = week.dt.to_period("W-SUN").dt.start_time.dt.strftime("%Y-%m-%d")
        for label, group in joined.groupby("week", sort=True):
            periods.append(
                {"week": str(label), "n": len(group), "mae": round(float(group["error"].mean()), 4)}
            )
    else:
        periods.append({"week": "all", "n": len(joined), "mae": round(float(joined["error"].mean()), 4)})
    return Quality(
        n_matched=len(joined),
        n_actuals=len(actuals),
        mae=round(float(joined["error"].mean()), 4),
        baseline_mae=None if baseline[0] is None else round(baseline[0], 4),
        baseline_source=baseline[1],
        periods=periods,
        time_col=time_col,
    )
