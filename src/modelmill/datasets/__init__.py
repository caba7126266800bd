"""Embedded datasets: a seeded generator of realistic NYC listings (works offline)."""

from modelmill.datasets.nyc_demo import COLUMNS, generate_listings

__all__ = ["COLUMNS", "generate_listings"]
