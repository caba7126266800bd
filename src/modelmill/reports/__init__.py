"""Self-contained HTML reports: EDA profile, data check, training and evaluation.

Every builder is a pure function (data in, :class:`Report` out): one HTML file with inline
CSS and inline SVG charts, no scripts, no external resources and no timestamps, so equal
inputs give byte-equal pages (pipeline caching stays stable) and a page opens offline.

>>> from modelmill.reports import profile
>>> profile(df)                      # shown inline in a notebook
>>> profile(df).save("eda.html")

Charts (:func:`histogram`, :func:`compare_histograms`, :func:`bar_chart`, :func:`scatter`,
:func:`heatmap`) return ``<svg>`` strings; :mod:`modelmill.reports.layout` holds the page shell
(CSS, tables, sections) the data-check report also uses.
"""

from __future__ import annotations

from modelmill.reports._svg import bar_chart, bin_edges, compare_histograms, hist_counts, histogram
from modelmill.reports._svg_xy import heatmap, scatter
from modelmill.reports.evaluation import evaluation_report
from modelmill.reports.layout import Report
from modelmill.reports.profile import profile
from modelmill.reports.training import group_metrics, training_report

__all__ = [
    "Report",
    "bar_chart",
    "bin_edges",
    "compare_histograms",
    "evaluation_report",
    "group_metrics",
    "heatmap",
    "hist_counts",
    "histogram",
    "profile",
    "scatter",
    "training_report",
]
