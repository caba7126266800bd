"""The dataset spec: one declaration of a table from which every stage is generated.

A spec is the Hydra config group ``dataset`` (one YAML file per table, ``conf/dataset/NAME.yaml``),
validated here with pydantic when the pipeline is built, so a spec that does not parse or
contradicts itself fails before any step with the key and the expected form. It says:

* the task (:mod:`modelmill.tasks`), the target, the id column and the column whose values
  slice the reports' metrics (``group``);
* per column (in the file's order): its **role** (``numeric``, ``count``, ``categorical``,
  ``ordinal``, ``boolean``, ``date``, ``text``, ``ignore``), how raw strings are parsed
  (``parse``: currency, thousands separators, percentages, yes/no words, a date ``format``),
  which values are legal (``range``, ``allowed`` or ``allowed: reference``), how missing
  values are imputed and categories encoded, and whether it gets a distribution test
  against the reference (``drift``);
* cleaning (boxes, the share of invalid rows that stops a run, extra columns), the split
  (random, stratified, by time or by group) and the model's input order (``features``).

Steps never receive the whole spec: :meth:`DatasetSpec.cleaning`, :meth:`~DatasetSpec.checks`,
:meth:`~DatasetSpec.split_params` and :meth:`~DatasetSpec.features_params` give each one the
part it depends on, so a change to (say) the TF-IDF size re-runs training, not the data steps.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelmill.core.errors import ConfigError

Role = Literal["numeric", "count", "categorical", "ordinal", "boolean", "date", "text", "ignore"]
Kind = Literal["integer", "float", "string", "date", "boolean"]
TaskKind = Literal["regression", "binary", "multiclass"]
FEATURE_ROLES = ("numeric", "count", "categorical", "ordinal", "boolean", "date", "text")
# the type a role holds as read, unless the column says otherwise (``type:``)
ROLE_KIND: dict[str, Kind] = {
    "numeric": "float", "count": "integer", "categorical": "string", "ordinal": "string",
    "boolean": "boolean", "date": "date", "text": "string", "ignore": "string",
}  # fmt: skip
TODAY = "today"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tfidf(_Strict):
    """TF-IDF settings of a text column (scikit-learn's ``TfidfVectorizer`` arguments)."""

    max_features: int = Field(100, ge=1)
    binary: bool = False
    stop_words: Literal["english"] | None = None
    ngram_max: int = Field(1, ge=1, le=3)


class Column(_Strict):
    """One column of the table; see the module docstring for what each key means."""

    role: Role
    type: Kind | None = None  # the type as read; default from the role (ROLE_KIND)
    nullable: bool = False
    parse: Literal["number", "currency", "percent", "boolean"] | None = None
    format: str | None = None  # dates: strptime format of text values
    thousands: str | None = None  # "," in "1,200"; currency implies ","
    decimal: str = "."
    true_values: tuple[str, ...] = ("yes", "y", "true", "t", "1")
    false_values: tuple[str, ...] = ("no", "n", "false", "f", "0")
    range: tuple[float | str | None, float | str | None] | None = None
    allowed: tuple[Any, ...] | Literal["reference"] | None = None
    order: tuple[Any, ...] | None = None  # ordinal: the categories, lowest first
    impute: Literal["zero", "mean", "median", "most_frequent", "constant", "none"] | None = None
    fill_value: Any = None  # impute: constant (dates: an ISO date)
    encode: Literal["onehot", "ordinal", "native"] | None = None
    drift: bool | None = None  # distribution test against the reference; default: numeric/categorical
    tfidf: Tfidf | None = None

    @property
    def kind(self) -> Kind:
        """The type the column holds once parsed."""
        return self.type or ROLE_KIND[self.role]

    @property
    def tested_for_drift(self) -> bool:
        return self.drift if self.drift is not None else self.role in ("numeric", "count", "categorical")

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.role == "ordinal" and not self.order:
            raise ValueError("an ordinal column needs 'order': its categories, lowest first")
        if self.order and self.role != "ordinal":
            raise ValueError(f"'order' is for ordinal columns, not {self.role}")
        if self.encode and self.role != "categorical":
            raise ValueError(
                f"'encode' is for categorical columns (onehot, ordinal, native), not {self.role}"
            )
        if self.tfidf and self.role != "text":
            raise ValueError(f"'tfidf' is for text columns, not {self.role}")
        if self.format and self.kind != "date":
            raise ValueError("'format' is the strptime format of a date column")
        if self.impute == "constant" and self.fill_value is None:
            raise ValueError("impute: constant needs a fill_value")
        if self.range is not None:
            _check_range(self.range, self.kind)
        return self


class Box(_Strict):
    """Rows whose coordinates fall outside every range are dropped (e.g. a city's bounding box)."""

    columns: dict[str, tuple[float, float]]


class Cleaning(_Strict):
    """What basic_cleaning drops, and when dropping so much means the batch is broken."""

    max_invalid_share: float = Field(default=0.05, ge=0, le=1)  # unparsable or missing required values
    extra_columns: Literal["allow", "error"] = "allow"
    drop_duplicate_ids: bool = True
    boxes: dict[str, Box] = Field(default_factory=dict)


class Split(_Strict):
    """How the test set is held out (and the validation set inside train)."""

    kind: Literal["random", "time", "group"] = "random"
    test_size: float = Field(default=0.2, gt=0, lt=1)
    val_size: float = Field(default=0.2, gt=0, lt=1)
    stratify: str | None = None
    column: str | None = None  # time: the date column; group: the group column
    seed: int = 42

    @field_validator("stratify", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return None if value in ("none", "None", "") else value

    @model_validator(mode="after")
    def _needs_column(self) -> Split:
        if self.kind != "random" and not self.column:
            raise ValueError(f"a {self.kind} split needs 'column' (the {self.kind} column)")
        if self.kind != "random" and self.stratify:
            raise ValueError(f"'stratify' applies to random splits, not to a {self.kind} split")
        return self


class DatasetSpec(_Strict):
    """The whole declaration of one table (see the module docstring)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    task: TaskKind = "regression"
    target: str
    id: str | None = None
    group: str | None = None
    columns: dict[str, Column]
    features: tuple[str, ...] | None = None  # the model's input order; default: column order
    # the rows generator behind etl.sample=demo, "module:function"
    demo: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    cleaning: Cleaning = Field(default_factory=lambda: Cleaning())
    split: Split = Field(default_factory=lambda: Split())

    @model_validator(mode="after")
    def _references(self) -> DatasetSpec:
        names = set(self.columns)
        named = {"target": self.target, "id": self.id, "group": self.group,
                 "split.stratify": self.split.stratify, "split.column": self.split.column}  # fmt: skip
        for key, value in named.items():
            if value is not None and value not in names:
                raise ValueError(f"{key}: '{value}' is not one of the columns ({_listed(names)})")
        if self.columns[self.target].role in ("ignore", "text", "date"):
            role = self.columns[self.target].role
            raise ValueError(f"target: '{self.target}' has role {role}; a target is numeric or count "
                             "(regression) or categorical/boolean (classification)")  # fmt: skip
        if self.split.kind == "time" and self.columns[str(self.split.column)].kind != "date":
            raise ValueError(f"split.column: a time split needs a date column, '{self.split.column}' is not")
        for box in self.cleaning.boxes.values():
            for column in box.columns:
                if column not in names:
                    raise ValueError(f"cleaning.boxes: '{column}' is not one of the columns")
        if self.features is not None:
            for name in self.features:
                if name not in names:
                    raise ValueError(f"features: '{name}' is not one of the columns")
                if name in (self.target, self.id) or self.columns[name].role == "ignore":
                    raise ValueError(f"features: '{name}' is the target, the id or ignored: not an input")
        if not self.feature_names:
            raise ValueError("no feature column: give at least one column a role other than ignore")
        return self

    # ------------------------------------------------------------------ derived
    @property
    def feature_names(self) -> list[str]:
        """The model's input columns, in the order the model sees them."""
        if self.features is not None:
            return list(self.features)
        return [n for n, c in self.columns.items()
                if c.role != "ignore" and n not in (self.target, self.id)]  # fmt: skip

    def column_table(self) -> list[dict[str, Any]]:
        """Every column as plain values (what the data tests and cleaning read)."""
        return [{"name": n, **c.model_dump(mode="json"), "kind": c.kind} for n, c in self.columns.items()]

    # ------------------------------------------------------------------ per-step params
    def cleaning_params(self) -> dict[str, Any]:
        """What ``basic_cleaning`` depends on: parsing, ranges, boxes, ids, the invalid share."""
        keep = ("role", "kind", "nullable", "parse", "format", "thousands", "decimal", "true_values",
                "false_values", "range")  # fmt: skip
        return {
            "target": self.target, "id": self.id,
            "columns": [{"name": c["name"], **{k: c[k] for k in keep}} for c in self.column_table()],
            "cleaning": self.cleaning.model_dump(mode="json"),
        }  # fmt: skip

    def check_params(self) -> dict[str, Any]:
        """What ``data_check`` depends on: the declared columns, legal values, drift tests."""
        keep = ("role", "kind", "nullable", "format", "range", "allowed", "drift")
        drift = {n: c.tested_for_drift for n, c in self.columns.items()}
        columns = [{"name": c["name"], **{k: c[k] for k in keep}, "drift": drift[c["name"]]}
                   for c in self.column_table()]  # fmt: skip
        return {"target": self.target, "id": self.id, "columns": columns,
                "boxes": self.cleaning.model_dump(mode="json")["boxes"],
                "extra_columns": self.cleaning.extra_columns}  # fmt: skip

    def data_check_params(self, thresholds: Any) -> dict[str, Any]:
        """The data_check step's params: :meth:`check_params` plus the config's ``data_check``
        thresholds (``thresholds``), which belong to the run, not to the table."""
        dc = thresholds
        return {
            **self.check_params(),
            "kl_threshold": float(dc.kl_threshold), "ks_alpha": float(dc.ks_alpha),
            "min_rows": int(dc.min_rows), "max_rows": int(dc.max_rows),
            "correction": str(dc.get("correction") or "holm"),
        }  # fmt: skip

    def split_params(self) -> dict[str, Any]:
        """What ``data_split`` (and train's validation split) depends on."""
        return {"target": self.target, "id": self.id, "task": self.task, **self.split.model_dump(mode="json")}

    def features_params(self) -> dict[str, Any]:
        """What the inference pipeline is built from: each input column's role and treatment."""
        keep = ("role", "kind", "format", "impute", "fill_value", "encode", "order", "tfidf", "true_values",
                "false_values")  # fmt: skip
        table = {c["name"]: c for c in self.column_table()}
        return {
            "task": self.task, "target": self.target, "id": self.id, "group": self.group,
            "features": [{"name": n, **{k: table[n][k] for k in keep}} for n in self.feature_names],
            # every column of a row but the target: the model signature (the serving schema)
            "inputs": [{"name": n, "kind": c.kind, "nullable": c.nullable, "parse": c.parse}
                       for n, c in self.columns.items() if n != self.target],
        }  # fmt: skip


def _listed(names: set[str]) -> str:
    shown = sorted(names)
    return ", ".join(shown[:12]) + (f" and {len(shown) - 12} more" if len(shown) > 12 else "")


def _check_range(bounds: tuple[Any, Any], kind: str) -> None:
    low, high = bounds
    if kind == "date":
        for value in (low, high):
            if value is not None and value != TODAY and not _DATE.fullmatch(str(value)):
                raise ValueError(f"range: {value!r} is not a date: use YYYY-MM-DD or 'today'")
        return
    for value in (low, high):
        if isinstance(value, str):
            raise ValueError(f"range: {value!r} is not a number")
    if low is not None and high is not None and float(low) > float(high):
        raise ValueError(f"range: the low bound {low} is above the high bound {high}")


def resolve_date(value: str) -> dt.date:
    """``today`` or an ISO date."""
    return dt.date.today() if value == TODAY else dt.date.fromisoformat(str(value))


def load_spec(data: Mapping[str, Any] | Any, origin: str = "the dataset spec") -> DatasetSpec:
    """Validate ``data`` (the composed ``cfg.dataset``, a mapping or an OmegaConf node) as a
    :class:`DatasetSpec`; a :class:`ConfigError` naming ``origin``, the key and the expected form."""
    if not isinstance(data, Mapping):
        from omegaconf import DictConfig, OmegaConf

        if not isinstance(data, DictConfig):
            raise ConfigError(f"{origin}: expected a mapping with name, task, target and columns")
        data = OmegaConf.to_container(data, resolve=True)
    try:
        return DatasetSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{origin}: {where}: {message}{more}") from None


def spec_from_config(cfg: Any) -> DatasetSpec:
    """The spec of a composed config (``cfg.dataset``), naming its file in errors."""
    if "dataset" not in cfg or cfg.dataset is None:
        raise ConfigError(
            "the config has no dataset spec: select one (dataset=NAME, a file conf/dataset/NAME.yaml) "
            "or create a project with 'modelmill init'"
        )
    name = cfg.dataset.get("name", "?") if hasattr(cfg.dataset, "get") else "?"
    return load_spec(cfg.dataset, f"dataset spec '{name}' (conf/dataset/{name}.yaml)")
