"""Member-only runs and the ML2 driver: dead agents decide nothing, ``oslab: {driver: ...}`` stands in when discovery
cannot tell, a disagreement is reported, and driver-marked checks skip with 'needs admin credentials'."""
from pytest_oslab.cloud.capabilities import Agent, Capabilities, decide_drivers


def _agent(kind, binary, host, alive=True):
    return Agent(f"id-{binary}-{host}", kind, binary, host, alive, True)


AFTER_OVS_TO_OVN = [  # agents listed after a migration from ML2/OVS to ML2/OVN: the OVS agents linger, dead
    _agent("Open vSwitch agent", "neutron-openvswitch-agent", "cmp1", alive=False),
    _agent("DHCP agent", "neutron-dhcp-agent", "ctl1", alive=False),
    _agent("OVN Controller agent", "ovn-controller", "cmp1"),
    _agent("OVN Metadata agent", "neutron-ovn-metadata-agent", "cmp1"),
]


def test_dead_agents_never_decide_the_driver():
    assert decide_drivers(AFTER_OVS_TO_OVN, None) == ({"ovn"}, None)


def test_the_declared_driver_stands_in_without_admin_and_a_disagreement_is_reported():
    assert decide_drivers([], "ovn") == ({"ovn"}, "ML2/ovn as clouds.yaml says (oslab.driver): not discoverable "
                                                  "with these credentials")
    drivers, note = decide_drivers(AFTER_OVS_TO_OVN, "openvswitch")
    assert drivers == {"ovn"}
    assert note == "clouds.yaml says ML2/openvswitch (oslab.driver) but the alive agents are ovn"
    assert note in Capabilities(mechanism_drivers=drivers, driver_note=note).summary()


def test_driver_marked_checks_of_a_member_only_run_skip_needing_admin_credentials(pytester, clouds,
                                                                                   closed_port_cloud):
    clouds({"member": closed_port_cloud()})
    pytester.makeconftest("""
        import pytest
        from pytest_oslab.cloud.capabilities import Capabilities
        from pytest_oslab.stash import SESSION

        def pytest_sessionstart(session):  # what discovery finds with member credentials: no agents, no drivers
            session.config.stash[SESSION]._cache["capabilities"] = ("ok", Capabilities(admin=False))
    """)
    pytester.makepyfile("""
        import pytest
        @pytest.mark.ovn
        def test_ovn_only():
            pass
    """)
    result = pytester.runpytest("--cloud", "member", "-rs", "--oslab-no-report")
    result.assert_outcomes(skipped=1)
    out = result.stdout.str()
    assert ("needs admin credentials to tell the ML2 driver (--admin-cloud), or say it in clouds.yaml: "
            "oslab: {driver: NAME}") in out
    assert "ML2/?" not in out and "this cloud runs" not in out
