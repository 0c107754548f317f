"""What a node is asked (issue 19 point 9): machine-readable namespaces (``ip -j netns``), and the OVS/OVN tools
bounded by their own ``--timeout`` a little under the node's command bound, so a wedged database is told by the
tool before the access layer stops the command. Recordings made before either change still replay."""
from types import SimpleNamespace

import recording
from pytest_oslab.checks import nodes
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.report import dataplane

OVS = "captured/ovs-ovn/"


class Host:
    """A node whose backend has the access layer's bound; answers from real outputs and keeps what it was asked."""

    def __init__(self, answers, bound):
        self.replay, self.backend, self.asked = recording.Replay(answers), SimpleNamespace(bound=bound), []

    def run(self, command):
        self.asked.append(command)
        return self.replay.run(command)


def test_namespaces_are_read_as_json():
    host = Host({"ip -j netns": "captured/host/ip-j-netns.json"}, 60)
    found = NodeFacts(host, "vm").namespaces()
    assert host.asked == ["ip -j netns"]
    assert "oslab-upstream" in found and sum(ns.startswith("qdhcp-") for ns in found) == 2


def test_each_ovs_and_ovn_tool_gets_its_own_timeout_under_the_node_bound():
    answers = {"ovs-vsctl --format=json list Bridge": OVS + "ovs-list-Bridge.json",
               "ovs-ofctl dump-flows br-int": "captured/lab-ovs/ovs-ofctl-dump-flows-br-int.txt"}
    host = Host(answers, 60)
    node = NodeFacts(host, "vm")
    node.ovs_bridges()
    node.flows()
    assert host.asked == ["ovs-vsctl --timeout=55 --format=json list Bridge",
                          "ovs-ofctl --timeout=55 dump-flows br-int"]
    assert [nodes.tool_timeout(b) for b in (60, 10, 3, 1)] == [55, 8, 2, 1]


def test_the_tool_timeout_is_given_once_and_only_to_the_ovs_and_ovn_tools():
    assert nodes.with_tool_timeout("ovn-nbctl --db=tcp:127.0.0.1:6641 --format=json list ACL", 60) == \
        "ovn-nbctl --timeout=55 --db=tcp:127.0.0.1:6641 --format=json list ACL"
    assert nodes.with_tool_timeout("ovn-sbctl --timeout=5 list Chassis", 60) == "ovn-sbctl --timeout=5 list Chassis"
    assert nodes.with_tool_timeout("ip -j netns", 60) == "ip -j netns"


def test_the_report_picture_bounds_the_tools_as_the_checks_do():
    host = Host({"ovs-vsctl --format=json list Port": OVS + "ovs-list-Port.json"}, 20)
    reader = dataplane.NodeReader("vm", host)
    assert reader.get(reader.ovs_ports)
    assert host.asked == ["ovs-vsctl --timeout=16 --format=json list Port"]


def test_recordings_made_before_replay_the_commands_asked_now():
    text = recording.Text("qdhcp-a (id: 0)\nqrouter-b\n")
    node = NodeFacts(recording.Replay({"ip netns list": text}), "vm")
    assert node.namespaces() == ["qdhcp-a", "qrouter-b"]
    assert recording.recorded_as("ovn-nbctl --timeout=55 --format=json list ACL") == "ovn-nbctl --format=json list ACL"
