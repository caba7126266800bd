"""A tiny example pipeline used by the runner tests (numbers -> doubled -> total, plus a report dir)."""
