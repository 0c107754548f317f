"""``on_each`` over nodes: the nodes are asked in parallel (a bounded pool), a node's own items one after another
(one connection per node), and the evidence and failures come back in the items' order."""
import threading

import pytest

from pytest_oslab.checks import core
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts.iproute import parse_netns

NETNS = "oslab-upstream (id: 0)\novnmeta-fb9e75bd-2bbd-4467-b3a0-f37b0fa572b4 (id: 3)\n"  # captured, lab OVN


class Answer:
    def __init__(self, stdout):
        self.rc, self.stdout, self.stderr = 0, stdout, ""


class Host:
    """A node's connection: answers ``ip -j netns`` with the captured text (both forms parse alike); meets the others at a barrier."""

    def __init__(self, barrier=None):
        self.barrier = barrier
        self.busy = threading.Lock()

    def run(self, command):
        assert self.busy.acquire(blocking=False), "two commands at once on one node's connection"
        try:
            if self.barrier is not None:
                self.barrier.wait()
            return Answer(NETNS)
        finally:
            self.busy.release()


def test_different_nodes_are_asked_at_the_same_time():
    barrier = threading.Barrier(3, timeout=30)  # bounded: a run one node after another breaks it
    nodes = [NodeFacts(Host(barrier), f"compute{i}") for i in range(3)]
    with core.recorded() as evidence:
        core.on_each(nodes, lambda node: node.namespaces())
    assert [title for title, _ in evidence] == [f"compute{i}: ip -j netns" for i in range(3)]


def test_a_nodes_own_items_run_one_after_another_in_order():
    node = NodeFacts(Host(), "controller")
    seen = []
    core.on_each([(node, "a"), (node, "b"), (node, "c")], lambda pair: seen.append((pair[1], pair[0].namespaces())))
    assert [s for s, _ in seen] == ["a", "b", "c"]
    assert "ovnmeta-fb9e75bd-2bbd-4467-b3a0-f37b0fa572b4" in parse_netns(NETNS) == seen[0][1]


def test_every_nodes_failure_is_kept_in_order_with_its_evidence():
    nodes = [NodeFacts(Host(), name) for name in ("compute1", "compute2", "controller")]

    def check(node):
        names = node.namespaces()
        if node.name != "controller":
            raise CheckFailed(f"node {node.name}: qdhcp-x expected, actual {names}")
    with pytest.raises(CheckFailed) as failure:
        core.on_each(nodes, check)
    assert str(failure.value).splitlines()[0].startswith("node compute1:")
    assert str(failure.value).splitlines()[1].startswith("node compute2:")


def test_an_error_that_is_not_a_failure_is_raised_in_the_callers_thread():
    nodes = [NodeFacts(Host(), name) for name in ("compute1", "compute2")]

    def check(node):
        if node.name == "compute2":
            raise RuntimeError("compute2 unreachable")
    with pytest.raises(RuntimeError, match="compute2 unreachable"):
        core.on_each(nodes, check)


def test_items_that_name_no_node_run_in_the_callers_thread():
    threads = set()
    core.on_each(["port-a", "port-b"], lambda item: threads.add(threading.current_thread()))
    assert threads == {threading.current_thread()}
