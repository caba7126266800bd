"""Model registry: exported models, MLflow registered models and the promotion gate.

* :mod:`modelmill.registry.mlflow_registry`: ``MlflowRegistry``, the adapter over
  ``MlflowClient`` (register a stored model, find it by artifact ref, ``prod`` alias).
* :mod:`modelmill.registry.promotion`: ``decide`` (the pure gate) and ``promote`` (moves
  ``prod`` in the registry and the artifact store together).

This package ``__init__`` deliberately imports nothing: steps import submodules, and the
runner fingerprints every package ``__init__`` on a step's import path, so re-exports here
would make editing the promotion code invalidate the cached train step.
"""
