"""Offline batch scoring, streamed in chunks: ``modelmill score``."""
