"""Facts between nodes (X2, X3, X6) judged on real outputs: compute2 of the three-node lab as the Linux bridge agent
with l2population builds it (tests/data/capture/between-replica.sh) and the running lab's controller; each breakage
is the real output edited the way a broken cloud shows it, and fails naming node, device and peer."""
import json

import pytest
from openstack.compute.v2.server import Server
from openstack.network.v2.network import Network
from openstack.network.v2.port import Port

from recording import Text, read
from pytest_oslab.checks import between
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.cloud.capabilities import Agent
from pytest_oslab.facts import bridge

FDB, ADDR = "bridge -j fdb show", "ip -j -d addr show"
NET = Network(id="0b0cbe46-4c2c-44c4-9b33-9e8e4d7c5a11", name="selfservice", mtu=1450,
              provider_network_type="vxlan", provider_segmentation_id=610)
TUNNEL_IPS = {"controller": "198.51.100.1", "compute1": "198.51.100.11", "compute2": "198.51.100.12"}
AGENTS = [Agent(id=f"a{i}", type="Linux bridge agent", binary="neutron-linuxbridge-agent", host=h, alive=True,
                admin_up=True, configurations={"tunneling_ip": ip, "tunnel_types": ["vxlan"], "l2_population": True})
          for i, (h, ip) in enumerate(TUNNEL_IPS.items())]
PORTS = [Port(id="47847300-0000-4000-8000-000000000001", mac_address="fa:16:3e:47:84:73", status="ACTIVE",
              binding_host_id="controller", device_owner="network:dhcp"),
         Port(id="0c5b2100-0000-4000-8000-000000000002", mac_address="fa:16:3e:0c:5b:21", status="ACTIVE",
              binding_host_id="controller", device_owner="network:router_interface"),
         Port(id="a2196e00-0000-4000-8000-000000000003", mac_address="fa:16:3e:a2:19:6e", status="ACTIVE",
              binding_host_id="compute1", device_owner="compute:nova"),
         Port(id="5d1f3c2a-9e00-4000-8000-000000000004", mac_address="fa:16:3e:5d:1f:3c", status="ACTIVE",
              binding_host_id="compute2", device_owner="compute:nova")]


def compute2(data_node, fdb=None, addr=None):
    return data_node({FDB: fdb or "captured/lab-between/compute2-fdb.json",
                      ADDR: addr or "captured/lab-between/compute2-addr.json"}, "compute2")


def edited(path, change):
    entries = json.loads(read(path))
    change(entries)
    return Text(json.dumps(entries))


def check_fdb(node, ports=PORTS):
    ips = between.tunnel_ips(AGENTS, "Linux bridge agent")
    hosts = between.hosts_with_ports(ports)
    between.check_vxlan_local(node, NET, ips.get(node.name))
    between.check_vxlan_fdb(node, NET, between.peers_of(node.name, hosts, ips), between.remote_macs(ports, node.name, ips))


def test_fdb_entries_parse_with_their_tunnel_destinations():
    entries = bridge.parse_fdb(read("captured/lab-between/compute2-fdb.json"))
    tunnel = bridge.tunnel_entries(entries, "vxlan-610")
    assert sorted(e.dst for e in tunnel if e.is_flood) == ["198.51.100.1", "198.51.100.11"]
    assert {e.mac: e.dst for e in tunnel if not e.is_flood} == {
        "fa:16:3e:47:84:73": "198.51.100.1", "fa:16:3e:0c:5b:21": "198.51.100.1", "fa:16:3e:a2:19:6e": "198.51.100.11"}
    assert all("self" in e.flags and e.state == "permanent" for e in tunnel)


def test_the_tunnel_ips_and_peers_come_from_the_agents_and_the_ports_bindings():
    ips = between.tunnel_ips(AGENTS, "Linux bridge agent")
    assert ips == TUNNEL_IPS
    assert [str(p) for p in between.peers_of("compute2", between.hosts_with_ports(PORTS), ips)] == [
        "198.51.100.11 (compute1)", "198.51.100.1 (controller)"]


def test_x3_holds_on_compute2(data_node):
    check_fdb(compute2(data_node))


