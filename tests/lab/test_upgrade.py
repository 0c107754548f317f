"""A real upgrade of the lab, gated (issue 16): down to OpenStack's point release, the gate's pre phase (a workload
that stays, its snapshot, the probe started), `oslab lab upgrade` to the security updates while the probe watches,
then post: it passes, and its report shows the packages that changed and the loss the probe measured. Then the
same workload once more with a regression planted between pre and post (the SSH rule of a guest's ingress chain
dropped, as a bad agent upgrade would leave it): post fails naming the chain and the probe's TCP loss. The lab is
left at the security release, unpinned, and the workload removed, whatever happens.

On a lab of several nodes (make test runs it on three) the compute nodes' nova-compute and L2 agent, left running
the point release's code by the package upgrade (the packages are the machine's), are restarted one node at a time
and report again; the workload's guests, wherever nova put them, keep running."""
import json
import os
import re
import subprocess
import sys
import time

import openstack
import pytest

from pytest_oslab.checks import names
from pytest_oslab.lab import compute_node, node as nodes, release
from pytest_oslab.lab.context import Lab
from pytest_oslab.gate.workload import WORKLOAD_TAG
from pytest_oslab.report.topology import display_name

OSLAB = [sys.executable, "-m", "pytest_oslab.cli", "lab"]
STEPS = ("upgrade-packages", "db-migrations", "restart-control-plane", "restart-network-agents", "restart-computes",
         "compute-and-agents-ready", "dhcp-served", "nova-status")
LIMITS = ["--oslab-max-loss", "5", "--oslab-max-gap", "10"]


def oslab(*args):
    return subprocess.run(OSLAB + list(args), capture_output=True, text=True, timeout=1200)


def at(release_name):
    """The OpenStack packages not at the release's version: {package: (installed, wanted)}."""
    return {c.package: (c.installed, c.wanted(release_name)) for c in release.lab_candidates()
            if c.installed != c.wanted(release_name)}


def on_host(host, argv):
    """``argv`` run where nova's ``host`` is: the controller (this machine) or inside a compute node of the lab."""
    node = next((n for n in nodes.made(Lab()) if n.name == host and nodes.init_pid(n)), None)
    command = nodes.enter(nodes.init_pid(node), *argv) if node else list(argv)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


def domain_state(server):
    return on_host(server.compute_host, ["virsh", "-c", "qemu:///system", "domstate", server.instance_name]).strip()


def compute_nodes():
    return [n for n in nodes.made(Lab()) if compute_node.is_compute(n) and nodes.init_pid(n)]


@pytest.fixture
def back_to_security():
    yield
    if release.recorded(Lab()) != "security" or release.PIN.exists() or at("security"):
        done = oslab("up", "--release", "security")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr


@pytest.fixture
def gate(back_to_security, tmp_path):
    """Runs a phase of the gate against the lab, in an empty directory (no suite tests: only the phase's steps),
    reports and state (the workload's key, the probe's record) under tmp_path; the workloads of earlier runs
    removed first, this one at the end."""
    env = dict(os.environ, OSLAB_STATE_DIR=str(tmp_path / "state"))
    reports = tmp_path / "reports"

    def run(phase, *more):
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                               "--cloud", "lab", "--oslab-phase", phase, "--oslab-report-dir", str(reports),
                               "-q", "-rfs", *more], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        return proc.returncode, proc.stdout + proc.stderr

    run.reports = reports
    rc, out = run("cleanup")  # what an interrupted run left (pre would reuse its workload)
    assert rc == 0, out[-3000:]
    yield run
    rc, out = run("cleanup")
    assert rc == 0, out[-3000:]


def newest(reports, pattern):
    return sorted(reports.glob(pattern))[-1]


def drop_ssh_rule(server, port_id):
    """Remove the TCP 22 RETURN of the port's ingress chain on the server's host (what a broken agent upgrade could
    leave)."""
    chain = names.chains(port_id)["in"]
    rules = on_host(server.compute_host, ["iptables", "-w", "10", "-S", chain])
    rule = next(r for r in rules.splitlines() if "--dport 22" in r and r.endswith("-j RETURN"))
    on_host(server.compute_host, ["iptables", "-w", "10"] + rule.replace("-A ", "-D ", 1).split())
    return chain


