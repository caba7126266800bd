"""Hyperparameter sweeps: Hydra grid sweeps and Optuna searches over pipeline trials."""

from modelmill.sweep.orchestrate import SweepOptions, SweepSummary, run_sweep
from modelmill.sweep.trial import TrialResult

__all__ = ["SweepOptions", "SweepSummary", "TrialResult", "run_sweep"]