def test_x3_holds_on_the_labs_controller_whose_network_has_no_remote_port(data_node):
    controller = data_node({FDB: "captured/lab-between/controller-fdb.json",
                            ADDR: "captured/lab-between/controller-addr.json"}, "controller")
    network = Network(id="9e6e1c22-2fd2-4c3b-a5fb-74e2e807f248", name="net", mtu=1450, provider_network_type="vxlan",
                      provider_segmentation_id=610)
    ips = between.tunnel_ips(AGENTS, "Linux bridge agent")
    between.check_vxlan_local(controller, network, ips["controller"])
    between.check_vxlan_fdb(controller, network, [], {})


def test_a_deleted_flood_entry_fails_naming_node_device_and_peer(data_node):
    fdb = edited("captured/lab-between/compute2-fdb.json", lambda entries: entries.remove(
        {"mac": "00:00:00:00:00:00", "ifname": "vxlan-610", "dst": "198.51.100.11", "flags": ["self"],
         "state": "permanent"}))
    with pytest.raises(CheckFailed) as failure:
        check_fdb(compute2(data_node, fdb=fdb))
    message = str(failure.value)
    assert "device vxlan-610" in message and "node compute2" in message
    assert "flood entry 00:00:00:00:00:00 dst 198.51.100.11 (compute1): expected" in message


def test_a_remote_mac_the_kernel_learned_back_is_not_the_agents(data_node):
    def learned(entries):
        for e in entries:
            if e["mac"] == "fa:16:3e:a2:19:6e":
                del e["state"]  # as `bridge -j fdb` prints an entry the vxlan device learned
    with pytest.raises(CheckFailed) as failure:
        check_fdb(compute2(data_node, fdb=edited("captured/lab-between/compute2-fdb.json", learned)))
    assert ("entry fa:16:3e:a2:19:6e dst 198.51.100.11 (port on peer compute1): expected permanent (l2population's), "
            "actual learned") in str(failure.value)


def test_a_deleted_remote_mac_fails_naming_the_peer_and_its_tunnel_ip(data_node):
    def drop(entries):
        entries[:] = [e for e in entries if e["mac"] != "fa:16:3e:a2:19:6e"]
    with pytest.raises(CheckFailed) as failure:
        check_fdb(compute2(data_node, fdb=edited("captured/lab-between/compute2-fdb.json", drop)))
    assert ("entry fa:16:3e:a2:19:6e dst (port on peer compute1): expected 198.51.100.11 (compute1's tunneling_ip), "
            "actual nothing") in str(failure.value)


def test_a_flood_entry_to_a_host_without_a_port_fails(data_node):
    ports = [p for p in PORTS if p.binding_host_id != "compute1"]
    with pytest.raises(CheckFailed, match=r"flood entry 00:00:00:00:00:00 dst 198\.51\.100\.11: expected none"):
        check_fdb(compute2(data_node), ports)


def test_a_wrong_local_address_fails(data_node):
    agents = [a if a.host != "compute2" else Agent(**{**a.__dict__, "configurations": {"tunneling_ip": "198.51.100.99"}})
              for a in AGENTS]
    ips = between.tunnel_ips(agents, "Linux bridge agent")
    with pytest.raises(CheckFailed, match=r"vxlan-610 local: expected 198\.51\.100\.99 .*actual 198\.51\.100\.12"):
        between.check_vxlan_local(compute2(data_node), NET, ips["compute2"])


def test_a_host_with_no_port_has_no_vxlan_device(data_node):
    with pytest.raises(CheckFailed, match="device vxlan-610: expected absent .*actual present"):
        between.check_no_vxlan(compute2(data_node), NET)
    without = edited("captured/lab-between/compute2-addr.json",
                     lambda links: links.__setitem__(slice(None), [e for e in links if e["ifname"] != "vxlan-610"]))
    between.check_no_vxlan(compute2(data_node, addr=without), NET)


def test_x2_the_underlay_carries_the_mtu_plus_the_vxlan_overhead(data_node):
    between.check_underlay_mtu(compute2(data_node), NET, "198.51.100.12", "vxlan")


