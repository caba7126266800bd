"""An Optuna search space from Hydra sweep overrides (parsed by Hydra itself).

``interval(lo,hi)`` is a float range, ``int(interval(lo,hi))`` an integer range,
``tag(log, ...)`` samples on a log scale; ``choice(...)``, ``a,b,c`` and ``range(...)`` are
categorical; every other override is fixed for all trials. A sampled value goes back to
Hydra as ``key=value`` text that parses to the same value and type.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError
from modelmill.sweep.space import FORBIDDEN, parse

# keys that say where and how a trial is recorded, not what it computes: not in the study name
_NOT_IN_STUDY_NAME = (*FORBIDDEN, "main.experiment_name", "main.defer_cached_tracking")


@dataclass(frozen=True)
class Param:
    """One sampled key: its Optuna distribution and the Hydra text of each value."""

    key: str  # the config key (Optuna's parameter name)
    key_text: str  # as written, with a +/++ prefix if any
    distribution: Any
    texts: tuple[tuple[Any, str], ...] = ()  # categorical: (choice, override text)

    def text(self, value: Any) -> str:
        """The override value that Hydra parses back to ``value``."""
        for choice, text in self.texts:
            if type(choice) is type(value) and choice == value:
                return text
        return format_value(value)

    def override(self, value: Any) -> str:
        return f"{self.key_text}={self.text(value)}"

    def bounds(self) -> tuple[Any, Any]:
        """Lowest and highest value (first and last choice): the plan's two representatives."""
        choices = getattr(self.distribution, "choices", None)
        if choices is not None:
            return choices[0], choices[-1]
        return self.distribution.low, self.distribution.high


@dataclass(frozen=True)
class SearchSpace:
    """Fixed overrides (every trial) and the sampled parameters, in command-line order."""

    fixed: list[str]
    params: list[Param]

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    @property
    def distributions(self) -> dict[str, Any]:
        return {p.key: p.distribution for p in self.params}

    def overrides(self, values: dict[str, Any]) -> list[str]:
        """One trial's override list: the fixed ones, then ``key=value`` per parameter."""
        return [*self.fixed, *(p.override(values[p.key]) for p in self.params)]

    def texts(self, values: dict[str, Any]) -> dict[str, str]:
        """The table's ``params``: ``{key: value text}``."""
        return {p.key: p.text(values[p.key]) for p in self.params}

    def representatives(self) -> list[list[str]]:
        """Two trials at opposite ends of every parameter (see the module docstring)."""
        lows = {p.key: p.bounds()[0] for p in self.params}
        highs = {p.key: p.bounds()[1] for p in self.params}
        return [self.overrides(lows), self.overrides(highs)]


def format_value(value: Any) -> str:
    """Hydra override text for a scalar (the parser reads it back as the same type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        from hydra._internal.grammar.utils import escape_special_characters

        plain = escape_special_characters(value)
        if _parses_to(plain, value):
            return plain
        quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if _parses_to(quoted, value):
            return quoted
    raise ConfigError(f"{value!r}: cannot be written as a Hydra override value")


def _parses_to(text: str, value: Any) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_override(f"k={text}").value()
    except HydraException:
        return False
    return type(parsed) is type(value) and parsed == value


def search_space(overrides: Sequence[str]) -> SearchSpace:
    """Hydra overrides -> fixed overrides + Optuna distributions (a bad one is a ConfigError)."""
    from hydra.errors import HydraException

    try:
        parsed = parse(overrides)
    except HydraException as exc:  # e.g. a function's bad argument: choice(null)
        raise ConfigError(f"bad sweep override: {exc}") from None
    fixed: list[str] = []
    params: list[Param] = []
    for item in parsed:
        if not item.is_sweep_override():
            fixed.append(item.input_line)
            continue
        if any(p.key == item.key_or_group for p in params):
            raise ConfigError(f"'{item.input_line}': {item.key_or_group} is swept twice")
        try:
            params.append(_param(item))
        except ValueError as exc:  # Optuna rejects the bounds (low > high, log of 0...)
            raise ConfigError(f"'{item.input_line}': {exc}") from None
    return SearchSpace(fixed, params)


def _param(item: Any) -> Param:
    import optuna.distributions as dist
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

    value = item.value()
    key, key_text = item.key_or_group, item.get_key_element()
    if isinstance(value, IntervalSweep):
        log, low, high = "log" in value.tags, value.start, value.end
        if isinstance(low, int) and isinstance(high, int):  # int(interval(...))
            return Param(key, key_text, dist.IntDistribution(low, high, log=log))
        if low is None or high is None:  # the grammar always gives both
            raise ConfigError(f"'{item.input_line}': interval() needs a lower and an upper bound")
        return Param(key, key_text, dist.FloatDistribution(float(low), float(high), log=log))
    if isinstance(value, ChoiceSweep | RangeSweep):  # shuffle() is meaningless here: ignored
        raw = list(value.list if isinstance(value, ChoiceSweep) else value.range())
        texts: list[tuple[Any, str]] = []
        for element in raw:
            if isinstance(element, list | dict):  # Optuna stores scalars: keep Hydra's text
                text = Override._get_value_element_as_str(element)
                texts.append((text, text))
            else:
                texts.append((element, format_value(element)))
        choices = [c for c, _ in texts]
        if len({(type(c), c) for c in choices}) != len(choices):
            raise ConfigError(f"'{item.input_line}': the same choice is listed twice")
        return Param(key, key_text, dist.CategoricalDistribution(choices), tuple(texts))
    raise ConfigError(
        f"'{item.input_line}': an Optuna search takes interval(), int(interval()), "
        "tag(log, interval()), choice(), a,b,c or range()"
    )


def study_name_for(space: SearchSpace, metric: str, direction: str, config_dir: Any = None) -> str:
    """Same space + fixed overrides + metric => same name (the same study is resumed)."""
    from optuna.distributions import distribution_to_json

    fixed = sorted(o for o in space.fixed if o.split("=", 1)[0].lstrip("+~") not in _NOT_IN_STUDY_NAME)
    doc = {
        "space": {p.key: json.loads(distribution_to_json(p.distribution)) for p in space.params},
        "fixed": fixed,
        "metric": metric,
        "direction": direction,
        "config_dir": str(Path(config_dir).absolute()) if config_dir else None,
    }
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    return f"optuna-{digest[:12]}"
