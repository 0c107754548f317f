"""How an API security-group rule reads as the ACL match neutron's OVN driver writes (``ovn_acls.expected_match``),
on rules of the shapes a group holds: the default group's, SSH and ICMP from anywhere, a port range, a prefix."""
from openstack.network.v2.security_group_rule import SecurityGroupRule

from pytest_oslab.checks.ovn_acls import expected_match, match_terms, port_group_name

GROUP = "5d1f0c1e-8f3b-4a51-9d3c-2b7f3c0e9a11"
PEER = "0b6e4d2a-1c3f-4e5d-8a7b-9c0d1e2f3a4b"


def rule(**body):
    return SecurityGroupRule(security_group_id=GROUP, **body)


def terms(text):
    return match_terms(text)


def test_the_port_group_name_is_the_group_id_with_underscores():
    assert port_group_name(GROUP) == "pg_5d1f0c1e_8f3b_4a51_9d3c_2b7f3c0e9a11"


def test_ingress_ssh_from_anywhere():
    r = rule(direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=22, port_range_max=22,
             remote_ip_prefix="0.0.0.0/0")
    assert expected_match(r) == terms(f"outport == @{port_group_name(GROUP)} && ip4 && ip4.src == 0.0.0.0/0 && tcp "
                                      f"&& tcp.dst == 22")


def test_ingress_icmp_and_a_port_range_from_a_prefix():
    icmp = rule(direction="ingress", ethertype="IPv4", protocol="icmp")
    assert expected_match(icmp) == {f"outport == @{port_group_name(GROUP)}", "ip4", "icmp4"}
    ranged = rule(direction="ingress", ethertype="IPv4", protocol="udp", port_range_min=5000, port_range_max=5010,
                  remote_ip_prefix="10.0.0.0/8")
    assert expected_match(ranged) == {f"outport == @{port_group_name(GROUP)}", "ip4", "ip4.src == 10.0.0.0/8",
                                      "udp", "udp.dst >= 5000", "udp.dst <= 5010"}


def test_the_default_groups_rules_egress_anywhere_and_ingress_from_the_group():
    egress6 = rule(direction="egress", ethertype="IPv6")
    assert expected_match(egress6) == {f"inport == @{port_group_name(GROUP)}", "ip6"}
    members = rule(direction="ingress", ethertype="IPv4", remote_group_id=PEER)
    assert expected_match(members) == {f"outport == @{port_group_name(GROUP)}", "ip4",
                                       f"ip4.src == ${port_group_name(PEER)}_ip4"}


def test_a_rule_that_differs_in_its_port_does_not_read_as_the_acl():
    ssh = rule(direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=22, port_range_max=22)
    assert expected_match(ssh) != terms(f"outport == @{port_group_name(GROUP)} && ip4 && tcp && tcp.dst == 2222")