def test_x2_an_underlay_lowered_below_mtu_plus_overhead_fails_naming_the_device(data_node):
    def lower(links):
        next(e for e in links if e["ifname"] == "oslab-vx0")["mtu"] = 1499
    with pytest.raises(CheckFailed) as failure:
        between.check_underlay_mtu(compute2(data_node, addr=edited("captured/lab-between/compute2-addr.json", lower)),
                                   NET, "198.51.100.12", "vxlan")
    assert ("device oslab-vx0 (tunnel IP 198.51.100.12) MTU: expected at least 1500 (network MTU 1450 + 50), "
            "actual 1499") in str(failure.value)
    assert "node compute2" in str(failure.value)


def test_x6_the_dhcp_ports_are_bound_to_the_dhcp_agents_hosts():
    dhcp = [p for p in PORTS if p.device_owner == "network:dhcp"]
    between.check_dhcp_ports_on_agents(NET, dhcp, {"controller"})
    with pytest.raises(CheckFailed, match="binding host: expected one of controller .*actual compute1"):
        between.check_dhcp_ports_on_agents(NET, [Port(**{**dhcp[0].to_dict(), "binding_host_id": "compute1"})],
                                           {"controller"})


NETNS, PS = "ip netns list", "ps -ww -C dnsmasq -o pid,args"
SERVED = Network(id="9e6e1c22-2fd2-4c3b-a5fb-74e2e807f248", name="net", mtu=1450)


def test_x6_a_compute_without_a_dhcp_agent_and_without_dhcp_passes(data_node):
    bare = data_node({NETNS: Text(""), PS: "captured/lab-between/no-dnsmasq-ps.txt"}, "compute1")
    between.check_no_dhcp_here(bare, SERVED)


def test_x6_a_stale_dhcp_namespace_and_dnsmasq_on_a_compute_fail_naming_both(data_node):
    # the controller's real state, as a compute without a DHCP agent would show a left-behind DHCP server
    stale = data_node({NETNS: "captured/lab-between/controller-netns.txt",
                       PS: "captured/lab-between/controller-ps-dnsmasq.txt"}, "compute1")
    with pytest.raises(CheckFailed) as failure:
        between.check_no_dhcp_here(stale, SERVED)
    message = str(failure.value)
    assert "namespace qdhcp-9e6e1c22-2fd2-4c3b-a5fb-74e2e807f248: expected absent (no DHCP agent on compute1)" in message
    assert "dnsmasq for the network: expected none, actual pid(s) 10145" in message and "node compute1" in message


# X7 on real outputs: compute2 (the replica) runs the moved server's tap and domain; the lab's controller, the host it
# left, has neither
VIRSH = "virsh list --all"
MOVED = PORTS[3]  # tap5d1f3c2a-9e on compute2
SERVER = Server(id="7c0ffee0-0000-4000-8000-000000000005", name="cold_mover")


def moved_nodes(data_node, old_addr="captured/lab-between/controller-addr.json"):
    new = data_node({ADDR: "captured/lab-between/compute2-addr.json", VIRSH: "captured/lab/virsh-list.txt",
                     FDB: "captured/lab-between/compute2-fdb.json"}, "compute2")
    header = Text("".join(read("captured/lab/virsh-list.txt").splitlines(True)[:2]))
    old = data_node({ADDR: old_addr, VIRSH: header, FDB: "captured/lab-between/controller-fdb.json"}, "controller")
    return old, new


def test_x7_a_server_moved_whole_passes(data_node):
    old, new = moved_nodes(data_node)
    between.check_moved(old, new, SERVER, MOVED, NET, "instance-00000001", None, "vxlan-610", "198.51.100.12")


def test_x7_a_stale_tap_left_on_the_old_compute_fails_naming_it(data_node):
    def add_tap(links):
        tap = dict(next(e for e in json.loads(read("captured/lab-between/compute2-addr.json"))
                        if e["ifname"] == "tap5d1f3c2a-9e"))
        links.append(tap)
    old, new = moved_nodes(data_node, edited("captured/lab-between/controller-addr.json", add_tap))
    with pytest.raises(CheckFailed) as failure:
        between.check_moved(old, new, SERVER, MOVED, NET, "instance-00000001", None, "vxlan-610", "198.51.100.12")
    message = str(failure.value)
    assert "tap5d1f3c2a-9e on controller (old host): expected gone, actual still there" in message
    assert "node controller -> compute2" in message and f"port {MOVED.id}" in message


