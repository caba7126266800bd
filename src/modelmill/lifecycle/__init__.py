"""A model's life after its first run: the weekly retrain job, releases of the project's code,
running a release again (``run --rev``) and reproducing a past run with its own code."""
