"""Continuous training: the weekly retrain job and reproducing a past run."""
