"""`oslab lab down` on the lab of several nodes ends every node and leaves nothing of the lab behind: no process in
any node's namespaces, no lab daemon or guest on the machine, no node veth, no mount under a node's directory, no
namespace of the lab; then `oslab lab up` with the same node count brings it back healthy.

It takes the lab down: make test runs it last on the lab of three nodes (the driver matrix after it brings the lab
up again on one node). Cost: the down (~20 s) and the up from nothing (about 2 min on this machine).
"""
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_oslab.lab import compute_node, node as nodes, plumbing, proc
from pytest_oslab.lab.context import Lab

OSLAB = [sys.executable, "-m", "pytest_oslab.cli", "lab"]
# programs only the lab runs on this machine: none may survive `lab down`
LAB_PROGRAMS = ("/usr/bin/nova-", "/usr/bin/neutron-", "/usr/sbin/libvirtd", "/usr/sbin/virtlogd", "qemu-system",
                "dnsmasq", "/usr/bin/uwsgi", "haproxy")


def command_lines():
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


def lab_namespaces():
    return [n for n in plumbing.namespaces() if n.startswith(("oslab", "qdhcp-", "qrouter-"))]


def test_lab_down_ends_every_node_and_leaves_nothing_behind():
    lab = Lab()
    computes = [n for n in nodes.made(lab) if compute_node.is_compute(n) and nodes.init_pid(n)]
    if not computes:
        pytest.skip("the lab runs one node: test_nodes.py proves a node's own down")
    count = len(computes) + 1
    ids = {n.name: proc.namespace_ids(nodes.init_pid(n)) for n in computes}
    veths = [v for n in computes for v in (n.veth, compute_node.provider_veth(n))]
    assert lab_namespaces(), "the lab's namespaces were not there to begin with"
    try:
        down = subprocess.run(OSLAB + ["down"], capture_output=True, text=True, timeout=600)
        assert down.returncode == 0, down.stdout + down.stderr
        assert all(n.name in down.stdout for n in computes), down.stdout  # "nodes ended: compute1, compute2"
        for name, namespaces in ids.items():
            assert proc.in_namespaces(namespaces) == [], f"{name}: processes left in its namespaces"
        left = plumbing.links()
        assert [v for v in veths if v in left] == [], "node veths left on the machine"
        with open("/proc/self/mountinfo") as fh:
            mounts = [line.split()[4] for line in fh if any(str(n.root) in line for n in computes)]
        assert mounts == [], mounts
        survivors = {pid: line[:200] for pid, line in command_lines().items() if any(p in line for p in LAB_PROGRAMS)}
        assert survivors == {}, survivors
        assert lab_namespaces() == [], plumbing.namespaces()
        assert all(nodes.init_pid(n) is None for n in computes)
    finally:
        up = subprocess.run(OSLAB + ["up", "--nodes", str(count)], capture_output=True, text=True, timeout=1500)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr
    status = subprocess.run(OSLAB + ["status"], capture_output=True, text=True, timeout=300)
    assert status.returncode == 0 and "lab: healthy" in status.stdout, status.stdout
