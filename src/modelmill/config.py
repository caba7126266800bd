"""Compose the Hydra configuration from ``conf/`` plus command-line overrides.

Hydra's compose API does the work; this module adds what a CLI user needs on top:
an unknown key is reported with the closest known keys, ``main.steps=a,b`` means a
list of steps (not a sweep), and every failure is a :class:`ConfigError` (exit 2).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError

LIST_KEYS = ("main.steps",)


def _parse(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return list(OverridesParser.create().parse_overrides(list(overrides)))
    except OverrideParseException as exc:
        raise ConfigError(f"bad override: {exc}. Expected KEY=VALUE in Hydra syntax.") from None


def normalize_overrides(overrides: Sequence[str]) -> list[str]:
    """Turn ``main.steps=a,b`` into a list; reject other sweeps (they belong to ``sweep``)."""
    out = []
    for text, parsed in zip(overrides, _parse(overrides), strict=True):
        if parsed.is_sweep_override():
            if parsed.key_or_group in LIST_KEYS:
                items = [str(v) for v in parsed.sweep_iterator()]
                out.append(f"{parsed.key_or_group}=[{','.join(items)}]")
                continue
            raise ConfigError(
                f"'{text}' is a sweep (several values); 'run' takes one value per key. "
                "Quote the value to pass a string with commas, or run a sweep."
            )
        out.append(text)
    return out


def _flat_keys(cfg: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys: list[str] = []
    for key in cfg:
        full = f"{prefix}{key}"
        keys.append(full)
        value = cfg._get_node(key)
        if isinstance(value, DictConfig):
            keys += _flat_keys(value, f"{full}.")
    return keys


def _check_keys(base: Any, groups: set[str], overrides: Sequence[str]) -> None:
    from omegaconf import OmegaConf

    known = [k for k in _flat_keys(base) if not k.startswith("hydra")]
    for parsed in _parse(overrides):
        key = parsed.key_or_group
        if parsed.is_add() or parsed.is_force_add() or key in groups or key.startswith("hydra"):
            continue
        if OmegaConf.select(base, key, default="__missing__") == "__missing__":
            close = difflib.get_close_matches(key, known + sorted(groups), n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown config key '{key}'.{hint} Use +{key}=VALUE to add a new key on purpose."
            )


def compose(
    overrides: Sequence[str] = (),
    *,
    config_dir: str | Path | None = None,
    config_name: str = "config",
) -> Any:
    """The resolved-on-access ``DictConfig`` for these overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = normalize_overrides(overrides)
    init = (
        initialize_config_dir(config_dir=str(Path(config_dir).absolute()), version_base=None)
        if config_dir
        else initialize_config_module("modelmill.conf", version_base=None)
    )
    try:
        with init:
            base = hydra_compose(config_name, return_hydra_config=True)
            groups = {k for k in base.hydra.runtime.choices if not k.startswith("hydra")}
            _check_keys(base, groups, overrides)
            cfg = hydra_compose(config_name, overrides=list(overrides))
            OmegaConf.resolve(cfg)
            return cfg
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def to_yaml(cfg: Any) -> str:
    """The fully resolved config as YAML (what gets logged with a run)."""
    from omegaconf import OmegaConf

    return str(OmegaConf.to_yaml(cfg, resolve=True))


def to_container(cfg: Any) -> dict[str, Any]:
    """Plain dict form of the config."""
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