# X4 and X5 on the OVSDB rows of compute2 (tests/data/capture/between-ovsdb-replica.sh)
OVS = {f"ovs-vsctl --format=json list {t}": f"captured/lab-between/compute2-ovs-list-{t}.json"
       for t in ("Open_vSwitch", "Bridge", "Port", "Interface")}
SB = {f"ovn-sbctl --format=json list {t}": f"captured/lab-between/ovn-sb-list-{t}.json" for t in ("Chassis", "Encap")}
OVS_PEERS = [between.Peer("compute1", "198.51.100.11"), between.Peer("controller", "198.51.100.1")]


def test_x4_br_tun_holds_a_vxlan_port_to_each_peer_from_the_own_tunnel_ip(data_node):
    between.check_tunnel_ports(data_node(OVS, "compute2"), "198.51.100.12", OVS_PEERS, network=NET)


def test_x4_a_removed_tunnel_port_fails_naming_the_peer_bridge_and_node(data_node):
    def drop(table):
        table["data"] = [row for row in table["data"] if row[table["headings"].index("name")] != "vxlan-c633640b"]
    answers = {**OVS, "ovs-vsctl --format=json list Port": edited("captured/lab-between/compute2-ovs-list-Port.json",
                                                                  drop)}
    with pytest.raises(CheckFailed) as failure:
        between.check_tunnel_ports(data_node(answers, "compute2"), "198.51.100.12", OVS_PEERS, network=NET)
    message = str(failure.value)
    assert "vxlan port to peer 198.51.100.11 (compute1): expected on br-tun, actual tunnel ports vxlan-c6336401 -> " \
           "198.51.100.1" in message
    assert "device br-tun" in message and "node compute2" in message


def test_x5_the_chassis_has_its_hostname_and_encap_ip_and_geneve_ports_to_the_others(data_node):
    node = data_node({**OVS, **SB}, "compute2")
    between.check_chassis(node, "compute2", "", None)
    ips = between.encap_ips(node.sb_encaps(), node.sb_chassis())
    assert ips == {"controller": "198.51.100.1", "compute1": "198.51.100.11", "compute2": "198.51.100.12"}
    between.check_tunnel_ports(node, ips["compute2"], between.peers_of("compute2", ips, ips), bridge_name="br-int",
                               kind="geneve")


def test_x5_a_chassis_with_another_encap_ip_fails(data_node):
    def move(table):
        for row in table["data"]:
            if row[table["headings"].index("ip")] == "198.51.100.12":
                row[table["headings"].index("ip")] = "198.51.100.99"
    node = data_node({**OVS, **SB, "ovn-sbctl --format=json list Encap": edited(
        "captured/lab-between/ovn-sb-list-Encap.json", move)}, "compute2")
    with pytest.raises(CheckFailed, match=r"geneve encap IP: expected \[198\.51\.100\.12\] \(ovn-encap-ip of compute2\), "
                                          r"actual \[198\.51\.100\.99\]"):
        between.check_chassis(node, "compute2", "", None)


def test_x2_a_df_ping_of_exactly_the_mtu_arrives_and_one_byte_more_does_not(data_node):
    ns = "qdhcp-0b0cbe46-4c2c-44c4-9b33-9e8e4d7c5a11"
    node = data_node({f"ip netns exec {ns} ping -M do -c 1 -W 3 -s 1422 10.199.77.6":
                      "captured/lab-between/ns-ping-M-do-1450.txt",
                      f"ip netns exec {ns} ping -M do -c 1 -W 3 -s 1423 10.199.77.6":
                      "captured/lab-between/ns-ping-M-do-1451.txt"}, "controller")
    between.check_df_ping_from(node, ns, "10.199.77.6", 1450, peer="server far-2 on compute1")


