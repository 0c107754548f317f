"""Lab nodes: each its own namespaces, hostname, management address and sshd, reached as an operator reaches a
cloud's nodes (SSH as a non-root user with a key, root commands through sudo).

Two bare nodes (no OpenStack service) of the tests' own, at 198.51.100.201 and .202 on the lab's management
bridge: they touch no device of the running lab besides adding their own veths to that bridge, and are ended and
forgotten at the end. Cost: about 5 s (each node comes up in under 1 s; SSH connections are the rest).
"""
import os
import subprocess

import pytest
import testinfra

from pytest_oslab.access.inventory import Inventory, Node as InventoryNode
from pytest_oslab.access.nodes import NodeError, NodePool
from pytest_oslab.lab import node as nodes
from pytest_oslab.lab import plumbing, proc
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.host import MGMT_BRIDGE

NO_SUDO_USER = "oslab-nosudo"


@pytest.fixture(scope="module")
def pair():
    lab = Lab()
    made = [nodes.Node("oslabtest1", 201, lab), nodes.Node("oslabtest2", 202, lab)]
    try:
        for node in made:
            nodes.up(node)
        yield made
    finally:
        for node in made:
            nodes.down(node)
            nodes.forget(node)


def ssh(node, user=nodes.NODE_USER, sudo=False):
    """The node as testinfra sees it over SSH (paramiko), with the lab's key."""
    return testinfra.get_host(f"paramiko://{user}@{node.address}", ssh_identity_file=str(nodes.key_file(node.lab)),
                              sudo=sudo, timeout=20)


def test_each_node_is_up_with_nothing_missing(pair):
    for node in pair:
        assert nodes.missing(node) == [], node.name
        assert nodes.up(node) == [], f"a second up of {node.name} made something"


def test_ssh_as_the_lab_user_runs_root_commands_through_sudo(pair):
    for node in pair:
        plain, root = ssh(node), ssh(node, sudo=True)
        assert plain.check_output("id -un") == nodes.NODE_USER, node.name
        assert root.check_output("id -u") == "0", f"{node.name}: sudo did not make root"
        # root inside the node sees the node's own devices only
        assert sorted(root.check_output("ls /sys/class/net").split()) == ["lo", nodes.MGMT_IF], node.name


def test_each_node_has_its_own_hostname(pair):
    names = {}
    for node in pair:
        host = ssh(node)
        names[node.name] = host.check_output("hostname")
        assert host.file("/etc/hosts").contains(rf"{node.address}\s\+{node.name}"), node.name
    assert names == {n.name: n.name for n in pair}
    assert os.uname().nodename not in names.values()


def test_each_sshd_listens_on_its_node_management_address_only(pair):
    for node in pair:
        listening = ssh(node, sudo=True).check_output("ss -Htln").splitlines()
        assert [line.split()[3] for line in listening] == [f"{node.address}:22"], (node.name, listening)


def test_the_nodes_reach_each_other_over_the_management_bridge(pair):
    first, second = pair
    for here, there in ((first, second), (second, first)):
        ping = ssh(here, sudo=True).run(f"ping -c 2 -W 2 {there.address}")
        assert ping.rc == 0, f"{here.name} -> {there.name}: {ping.stdout}{ping.stderr}"
        assert ssh(here).run(f"nc -z -w 3 {there.address} 22").rc == 0, f"{here.name} -> {there.name}:22"
    with plumbing.netlink() as nl:
        bridge = nl.index(MGMT_BRIDGE, None)
        assert all(nl.link(node.veth, None).get("master") == bridge for node in pair)


@pytest.fixture
def user_without_sudo(pair):
    """A user of the nodes that has the lab's key and no sudo rights (made for the test, removed after)."""
    home = f"/home/{NO_SUDO_USER}"
    subprocess.run(["useradd", "--create-home", "--home-dir", home, "--shell", "/bin/sh", "--password", "*",
                    NO_SUDO_USER], check=True, capture_output=True)
    try:
        os.makedirs(f"{home}/.ssh", mode=0o700)
        with open(f"{home}/.ssh/authorized_keys", "w") as fh:
            fh.write(nodes.key_file(pair[0].lab).with_suffix(".pub").read_text())
        subprocess.run(["chown", "-R", f"{NO_SUDO_USER}:", f"{home}/.ssh"], check=True)
        yield NO_SUDO_USER
    finally:
        subprocess.run(["userdel", "--force", "--remove", NO_SUDO_USER], capture_output=True)


def test_a_user_without_sudo_gets_a_clear_message(pair, user_without_sudo):
    node = pair[0]
    listed = InventoryNode(node.name, host=f"ssh://{user_without_sudo}@{node.address}",
                           key=str(nodes.key_file(node.lab)))
    # the test's nodes are made anew with new host keys: nothing to remember (and root's known_hosts left alone)
    pool = NodePool(Inventory(nodes=[listed]), timeout=20, host_key_policy="ignore")
    try:
        with pytest.raises(NodeError) as refused:
            pool.host(listed)
    finally:
        pool.close()
    message = str(refused.value)  # it logged in ('true' answered), then sudo said no
    assert message.startswith(f"node {node.name} (ssh://{user_without_sudo}@{node.address}:22): sudo refused: "), \
        message
    assert message.endswith("(root commands need passwordless sudo)"), message


def test_node_down_leaves_no_process_namespace_mount_or_veth(pair):
    node = pair[1]
    pid = nodes.init_pid(node)
    ids = proc.namespace_ids(pid)
    ended = nodes.down(node)
    assert ended and ended[0].startswith(f"init {pid} "), ended
    assert proc.in_namespaces(ids) == []
    assert node.veth not in plumbing.links()
    with open("/proc/self/mountinfo") as fh:
        assert not [line for line in fh if str(node.root) in line]
    assert nodes.missing(node) == [f"node {node.name}: not running"]
    assert nodes.down(node) == []  # nothing left to end
