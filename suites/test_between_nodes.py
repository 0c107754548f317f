"""Between nodes (X1-X7): two servers on the run's self-service network on two different computes (an anti-affinity
group), the tunnels and forwarding entries that join their hosts, the underlay's MTU, DHCP only where a DHCP agent
runs, and a server's traces after it moved. Skipped on a cloud with one compute node.
"""
from typing import Dict, List, NamedTuple

import pytest

from pytest_oslab.booted import read_booted
from pytest_oslab.checks import between, dhcp, guests, names, openvswitch
from pytest_oslab.checks.core import on_any, on_each, wait_until
from pytest_oslab.checks.ovn import databases
from pytest_oslab.provision import migration

pytestmark = [pytest.mark.oslab, pytest.mark.admin, pytest.mark.multinode]

L2_AGENTS = {"linuxbridge": "Linux bridge agent", "openvswitch": "Open vSwitch agent"}
OVN_CONTROLLERS = ("OVN Controller agent", "OVN Controller Gateway agent")


@pytest.fixture(scope="session")
def far_net(far_servers):
    return far_servers[0].net


@pytest.fixture
def net_ports(admin_cloud, far_net) -> List[object]:
    """The self-service network's ports as the API has them now (bindings, MACs, status)."""
    return list(admin_cloud.network.ports(network_id=far_net.network.id))


@pytest.fixture
def tunnel_ips(capabilities, driver) -> Dict[str, str]:
    """``{host: tunnel IP}`` from the L2 agents' configurations (``tunneling_ip``)."""
    if driver not in L2_AGENTS:
        pytest.skip(f"tunnel IPs come from an L2 agent's configuration; ML2/{driver} has none")
    return between.tunnel_ips(capabilities.agents, L2_AGENTS[driver])


class OnHost(NamedTuple):
    """A node as the checks read it and the host name the API gives it (agents, bindings, hypervisors)."""

    node: object
    host: str


@pytest.fixture
def on_hosts(node_facts):
    """``on_hosts(hosts) -> [OnHost]``: each host's node (``on_each`` asks them in parallel)."""
    return lambda hosts: [OnHost(node_facts(h), h) for h in hosts]


def by_host(ips: Dict[str, str], host: str):
    return ips.get(host) or ips.get(between.short(host))


def both_ways(far_servers):
    a, b = far_servers
    return [(a, b), (b, a)]


# --- X1: reachability and DHCP across the tunnel ---------------------------------------------------------------

@pytest.mark.fact("X1")
def test_two_guests_on_different_computes_ping_and_ssh_each_other(far_servers, reach):
    for one, other in both_ways(far_servers):
        peer = f"server {other.server.name} on {other.host}"
        guests.check_ping(reach(one), other.ip, peer=peer)
        between.check_ssh_answers(reach(one), other.ip, peer=peer)


@pytest.mark.fact("X1")
@pytest.mark.dhcp_agent
def test_each_guest_got_its_lease_across_the_tunnel_from_the_network_node(far_servers, dhcp_facts, reach, oslab,
                                                                          capabilities):
    remote = [b for b in far_servers if b.host in between.hosts_except([b.host], capabilities.dhcp_hosts)]
    if not remote:
        pytest.skip(f"both servers run on DHCP agent hosts ({', '.join(b.host for b in far_servers)})")
    for booted in remote:
        on_any(dhcp_facts(booted.net), lambda on: dhcp.check_lease(on.node, booted.network, booted.port,
                                                                   timeout=oslab.settings.ssh_timeout))
        guests.check_guest_nic(reach(booted), booted.port, booted.network, booted.subnet)


# --- X2: path MTU and the underlay -----------------------------------------------------------------------------

@pytest.mark.fact("X2")
def test_a_packet_of_exactly_the_mtu_crosses_to_the_other_compute_one_byte_more_does_not(far_servers, reach, oslab,
                                                                                       dhcp_facts):
    """Guest to guest: a ping of exactly the network MTU both ways (sent with DF: it fits the NIC). From the DHCP
    agent's namespace (qdhcp-, whose iputils ping sets DF strictly) to each guest on another node: exactly the
    MTU arrives, one byte more does not. Not from ML2/OVN's ovnmeta- namespace: its port is a localport, whose
    packets OVN delivers on its own chassis only, never through a tunnel."""
    for one, other in both_ways(far_servers):
        between.check_full_mtu_ping(reach(one), other.ip, one.network.mtu,
                                    peer=f"server {other.server.name} on {other.host}")
    namespace = oslab.namespace_of(far_servers[0].network.id)
    if namespace == names.ovnmeta(far_servers[0].network.id):
        return
    for booted in far_servers:
        elsewhere = [s.node for s in dhcp_facts(booted.net) if between.short(s.node.name) != between.short(booted.host)
                     and namespace in s.node.namespaces()]
        for node in elsewhere[:1]:
            between.check_df_ping_from(node, namespace, booted.ip, booted.network.mtu,
                                       peer=f"server {booted.server.name} on {booted.host}")


