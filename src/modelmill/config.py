"""Compose the Hydra configuration from ``conf/`` plus command-line overrides.

Hydra's compose API does the work; this module adds what a CLI user needs on top:
an unknown key is reported with the closest known keys (judged against the config group
options the command line selects, e.g. ``model=hist_gradient_boosting``), ``main.steps=a,b``
means a list of steps (not a sweep), and every failure is a :class:`ConfigError` (exit 2).

Projects find their own config. A *project* is a folder holding ``conf/config.yaml`` (the
marker; ``modelmill init`` writes one). Run from the project folder or any folder below it,
a command composes that ``conf/`` (the first one found walking up from the current folder;
``--config-dir`` still wins, and a ``--config-dir`` named ``conf`` makes its parent the
project), and the project folder

* holds the workspace: a relative ``main.workspace`` (``.modelmill`` by default) and a
  relative ``etl.sample`` written in the project's config files resolve against the project
  folder, not the current one (the same keys given on the command line, or
  ``$MODELMILL_HOME``, keep meaning what they say from where the command runs);
* is put first on ``sys.path``, so the project's own code (its ``steps/`` package, a
  ``main.pipeline: steps.pipeline:build_pipeline``) imports with no ``PYTHONPATH``, for the
  pipeline factory, the step loader and the cache's code fingerprint alike.

Outside a project, the packaged config (the NYC example) is used, as before.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError

LIST_KEYS = ("main.steps",)
PACKAGED = "pkg://modelmill.conf"
CONF_DIR, CONFIG_FILE = "conf", "config.yaml"  # the project marker: PROJECT/conf/config.yaml
WORKSPACE_ENV = "MODELMILL_HOME"
ANCHORED_KEYS = ("main.workspace", "etl.sample")  # paths in a project's files: relative to the project


def find_project(start: str | Path | None = None) -> Path | None:
    """The project folder: ``start`` (default: the current folder) or its nearest parent holding
    ``conf/config.yaml``; ``None`` outside any project."""
    here = Path(start if start is not None else Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / CONF_DIR / CONFIG_FILE).is_file():
            return folder
    return None


def project_config_dir(config_dir: str | Path | None = None) -> Path | None:
    """The config directory a command composes: ``config_dir`` when given, else the project's
    ``conf/`` (found from the current folder), else ``None`` (the packaged config)."""
    if config_dir:
        return Path(config_dir).absolute()
    root = find_project()
    return root / CONF_DIR if root is not None else None


def project_root(config_dir: str | Path | None = None) -> Path | None:
    """The project folder of a config directory (``PROJECT/conf``), or of the current folder."""
    conf = project_config_dir(config_dir)
    return conf.parent if conf is not None and conf.name == CONF_DIR else None


def activate_project(root: Path | None) -> None:
    """Put the project folder first on ``sys.path`` (once), so its own modules import."""
    if root is None:
        return
    entry = str(root)
    if entry not in sys.path:
        sys.path.insert(0, entry)
        import importlib

        importlib.invalidate_caches()


def default_workspace() -> Path:
    """``$MODELMILL_HOME``, else ``.modelmill`` in the project folder, else ``./.modelmill``."""
    if os.environ.get(WORKSPACE_ENV):
        return Path(os.environ[WORKSPACE_ENV])
    root = find_project()
    return (root if root is not None else Path.cwd()) / ".modelmill"


def _one_line(text: str) -> str:
    """Hydra's messages span lines ("Available options in 'model':\\n\\thist_gradient_boosting..."):
    one line, with list items joined by commas."""
    head, sep, rest = text.replace("\n\n", ". ").partition(":\n")
    items = [line.strip() for line in rest.splitlines() if line.strip()]
    if sep and items:
        head = f"{' '.join(head.split())}: {', '.join(items)}"
    return " ".join(head.split())


def _parse(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return list(OverridesParser.create().parse_overrides(list(overrides)))
    except OverrideParseException as exc:
        first = _one_line(str(exc).split("\nSee https://")[0])
        raise ConfigError(f"bad override: {first}. Expected KEY=VALUE in Hydra syntax.") from None


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


def _group_selections(groups: set[str], overrides: Sequence[str]) -> list[str]:
    """The overrides that pick a config group option (``model=hist_gradient_boosting``)."""
    return [
        text for text, parsed in zip(overrides, _parse(overrides), strict=True)
        if parsed.key_or_group in groups and not parsed.is_delete()
    ]  # fmt: skip


def _group_options(groups: set[str]) -> dict[str, str]:
    """Option name -> its group (``hist_gradient_boosting`` -> ``model``), for hints."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    return {option: group for group in sorted(groups) for option in loader.get_group_options(group)}


