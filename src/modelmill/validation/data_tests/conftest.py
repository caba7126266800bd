"""Fixtures ``data``, ``ref_data`` and ``params`` (defined in :mod:`.plugin`).

The ``--csv``/``--ref``/threshold options come from :mod:`.options`, a pytest plugin
registered by the package's ``pytest11`` entry point.
"""

from modelmill.validation.data_tests.plugin import data, params, ref_data

__all__ = ["data", "params", "ref_data"]