@pytest.mark.fact("X2")
def test_every_nodes_underlay_carries_the_network_mtu_plus_the_encapsulation(far_net, net_ports, on_hosts, driver,
                                                                             capabilities):
    kind = far_net.network.provider_network_type
    if kind not in between.OVERHEAD:
        pytest.skip(f"the self-service network is {kind}: no tunnel to carry")
    if driver == "ovn":
        def check(on):
            _, _, sb = databases(on.node)
            ips = between.encap_ips(on.node.sb_encaps(sb), on.node.sb_chassis(sb), kind)
            between.check_underlay_mtu(on.node, far_net.network, by_host(ips, on.host), kind)
    else:
        ips = between.tunnel_ips(capabilities.agents, L2_AGENTS[driver])

        def check(on):
            between.check_underlay_mtu(on.node, far_net.network, by_host(ips, on.host), kind)
    on_each(on_hosts(between.hosts_with_ports(net_ports)), check)


# --- X3: Linux bridge forwarding entries (l2population) --------------------------------------------------------

@pytest.mark.fact("X3")
@pytest.mark.linuxbridge
@pytest.mark.requires(network_type="vxlan")
def test_each_vxlan_device_floods_to_its_peers_and_knows_each_remote_mac(far_net, net_ports, tunnel_ips, on_hosts):
    hosts = between.hosts_with_ports(net_ports)

    def check(on):
        between.check_vxlan_local(on.node, far_net.network, by_host(tunnel_ips, on.host))
        between.check_vxlan_fdb(on.node, far_net.network, between.peers_of(on.host, hosts, tunnel_ips),
                                between.remote_macs(net_ports, on.host, tunnel_ips))
    on_each(on_hosts(hosts), check)


@pytest.mark.fact("X3")
@pytest.mark.linuxbridge
@pytest.mark.requires(network_type="vxlan")
def test_a_host_with_no_port_on_the_network_has_no_vxlan_device_for_it(far_net, net_ports, capabilities, on_hosts):
    bare = between.hosts_except(capabilities.compute_hosts, between.hosts_with_ports(net_ports))
    if not bare:
        pytest.skip(f"every compute node has a port on the network ({', '.join(capabilities.compute_hosts)})")
    on_each(on_hosts(bare), lambda on: between.check_no_vxlan(on.node, far_net.network))


# --- X4: Open vSwitch tunnels ----------------------------------------------------------------------------------

@pytest.mark.fact("X4")
@pytest.mark.openvswitch
@pytest.mark.requires(network_type="vxlan")
def test_br_tun_holds_a_tunnel_port_to_each_peer_host(far_net, net_ports, tunnel_ips, on_hosts):
    hosts = between.hosts_with_ports(net_ports)
    on_each(on_hosts(hosts), lambda on: between.check_tunnel_ports(
        on.node, by_host(tunnel_ips, on.host), between.peers_of(on.host, hosts, tunnel_ips), network=far_net.network))


@pytest.mark.fact("X4")
@pytest.mark.openvswitch
@pytest.mark.requires(network_type="vxlan")
def test_br_tun_maps_the_vni_to_the_local_vlan_of_br_int(far_servers, on_hosts, firewall):
    server_on = {b.host: b for b in far_servers}

    def check(on):
        booted = server_on[on.host]
        between.check_vni_to_vlan(on.node, booted.network, openvswitch.local_vlan(on.node, booted.port.id, firewall))
    on_each(on_hosts(server_on), check)


# --- X5: OVN chassis -------------------------------------------------------------------------------------------

