"""The checks on the outputs of the seeds and of the captured Open vSwitch database (tests/data): the OVS facts
(N12, I8) of seeds 000/003, and the guest's view of a port (G1, H3, H6) of seeds 000 and 004. The API objects
carry the ids, MACs and addresses those notebooks printed."""
import json

import pytest
from openstack.compute.v2.server import Server
from openstack.network.v2.network import Network
from openstack.network.v2.port import Port
from openstack.network.v2.subnet import Subnet

from recording import Replay, Text, read
from pytest_oslab.checks import guests, openvswitch
from pytest_oslab.checks.core import CheckFailed

OVS = "captured/ovs-ovn/"
TABLES = {f"ovs-vsctl --format=json list {t}": f"{OVS}ovs-list-{t}.json"
          for t in ("Bridge", "Port", "Interface", "Controller")}
# seeds 000 and 003: the flat provider network, its DHCP port and instance00's port
NETWORK = Network(id="85f372ef-f39a-42bb-a06b-9f9ed8e4e58e", name="provider", mtu=1500,
                  **{"provider:network_type": "flat", "provider:physical_network": "provider"})
SUBNET = Subnet(id="ef7c7472-0b1d-497f-bc86-889a5c6ae52c", cidr="172.16.0.0/12", gateway_ip="172.16.0.1",
                allocation_pools=[{"start": "172.17.0.0", "end": "172.17.0.255"}])
DHCP_PORT = Port(id="43bf8dcc-083a-4c61-8d5f-bd6c7e763e5b", mac_address="fa:16:3e:4a:1e:19",
                 device_owner="network:dhcp",
                 fixed_ips=[{"ip_address": "172.17.0.0", "subnet_id": SUBNET.id}])
# the instance port: its id is the iface-id the captured OVS database holds for tap60ad2c85-f3
PORT = Port(id="60ad2c85-f31e-4b2a-8c7d-9e0f1a2b3c4d", mac_address="fa:16:3e:e9:6a:38",
            fixed_ips=[{"ip_address": "172.17.0.153", "subnet_id": SUBNET.id}])
SERVER = Server(id="5aa817f3-b106-42b0-95d6-f2a8d1b6bea0", name="instance00")


def ovs_node(data_node, **replace):
    """The OVS node of seeds 000/003 (captured database); ``replace`` a table's JSON through a function."""
    answers = dict(TABLES)
    for table, change in replace.items():
        command = f"ovs-vsctl --format=json list {table}"
        data = json.loads(read(TABLES[command]))
        change(data)
        answers[command] = Text(json.dumps(data))
    return data_node(answers, "compute")


def column(data, name):
    return data["headings"].index(name)


def test_the_dhcp_tap_is_a_br_int_port_with_a_tag_n12(data_node):
    openvswitch.check_dhcp_port_tagged(ovs_node(data_node), NETWORK, DHCP_PORT)


def test_an_untagged_dhcp_tap_fails_n12(data_node):
    def untag(data):
        for row in data["data"]:
            if row[column(data, "name")] == "tap43bf8dcc-08":
                row[column(data, "tag")] = ["set", []]
    with pytest.raises(CheckFailed, match=r"tap43bf8dcc-08 tag: expected a local VLAN, actual none"):
        openvswitch.check_dhcp_port_tagged(ovs_node(data_node, Port=untag), NETWORK, DHCP_PORT)


def test_br_int_and_br_provider_are_patched_secure_and_connected_n12(data_node):
    openvswitch.check_bridges_patched(ovs_node(data_node), "provider", "br-provider")


def test_a_bridge_not_in_secure_mode_and_a_disconnected_controller_fail_n12(data_node):
    def standalone(data):
        for row in data["data"]:
            if row[column(data, "name")] == "br-provider":
                row[column(data, "fail_mode")] = "standalone"

    def disconnect(data):
        for row in data["data"]:
            row[column(data, "is_connected")] = False
    with pytest.raises(CheckFailed) as failure:
        openvswitch.check_bridges_patched(ovs_node(data_node, Bridge=standalone, Controller=disconnect), "provider",
                                          "br-provider")
    message = str(failure.value)
    assert "br-provider fail_mode: expected secure, actual standalone" in message
    assert "br-int controllers: expected connected, actual tcp:127.0.0.1:6633 connected=False" in message


def test_a_broken_patch_fails_n12(data_node):
    def repoint(data):
        for row in data["data"]:
            if row[column(data, "name")] == "int-br-provider":
                row[column(data, "options")] = ["map", [["peer", "nowhere"]]]
    with pytest.raises(CheckFailed, match=r"int-br-provider options:peer: expected phy-br-provider, actual nowhere"):
        openvswitch.check_bridges_patched(ovs_node(data_node, Interface=repoint), "provider", "br-provider")


def test_the_instance_tap_has_the_networks_tag_i8(data_node):
    openvswitch.check_port_tag(ovs_node(data_node), SERVER, PORT, NETWORK, "openvswitch", [DHCP_PORT.id, PORT.id])


