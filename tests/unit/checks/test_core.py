"""How every check fails: one message naming the objects, every mismatch as expected against actual, the outputs
it judged kept as evidence; waits bounded by their timeout; several nodes judged before failing."""
import pytest
from openstack.network.v2.network import Network
from openstack.network.v2.port import Port

from pytest_oslab.checks import core
from pytest_oslab.checks.core import Check, CheckFailed, Where

PORT = Port(id="7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f", mac_address="fa:16:3e:be:71:21")
NETWORK = Network(id="c08e7dcd-4acb-4cd0-ad08-ebd3b48467ee", name="selfservice", mtu=1450)


def test_where_names_each_object_it_holds():
    where = Where(port=PORT, network=NETWORK, device="tap7a8c0a54-75", namespace=None, node="compute1")
    assert str(where) == ("port 7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f, network selfservice (c08e7dcd), "
                          "device tap7a8c0a54-75, node compute1")


def test_a_check_collects_every_mismatch_then_fails_once():
    with pytest.raises(CheckFailed) as failure:
        with Check("the tap is UP at the network's MTU", Where(device="tap7a8c0a54-75", node="compute1")) as c:
            c.expect("MTU", 1450, 1500, "network MTU")
            c.expect("state UP", True, True)
            c.expect("master", "brqc08e7dcd-4a", None)
    assert str(failure.value) == ("the tap is UP at the network's MTU [device tap7a8c0a54-75, node compute1]:\n"
                                  "  - MTU: expected 1450 (network MTU), actual 1500\n"
                                  "  - master: expected brqc08e7dcd-4a, actual nothing")


def test_a_check_that_holds_is_quiet():
    with Check("holds") as c:
        c.expect("MTU", 1450, 1450)
        c.require(True, "never shown")


def test_fail_stops_the_check_with_what_came_before():
    with pytest.raises(CheckFailed) as failure:
        with Check("the DHCP device exists") as c:
            c.require(False, "first problem")
            c.fail("device ns-1: expected, actual absent")
            raise AssertionError("not reached")
    assert str(failure.value).endswith("  - first problem\n  - device ns-1: expected, actual absent")


def test_evidence_attached_inside_a_check_travels_with_its_failure():
    with pytest.raises(CheckFailed) as failure:
        with Check("x") as c:
            core.attach("compute1: ip -j -d addr show", "[]")
            c.require(False, "nothing there")
    assert failure.value.evidence == [("compute1: ip -j -d addr show", "[]")]


def test_wait_until_retries_until_the_fact_holds():
    attempts = []

    def probe():
        attempts.append(1)
        if len(attempts) < 3:
            raise CheckFailed("not yet\n  - lease: expected, actual none")
        return "done"
    clock = [0.0]
    saved = list(core.CLOCK)
    core.CLOCK[:] = [lambda: clock[0], lambda s: clock.__setitem__(0, clock[0] + s)]
    try:
        assert core.wait_until(probe, timeout=10, interval=2) == "done"
    finally:
        core.CLOCK[:] = saved
    assert len(attempts) == 3 and clock[0] == 4


def test_wait_until_gives_up_at_its_timeout_saying_so():
    clock = [0.0]
    saved = list(core.CLOCK)
    core.CLOCK[:] = [lambda: clock[0], lambda s: clock.__setitem__(0, clock[0] + s)]

    def probe():
        raise CheckFailed("the lease is there\n  - lease: expected, actual none")
    try:
        with pytest.raises(CheckFailed) as failure:
            core.wait_until(probe, timeout=10, interval=2)
    finally:
        core.CLOCK[:] = saved
    assert str(failure.value) == "the lease is there (still so after 10s)\n  - lease: expected, actual none"
    assert clock[0] <= 10


def test_wait_until_with_no_timeout_judges_once():
    calls = []

    def probe():
        calls.append(1)
        raise CheckFailed("no")
    with pytest.raises(CheckFailed, match="^no$"):
        core.wait_until(probe, timeout=0)
    assert calls == [1]


def test_on_each_judges_every_node_before_failing():
    seen = []

    def check(node):
        seen.append(node)
        if node != "n2":
            raise CheckFailed(f"fact on {node}", [(node, "out")])
    with pytest.raises(CheckFailed) as failure:
        core.on_each(["n1", "n2", "n3"], check)
    assert seen == ["n1", "n2", "n3"]
    assert str(failure.value) == "fact on n1\nfact on n3"
    assert failure.value.evidence == [("n1", "out"), ("n3", "out")]


def test_evidence_goes_to_the_bound_test_item():
    from pytest_oslab.evidence import EVIDENCE, Record

    class Item:
        def __init__(self):
            self.stash = {}
    item = Item()
    core.bind(item)
    try:
        core.attach("node: cmd", "output")
    finally:
        core.bind(None)
    assert item.stash[EVIDENCE] == [Record("node", "cmd", "output")]


def test_a_failed_command_on_a_node_is_a_check_failure_naming_node_and_command(data_node):
    node = data_node({}, "compute1")
    with pytest.raises(CheckFailed, match=r"^node compute1: `ip -j netns` exited 127: not recorded"):
        node.namespaces()
