"""Fixtures ``data``, ``ref_data`` and ``params`` and the data-test options.

The fixtures and options are defined in :mod:`modelmill.validation.data_tests.plugin`.
This conftest adds the options when pytest finds it as an initial conftest (the package
directory given as a path); with ``--pyargs`` pytest never does that, so load the plugin
with ``-p modelmill.validation.data_tests.plugin`` (then this hook does nothing).
"""

from __future__ import annotations

import pytest

from modelmill.validation.data_tests.plugin import PLUGIN, add_options, data, params, ref_data

__all__ = ["data", "params", "pytest_addoption", "ref_data"]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Add the options unless the plugin (``-p``) already did."""
    if not pluginmanager.has_plugin(PLUGIN):
        add_options(parser)