def test_a_tap_in_another_local_vlan_than_its_network_fails_i8(data_node):
    def retag(data):
        for row in data["data"]:
            if row[column(data, "name")] == "tap60ad2c85-f3":
                row[column(data, "tag")] = 7
    with pytest.raises(CheckFailed) as failure:
        openvswitch.check_port_tag(ovs_node(data_node, Port=retag), SERVER, PORT, NETWORK, "openvswitch",
                                   [DHCP_PORT.id])
    assert "tag of tap43bf8dcc-08 (port 43bf8dcc of the same network): expected 7 (tap60ad2c85-f3's tag), actual 1" \
        in str(failure.value)
    assert "server instance00 (5aa817f3)" in str(failure.value)


def test_with_the_hybrid_firewall_the_br_int_port_is_qvo_i8(data_node):
    with pytest.raises(CheckFailed, match=r"qvo60ad2c85-f3: expected a port of br-int, actual not there"):
        openvswitch.check_port_tag(ovs_node(data_node), SERVER, PORT, NETWORK, "iptables_hybrid", [])


# --- the guest's view (seed 000: ssh cirros@... ip addr; seed 004: hot-plug) ------------------------------------

def test_the_guest_nic_of_seed_000_shows_the_port_mac_ip_prefix_and_mtu_g1():
    guest = Replay({"ip addr": "seeds/000-guest-ip-addr.txt"}, SERVER)
    guests.check_guest_nic(guest, PORT, NETWORK, SUBNET)


def test_a_guest_nic_without_its_address_fails_g1():
    guest = Replay({"ip addr": Text(read("seeds/000-guest-ip-addr.txt").replace("172.17.0.153/12", "172.17.0.9/12"))},
                   SERVER)
    with pytest.raises(CheckFailed, match=r"eth0 address: expected 172\.17\.0\.153/12, actual 172\.17\.0\.9/12"):
        guests.check_guest_nic(guest, PORT, NETWORK, SUBNET)


# seed 004: server1's port user_port1 on user_net, hot-plugged
USER_PORT = Port(id="4fbca26b-95bd-4d74-8f56-20b1acfa8e89", mac_address="fa:16:3e:b3:33:ae",
                 fixed_ips=[{"ip_address": "172.16.0.11", "subnet_id": "9f0e59df-d6c8-4c2d-9de5-8979798e5350"}])
SERVER1 = Server(id="ab70f784-385d-44a8-b010-1322e7be94a7", name="server1")


@pytest.mark.parametrize("output, name, up", [("seeds/004-server1-ip-addr-before.txt", "ens6", False),
                                              ("seeds/004-server1-ip-addr-after.txt", "ens6", True),
                                              ("seeds/004-server1-ip-addr-reattached.txt", "ens7", False)])
def test_the_hot_plugged_nic_is_found_by_its_mac_h3_h6(output, name, up):
    nic = guests.check_nic_shown(Replay({"ip addr": output}, SERVER1), USER_PORT, True, timeout=0)
    assert (nic.name, nic.up) == (name, up)


def test_a_nic_still_shown_after_detach_fails_h5():
    guest = Replay({"ip addr": "seeds/004-server1-ip-addr-after.txt"}, SERVER1)
    with pytest.raises(CheckFailed, match=r"NIC with MAC fa:16:3e:b3:33:ae: expected gone, actual ens6"):
        guests.check_nic_shown(guest, USER_PORT, False, timeout=0)


# --- ML2/OVN (the captured northbound/southbound databases: instance00's port bound to chassis "compute") ------

OVN_TABLES = {
    "ovs-vsctl --format=json list Open_vSwitch": f"{OVS}ovs-list-Open_vSwitch.json",
    "ovs-vsctl --format=json list Interface": f"{OVS}ovs-list-Interface.json",
    "ovn-nbctl --format=json list Logical_Switch_Port": f"{OVS}ovn-nb-list-Logical_Switch_Port.json",
    "ovn-sbctl --format=json list Chassis": f"{OVS}ovn-sb-list-Chassis.json",
    "ovn-sbctl --format=json list Port_Binding": f"{OVS}ovn-sb-list-Port_Binding.json",
}


def test_the_port_is_up_and_bound_to_the_compute_chassis_in_ovn_i8(data_node):
    from pytest_oslab.checks import ovn
    ovn.check_port_bound(data_node(OVN_TABLES, "compute"), SERVER, PORT, NETWORK)


def test_a_port_bound_elsewhere_fails_i8_ovn(data_node):
    from pytest_oslab.checks import ovn
    answers = dict(OVN_TABLES)
    data = json.loads(read(OVN_TABLES["ovs-vsctl --format=json list Open_vSwitch"]))
    ids = data["data"][0][column(data, "external_ids")]
    ids[1] = [[k, "another-chassis" if k == "system-id" else v] for k, v in ids[1]]
    answers["ovs-vsctl --format=json list Open_vSwitch"] = Text(json.dumps(data))
    with pytest.raises(CheckFailed) as failure:
        ovn.check_port_bound(data_node(answers, "compute"), SERVER, PORT, NETWORK)
    assert ("bound chassis: expected another-chassis (system-id of node compute), actual "
            "0d7c6a1e-3f2b-4c5d-9e8f-7a6b5c4d3e2f") in str(failure.value)