def _unknown_key(
    key: str, known: list[str], groups: set[str], selected: Sequence[str], fix: str = ""
) -> ConfigError:
    close = difflib.get_close_matches(key, known + sorted(groups), n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    options = _group_options(groups)
    option = next((part for part in key.split(".") if part in options), None)
    if option is not None:  # e.g. modeling.hist_gradient_boosting.* needs model=hist_gradient_boosting
        group = options[option]
        hint = f" '{option}' is an option of config group '{group}': select it ({group}={option})."
    within = f" (with {' '.join(selected)})" if selected else ""
    fix = fix or f"Use +{key}=VALUE to add a new key on purpose."
    return ConfigError(f"unknown config key '{key}'{within}.{hint} {fix}")


def _check_keys(base: Any, groups: set[str], overrides: Sequence[str], selected: Sequence[str] = ()) -> None:
    """Every key override must exist in ``base`` (composed with the ``selected`` group options)."""
    from omegaconf import OmegaConf

    known = [k for k in _flat_keys(base) if not k.startswith("hydra")]
    for parsed in _parse(overrides):
        key = parsed.key_or_group
        if parsed.is_add() or parsed.is_force_add() or key in groups or key.startswith("hydra"):
            continue
        if OmegaConf.select(base, key, default="__missing__") == "__missing__":
            raise _unknown_key(key, known, groups, selected)


def _packaged_fallback(config_dir: str | Path | None, overrides: Sequence[str]) -> list[str]:
    """With ``--config-dir``, config groups the directory lacks (``model/``) come from the package."""
    if not config_dir or any(o.lstrip("+~").startswith("hydra.searchpath") for o in overrides):
        return []
    return [f"hydra.searchpath=[{PACKAGED}]"]


def _primary_file(config_dir: str | Path, config_name: str) -> Path:
    return Path(config_dir).absolute() / f"{config_name}.yaml"


def _packaged_file() -> str:
    from importlib import resources

    return str(resources.files("modelmill.conf").joinpath("config.yaml"))


def _read_primary(path: Path) -> dict[str, Any]:
    """The user's primary config file as a mapping, or a :class:`ConfigError` naming the line."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"no {path.name} in {path.parent}: start from a copy of {_packaged_file()}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        tabs = " (YAML indents with spaces, never tabs)" if "\t" in path.read_text(errors="replace") else ""
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}{tabs}") from None
    if doc is None:
        raise ConfigError(f"{path} is empty: start from a copy of {_packaged_file()}")
    if not isinstance(doc, dict):
        kind = type(doc).__name__
        raise ConfigError(f"{path} must be a mapping of sections (main:, etl:, ...), not a {kind}")
    return doc


def _file_keys(doc: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in doc.items():
        full = f"{prefix}{key}"
        if not prefix and key in ("defaults", "hydra"):
            continue
        keys.append(full)
        if isinstance(value, dict):
            keys += _file_keys(value, f"{full}.")
    return keys


def _check_file(path: Path, doc: dict[str, Any], groups: set[str]) -> None:
    """Every key written in the user's primary config file must be one modelmill knows.

    The packaged ``config.yaml`` is the schema: a key it lacks is a typo or a leftover, refused
    with close matches exactly like the same key on the command line. Keys under a config group
    option (``modeling.<family>``) come from that option's own file and are not checked here, nor
    are keys under ``dataset``: a project's dataset spec is checked by the spec's own model
    (:func:`modelmill.datasets.spec.spec_from_config`), which names the key and its expected form,
    and under ``steps`` (the project's own steps, checked by :mod:`modelmill.pipelines.declared`).
    """
    known = _packaged_keys()
    free = {"dataset", "steps"} | {f"modeling.{option}" for option in _group_options(groups)}
    for key in _file_keys(doc):
        if key in known or any(key == f or key.startswith(f"{f}.") for f in free):
            continue
        fix = f"Fix or remove it in {path} (the packaged {_packaged_file()} lists every key)."
        raise _unknown_key(key, known, groups, (), fix)
    if not isinstance(doc.get("main"), dict):  # other missing keys: packaged code reads them with defaults
        raise ConfigError(f"{path} has no main section: copy it from {_packaged_file()}")


def _packaged_keys() -> list[str]:
    """Every key the packaged config and its model families define: the schema of a user file."""
    from importlib import resources

    import yaml

    conf = resources.files("modelmill.conf")
    keys = _file_keys(yaml.safe_load(conf.joinpath("config.yaml").read_text()))
    for family in conf.joinpath("model").iterdir():
        if family.name.endswith(".yaml"):  # '# @package modeling' files
            keys += [f"modeling.{k}" for k in _file_keys(yaml.safe_load(family.read_text()) or {})]
    return sorted(set(keys))


def _anchor(cfg: Any, root: Path, overrides: Sequence[str]) -> None:
    """Resolve the relative paths of :data:`ANCHORED_KEYS` written in the project's files
    against the project folder (command-line values and ``$MODELMILL_HOME`` stay as given)."""
    from omegaconf import OmegaConf

    given = {parsed.key_or_group for parsed in _parse(overrides)}
    for key in ANCHORED_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if key in given or not isinstance(value, str) or not value or value == "demo" or "://" in value:
            continue
        if key == "main.workspace" and value == os.environ.get(WORKSPACE_ENV):
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            OmegaConf.update(cfg, key, str(root / path), merge=False)


def _composed(
    config_name: str, fallback: list[str], overrides: Sequence[str], primary: Path | None, doc: Any
) -> Any:
    """The composed config, its keys checked (inside an initialized Hydra).

    One composition when it succeeds: Hydra itself refuses an override of a key that does not
    exist (the config is in struct mode), and a cached run should not pay for two. When it
    fails, the base config (with the group options the command line selects) is composed to
    name the unknown key with close matches, or Hydra's own error is reported.
    """
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException
    from omegaconf import open_dict
    from omegaconf.errors import OmegaConfBaseException

    try:
        full = hydra_compose(config_name, overrides=[*fallback, *overrides], return_hydra_config=True)
    except (HydraException, OmegaConfBaseException):
        full = None
    if full is not None:
        if primary is not None and doc is not None:
            _check_file(primary, doc, {k for k in full.hydra.runtime.choices if not k.startswith("hydra")})
        with open_dict(full):
            del full["hydra"]
        return full
    base = hydra_compose(config_name, overrides=fallback, return_hydra_config=True)
    groups = {k for k in base.hydra.runtime.choices if not k.startswith("hydra")}
    selected = _group_selections(groups, overrides)
    if selected:  # keys valid only with another option (modeling.hist_gradient_boosting.*)
        base = hydra_compose(config_name, overrides=[*fallback, *selected], return_hydra_config=True)
    if primary is not None and doc is not None:
        _check_file(primary, doc, groups)
    _check_keys(base, groups, overrides, selected)
    return hydra_compose(config_name, overrides=[*fallback, *overrides])


def compose(
    overrides: Sequence[str] = (),
    *,
    config_dir: str | Path | None = None,
    config_name: str = "config",
) -> Any:
    """The resolved-on-access ``DictConfig`` for these overrides, from ``config_dir``, else the
    project's ``conf/`` (see the module docstring), else the packaged config."""
    import yaml
    from hydra import initialize_config_dir, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = normalize_overrides(overrides)
    config_dir = project_config_dir(config_dir)
    root = project_root(config_dir)
    activate_project(root)
    fallback = _packaged_fallback(config_dir, overrides)
    primary = _primary_file(config_dir, config_name) if config_dir else None
    doc = _read_primary(primary) if primary else None  # YAML errors named before Hydra reads it
    init = (
        initialize_config_dir(config_dir=str(Path(config_dir).absolute()), version_base=None)
        if config_dir
        else initialize_config_module("modelmill.conf", version_base=None)
    )
    try:
        with init:
            cfg = _composed(config_name, fallback, overrides, primary, doc)
            OmegaConf.resolve(cfg)
            if root is not None:
                _anchor(cfg, root, overrides)
            return cfg
    except yaml.YAMLError as exc:  # a config group file (model/*.yaml) of the user's
        raise ConfigError(f"a config file in {config_dir or PACKAGED} is not valid YAML: {exc}") from None
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        message = str(exc).split("\nConfig search path")[0].strip()  # Hydra's internals: noise here
        raise ConfigError(f"invalid configuration: {_one_line(message)}") from None


def to_yaml(cfg: Any) -> str:
    """The fully resolved config as YAML (what gets logged with a run)."""
    from omegaconf import OmegaConf

    return str(OmegaConf.to_yaml(cfg, resolve=True))


def to_container(cfg: Any) -> dict[str, Any]:
    """Plain dict form of the config."""
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
