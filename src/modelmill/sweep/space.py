"""Sweep overrides in Hydra syntax: expanded by Hydra itself, never by our own grammar.

* grid sweeps (``a=1,2,3``, ``choice(x,y)``, ``range(1,5)``) become the cartesian
  product of single-value override lists (Hydra's ``BasicSweeper.split_arguments``);
* ``interval(lo,hi)`` (optionally ``int(...)`` or ``tag(log, ...)``) only makes sense for
  a Bayesian search: :func:`modelmill.sweep.bayes_space.search_space` turns it into an
  Optuna distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelmill.core.errors import ConfigError

# keys a sweep must not vary: they change what a trial is, not how it is fitted
FORBIDDEN = ("main.workspace", "main.steps", "main.tracking", "main.tracking_uri")


@dataclass(frozen=True)
class Grid:
    """The fixed overrides (applied to every trial) and the trials' override lists."""

    fixed: list[str]
    swept_keys: list[str]
    trials: list[list[str]]


def parse(overrides: Sequence[str]) -> list[Any]:
    """Hydra ``Override`` objects (a parse error is a :class:`ConfigError`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = list(OverridesParser.create().parse_overrides(list(overrides)))
    except HydraException as exc:  # a syntax error, or a sweep function given bad arguments
        raise ConfigError(f"bad sweep override: {exc}. Expected KEY=VALUE in Hydra syntax.") from None
    for item in parsed:
        if item.key_or_group in FORBIDDEN and item.is_sweep_override():
            raise ConfigError(f"'{item.input_line}': {item.key_or_group} cannot vary within a sweep")
    return parsed


def expand(overrides: Sequence[str]) -> Grid:
    """Every combination of the sweep overrides, in Hydra's order (last key varies fastest)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    parsed = parse(overrides)
    intervals = [p.input_line for p in parsed if _is_interval(p)]
    if intervals:
        raise ConfigError(
            f"{', '.join(intervals)}: interval() describes a continuous range; grid sweeps need "
            "explicit values (a=1,2,3, choice(...), range(...)). Use --optuna N for a Bayesian search."
        )
    fixed = [p.input_line for p in parsed if not p.is_sweep_override()]
    swept = [p.key_or_group for p in parsed if p.is_sweep_override()]
    [batch] = BasicSweeper.split_arguments(parsed, None) or [[[]]]
    return Grid(fixed=fixed, swept_keys=swept, trials=[list(t) for t in batch])


def _is_interval(item: Any) -> bool:
    from hydra.core.override_parser.types import IntervalSweep

    return isinstance(item.value(), IntervalSweep)


def trial_values(overrides: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """``{key: value}`` of the swept ``keys`` in one trial's override list."""
    values: dict[str, str] = {}
    for text in overrides:
        key, _, value = text.partition("=")
        if key.lstrip("+~") in keys:
            values[key.lstrip("+~")] = value
    return values
