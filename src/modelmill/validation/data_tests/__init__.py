"""The data tests as a pytest suite, runnable on any pair of CSV (or Parquet) files.

By package name, from any directory (the options are registered by the package's
``pytest11`` entry point, :mod:`modelmill.validation.data_tests.options`, only when this
package is named on the command line)::

    pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv

The tests are generated from the dataset spec of the selected config (``--config-dir DIR``,
``--override KEY=VALUE``; default: the packaged one): ``test_column_names``,
``test_column_dtypes``, ``test_allowed[COLUMN]``, ``test_box[NAME]``, ``test_range[COLUMN]``,
``test_row_count``, ``test_unique_ids``, and against ``--ref`` ``test_kl[COLUMN]``,
``test_chi2[COLUMN]``, ``test_ks[COLUMN]``. Threshold flags (each a config override):
``--kl-threshold``, ``--ks-alpha``, ``--correction``, ``--min-rows``, ``--max-rows``; any other key of the
config (a column's range, say) with ``--override KEY=VALUE``.
Columns are tested as read from the file (a Parquet column of strings holding numbers fails
``test_column_dtypes``). A missing ``--csv`` (or ``--ref``, for the statistical tests) fails
the tests that need it with a message showing the command. Exit status 0 when every test
passes, 1 otherwise.
"""
