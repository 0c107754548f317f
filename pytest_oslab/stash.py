"""What the plugin keeps on pytest's config for the modules that run inside pytest (the report, the upgrade gate,
the suites' conftest): the run's session and, when no cloud is named, the one line saying how to name one.

The entry module (``pytest_oslab.plugin``) puts them there in ``pytest_configure``; everything else reads them
from here and never imports the entry module.
"""
from __future__ import annotations

import pytest

from pytest_oslab.session import OslabSession

SESSION = pytest.StashKey[OslabSession]()
NO_CLOUD = pytest.StashKey[str]()


def session_of(config) -> OslabSession:
    """The run's session; skips the asking test with the one line when no cloud is named."""
    line = config.stash[NO_CLOUD]
    if line:
        pytest.skip(line)
    return config.stash[SESSION]


def cloud_session(config):
    """The run's session when it is against a cloud (None otherwise, or before the plugin configured)."""
    session = config.stash.get(SESSION, None)
    return session if session is not None and session.settings.cloud else None
