"""Which driver a cloud is judged by, and why a check does not apply: decided once, from the capabilities."""
from pytest_oslab.cloud.capabilities import Capabilities, skip_reason


def caps(drivers, firewall=None, types=("vxlan", "flat"), extensions=("dns-integration",)):
    return Capabilities(admin=True, mechanism_drivers=set(drivers), firewall_driver=firewall,
                        type_drivers=set(types), extensions=set(extensions))


def test_the_driver_is_the_first_of_ovn_openvswitch_linuxbridge_the_cloud_shows():
    assert caps({"linuxbridge"}).driver == "linuxbridge"
    assert caps({"openvswitch", "linuxbridge"}).driver == "openvswitch"
    assert caps({"ovn", "openvswitch"}).driver == "ovn"
    assert caps({"sriovnicswitch"}).driver is None


def test_a_check_applies_when_the_cloud_has_what_its_marks_name():
    lb = caps({"linuxbridge"}, "iptables")
    assert skip_reason({"linuxbridge": {}, "dhcp_agent": {}, "iptables_firewall": {}}, lb) is None
    assert skip_reason({"requires": {"network_type": "vxlan", "extension": ["dns-integration"]}}, lb) is None


def test_each_mark_the_cloud_lacks_says_what_it_needs_and_what_the_cloud_has():
    ovn = caps({"ovn"}, "ovn", types=("geneve",))
    assert skip_reason({"linuxbridge": {}}, ovn) == "needs ML2/linuxbridge; this cloud runs ovn"
    assert skip_reason({"dhcp_agent": {}}, ovn) == ("needs neutron's DHCP agent (ML2/linuxbridge or openvswitch); "
                                                    "this cloud runs ML2/ovn")
    assert skip_reason({"iptables_firewall": {}}, ovn) == (
        "needs the iptables firewall (ML2/linuxbridge, or openvswitch with iptables_hybrid); this cloud's ports use "
        "the ovn firewall")
    assert skip_reason({"ovs_firewall": {}}, caps({"openvswitch"}, "iptables_hybrid")) == (
        "needs Open vSwitch's native firewall (ML2/openvswitch, firewall_driver openvswitch); this cloud's ports use "
        "the iptables_hybrid firewall")
    assert skip_reason({"judged_driver": {}}, ovn) is None
    assert skip_reason({"judged_driver": {}}, caps({"sriovnicswitch"}, None)) == (
        "needs ML2/linuxbridge, openvswitch or ovn; this cloud runs sriovnicswitch")
    assert skip_reason({"judged_driver": {}}, caps(set(), None)) == (
        "needs ML2/linuxbridge, openvswitch or ovn; this cloud runs no driver the API shows (admin rights?)")
    assert skip_reason({"requires": {"network_type": "vxlan"}}, ovn) == ("needs network type vxlan; this cloud has "
                                                                         "geneve")


def test_a_test_the_cloud_does_not_meet_skips_before_its_fixtures_and_runs_first(pytester, clouds,
                                                                                  closed_port_cloud):
    clouds({"lb": closed_port_cloud()})
    pytester.makeconftest("""
        import pytest
        from pytest_oslab.cloud.capabilities import Capabilities
        from pytest_oslab.stash import SESSION

        def pytest_sessionstart(session):  # what discovery finds on a Linux bridge cloud with admin rights
            cache = session.config.stash[SESSION]._cache
            cache["capabilities"] = ("ok", Capabilities(admin=True, mechanism_drivers={"linuxbridge"},
                                                        firewall_driver="iptables", type_drivers={"vxlan"}))
            cache["admin"] = ("ok", object())

        SET_UP = []

        @pytest.fixture
        def booted(request):
            SET_UP.append(request.node.name)
            return SET_UP
    """)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.linuxbridge
        @pytest.mark.admin
        def test_runs(booted):
            assert booted == ["test_runs"]

        @pytest.mark.openvswitch
        def test_ovs_only(booted):
            pass

        @pytest.mark.requires(network_type="geneve")
        def test_geneve_only(booted):
            pass

        @pytest.mark.ovs_firewall
        def test_native_firewall_only(booted):
            pass
    """)
    result = pytester.runpytest("--cloud", "lb", "-v", "-rs", "--oslab-no-report")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*::test_ovs_only SKIPPED*", "*::test_geneve_only SKIPPED*",
                                 "*::test_native_firewall_only SKIPPED*", "*::test_runs PASSED*",
                                 "*needs ML2/openvswitch; this cloud runs linuxbridge*",
                                 "*needs network type geneve; this cloud has vxlan*"])
