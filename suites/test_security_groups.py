"""Security groups on the iptables firewall (seed 001: ``iptables -L`` on the compute node): each port's ingress,
egress and spoofing chains against its groups' rules from the API, how the bridge's traffic reaches them, and a
rule added and removed through the API showing up in the chain and in the traffic. On ML2/OVN the same facts in
the northbound DB: the groups' port groups and their ACLs, the port's ``port_security``; on Open vSwitch's native
firewall in ``br-int``'s OpenFlow tables.

Setup: the run's servers (read-only), and for S5 a server whose security group is its own (SSH only).
"""
import pytest

from pytest_oslab.checks import firewall, guests, names, ovn_acls, ovs_firewall
from pytest_oslab.checks.core import wait_until

pytestmark = [pytest.mark.oslab, pytest.mark.admin]
iptables = pytest.mark.iptables_firewall
native = pytest.mark.ovs_firewall


@pytest.fixture(scope="session")
def chain_driver(driver):
    """Whose chain names to read: neutron-linuxbri-… (Linux bridge) or neutron-openvswi-… (OVS hybrid)."""
    return "openvswitch" if driver == "openvswitch" else "linuxbridge"


def group_rules(api, port):
    return [r for gid in port.security_group_ids for r in api.network.security_group_rules(security_group_id=gid)]


@iptables
@pytest.mark.fact("S1")
def test_the_ingress_chain_returns_each_ingress_rule_and_falls_back(instance, node_facts, admin_cloud, chain_driver):
    port = admin_cloud.network.get_port(instance.port.id)
    firewall.check_ingress_chain(node_facts(instance.server), instance.server, port, group_rules(admin_cloud, port),
                                 chain_driver)


@iptables
@pytest.mark.fact("S2")
def test_the_egress_chain_allows_dhcp_stops_spoofing_and_returns_each_egress_rule(instance, node_facts, admin_cloud,
                                                                                   chain_driver):
    port = admin_cloud.network.get_port(instance.port.id)
    firewall.check_egress_chain(node_facts(instance.server), instance.server, port, group_rules(admin_cloud, port),
                                chain_driver)


@iptables
@pytest.mark.fact("S3")
def test_the_spoofing_chain_allows_only_the_ports_ip_and_mac(instance, node_facts, admin_cloud, chain_driver):
    port = admin_cloud.network.get_port(instance.port.id)
    firewall.check_spoofing_chain(node_facts(instance.server), instance.server, port, chain_driver)


@iptables
@pytest.mark.fact("S4")
def test_the_taps_bridged_traffic_reaches_the_port_chains(instance, node_facts, chain_driver):
    firewall.check_sg_chain_jumps(node_facts(instance.server), instance.server, instance.port, chain_driver)


@iptables
@pytest.mark.fact("S4")
def test_the_kernel_passes_the_bridged_traffic_through_iptables(instance, node_facts):
    firewall.check_bridged_traffic_filtered(node_facts(instance.server), instance.server)


@pytest.mark.fact("S4")
def test_the_groups_decide_the_traffic_opened_ports_answer_the_rest_is_dropped(guarded_server, server_a, reach):
    """On every driver, by traffic. Setup: a server in a group of its own that lets only SSH in; server_a as the
    peer. Steps: from the peer, TCP 22 answers, TCP 8080 (no rule, nothing listening) gets no reset but nothing,
    and ping gets no reply. Teardown: none (read-only)."""
    peer = reach(server_a)
    reach(guarded_server)  # up, its DHCP done, before its traffic is judged
    guests.check_traffic_follows_the_groups(peer, guarded_server.ip, opened=[22], closed=[8080],
                                            target=f"server {guarded_server.server.name}")


@iptables
@pytest.mark.fact("S5")
def test_a_rule_added_and_removed_through_the_api_shows_in_the_chain_and_the_traffic(
        guarded_server, guarded_group, server_a, cloud, node_facts, reach, chain_driver):
    """Setup: a server in a group of its own that lets only SSH in; server_a as the peer that pings it.
    Steps: ping fails; add ICMP through the API -> the RETURN appears in the chain and ping answers; delete the
    rule -> the RETURN leaves the chain and ping fails again. Teardown: the rule is deleted if a step failed."""
    rule_follows(guarded_server, guarded_group, server_a, cloud, reach, node_facts, firewall.check_rule_applied,
                 chain_driver)


