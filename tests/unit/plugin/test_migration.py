"""A migration nova refuses at the API (409) is said with nova's words, as one it failed to do."""
import pytest
from openstack.exceptions import ConflictException

from pytest_oslab.provision.migration import MigrationFailed, _ask


def test_a_refused_migration_is_said_with_novas_words():
    def refuse():  # the answer nova gave on the 3-node lab (its source compute service seen down under load)
        raise ConflictException("HTTP 409: Service is unavailable at this time.")
    with pytest.raises(MigrationFailed, match=r"nova refused the cold migration: .*Service is unavailable"):
        _ask("cold", refuse)


def test_an_accepted_request_is_left_to_the_wait():
    asked = []
    _ask("live", lambda: asked.append("live"))
    assert asked == ["live"]
