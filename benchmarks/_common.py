"""What the benchmark scripts share: the real sample's place, the data choice, the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "nyc_airbnb_2019_sample.csv"


def data_overrides(rows: int) -> tuple[list[str], str]:
    """Overrides selecting the real sample (when present and ``rows`` is 0) or demo data."""
    if REAL.exists() and not rows:
        return [f"etl.sample={REAL}"], "real sample"
    return [f"etl.demo_rows={rows or 16000}"], f"demo {rows or 16000} rows"


def print_figures(figures: dict[str, Any], as_json: bool) -> None:
    """JSON, or one aligned ``key value`` line per figure."""
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:18} {value}")
