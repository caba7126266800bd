"""Project code imported by the step module, so the cache key must follow it."""

from __future__ import annotations

import json
import os
from pathlib import Path

COUNTER_ENV = "MODELMILL_TEST_COUNTER"


def scale(values: list[int], factor: int) -> list[int]:
    """Multiply every value by ``factor``."""
    return [v * factor for v in values]


def write_json(path: Path, value: object) -> None:
    """Write ``value`` as canonical JSON."""
    path.write_text(json.dumps(value, sort_keys=True))


def read_json(path: Path) -> object:
    """Read a JSON file."""
    return json.loads(path.read_text())


def count_execution(step: str) -> None:
    """Append the step name to the counter file named by ``$MODELMILL_TEST_COUNTER`` (if set)."""
    target = os.environ.get(COUNTER_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(f"{step}\n")
