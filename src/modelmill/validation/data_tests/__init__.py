"""The data tests as a pytest suite, runnable on any pair of CSV (or Parquet) files.

By package name, from any directory (the options come from a plugin module, because
pytest never loads a ``--pyargs`` package's conftest early enough to register options)::

    pytest -p modelmill.validation.data_tests.plugin --pyargs modelmill.validation.data_tests \\
        --csv NEW.csv --ref REFERENCE.csv

or ``PYTEST_PLUGINS=modelmill.validation.data_tests.plugin pytest --pyargs ...``, or by
path, where the package's ``conftest.py`` adds the options itself::

    pytest "$(python -c 'import modelmill.validation.data_tests as m; print(m.__path__[0])')" \\
        --csv NEW.csv --ref REFERENCE.csv

Options (defaults from ``conf/config.yaml``): ``--kl-threshold``, ``--ks-alpha``,
``--min-price``, ``--max-price``, ``--min-rows``, ``--max-rows``. A missing ``--csv``
(or ``--ref``, for the statistical tests) fails the tests that need it with a message
showing the command. Exit status 0 when every test passes, 1 otherwise.
"""
