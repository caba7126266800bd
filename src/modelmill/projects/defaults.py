"""What every command takes from the project's config when the command line does not say.

``serve``, ``score``, ``monitor``, ``eda`` and ``ui`` never name a model, a column or a
workspace of their own: the model is ``models:/<main.model_name>@prod``, the id column and
the target come from the dataset spec, the workspace and the experiment from ``main``. The
config is the one ``modelmill run`` composes (the project's ``conf/`` when there is one,
else the packaged config), so a project's commands need no flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelmill.datasets.spec import DatasetSpec, spec_from_config
from modelmill.tasks import Task, get_task

PROD = "prod"


def registry_uri(model_name: str, alias: str = PROD) -> str:
    """``models:/NAME@ALIAS``: how every command names the model a project serves."""
    return f"models:/{model_name}@{alias}"


@dataclass(frozen=True)
class ProjectDefaults:
    """The defaults of one composed config (see the module docstring)."""

    model_name: str
    experiment_name: str
    workspace: Path
    tracking_uri: str | None
    spec: DatasetSpec | None
    promotion_metric: str | None = None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # serve, monitoring (plain values)

    @property
    def model_uri(self) -> str:
        """The model commands use by default: the registered model's ``prod`` alias."""
        return registry_uri(self.model_name)

    @property
    def id_column(self) -> str | None:
        return self.spec.id if self.spec else None

    @property
    def target(self) -> str | None:
        return self.spec.target if self.spec else None

    @property
    def task(self) -> Task:
        return get_task(self.spec.task if self.spec else "regression")

    @property
    def metric(self) -> str:
        """The headline metric: ``promotion.metric``, else the task's default."""
        return self.promotion_metric or self.task.default_metric

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.sections.get(name, {}))


def from_config(cfg: Any) -> ProjectDefaults:
    """The defaults of a composed config (``cfg.main``, ``cfg.dataset``, ``cfg.promotion``...)."""
    from omegaconf import OmegaConf

    main = cfg.main
    spec = spec_from_config(cfg) if cfg.get("dataset") is not None else None
    sections = {}
    for name in ("serve", "monitoring"):
        values = OmegaConf.to_container(cfg[name], resolve=True) if name in cfg else {}
        sections[name] = {str(k): v for k, v in values.items()} if isinstance(values, dict) else {}
    promotion = cfg.get("promotion") or {}
    return ProjectDefaults(
        model_name=str(main.model_name),
        experiment_name=str(main.get("experiment_name", main.model_name)),
        workspace=Path(str(main.workspace)),
        tracking_uri=main.get("tracking_uri"),
        spec=spec,
        promotion_metric=promotion.get("metric") or None,
        sections=sections,
    )


def project_defaults(overrides: Sequence[str] = (), config_dir: str | Path | None = None) -> ProjectDefaults:
    """Compose the config (as ``modelmill run`` would, with ``overrides``) and read its defaults."""
    from modelmill.config import compose

    return from_config(compose(list(overrides), config_dir=config_dir))
