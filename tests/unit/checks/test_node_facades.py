"""A node's facts read like the fact (issue 11): ``node.tap(port)`` is the port's tap in the root namespace and
``node.dnsmasq(network)`` the files neutron's DHCP agent writes for one network (``.hosts``, ``.addn_hosts``,
``.leases``, ``.interface``, ``.opts``), each one command on real outputs of the lab, the names derived in
``pytest_oslab.checks.names``."""
from types import SimpleNamespace

import pytest

import recording
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts

LAB = "captured/lab/"
NET = "8cc956e4-a1b2-4c3d-9e8f-0123456789ab"  # the self-service network of the capture (its brq8cc956e4-a1)
DHCP = f"/var/lib/neutron/dhcp/{NET}"


def node_with(answers):
    return NodeFacts(recording.Replay(answers), "vm")


def test_the_tap_of_a_port_is_its_link_in_the_root_namespace():
    node = node_with({"ip -j -d addr show": LAB + "node-addr.json"})
    tap = node.tap(SimpleNamespace(id="bf33357a-0300-4d1e-8c77-5f0e0e7c3a10"))
    assert (tap.mtu, tap.master) == (1450, "brq8cc956e4-a1")
    assert node.tap("00000000-0000-4000-8000-000000000000") is None


def test_the_dnsmasq_files_of_a_network_are_read_and_parsed_one_command_each():
    node = node_with({f"cat {DHCP}/{leaf}": LAB + f"dhcp-8cc956e4-{leaf}"
                      for leaf in ("host", "addn_hosts", "leases", "interface", "opts")})
    files = node.dnsmasq(SimpleNamespace(id=NET))
    hosts = files.hosts
    assert hosts and all(h.mac.startswith("fa:16:3e:") for h in hosts)
    assert {a.ip for a in files.addn_hosts} == {h.ip for h in hosts}
    assert files.leases == []  # the capture's leases file is there and empty: no guest had asked yet
    assert files.interface.startswith("ns-")
    assert files.opts and files.path("opts") == f"{DHCP}/opts"


def test_a_missing_host_file_fails_the_check_and_missing_leases_are_none_yet():
    node = node_with({})
    files = node.dnsmasq(NET)
    assert files.leases == [] and files.interface is None and files.opts is None
    with pytest.raises(CheckFailed, match=f"node vm: `cat {DHCP}/host` exited 127"):
        files.hosts
