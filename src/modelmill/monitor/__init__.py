"""Drift and model-quality monitoring against the reference stored with every model."""
