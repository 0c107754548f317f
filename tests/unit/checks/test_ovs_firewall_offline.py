"""The native OVS firewall's checks on the flows captured from the lab (tests/data/captured/lab-ovs): they pass
on them, and each edit a broken firewall would show fails naming the rule, table and ofport."""
import json

import pytest
from openstack.network.v2.port import Port
from openstack.network.v2.security_group_rule import SecurityGroupRule

import recording
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


EXTRA_HTTP = (" cookie=0x0, duration=1.0s, table=82, n_packets=0, n_bytes=0, idle_age=1, priority=77,"
              "ct_state=+new-est,tcp,reg5=0x13,tp_dst=80 actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:19,"
              "resubmit(,92)\n")


def test_an_extra_flow_letting_in_a_port_the_group_does_not_open_fails_s1_naming_the_flow():
    """Issue 14: a flow in the port's ingress rules table for TCP 80, which no rule of its groups opens."""
    with pytest.raises(CheckFailed) as failed:
        CHECKS["ingress"](node(lambda t: t + EXTRA_HTTP))
    message = str(failed.value)
    assert "table 82: expected only flows that the port's security-group rules or the documented conntrack states " \
           "imply to let traffic in, actual a flow for ofport 19 lets it through:" in message
    assert "tp_dst=80" in message and PORT.id in message


def test_an_extra_flow_for_another_ofport_is_not_this_ports():
    CHECKS["ingress"](node(lambda t: t + EXTRA_HTTP.replace("reg5=0x13", "reg5=0x14").replace("output:19",
                                                                                                "output:20")))


def test_an_extra_egress_flow_fails_s2():
    extra = (" cookie=0x0, duration=1.0s, table=72, n_packets=0, n_bytes=0, idle_age=1, priority=74,"
             "ct_state=+new-est,udp,reg5=0x13,tp_dst=53 actions=resubmit(,73)\n")
    with pytest.raises(CheckFailed) as failed:
        CHECKS["egress"](node(lambda t: t.replace("ct_state=+new-est,ip,reg5=0x13", "ct_state=+new-est,ip,reg5=0x99")
                              + extra))
    assert "to let traffic out, actual a flow for ofport 19 lets it through:" in str(failed.value)
    assert "tp_dst=53" in str(failed.value)


def test_an_extra_flow_added_to_the_recorded_lab_run_fails_s1():
    """The same fault on what a passing suite run read on the lab's OVS native mode (data/lab-openvswitch.json.gz)."""
    lab = recording.Lab(recording.load(recording.HERE / "data" / "lab-openvswitch.json.gz"))
    call = lab.call("ovs_firewall.check_ingress_flows", "[selfservice]")
    assert lab.replay(call) is None
    world = lab.world(call)
    port = call["args"][2]["body"]
    tap = "tap" + port["id"][:11]
    interfaces = json.loads(world.outputs[world.queues[("node", "vm", "ovs-vsctl --format=json list Interface")][0]
                                          ["stdout"]])
    row = next(dict(zip(interfaces["headings"], r)) for r in interfaces["data"]
               if dict(zip(interfaces["headings"], r))["name"] == tap)
    ofport = row["ofport"]
    flows = world.outputs[world.queues[("node", "vm", "ovs-ofctl dump-flows br-int")][0]["stdout"]]
    extra = EXTRA_HTTP.replace("reg5=0x13", f"reg5={hex(ofport)}").replace("output:19", f"output:{ofport}")
    world.set_result("node", "vm", "ovs-ofctl dump-flows br-int", 0, flows + extra)
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed)
    assert f"actual a flow for ofport {ofport} lets it through:" in str(failure) and "tp_dst=80" in str(failure)
    assert port["id"] in str(failure)
