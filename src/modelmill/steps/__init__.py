"""The NYC pipeline's steps, one module each; every module exposes ``run(ctx)``."""