def test_x2_a_path_that_loses_the_full_mtu_packet_fails_naming_namespace_node_and_peer(data_node):
    ns = "qdhcp-0b0cbe46-4c2c-44c4-9b33-9e8e4d7c5a11"
    lost = Text(read("captured/lab-between/ns-ping-M-do-1450.txt").replace("1 received", "0 received"))
    node = data_node({f"ip netns exec {ns} ping -M do -c 1 -W 3 -s 1422 10.199.77.6": lost,
                      f"ip netns exec {ns} ping -M do -c 1 -W 3 -s 1423 10.199.77.6":
                      "captured/lab-between/ns-ping-M-do-1451.txt"}, "controller")
    with pytest.raises(CheckFailed) as failure:
        between.check_df_ping_from(node, ns, "10.199.77.6", 1450, peer="server far-2 on compute1")
    message = str(failure.value)
    assert "DF packet of 1450 bytes arrives: expected True, actual False" in message
    assert f"namespace {ns}" in message and "node controller" in message and "far-2 on compute1" in message


# --- the three-node lab (tests/data/captured/lab-3nodes): network 09487bcb, vxlan-472 --------------------------
NET3 = Network(id="09487bcb-d5b5-4e7d-bf1c-038213dd3ce9", name="selfservice", mtu=1450,
               provider_network_type="vxlan", provider_segmentation_id=472)
LAB3 = {"vm": "198.51.100.1", "compute1": "198.51.100.11", "compute2": "198.51.100.12"}
# the run's ports as the FDB places them: the controller's (DHCP, router, the run's other servers), one far server
# on each compute
PORTS3 = [Port(id=f"{i:08x}-0000-4000-8000-000000000000", mac_address=mac, status="ACTIVE", binding_host_id=host)
          for i, (mac, host) in enumerate([("fa:16:3e:4f:1d:3d", "vm"), ("fa:16:3e:8c:54:59", "vm"),
                                           ("fa:16:3e:55:77:b0", "vm"), ("fa:16:3e:c8:2e:83", "vm"),
                                           ("fa:16:3e:36:d1:29", "compute1"), ("fa:16:3e:df:e7:a6", "compute2")])]


def lab3(data_node, name, fdb=None):
    return data_node({FDB: fdb or f"captured/lab-3nodes/{name}-fdb.json"}, name)


@pytest.mark.parametrize("name", ["compute1", "compute2"])
def test_x3_holds_on_each_compute_of_the_three_node_lab(data_node, name):
    hosts = between.hosts_with_ports(PORTS3)
    between.check_vxlan_fdb(lab3(data_node, name), NET3, between.peers_of(name, hosts, LAB3),
                            between.remote_macs(PORTS3, name, LAB3))


def test_x3_on_the_three_node_lab_a_deleted_flood_entry_fails_naming_node_device_and_peer(data_node):
    def drop(entries):
        entries[:] = [e for e in entries if not (e["mac"] == "00:00:00:00:00:00" and e.get("dst") == "198.51.100.12")]
    hosts = between.hosts_with_ports(PORTS3)
    with pytest.raises(CheckFailed) as failure:
        between.check_vxlan_fdb(lab3(data_node, "compute1", edited("captured/lab-3nodes/compute1-fdb.json", drop)),
                                NET3, between.peers_of("compute1", hosts, LAB3),
                                between.remote_macs(PORTS3, "compute1", LAB3))
    message = str(failure.value)
    assert "flood entry 00:00:00:00:00:00 dst 198.51.100.12 (compute2): expected" in message
    assert "device vxlan-472" in message and "node compute1" in message


def test_x6_holds_on_a_compute_of_the_three_node_lab(data_node):
    compute1 = data_node({NETNS: "captured/lab-3nodes/compute1-netns.txt",
                          PS: "captured/lab-3nodes/compute1-ps-dnsmasq.txt"}, "compute1")
    between.check_no_dhcp_here(compute1, NET3)


def test_x2_the_df_pings_from_the_controllers_namespace_to_a_compute_guest(data_node):
    ns = "qdhcp-09487bcb-d5b5-4e7d-bf1c-038213dd3ce9"
    node = data_node({f"ip netns exec {ns} ping -M do -c 1 -W 3 -s {size - 28} 10.199.182.103":
                      f"captured/lab-3nodes/vm-qdhcp-ping-M-do-{size}.txt" for size in (1450, 1451)}, "vm")
    between.check_df_ping_from(node, ns, "10.199.182.103", 1450, peer="far_servers-2 on compute1")