def test_upgrade_from_the_point_release_gated_by_the_workload(gate):
    assert release.lab_candidates(), "apt serves no OpenStack package at two versions: nothing to upgrade"

    done = oslab("up", "--release", "point")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert at("point") == {}, "not at the point release after `lab up --release point`"
    assert release.PIN.exists() and release.recorded(Lab()) == "point"
    again = oslab("up")
    assert again.returncode == 0 and at("point") == {}, "a plain `lab up` left the point release"

    rc, out = gate("pre")
    assert rc == 0, out[-4000:]
    admin = openstack.connect(cloud="lab-admin")
    servers = [admin.compute.get_server(s.id) for s in admin.compute.servers(tags=WORKLOAD_TAG, all_projects=True)]
    assert len(servers) == 2
    computes = compute_nodes()
    # `lab up --release point` restarted what the downgrade left running newer code, on every node
    assert {n.name: compute_node.stale(n) for n in computes} == {n.name: {} for n in computes}

    upgraded = oslab("upgrade")
    assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr
    for step in STEPS + (("restart-compute-nodes",) if computes else ()):
        assert f"{step} ..." in upgraded.stdout, f"step {step} missing from:\n{upgraded.stdout}"
    for node in computes:  # one node at a time, each reporting again before the next
        assert f"node {node.name}: nova-compute, {compute_node.agent(node)} restarted and reported" in upgraded.stdout
        assert compute_node.stale(node) == {}, f"{node.name} still runs the point release's code"
    assert at("security") == {}, "not at the security release after `lab upgrade`"
    assert not release.PIN.exists() and release.recorded(Lab()) == "security"
    status = oslab("status")
    assert status.returncode == 0, status.stdout
    assert [domain_state(s) for s in servers] == ["running", "running"], [(s.name, s.compute_host) for s in servers]

    rc, out = gate("post", *LIMITS)
    assert rc == 0, out[-6000:]
    post = json.loads(newest(gate.reports, "*-post.json").read_text())
    before = dict(map(tuple, json.loads(newest(gate.reports, "*-pre.json").read_text())["versions"]["packages"]["vm"]))
    after = dict(map(tuple, post["versions"]["packages"]["vm"]))
    assert (before["python3-nova"], after["python3-nova"]) == ("2:26.2.2-1~deb12u4", "2:26.2.2-1~deb12u5")
    page = newest(gate.reports, "*-post.html").read_text()
    assert "Versions before and after" in page and "2:26.2.2-1~deb12u4" in page and "2:26.2.2-1~deb12u5" in page
    measured = [s["line"] for s in post["probe"]["series"]]
    assert len(measured) == 6 and all(re.search(r": lost \d+ of [1-9]\d*, longest gap", m) for m in measured)
    assert "Data plane during the upgrade (probe)" in page and "<svg" in page and measured[0] in page
    print("\nmeasured during the upgrade:\n" + "\n".join(measured))

    second = oslab("upgrade")
    lines = [l for l in second.stdout.splitlines() if " ... " in l]
    assert second.returncode == 0 and lines and all(l.endswith("already done") for l in lines), second.stdout

    # the regression, planted between a new pre (same workload, the probe started again) and post
    rc, out = gate("pre")
    assert rc == 0, out[-4000:]
    port = next(admin.network.ports(device_id=servers[0].id))
    chain = drop_ssh_rule(servers[0], port.id)
    time.sleep(12)  # the probe's TCP connects to the guest's SSH fail meanwhile
    rc, out = gate("post", *LIMITS, "--oslab-ssh-timeout", "20")  # the guest's SSH is refused, as planted
    assert rc != 0, out[-4000:]
    failed = "\n".join(l for l in out.splitlines() if l.startswith("FAILED"))
    assert "security groups: the ports' chains" in failed and chain in out, out[-6000:]
    name = display_name(servers[0].name)
    assert re.search(rf"{re.escape(name)} TCP 22 from qdhcp-\S+: lost \d+ of \d+, longest gap [\d.]+ s: ", out), \
        out[-6000:]
