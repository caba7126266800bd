"""Service settings: one pydantic object, built from the CLI/environment, injected with ``Depends``.

The model to serve comes only from here (the ``--model`` option, else the project's
``models:/<main.model_name>@prod``: :mod:`modelmill.projects.defaults`), never from an HTTP
request. ``model`` is either a registry URI (``models:/NAME@ALIAS`` or ``models:/NAME/N``)
or a stored artifact ref (``NAME:v3``, ``NAME:prod``); a file-system path is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

API_KEY_ENV = "MODELMILL_API_KEY"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable: how a container is pointed at a registry
_REGISTRY_URI = re.compile(
    r"models:/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:@(?P<alias>[\w.-]+)|/(?P<version>\d+))"
)
_ARTIFACT_REF = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127}):(?P<tag>[\w.-]+)")


class ServeSettings(BaseModel):
    """Everything the service needs; immutable once the app is built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        default_factory=lambda: configured_model(),
        description="models:/NAME@ALIAS, models:/NAME/N or an artifact ref (default: the project's "
        "models:/<main.model_name>@prod)",
    )
    workspace: Path | None = Field(None, description="workspace directory (default: $MODELMILL_HOME)")
    tracking_uri: str | None = Field(
        None, description="registry URI (default: $MLFLOW_TRACKING_URI, else the workspace's SQLite store)"
    )
    max_batch: int = Field(256, ge=1, description="most rows in one /predict or /invocations request")
    max_body_bytes: int = Field(1_000_000, ge=1, description="larger request bodies get 413")
    api_key: SecretStr | None = Field(None, description="when set, X-API-Key is required (not on /health)")
    poll_interval: float = Field(2.0, gt=0, description="seconds between checks of the model alias")
    runtime: Literal["auto", "onnx", "sklearn"] = Field(
        "auto", description="auto: ONNX when the model has a graph that passed parity, else scikit-learn"
    )
    log_requests: bool = Field(False, description="append validated requests + predictions to Parquet")
    log_dir: Path | None = Field(None, description="request log directory (default: <workspace>/request_log)")
    log_max_bytes: int = Field(100_000_000, ge=1, description="oldest log parts are deleted beyond this size")
    log_flush_rows: int = Field(1000, ge=1, description="buffered rows that trigger a flush to a new part")
    log_flush_interval: float = Field(10.0, gt=0, description="seconds between flushes of a partial buffer")
    drift_window: int = Field(
        1000, ge=0, description="rows in the sliding window of the live drift gauge (0: no live drift)"
    )
    fallback: bool = Field(
        False,
        description="when the model the URI names cannot be loaded at start, serve the newest older "
        "version of it that loads (/ready and /metadata say so) instead of staying unready",
    )

    challenger: str | None = Field(
        None,
        description="a model served next to `model` during a rollout (models:/NAME@challenger, "
        "models:/NAME/N or an artifact ref); see modelmill.serve.rollout",
    )
    rollout_mode: Literal["canary", "shadow"] = Field(
        "canary", description="canary: the challenger answers `challenger_share` of requests; "
        "shadow: it predicts a copy of every request, never answers"
    )  # fmt: skip
    challenger_share: float = Field(0.1, ge=0, le=1, description="share of requests a canary answers")
    rollout_key: str | None = Field(
        None, description="request column routing a canary (else the X-Rollout-Key header; else per request)"
    )
    max_error_rate: float = Field(
        0.05, ge=0, le=1, description="the challenger is rolled back above this error rate"
    )
    max_p99_ms: float = Field(
        500.0, gt=0, description="the challenger is rolled back above this p99 prediction latency"
    )
    min_requests: int = Field(50, ge=1, description="challenger requests before the limits are judged")
    rollout_window: int = Field(1000, ge=10, description="recent requests per model the limits read")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        parse_model_spec(value)
        return value

    @field_validator("challenger")
    @classmethod
    def _check_challenger(cls, value: str | None) -> str | None:
        if value is not None:
            parse_model_spec(value)
        return value

    @classmethod
    def from_env(cls, **overrides: Any) -> ServeSettings:
        """Settings with ``api_key`` from ``$MODELMILL_API_KEY`` and ``tracking_uri`` from
        ``$MLFLOW_TRACKING_URI`` (unless given: an explicit value wins); ``None`` overrides are
        ignored so CLI options left unset keep the defaults."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if "api_key" not in values and os.environ.get(API_KEY_ENV):
            values["api_key"] = os.environ[API_KEY_ENV]
        if "tracking_uri" not in values and os.environ.get(TRACKING_URI_ENV):
            values["tracking_uri"] = os.environ[TRACKING_URI_ENV]
        return cls(**values)


def parse_model_spec(spec: str) -> dict[str, str | None]:
    """``{"kind": "registry"|"artifact", "name", "alias", "version"}`` or ``ValueError``."""
    match = _REGISTRY_URI.fullmatch(spec)
    if match:
        return {"kind": "registry", **match.groupdict()}
    match = _ARTIFACT_REF.fullmatch(spec)
    if match:
        tag = match["tag"]
        fixed = re.fullmatch(r"v(\d+)", tag)
        return {
            "kind": "artifact",
            "name": match["name"],
            "alias": None if fixed else tag,
            "version": fixed[1] if fixed else None,
        }
    raise ValueError(
        f"model {spec!r} is neither a registry URI (models:/NAME@ALIAS, models:/NAME/N) nor an "
        "artifact ref (NAME:v3, NAME:prod); paths are not accepted"
    )


def configured_model() -> str:
    """The config's ``models:/<main.model_name>@prod`` (the project's, else the packaged one)."""
    from modelmill.projects.defaults import project_defaults

    return project_defaults().model_uri


def get_settings(request: Request) -> ServeSettings:
    """FastAPI dependency: the app's settings (tests override it or pass their own to create_app)."""
    return request.app.state.settings
