"""The read-only web UI (``modelmill ui``): artifacts, versions and lineage, runs, sweeps."""

from __future__ import annotations

from modelmill.ui.app import create_app, open_existing

__all__ = ["create_app", "open_existing"]
