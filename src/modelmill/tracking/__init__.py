"""Experiment tracking behind a small interface (MLflow by default, or nothing)."""

from modelmill.tracking.base import NullTracker, Tracker
from modelmill.tracking.mlflow_tracker import MlflowTracker

__all__ = ["MlflowTracker", "NullTracker", "Tracker"]
