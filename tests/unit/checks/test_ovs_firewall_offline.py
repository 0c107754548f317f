"""The native OVS firewall's checks on the flows captured from the lab (tests/data/captured/lab-ovs): they pass
on them, and each edit a broken firewall would show fails naming the rule, table and ofport."""
import json

import pytest
from openstack.network.v2.port import Port
from openstack.network.v2.security_group_rule import SecurityGroupRule

from recording import DATA, Replay, Text, read
from pytest_oslab.checks import ovs_firewall
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts

LAB = "captured/lab-ovs/"
FLOWS = LAB + "ovs-ofctl-dump-flows-br-int.txt"
API = json.loads((DATA / LAB / "api-port-and-rules.json").read_text())
PORT = Port(**API["port"])
RULES = [SecurityGroupRule(**r) for r in API["rules"]]
SSH = next(r for r in RULES if r.port_range_min == 22)


def node(edit=None):
    flows = read(FLOWS)
    return NodeFacts(Replay({"ovs-ofctl dump-flows br-int": Text(edit(flows)) if edit else FLOWS,
                             "ovs-vsctl --format=json list Interface": LAB + "ovs-list-Interface.json"}), "vm")


def without(*words):
    return lambda text: "".join(line for line in text.splitlines(keepends=True)
                                if not all(w in line for w in words))


CHECKS = {
    "ingress": lambda n: ovs_firewall.check_ingress_flows(n, None, PORT, RULES),
    "egress": lambda n: ovs_firewall.check_egress_flows(n, None, PORT, RULES),
    "spoofing": lambda n: ovs_firewall.check_spoofing_flows(n, None, PORT),
    "marked": lambda n: ovs_firewall.check_port_marked(n, None, PORT, 2),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_captured_flows_pass(name):
    CHECKS[name](node())


def test_the_ssh_rules_flow_removed_fails_s1_naming_the_rule():
    with pytest.raises(CheckFailed) as failed:
        CHECKS["ingress"](node(without("table=82", "tp_dst=22", "+new-est")))
    assert f"rule {SSH.id[:8]} (ingress IPv4 tcp 22 from anywhere) for ofport 19, actual none" in str(failed.value)
    assert PORT.id in str(failed.value)


def test_the_ssh_flow_on_another_port_fails_s1():
    with pytest.raises(CheckFailed):
        CHECKS["ingress"](node(lambda t: t.replace("reg5=0x13,tp_dst=22", "reg5=0x13,tp_dst=2222")))


def test_no_fallback_to_the_drop_table_fails_s2():
    with pytest.raises(CheckFailed) as failed:
        CHECKS["egress"](node(without("table=72", "ct_state=-est,reg5=0x13")))
    assert "table 72: expected the port's fallback (ct_state=-est -> table 93, drop), actual none" in str(failed.value)


def test_ip_let_out_from_another_address_fails_s3():
    with pytest.raises(CheckFailed) as failed:
        CHECKS["spoofing"](node(lambda t: t.replace("nw_src=10.10.0.39 actions=ct(table=72",
                                                     "nw_src=10.10.0.99 actions=ct(table=72")))
    message = str(failed.value)
    assert "expected IP from fa:16:3e:32:ae:3c 10.10.0.39 let through, actual no such flow" in message
    assert "IP sources let through that the port does not hold: 10.10.0.99" in message


def test_the_port_not_marked_fails_s4():
    with pytest.raises(CheckFailed) as failed:
        CHECKS["marked"](node(without("table=60", "in_port=19")))
    assert "expected in_port=19 marked and sent to table 71, actual none" in str(failed.value)


def test_a_rule_shown_and_gone_s5():
    ovs_firewall.check_rule_flows_applied(node(), None, PORT, SSH, True, 0)
    ovs_firewall.check_rule_flows_applied(node(without("tp_dst=22")), None, PORT, SSH, False, 0)
    with pytest.raises(CheckFailed):
        ovs_firewall.check_rule_flows_applied(node(), None, PORT, SSH, False, 0)
