"""What the checks on each DHCP node start from: the network's DHCP port bound on every node whose DHCP agent serves
it (ids and host names of the lab's Linux bridge run; a second agent's node whose port was never bound)."""
import types

import pytest

from pytest_oslab.checks import dhcp
from pytest_oslab.checks.core import CheckFailed

NETWORK = types.SimpleNamespace(name="selfservice", id="8cc956e4-a1ff-4298-9560-71420c7e13ca")
PORT = types.SimpleNamespace(id="bf33357a-0321-4bbf-b099-dab16ced5e00", binding_host_id="controller")


def served(node, port):
    return types.SimpleNamespace(node=types.SimpleNamespace(name=node), port=port)


def test_every_dhcp_node_holding_its_port_passes():
    dhcp.check_dhcp_port_on_each_node([served("controller", PORT)], NETWORK, [PORT])


def test_a_dhcp_node_without_its_port_names_the_network_the_node_and_the_ports_there_are():
    with pytest.raises(CheckFailed) as failed:
        dhcp.check_dhcp_port_on_each_node([served("controller", PORT), served("compute1", None)], NETWORK, [PORT])
    assert str(failed.value) == (
        "each node whose DHCP agent serves the network has its DHCP port bound there [network selfservice "
        "(8cc956e4)]:\n  - no DHCP port bound to DHCP node(s) compute1 (DHCP ports: bf33357a on controller)")
