"""Which tests apply to the cloud under test, decided before any of their fixtures run (registered by
``pytest_oslab.plugin``). The rules are ``pytest_oslab.cloud.capabilities.skip_reason``'s; this module is the one
place that applies them to tests:

- at the end of collection, when the cloud answers: every test whose marks (admin, linuxbridge/openvswitch/ovn,
  dhcp_agent, iptables_firewall, ovs_firewall, multinode, requires) the cloud does not meet gets a ``skip`` mark with the
  reason, and the skipped tests move to the front of the run, so that the session's teardown (the run's servers
  deleted) falls on a test that ran rather than on a skipped one;
- at a test's setup, first of all (before its fixtures): a test not decided at collection (the cloud did not
  answer then) is decided now; a cloud that does not answer fails it with its one line.
"""
from __future__ import annotations

from typing import Dict, Optional

import pytest

from pytest_oslab.cloud.capabilities import DRIVER_MARKERS, Capabilities, skip_reason
from pytest_oslab.outcomes import outcome
from pytest_oslab.session import OslabSession, Unavailable
from pytest_oslab.stash import cloud_session

# the marks a test says what it needs of the cloud with
NEEDS = ("admin", "requires", "dhcp_agent", "iptables_firewall", "ovs_firewall", "multinode") + DRIVER_MARKERS
DECIDED = pytest.StashKey[Optional[str]]()  # on an item: its skip reason, or None (it applies)


def needs_of(item) -> Dict[str, dict]:
    """A test's marks among ``NEEDS``, each with its keyword arguments (the closest mark wins)."""
    marks: Dict[str, dict] = {}
    for mark in item.iter_markers():
        if mark.name in NEEDS and mark.name not in marks:
            marks[mark.name] = dict(mark.kwargs)
    return marks


def reason_with(needs: Dict[str, dict], oslab: OslabSession, caps: Capabilities) -> Optional[str]:
    """Why a test with these needs does not apply (None: it does): no admin rights for ``admin``, else the
    capability rules."""
    if "admin" in needs:
        try:
            oslab.admin_cloud
        except Unavailable as e:
            return str(e)
    return skip_reason(needs, caps)


def skip_of(item, oslab: OslabSession, caps: Capabilities) -> Optional[str]:
    """The reason ``item`` is skipped on this cloud (None: it runs)."""
    if DECIDED in item.stash:
        return item.stash[DECIDED]
    needs = needs_of(item)
    return reason_with(needs, oslab, caps) if needs else None


def _skip(item, reason: Optional[str]) -> None:
    item.stash[DECIDED] = reason
    if reason:  # as a mark: pytest reports the skip at the test, before any fixture
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixtures: only whole skipped tests move
def pytest_collection_modifyitems(session, config, items):
    oslab = cloud_session(config)
    if oslab is None or config.option.collectonly or not any(needs_of(item) for item in items):
        return
    try:
        caps = oslab.capabilities
    except Exception:  # noqa: BLE001 - each test needing the cloud says so at its setup, with the one line
        return
    skipped, running = [], []
    for item in items:
        _skip(item, skip_of(item, oslab, caps))
        (skipped if item.stash[DECIDED] else running).append(item)
    if getattr(config, "workerinput", None) is None:  # xdist's workers must all keep the controller's order
        items[:] = skipped + running


@pytest.hookimpl(tryfirst=True)  # before pytest's skipping plugin reads the skip marks, before any fixture
def pytest_runtest_setup(item):
    oslab = cloud_session(item.config)
    if oslab is None or DECIDED in item.stash:
        return
    needs = needs_of(item)
    if not needs:
        return
    with outcome():
        _skip(item, reason_with(needs, oslab, oslab.capabilities))
