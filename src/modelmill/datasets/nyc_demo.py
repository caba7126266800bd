"""A seeded generator of realistic New York City short-term rental listings.

Calibrated on aggregate statistics of the Inside Airbnb 2019 NYC listings (``nyc_stats.json``:
neighbourhood frequencies and coordinates, room-type shares per borough, log-price by borough
and room type, quantiles of the count columns, review dates); no real row is embedded. The
output has the real file's 16 columns in the same order and its quirks: ``last_review`` and
``reviews_per_month`` missing together for listings without reviews, a few missing names and
price outliers (0 and thousands of dollars).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = (
    "id", "name", "host_id", "host_name", "neighbourhood_group", "neighbourhood", "latitude",
    "longitude", "room_type", "price", "minimum_nights", "number_of_reviews", "last_review",
    "reviews_per_month", "calculated_host_listings_count", "availability_365",
)  # fmt: skip
ADJECTIVES = ("Cozy", "Sunny", "Spacious", "Charming", "Bright", "Modern", "Quiet", "Huge",
              "Lovely", "Renovated", "Stylish", "Clean", "Beautiful", "Private", "Luxury")  # fmt: skip
PLACES = {
    "Entire home/apt": ("1BR apartment", "studio", "2 bedroom apt", "loft", "townhouse", "duplex"),
    "Private room": ("private room", "bedroom", "room", "guest room", "master bedroom"),
    "Shared room": ("shared room", "bunk bed", "couch", "shared space"),
}
EXTRAS = ("near subway", "close to park", "with balcony", "w/ rooftop", "near trains",
          "15 min to Manhattan", "steps from the L", "with garden", "great location", "")  # fmt: skip
HOSTS = ("Michael", "David", "John", "Alex", "Sarah", "Maria", "Daniel", "Jessica", "Anna",
         "Chris", "Emily", "James", "Laura", "Kevin", "Sonder (NYC)", "Blueground", "Jenny")  # fmt: skip


@lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    """The aggregate statistics the generator is calibrated on."""
    text = resources.files("modelmill.datasets").joinpath("nyc_stats.json").read_text()
    return dict(json.loads(text))


def _from_quantiles(rng: np.random.Generator, levels: list[float], values: list[float], n: int) -> Any:
    """Inverse-CDF sampling through piecewise-linear quantiles."""
    return np.interp(rng.random(n), levels, values)


def _names(rng: np.random.Generator, rooms: np.ndarray, hoods: np.ndarray) -> list[str]:
    out = []
    for room, hood in zip(rooms, hoods, strict=True):
        extra = EXTRAS[rng.integers(len(EXTRAS))]
        place = PLACES[room][rng.integers(len(PLACES[room]))]
        text = f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} {place} in {hood}"
        out.append(f"{text} {extra}".strip())
    return out


def _prices(rng: np.random.Generator, stats: dict[str, Any], groups: Any, rooms: Any) -> np.ndarray:
    params = np.array([stats["log_price"][f"{g}|{r}"] for g, r in zip(groups, rooms, strict=True)])
    price = np.round(np.exp(rng.normal(params[:, 0], params[:, 1]))).astype(int)
    outliers = rng.random(len(price)) < stats["price_outlier_share"]
    price[outliers] = rng.choice([0, 1500, 2500, 5000, 10000], size=int(outliers.sum()))
    return np.asarray(price)


def generate_listings(rows: int = 5000, seed: int = 42) -> pd.DataFrame:
    """``rows`` listings with the real file's columns and dtypes; same seed, same frame."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    stats, rng = calibration(), np.random.default_rng(seed)
    hood_table = stats["neighbourhoods"]
    weights = np.array([h[2] for h in hood_table], dtype=float)
    picks = rng.choice(len(hood_table), size=rows, p=weights / weights.sum())
    hoods = np.array([hood_table[i][0] for i in picks], dtype=object)
    groups = np.array([hood_table[i][1] for i in picks], dtype=object)
    coords = np.array([h[3:7] for h in hood_table], dtype=float)[picks]
    lat = rng.normal(coords[:, 0], coords[:, 1]).clip(40.50, 41.20)
    lon = rng.normal(coords[:, 2], coords[:, 3]).clip(-74.25, -73.50)
    rooms = _rooms(rng, stats["room_type_share"], groups)
    levels = stats["quantile_levels"]
    zero = stats["missing_review_share"]
    no_review = rng.random(rows) < zero
    # listings with reviews: draw from the upper (positive) part of the real distribution
    upper = zero + (1 - zero) * rng.random(rows)
    reviews = np.round(np.interp(upper, levels, stats["quantiles_number_of_reviews"])).astype(int)
    reviews = np.where(no_review, 0, np.maximum(reviews, 1))
    days = (pd.to_datetime(stats["last_review_quantiles"]) - pd.Timestamp("1970-01-01")).days
    sampled = _from_quantiles(rng, levels, list(days.astype(float)), rows).astype(int)
    last = (pd.Timestamp("1970-01-01") + pd.to_timedelta(sampled, unit="D")).strftime("%Y-%m-%d")
    per_month = np.round(_from_quantiles(rng, levels, stats["quantiles_reviews_per_month"], rows), 2)
    names: list[str | None] = list(_names(rng, rooms, hoods))
    for i in np.flatnonzero(rng.random(rows) < max(stats["missing_name_share"], 0.0005)):
        names[i] = None
    frame = pd.DataFrame({
        "id": np.sort(rng.choice(np.arange(2_500, 36_500_000), size=rows, replace=False)),
        "name": names,
        "host_id": rng.integers(2_000, 274_000_000, size=rows),
        "host_name": rng.choice(HOSTS, size=rows),
        "neighbourhood_group": groups, "neighbourhood": hoods,
        "latitude": np.round(lat, 5), "longitude": np.round(lon, 5), "room_type": rooms,
        "price": _prices(rng, stats, groups, rooms),
        "minimum_nights": _ints(rng, levels, stats["quantiles_minimum_nights"], rows, 1),
        "number_of_reviews": reviews,
        "last_review": pd.Series(last).where(~no_review, None),
        "reviews_per_month": pd.Series(np.maximum(per_month, 0.01)).where(~no_review, np.nan),
        "calculated_host_listings_count": _ints(
            rng, levels, stats["quantiles_calculated_host_listings_count"], rows, 1
        ),
        "availability_365": _ints(rng, levels, stats["quantiles_availability_365"], rows, 0),
    })  # fmt: skip
    return frame[list(COLUMNS)]


def _rooms(rng: np.random.Generator, shares: dict[str, dict[str, float]], groups: Any) -> Any:
    rooms = np.empty(len(groups), dtype=object)
    for group, by_room in shares.items():
        mask = groups == group
        kinds = list(by_room)
        p = np.array([by_room[k] for k in kinds])
        rooms[mask] = np.array(kinds, dtype=object)[
            rng.choice(len(kinds), size=int(mask.sum()), p=p / p.sum())
        ]
    return rooms


def _ints(rng: np.random.Generator, levels: list[float], values: list[float], n: int, low: int) -> Any:
    return np.maximum(np.round(_from_quantiles(rng, levels, values, n)).astype(int), low)
