"""What belongs to running from a checkout of pytest-oslab, rather than to the installed plugin.

An installed run (``pip install pytest-oslab; pytest --pyargs pytest_oslab.suites --cloud NAME``) needs nothing
from here. In a checkout, ``pytest --cloud NAME`` collects ``suites/`` (``testpaths`` in pyproject.toml; the
project's own tests are named: ``pytest tests/unit``, ``pytest tests/lab``) and judges them with whatever
``pytest_oslab`` pytest loads as its plugin. This file's one job is to make that the checkout's own: a plugin
installed from elsewhere (a release from PyPI in the same environment, another clone's editable install) would
run these suites with other checks, fixtures and messages, and every result would mislead. The run then stops
before collecting anything, naming both places and the fix (``make venv`` installs the checkout editable).
"""
from pathlib import Path

import pytest

import pytest_oslab

CHECKOUT = Path(__file__).resolve().parent


def plugin_mismatch(checkout: Path, plugin_file: str) -> str:
    """The line that stops a run whose plugin is not the checkout's own ('' when it is)."""
    package = Path(plugin_file).resolve().parent
    if checkout in package.parents:
        return ""
    return (f"oslab: this checkout ({checkout}) would run with pytest_oslab from {package}; install the checkout's "
            f"own: make venv (or pip install -e {checkout})")


def pytest_configure(config):
    problem = plugin_mismatch(CHECKOUT, pytest_oslab.__file__)
    if problem:
        raise pytest.UsageError(problem)
