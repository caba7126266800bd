"""Model registry: exported models, MLflow registered models and the promotion gate.

* :mod:`modelmill.registry.mlflow_registry`: ``MlflowRegistry``, the adapter over
  ``MlflowClient`` (register a stored model, find it by artifact ref, ``prod`` alias).
* :mod:`modelmill.registry.promotion`: ``decide`` (the pure gate) and ``promote`` (loads
  the candidate first, then moves ``prod`` in the registry and the artifact store together).
* :mod:`modelmill.registry.references`: the one resolver of ``--model`` references
  (``models:/...``, store refs, model directories) to a local, verified model directory.
* :mod:`modelmill.registry.checks`: the registry-copy digest check and ``load_checked``,
  the load-and-smoke-test shared by promotion and serving.

This package ``__init__`` deliberately imports nothing: steps import submodules, and the
runner fingerprints every package ``__init__`` on a step's import path, so re-exports here
would make editing the promotion code invalidate the cached train step.
"""
