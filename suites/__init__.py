"""The acceptance suites: every documented fact as a check (installed as ``pytest_oslab.suites``).

Run them from a checkout with ``pytest --cloud NAME`` (or ``pytest suites --cloud NAME``), or installed with
``pytest --pyargs pytest_oslab.suites --cloud NAME``.
"""
