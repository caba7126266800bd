"""Configs written before dataset specs name ``modelmill.pipelines.nyc:build_pipeline``: the NYC
table is now the packaged default dataset spec (``conf/dataset/``), run by the tabular pipeline."""

from modelmill.pipelines.tabular import build_pipeline

__all__ = ["build_pipeline"]
