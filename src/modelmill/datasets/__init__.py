"""Dataset specs and tables: the spec (:mod:`.spec`), reading and parsing tables, and an embedded
seeded generator of realistic NYC listings (works offline).

The generator is imported on first use (``from modelmill.datasets import generate_listings``
still works): it needs pandas, and a fully cached run that only reads a spec must not pay for it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COLUMNS", "generate_listings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from modelmill.datasets import nyc_demo

        return getattr(nyc_demo, name)
    raise AttributeError(f"module 'modelmill.datasets' has no attribute {name!r}")