@pytest.mark.fact("X5")
@pytest.mark.ovn
def test_each_chassis_has_its_hostname_and_encap_ip_and_a_tunnel_to_each_other(capabilities, on_hosts):
    hosts = sorted({h for t in OVN_CONTROLLERS for h in capabilities.hosts(t)}) or capabilities.compute_hosts

    def check(on):
        _, _, sb = databases(on.node)
        between.check_chassis(on.node, on.host, sb, None)
        ips = between.encap_ips(on.node.sb_encaps(sb), on.node.sb_chassis(sb))
        between.check_tunnel_ports(on.node, by_host(ips, on.host), between.peers_of(on.host, hosts, ips),
                                   bridge_name="br-int", kind="geneve")
    on_each(on_hosts(hosts), check)


@pytest.mark.fact("X5")
@pytest.mark.ovn
def test_each_servers_port_is_bound_to_the_chassis_of_its_host(far_servers, on_hosts):
    server_on = {b.host: b for b in far_servers}

    def check(on):
        booted = server_on[on.host]
        _, _, sb = databases(on.node)
        between.check_bound_to_host(on.node, sb, booted.server, booted.port, booted.host)
    on_each(on_hosts(server_on), check)


# --- X6: DHCP only where the agents say ------------------------------------------------------------------------

@pytest.mark.fact("X6")
@pytest.mark.dhcp_agent
def test_no_dhcp_namespace_or_dnsmasq_on_a_compute_without_a_dhcp_agent(far_servers, far_net, capabilities,
                                                                       on_hosts):
    bare = between.hosts_except(capabilities.compute_hosts, capabilities.dhcp_hosts)
    if not bare:
        pytest.skip(f"every compute node runs a DHCP agent ({', '.join(capabilities.compute_hosts)})")
    on_each(on_hosts(bare), lambda on: between.check_no_dhcp_here(on.node, far_net.network))


@pytest.mark.fact("X6")
@pytest.mark.dhcp_agent
def test_the_dhcp_port_is_bound_to_the_network_node(far_net, admin_cloud):
    agents = admin_cloud.network.network_hosting_dhcp_agents(far_net.network)
    between.check_dhcp_ports_on_agents(far_net.network, far_net.dhcp_ports, {a.host for a in agents})


# --- X7: after a migration -------------------------------------------------------------------------------------

MOVES = {"cold": migration.cold_migrate, "live": migration.live_migrate}
CHAINS = {"iptables": "linuxbridge", "iptables_hybrid": "openvswitch"}  # firewall -> whose chain names


class Moved(NamedTuple):
    """A server after its migration: where it was, the server as it is now, its port as it was before."""

    kind: str
    old_host: str
    booted: object
    port_before: object


@pytest.fixture(scope="session", params=["cold", "live"])
def moved(request, admin_cloud, oslab, mover) -> Moved:
    """The run's mover migrated once more to another compute: first cold (migrate + confirmResize), then live
    (block migration) from where the cold migration left it; a migration nova cannot do on this machine skips with
    nova's reason. One server for both: a guest fewer to boot."""
    kind = request.param
    booted = read_booted(admin_cloud, mover.server, mover.net, mover.role)  # where the last move left it
    old_host, port_before = booted.host, admin_cloud.network.get_port(booted.port.id)
    try:
        MOVES[kind](admin_cloud, booted.server, oslab.settings.timeout)
    except migration.MigrationFailed as e:
        pytest.skip(f"{kind} migration from {old_host} did not happen on this cloud: {e}")
    after = read_booted(admin_cloud, booted.server, booted.net, booted.role)
    if between.short(after.host) == between.short(old_host):
        pytest.fail(f"{kind} migration of server {booted.server.name} reported done, but it is still on {old_host}",
                    pytrace=False)
    return Moved(kind, old_host, after, port_before)


@pytest.mark.fact("X7")
def test_a_migrated_server_is_on_the_new_compute_and_gone_from_the_old(moved, node_facts, driver, firewall,
                                                                      capabilities):
    b = moved.booted
    old, new = node_facts(moved.old_host), node_facts(b.host)
    ips = between.tunnel_ips(capabilities.agents, L2_AGENTS.get(driver, ""))
    vxlan = names.vxlan(b.network.provider_segmentation_id) if driver == "linuxbridge" else None
    wait_until(lambda: between.check_moved(old, new, b.server, b.port, b.network, b.instance_name,
                                           CHAINS.get(firewall or ""), vxlan, ips.get(b.host)), 60, 3)


@pytest.mark.fact("X7")
def test_a_migrated_server_keeps_its_mac_address_and_reachability(moved, admin_cloud, reach):
    b = moved.booted
    between.check_kept(admin_cloud.network.get_port(b.port.id), moved.port_before, b.host)
    guests.check_guest_nic(reach(b), b.port, b.network, b.subnet)
