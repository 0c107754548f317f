"""S4's kernel half (bridged traffic sent through iptables) on the sysctls captured on the lab's machine, and N10's
MTUs (dnsmasq's command line and its ``opts`` file) on what a passing suite run read on the lab; each fault an
operator could plant fails naming the object, expected against actual."""
import json

import pytest

from recording import Replay, Text, read
from pytest_oslab.checks import dhcp, firewall
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts

SYSCTL = "sysctl net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables"
CAPTURED = "captured/lab-sysctl/sysctl-bridge-nf.txt"


def kernel(answer):
    return NodeFacts(Replay({SYSCTL: answer}), "vm")


def test_the_captured_sysctls_pass_s4():
    firewall.check_bridged_traffic_filtered(kernel(CAPTURED))


def test_bridged_traffic_not_sent_to_iptables_fails_s4_naming_the_sysctl_and_node():
    text = read(CAPTURED).replace("bridge-nf-call-iptables = 1", "bridge-nf-call-iptables = 0")
    with pytest.raises(CheckFailed) as failed:
        firewall.check_bridged_traffic_filtered(kernel(Text(text)))
    message = str(failed.value)
    assert "net.bridge.bridge-nf-call-iptables: expected 1 (bridged traffic through the iptables firewall), " \
           "actual 0" in message and "node vm" in message
    assert "ip6tables" not in message.split("actual 0")[1]


def test_no_br_netfilter_fails_s4():
    with pytest.raises(CheckFailed) as failed:
        firewall.check_bridged_traffic_filtered(kernel(Text("")))
    assert "br_netfilter: expected loaded" in str(failed.value)


# --- N10: every MTU dnsmasq tells the guests ------------------------------------------------------------------

def mtu_call(lab, test):
    """check_mtu_everywhere on the outputs a recorded check_subnet_served read (dnsmasq's ``ps`` line and the
    network's ``opts`` file, from the same run)."""
    call = lab.call("dhcp.check_subnet_served", test)
    call["check"], call["args"], call["kwargs"] = "dhcp.check_mtu_everywhere", call["args"][:2], {"$dict": []}
    return call


def opts_command(call):
    return f"cat /var/lib/neutron/dhcp/{call['args'][1]['body']['id']}/opts"


@pytest.mark.parametrize("test", ["[provider]", "[selfservice]"])
def test_the_recorded_mtus_pass_n10(lab, test):
    assert lab.replay(mtu_call(lab, test)) is None


@pytest.mark.parametrize("option", ["option:mtu", "26"])
def test_an_opts_line_giving_the_subnet_another_mtu_fails_n10_naming_the_line(lab, option):
    call = mtu_call(lab, "[selfservice]")
    network = call["args"][1]["body"]
    world = lab.world(call)
    text = world.outputs[world.queues[("node", "vm", opts_command(call))][0]["stdout"]]
    tag = text.split(",")[0]
    world.set_result("node", "vm", opts_command(call), 0, text.rstrip("\n") + f"\n{tag},{option},1400\n")
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed)
    assert f"/var/lib/neutron/dhcp/{network['id']}/opts line {tag},{option},1400: MTU: expected " \
           f"{network['mtu']} (network MTU), actual 1400" in str(failure)


def test_a_second_mtu_on_the_command_line_fails_n10(lab):
    call = mtu_call(lab, "[provider]")
    world = lab.world(call)
    world.replace("node", "vm", "ps -ww -C dnsmasq -o pid,args", "--dhcp-option-force=option:mtu,1500",
                  "--dhcp-option-force=option:mtu,1500 --dhcp-option=tag:x,26,9000", 1)
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed)
    assert "--dhcp-option=tag:x,26,9000: MTU: expected 1500 (network MTU), actual 9000" in str(failure)


def test_no_opts_file_fails_n10(lab):
    call = mtu_call(lab, "[provider]")
    world = lab.world(call)
    world.set_result("node", "vm", opts_command(call), 1, "", "cat: opts: No such file or directory")
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed) and "opts: expected, actual absent" in str(failure)
