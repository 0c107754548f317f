"""Every check of a real suite run on the lab (ML2/Linux bridge, iptables firewall, dnsmasq) judges the outputs it
read there the same way again offline: the recorded run passed, so every replay passes."""
import pytest

from recording import LAB
import recording

CALLS = recording.load(LAB)


def _id(call):
    test = call["test"].split("::")[-1]
    return f"{call['check']}-{test}"


@pytest.mark.parametrize("index", range(len(CALLS["calls"])), ids=[_id(c) for c in CALLS["calls"]])
def test_the_recorded_check_judges_the_recorded_outputs_the_same(index):
    call = CALLS["calls"][index]
    failure = recording.replay(call, dict(CALLS["outputs"]))
    if call["outcome"] == "passed":
        assert failure is None, f"{call['check']} in {call['test']} failed on replay:\n{failure}"
    else:
        assert failure is not None and str(failure) == call["message"]


def test_the_recording_covers_every_area_of_the_suites():
    checks = {c["check"].split(".")[0] for c in CALLS["calls"]}
    assert {"control_plane", "dhcp", "firewall", "guests", "instances", "linuxbridge", "networks", "ports",
            "triage"} <= checks


def test_the_recording_holds_no_secret():
    text = str(CALLS).lower()
    for word in ("begin openssh private key", "x-auth-token", "'password': '"):
        assert word not in text
