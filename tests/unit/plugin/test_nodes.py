"""Reaching nodes: one connection per node, one-line errors for unreachable nodes, wrong keys, refused sudo."""
import os
import socket

import pytest

from pytest_oslab.access.inventory import Inventory, Node
from pytest_oslab.access.nodes import NodeError, NodePool


def test_local_node_is_one_host_for_the_run():
    pool = NodePool(Inventory([Node("here", "local://")]), timeout=5)
    host = pool.host(pool.inventory.find("here"))
    assert host.run("echo hi").stdout == "hi\n"
    assert pool.host(pool.inventory.find("here")) is host
    assert pool.uses_sudo(pool.inventory.find("here")) == (os.geteuid() != 0)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_node_is_one_line_and_remembered():
    node = Node("cmp9", f"ssh://root@127.0.0.1:{_closed_port()}")
    pool = NodePool(Inventory([node]), timeout=3)
    with pytest.raises(NodeError) as first:
        pool.host(node)
    message = str(first.value)
    assert message.startswith("node cmp9 (ssh://root@127.0.0.1:")
    assert message.endswith(", from config): unreachable: Connection refused")
    assert "\n" not in message
    with pytest.raises(NodeError) as again:  # not retried: the same line at once
        pool.host(node)
    assert str(again.value) == message


def test_sudo_refused_is_one_line(monkeypatch, tmp_path):
    fake = tmp_path / "sudo"
    fake.write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    node = Node("n1", "local://", sudo=True)
    pool = NodePool(Inventory([node]), timeout=3)
    with pytest.raises(NodeError, match=r"^node n1 \(local://\): sudo refused: sudo: a password is required "
                                        r"\(root commands need passwordless sudo\)$"):
        pool.host(node)


def test_namespace_relay_command_prefers_nc_and_falls_back_to_python():
    node = Node("net1", "local://", sudo=False)
    pool = NodePool(Inventory([node]), timeout=3)
    pool.host(node)
    command = pool.relay_command(node, "qdhcp-abc", "10.0.0.5")
    assert command.startswith("ip netns exec qdhcp-abc sh -c ")
    assert "exec nc 10.0.0.5 22" in command and "exec python3 -c" in command


def test_a_node_only_the_api_names_that_the_defaults_do_not_reach_is_a_skip_saying_what_to_add():
    """devstack run with no ``oslab:`` section: the hypervisor's host_ip refuses root's SSH. What needs the node
    cannot be judged (skipped, saying how to name the node); a configured node that refuses is still a failure."""
    from pytest_oslab.outcomes import outcome
    inventory = Inventory([], default_user="root")
    node = inventory.node("devstack-vm", f"127.0.0.1:{_closed_port()}")
    pool = NodePool(inventory, timeout=3)
    with pytest.raises(pytest.skip.Exception) as skipped:
        with outcome():
            pool.host(node)
    reason = str(skipped.value.msg)
    assert reason.startswith("node devstack-vm (ssh://root@127.0.0.1:") and "from the API alone): " \
        "unreachable: Connection refused; say how to reach it in clouds.yaml (oslab.nodes), an inventory " \
        "(--oslab-inventory) or ssh_config" in reason
    with pytest.raises(pytest.skip.Exception):  # remembered, and still a skip
        with outcome():
            pool.host(node)
    configured = Node("cmp9", f"ssh://root@127.0.0.1:{_closed_port()}")
    with pytest.raises(pytest.fail.Exception):
        with outcome():
            NodePool(Inventory([configured]), timeout=3).host(configured)
