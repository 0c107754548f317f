"""Networks and DHCP (seeds 002 and 003): the provider and self-service networks, their subnets, and on every node
whose DHCP agent serves them the ``qdhcp-<net>`` namespace, its device, addresses, routes and listeners, dnsmasq
and its files, and how the node's bridges carry the network.

Every check that reads a node runs for both networks (``net``: provider, selfservice) and on each DHCP node.
"""
import pytest

from pytest_oslab.checks import control_plane, dhcp, linuxbridge, networks, openvswitch, ovn
from pytest_oslab.checks.core import on_each, wait_until

pytestmark = [pytest.mark.oslab, pytest.mark.admin]


def served(net, dhcp_facts):
    """[Served(node, DHCP port bound there)] for the network; a node without its DHCP port fails the check at once."""
    pairs = dhcp_facts(net)
    dhcp.check_dhcp_port_on_each_node(pairs, net.network, net.dhcp_ports)
    return pairs


# --- the networks and subnets as the API gives them -----------------------------------------------------------

@pytest.mark.fact("N1")
def test_the_provider_network_is_active_flat_shared_and_external(provider, oslab):
    """Shared as it is meant to be: ``oslab.provider_network_shared`` when clouds.yaml says, else as the install
    guide makes it (devstack's ``public`` is external but not shared)."""
    networks.check_provider_network(provider.network, oslab.choice.oslab.provider_network_shared)


@pytest.mark.fact("N2")
def test_the_selfservice_network_is_an_overlay_with_a_segmentation_id_and_mtu(selfservice, driver):
    """vxlan (geneve under ML2/OVN, whose equivalent it is)."""
    networks.check_overlay_network(selfservice.network, ("geneve",) if driver == "ovn" else ("vxlan",))


@pytest.mark.fact("N2")
@pytest.mark.dhcp_agent
@pytest.mark.requires(network_type="vxlan")
def test_the_selfservice_mtu_is_what_its_devices_show(selfservice, dhcp_facts, driver):
    on_each(served(selfservice, dhcp_facts),
            lambda on: networks.check_overlay_mtu_on_node(on.node, selfservice.network, on.port, driver))


@pytest.mark.fact("N3")
def test_the_subnet_pool_gateway_and_dns_agree_and_dhcp_is_on(net):
    networks.check_subnet(net.subnet, net.network)


@pytest.mark.fact("N3")
@pytest.mark.dhcp_agent
def test_dnsmasq_serves_the_subnet_cidr_gateway_and_dns_servers(net, dhcp_facts):
    on_each(served(net, dhcp_facts), lambda on: dhcp.check_subnet_served(on.node, net.network, net.subnet, on.port))


@pytest.mark.fact("N4")
@pytest.mark.dhcp_agent
def test_the_dhcp_port_is_active_bound_to_a_dhcp_agent_with_an_ip_from_the_pool(net, capabilities):
    if not net.dhcp_ports:
        pytest.fail(f"network {net.network.name}: no port with device_owner network:dhcp", pytrace=False)
    on_each(net.dhcp_ports, lambda port: dhcp.check_dhcp_port(port, net.network, net.subnet,
                                                               capabilities.dhcp_hosts))


# --- inside qdhcp-<net> on each DHCP node ----------------------------------------------------------------------

@pytest.mark.fact("N5")
@pytest.mark.dhcp_agent
def test_the_qdhcp_namespace_exists_on_each_dhcp_node(net, dhcp_facts):
    on_each(dhcp_facts(net), lambda on: dhcp.check_dhcp_namespace(on.node, net.network))


@pytest.mark.fact("N6")
@pytest.mark.dhcp_agent
def test_the_dhcp_device_is_up_with_the_port_mac_and_network_mtu(net, dhcp_facts, driver):
    on_each(served(net, dhcp_facts), lambda on: dhcp.check_dhcp_device(on.node, net.network, on.port, driver))


@pytest.mark.fact("N7")
@pytest.mark.dhcp_agent
def test_the_dhcp_device_holds_the_port_ip_and_the_metadata_address(net, dhcp_facts, driver):
    on_each(served(net, dhcp_facts),
            lambda on: dhcp.check_dhcp_addresses(on.node, net.network, on.port, net.subnet, driver))


