"""The data tests as a pytest suite, runnable on any pair of CSV (or Parquet) files.

By package name, from any directory (the options are registered by the package's
``pytest11`` entry point, :mod:`modelmill.validation.data_tests.options`)::

    pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv

Options (defaults from ``conf/config.yaml``): ``--kl-threshold``, ``--ks-alpha``,
``--min-price``, ``--max-price``, ``--min-rows``, ``--max-rows``, ``--min-date``,
``--max-date`` (YYYY-MM-DD or ``today``). Columns are tested as read from the file (a Parquet
column of strings holding numbers fails ``test_column_dtypes``). A missing ``--csv``
(or ``--ref``, for the statistical tests) fails the tests that need it with a message
showing the command. Exit status 0 when every test passes, 1 otherwise.
"""
