"""``modelmill serve`` reads the config's ``serve`` section; flags win; other keys are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

import modelmill.serve.app as serve_app
from modelmill.cli import app


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(serve_app, "create_app", lambda settings: seen.setdefault("settings", settings))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.setdefault("ran", True))
    return seen


def _serve(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["serve", "--workspace", str(tmp_path), *args])


def test_config_defaults_then_overrides_then_flags(tmp_path: Path, captured: dict[str, Any]) -> None:
    assert _serve(tmp_path).exit_code == 0
    settings = captured.pop("settings")
    assert settings.log_requests is False and settings.drift_window == 1000
    assert settings.log_max_bytes == 100_000_000

    result = _serve(tmp_path, "serve.log_requests=true", "serve.log_max_mb=5", "serve.drift_window=50")
    assert result.exit_code == 0, result.output
    settings = captured.pop("settings")
    assert settings.log_requests is True and settings.drift_window == 50
    assert settings.log_max_bytes == 5_000_000

    assert _serve(tmp_path, "--no-log-requests", "serve.log_requests=true").exit_code == 0
    assert captured.pop("settings").log_requests is False  # the flag wins


def test_other_config_keys_are_refused(tmp_path: Path, captured: dict[str, Any]) -> None:
    result = _serve(tmp_path, "etl.demo_rows=5")
    assert result.exit_code == 2 and "only serve.* overrides" in result.output
    result = _serve(tmp_path, "serve.no_such_key=1")
    assert result.exit_code == 2 and "no_such_key" in result.output
    assert "settings" not in captured


def test_fallback_is_off_by_default_and_set_by_config_or_flag(
    tmp_path: Path, captured: dict[str, Any]
) -> None:
    assert _serve(tmp_path).exit_code == 0
    assert captured.pop("settings").fallback is False
    assert _serve(tmp_path, "serve.fallback=true").exit_code == 0
    assert captured.pop("settings").fallback is True
    assert _serve(tmp_path, "--no-fallback", "serve.fallback=true").exit_code == 0
    assert captured.pop("settings").fallback is False  # the flag wins
    assert _serve(tmp_path, "--fallback").exit_code == 0
    assert captured.pop("settings").fallback is True


def test_the_rollout_comes_from_serve_rollout_and_flags_win(tmp_path: Path, captured: dict[str, Any]) -> None:
    challenger = "serve.rollout.challenger=models:/nyc_rentals@challenger"
    result = _serve(tmp_path, challenger, "serve.rollout.share=0.25", "serve.rollout.mode=shadow")
    assert result.exit_code == 0, result.output
    settings = captured.pop("settings")
    assert settings.challenger == "models:/nyc_rentals@challenger" and settings.challenger_share == 0.25
    assert settings.rollout_mode == "shadow" and settings.max_error_rate == 0.05
    assert settings.min_requests == 50
    assert _serve(tmp_path, challenger, "--share", "0.5", "--rollout-mode", "canary").exit_code == 0
    settings = captured.pop("settings")
    assert settings.challenger_share == 0.5 and settings.rollout_mode == "canary"
    assert captured.pop("settings", None) is None
    unknown = _serve(tmp_path, "+serve.rollout.shares=0.5")
    assert unknown.exit_code == 2 and "serve.rollout has no key shares" in unknown.output
    out_of_range = _serve(tmp_path, challenger, "--share", "1.5")
    assert out_of_range.exit_code == 2 and "less than or equal to 1" in out_of_range.output
