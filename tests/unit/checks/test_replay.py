"""Every check of a real suite run on the lab judges the outputs it read there the same way again offline: each
recorded run passed, so every replay passes. One recording per driver of the lab (``data/lab-<driver>.json.gz``:
ML2/Linux bridge with iptables and dnsmasq, Open vSwitch, OVN)."""
import pytest

from recording import LAB, RECORDINGS
import recording

CALLS = recording.load(LAB)
RUNS = {path.name.split(".")[0]: recording.load(path) for path in RECORDINGS}
CASES = [(run, i) for run, data in RUNS.items() for i in range(len(data["calls"]))]


def _id(case):
    run, index = case
    call = RUNS[run]["calls"][index]
    return f"{run}-{call['check']}-{call['test'].split('::')[-1]}"


def test_there_is_a_recording_of_each_driver_of_the_lab():
    assert set(RUNS) == {"lab-linuxbridge", "lab-openvswitch", "lab-openvswitch-hybrid", "lab-ovn"}


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_the_recorded_check_judges_the_recorded_outputs_the_same(case):
    run, index = case
    call = RUNS[run]["calls"][index]
    failure = recording.replay(call, dict(RUNS[run]["outputs"]))
    if call["outcome"] == "passed":
        assert failure is None, f"{call['check']} in {call['test']} failed on replay:\n{failure}"
    else:
        assert failure is not None and str(failure) == call["message"]


def test_the_recording_covers_every_area_of_the_suites():
    checks = {c["check"].split(".")[0] for c in CALLS["calls"]}
    assert {"control_plane", "dhcp", "firewall", "guests", "instances", "linuxbridge", "networks", "ports",
            "triage"} <= checks


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_recording_holds_no_secret(run):
    text = str(RUNS[run]).lower()
    for word in ("begin openssh private key", "x-auth-token", "'password': '"):
        assert word not in text


def test_the_ovn_recording_covers_its_own_checks():
    checks = {c["check"] for c in RUNS["lab-ovn"]["calls"]}
    assert {"ovn.check_port_bound", "ovn.check_metadata_namespace", "ovn.check_dhcp_options",
            "ovn_acls.check_port_groups", "ovn_acls.check_port_security", "ovn_acls.check_acl_applied"} <= checks


def test_the_open_vswitch_recordings_cover_their_firewalls():
    native = {c["check"] for c in RUNS["lab-openvswitch"]["calls"]}
    assert {"ovs_firewall.check_ingress_flows", "ovs_firewall.check_egress_flows", "ovs_firewall.check_spoofing_flows",
            "ovs_firewall.check_port_marked", "ovs_firewall.check_rule_flows_applied",
            "openvswitch.check_dhcp_port_tagged"} <= native
    hybrid = {c["check"] for c in RUNS["lab-openvswitch-hybrid"]["calls"]}
    assert {"firewall.check_ingress_chain", "firewall.check_rule_applied", "openvswitch.check_dhcp_port_tagged"} <= hybrid