def rule_follows(guarded_server, guarded_group, peer_server, cloud, reach, node_facts, check, *extra):
    """S5's steps; ``check(node, server, port, rule, present, timeout, *extra)`` judges the data plane's copy of the
    rule (chain, ACL or flows)."""
    node = node_facts(guarded_server.server)

    def shown(rule, present):
        check(node, guarded_server.server, guarded_server.port, rule, present, 60, *extra)
    peer = reach(peer_server)
    reach(guarded_server)  # the guest is up (its DHCP done) before its traffic is judged
    target, who = guarded_server.ip, f"server {guarded_server.server.name}"
    wait_until(lambda: guests.check_no_ping(peer, target, peer=who), 30)
    rule = cloud.network.create_security_group_rule(security_group_id=guarded_group.id, direction="ingress",
                                                    ether_type="IPv4", protocol="icmp",
                                                    remote_ip_prefix="0.0.0.0/0")
    try:
        shown(rule, True)
        guests.check_ping(peer, target, peer=who)
    finally:
        cloud.network.delete_security_group_rule(rule, ignore_missing=True)
    shown(rule, False)
    wait_until(lambda: guests.check_no_ping(peer, target, peer=who), 30)


# --- ML2/OVN: port groups and ACLs in the northbound DB -------------------------------------------------------

@pytest.mark.fact("S1", "S2", "S4")
@pytest.mark.ovn
def test_the_ports_groups_are_port_groups_whose_acls_are_the_rules(instance, node_facts, admin_cloud):
    port = admin_cloud.network.get_port(instance.port.id)
    groups = [admin_cloud.network.get_security_group(g) for g in port.security_group_ids]
    ovn_acls.check_port_groups(node_facts(instance.server), instance.server, port, group_rules(admin_cloud, port),
                               groups)


@pytest.mark.fact("S3")
@pytest.mark.ovn
def test_the_logical_port_allows_only_the_ports_ip_and_mac(instance, node_facts, admin_cloud):
    port = admin_cloud.network.get_port(instance.port.id)
    ovn_acls.check_port_security(node_facts(instance.server), instance.server, port)


@pytest.mark.fact("S5")
@pytest.mark.ovn
def test_a_rule_added_and_removed_through_the_api_shows_as_an_acl_and_in_the_traffic(
        guarded_server, guarded_group, server_a, cloud, node_facts, reach):
    """As the iptables S5, the rule's copy being its ACL in the group's port group."""
    rule_follows(guarded_server, guarded_group, server_a, cloud, reach, node_facts, ovn_acls.check_acl_applied)


# --- Open vSwitch's native firewall: OpenFlow rules in br-int -------------------------------------------------

@native
@pytest.mark.fact("S1")
def test_the_ingress_flows_are_the_groups_ingress_rules(instance, node_facts, admin_cloud):
    port = admin_cloud.network.get_port(instance.port.id)
    ovs_firewall.check_ingress_flows(node_facts(instance.server), instance.server, port, group_rules(admin_cloud, port))


@native
@pytest.mark.fact("S2")
def test_the_egress_flows_are_the_groups_egress_rules(instance, node_facts, admin_cloud):
    port = admin_cloud.network.get_port(instance.port.id)
    ovs_firewall.check_egress_flows(node_facts(instance.server), instance.server, port, group_rules(admin_cloud, port))


@native
@pytest.mark.fact("S3")
def test_the_flows_let_out_only_the_ports_ip_and_mac(instance, node_facts, admin_cloud):
    port = admin_cloud.network.get_port(instance.port.id)
    ovs_firewall.check_spoofing_flows(node_facts(instance.server), instance.server, port)


@native
@pytest.mark.fact("S4")
def test_the_ports_traffic_goes_through_the_firewall_tables(instance, node_facts):
    node = node_facts(instance.server)
    tap = names.tap(instance.port.id)
    tag = next((p.tag for p in node.ovs_ports() if p.name == tap), None)
    ovs_firewall.check_port_marked(node, instance.server, instance.port, tag)


@native
@pytest.mark.fact("S5")
def test_a_rule_added_and_removed_through_the_api_shows_in_the_flows_and_the_traffic(
        guarded_server, guarded_group, server_a, cloud, node_facts, reach):
    """As the iptables S5, the rule's copy being its flows in br-int."""
    rule_follows(guarded_server, guarded_group, server_a, cloud, reach, node_facts,
                 ovs_firewall.check_rule_flows_applied)
