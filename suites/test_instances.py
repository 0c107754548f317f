"""Instances (seeds 000, 001, 002): a server on each network, its DHCP entries, and on its compute node the libvirt
domain and interface, the tap, the bridge or OVS port it sits in, and no namespace of its own.

Checks run for a server on the provider network and one on the self-service network (``instance``); they only
read, so they share the run's servers.
"""
import pytest

from pytest_oslab.checks import control_plane, dhcp, instances, linuxbridge, openvswitch, ovn
from pytest_oslab.checks.core import on_any, on_each

pytestmark = [pytest.mark.oslab, pytest.mark.admin]


@pytest.mark.fact("I1")
def test_the_server_is_active_with_an_address_from_the_pool(instance, admin_cloud):
    server = admin_cloud.compute.get_server(instance.server.id)
    port = admin_cloud.network.get_port(instance.port.id)
    instances.check_server_active(server, port, instance.subnet)


@pytest.mark.fact("I2")
@pytest.mark.dhcp_agent
def test_dnsmasq_host_file_holds_the_mac_name_and_ip(instance, dhcp_facts, capabilities):
    on_each(dhcp_facts(instance.net), lambda on: dhcp.check_host_entry(on.node, instance.network, instance.port,
                                                                          capabilities.dns_domain))


@pytest.mark.fact("I3")
@pytest.mark.dhcp_agent
def test_dnsmasq_addn_hosts_names_the_ip(instance, dhcp_facts, capabilities):
    on_each(dhcp_facts(instance.net), lambda on: dhcp.check_addn_hosts_entry(
        on.node, instance.network, instance.port, capabilities.dns_domain))


@pytest.mark.fact("I4")
@pytest.mark.dhcp_agent
def test_dnsmasq_leases_hold_the_mac_and_ip_once_the_guest_asked(instance, dhcp_facts, oslab):
    """The guest asks while it boots; the lease is waited for (bounded by --oslab-ssh-timeout). With several DHCP
    agents any one of them may answer: the lease must be on at least one."""
    on_any(dhcp_facts(instance.net), lambda on: dhcp.check_lease(on.node, instance.network, instance.port,
                                                                 timeout=oslab.settings.ssh_timeout))


@pytest.mark.fact("I5")
def test_the_libvirt_domain_runs_on_the_compute_host(instance, node_facts, cloud):
    instances.check_domain_running(node_facts(instance.server), instance.server, instance.instance_name,
                                   cloud.network.ports(device_id=instance.server.id))


@pytest.mark.fact("I6")
def test_the_libvirt_interface_has_the_port_mac_tap_model_and_mtu(instance, node_facts, driver, firewall):
    instances.check_domain_interface(node_facts(instance.server), instance.server, instance.instance_name,
                                     instance.port, instance.network, driver, firewall)


@pytest.mark.fact("I7")
def test_the_tap_is_up_at_the_network_mtu_in_its_bridge_with_the_port_mac(instance, node_facts, driver, firewall):
    instances.check_tap(node_facts(instance.server), instance.server, instance.port, instance.network, driver,
                        firewall)


@pytest.mark.fact("I8")
@pytest.mark.openvswitch
def test_the_tap_is_in_br_int_with_the_networks_local_vlan_tag(instance, node_facts, admin_cloud, firewall):
    host = instance.host
    peers = [p.id for p in admin_cloud.network.ports(network_id=instance.network.id) if p.binding_host_id == host]
    openvswitch.check_port_tag(node_facts(instance.server), instance.server, instance.port, instance.network,
                               firewall, peers)


@pytest.mark.fact("I9")
@pytest.mark.linuxbridge
@pytest.mark.requires(network_type="vxlan")
def test_the_vxlan_device_carries_the_vni_from_the_tunnel_address(server_a, node_facts, capabilities):
    node = node_facts(server_a.server)
    agent = control_plane.agent_on(capabilities, "Linux bridge agent", server_a.host or node.name)
    linuxbridge.check_vxlan_device(node, server_a.network, agent.configurations.get("tunneling_ip"))


@pytest.mark.fact("I10")
def test_no_network_namespace_is_made_for_the_instance(instance, node_facts):
    instances.check_no_instance_namespace(node_facts(instance.server), instance.server, instance.port)


# --- ML2/OVN's equivalents ----------------------------------------------------------------------------------

@pytest.mark.fact("I8")
@pytest.mark.ovn
def test_the_port_is_up_in_ovn_and_bound_to_the_compute_nodes_chassis(instance, node_facts):
    ovn.check_port_bound(node_facts(instance.server), instance.server, instance.port, instance.network)


@pytest.mark.fact("I2", "N10")
@pytest.mark.ovn
def test_ovn_answers_the_ports_dhcp_with_the_subnets_gateway_and_mtu(instance, node_facts):
    """No dnsmasq on ML2/OVN: ovn-controller answers DHCP from the subnet's DHCP_Options row."""
    ovn.check_dhcp_options(node_facts(instance.server), instance.network, instance.subnet, instance.port)