@pytest.mark.fact("N8")
@pytest.mark.dhcp_agent
def test_the_dhcp_namespace_routes_via_the_gateway_and_the_subnet(net, dhcp_facts, driver):
    on_each(served(net, dhcp_facts),
            lambda on: dhcp.check_dhcp_routes(on.node, net.network, on.port, net.subnet, driver))


@pytest.mark.fact("N9")
@pytest.mark.dhcp_agent
def test_dnsmasq_and_the_metadata_proxy_listen_in_the_namespace(net, dhcp_facts):
    on_each(served(net, dhcp_facts),
            lambda on: dhcp.check_dhcp_listeners(on.node, net.network, on.port, net.subnet))


@pytest.mark.fact("N10")
@pytest.mark.dhcp_agent
def test_one_dnsmasq_serves_the_network_with_its_files_ranges_mtu_and_domain(net, dhcp_facts, capabilities):
    on_each(dhcp_facts(net), lambda on: dhcp.check_dnsmasq(on.node, net.network, [net.subnet],
                                                              capabilities.dns_domain))


@pytest.mark.fact("N10")
@pytest.mark.dhcp_agent
def test_every_mtu_dnsmasq_gives_the_guests_is_the_network_mtu(net, dhcp_facts):
    """The command line's MTU option and any in the ``opts`` file (a subnet's tag wins over the command line); what
    the guest received is G1's MTU."""
    on_each(dhcp_facts(net), lambda on: dhcp.check_mtu_everywhere(on.node, net.network))


@pytest.mark.fact("N11")
@pytest.mark.dhcp_agent
def test_the_interface_file_names_the_dhcp_device(net, dhcp_facts, driver):
    on_each(served(net, dhcp_facts), lambda on: dhcp.check_interface_file(on.node, net.network, on.port, driver))


# --- the node's bridges --------------------------------------------------------------------------------------

@pytest.mark.fact("N12")
@pytest.mark.openvswitch
def test_the_dhcp_tap_is_a_br_int_port_with_a_local_vlan_tag(net, dhcp_facts):
    on_each(served(net, dhcp_facts), lambda on: openvswitch.check_dhcp_port_tagged(on.node, net.network, on.port))


@pytest.mark.fact("N12")
@pytest.mark.openvswitch
def test_br_int_and_the_physical_bridge_are_patched_secure_and_connected(provider, dhcp_facts, capabilities):
    physnet = provider.network.provider_physical_network

    def check(on):
        node = on.node
        agent = control_plane.agent_on(capabilities, "Open vSwitch agent", node.name)
        bridge = (agent.configurations.get("bridge_mappings") or {}).get(physnet) or f"br-{physnet}"
        openvswitch.check_bridges_patched(node, physnet, bridge)
    on_each(dhcp_facts(provider), check)


@pytest.mark.fact("N13")
@pytest.mark.linuxbridge
def test_the_network_bridge_holds_its_uplink_and_the_dhcp_tap(net, dhcp_facts, capabilities, admin_cloud):
    """And nothing else: every other member is the tap of a port of the network. A port deleted while attached
    leaves its tap until nova has detached the interface (asynchronously), so the bridge has 30 s to settle."""
    physnet = net.network.provider_physical_network

    def check(on):
        node, port = on
        agent = control_plane.agent_on(capabilities, "Linux bridge agent", node.name)
        interface = (agent.configurations.get("interface_mappings") or {}).get(physnet) if physnet else None
        wait_until(lambda: linuxbridge.check_bridge_members(
            node, net.network, interface, port, list(admin_cloud.network.ports(network_id=net.network.id))), 30, 3)
    on_each(served(net, dhcp_facts), check)


# --- ML2/OVN's equivalent: no qdhcp namespace, an ovnmeta one on each compute node with ports of the network --

@pytest.mark.fact("N5", "N7")
@pytest.mark.ovn
def test_the_ovnmeta_namespace_serves_the_network_on_the_compute_node(instance, node_facts, admin_cloud):
    metadata = [ip for p in admin_cloud.network.ports(network_id=instance.network.id,
                                                     device_owner="network:distributed")
                for ip in (f["ip_address"] for f in p.fixed_ips or []) if ":" not in ip]
    ovn.check_metadata_namespace(node_facts(instance.server), instance.network, metadata)


@pytest.mark.fact("N9")
@pytest.mark.ovn
def test_the_metadata_proxy_listens_in_the_ovnmeta_namespace(instance, node_facts):
    ovn.check_metadata_proxy(node_facts(instance.server), instance.network, timeout=60)
