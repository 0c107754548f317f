"""The lab whose services run in kolla-ansible's containers (``oslab lab up --containers``, issue 15): each node
runs, under podman, the containers kolla names for what that node runs, and the tools answer in them over SSH as
the suites reach the node; neutron's DHCP files are in the named volume at kolla's path and nowhere on the host;
and the suites told the deployment is plain packages (``oslab.deployment: host``) fail first on a check that says
the deployment looks containerised and what to set.

Skipped on a lab whose services are not in containers. About 1 min on three nodes (most of it the suites' run to
their first failure).
"""
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pytest_oslab.lab import compute_node, containers, node as nodes, services, switch
from pytest_oslab.lab.context import Lab

ROOT = Path(__file__).resolve().parents[2]
ETC = Path("/etc/openstack")


@pytest.fixture(scope="module")
def lab():
    lab = switch.previous(Lab())
    if not containers.recorded(lab):
        pytest.skip("the lab's services are not in containers (`oslab lab up --containers`)")
    return replace(lab, containers=True)


def kolla_names(lab, name):
    """The containers kolla would run for what the lab runs on node ``name``, from the lab's own daemon lists."""
    if name == lab.hostname:
        return {containers.KOLLA[d.name].name for d in services.all_daemons(lab) if d.name in containers.KOLLA}
    node = next(n for n in nodes.computes(lab) if n.name == name)
    return {containers.KOLLA[log.stem].name for _, _, log, _, _ in compute_node.daemons(node)
            if log.stem in containers.KOLLA}


def test_each_node_runs_kollas_containers_for_what_it_runs_and_the_tools_answer_in_them(lab, pool, entries):
    for entry in entries:
        host = pool.host(pool.inventory.find(entry["name"]))
        listed = json.loads(host.check_output("podman ps --format json") or "[]")
        running = {n for c in listed if c.get("State") == "running" for n in c.get("Names", [])}
        wanted = kolla_names(lab, entry["name"])
        assert wanted and wanted <= running, f"{entry['name']}: {sorted(wanted - running)} not running"
        assert {"nova_libvirt", "nova_compute"} <= wanted
        version = host.run("podman exec nova_libvirt virsh -c qemu:///system version")
        assert version.rc == 0 and "libvirt" in version.stdout, (entry["name"], version.stderr)
        # the daemon itself runs in the container: the node sees it under conmon, not under the lab's shell
        libvirtd = host.run("podman top nova_libvirt args")
        assert libvirtd.rc == 0 and "libvirtd" in libvirtd.stdout, (entry["name"], libvirtd.stderr)


def test_the_dhcp_files_are_in_the_named_volume_at_kollas_path_and_every_dnsmasq_reads_them(lab, pool):
    if lab.driver == "ovn":
        pytest.skip("ML2/OVN has no DHCP agent: ovn-controller answers DHCP")
    host = pool.host(pool.inventory.find(lab.hostname))
    listed = host.run(f"podman exec neutron_dhcp_agent ls {containers.KOLLA_STATE}/dhcp")
    served = set(listed.stdout.split()) - {"lease_relay"}
    assert listed.rc == 0 and served, listed.stderr
    volume = host.check_output(f"podman volume inspect --format '{{{{.Mountpoint}}}}' {containers.STATE_VOLUME}")
    assert served <= set(host.check_output(f"find {volume}/dhcp -mindepth 1 -maxdepth 1 -printf '%f\\n'").split())
    dnsmasq = [line for line in host.check_output("ps -eo args").splitlines() if line.startswith("dnsmasq ")]
    assert {net for net in served if any(f"{containers.KOLLA_STATE}/dhcp/{net}/" in line for line in dnsmasq)} \
        == served, dnsmasq
    assert all(f"{containers.KOLLA_STATE}/dhcp/" in line for line in dnsmasq), \
        "a dnsmasq reads the packages' state path: " + "; ".join(dnsmasq)


def host_profile(tmp_path):
    """The lab's entries with ``oslab.deployment: host``, in files of the test's own."""
    clouds = yaml.safe_load((ETC / "clouds.yaml").read_text())["clouds"]
    secure = yaml.safe_load((ETC / "secure.yaml").read_text())["clouds"]
    entries = {name: dict(clouds[name], oslab=dict(clouds[name]["oslab"], deployment="host"))
               for name in ("lab", "lab-admin")}
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": entries}))
    fd = os.open(tmp_path / "secure.yaml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump({"clouds": {name: secure[name] for name in entries}}, fh)
    return dict(os.environ, OS_CLIENT_CONFIG_FILE=str(tmp_path / "clouds.yaml"),
                OS_CLIENT_SECURE_FILE=str(tmp_path / "secure.yaml"))


def test_told_it_is_packages_the_first_failing_check_says_the_deployment_looks_containerised(lab, tmp_path):
    """The checks of networks and DHCP, where the agents' state path is read (the whole suites' first failure,
    X4's lease across the tunnel, says the same after 3.5 min of boots); on ML2/OVN every tool the checks call
    also answers from the host (their sockets are in /run, which the containers share), so nothing fails there."""
    if lab.driver == "ovn":
        pytest.skip("ML2/OVN: the tools answer from the host through /run's sockets; no DHCP agent's files to miss")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_networks_dhcp.py", "--cloud", "lab", "-x", "-p",
         "no:cacheprovider", "-q",
         "--oslab-report-dir", str(tmp_path / "reports")],
        cwd=ROOT, env=host_profile(tmp_path), capture_output=True, text=True, timeout=900)
    out = done.stdout
    assert done.returncode == 1, out[-5000:]
    first = re.search(r"^_{3,} (test_\S+) _{3,}$(.*?)(?=^_{3,} |^=+ )", out, re.M | re.S)
    assert first, out[-5000:]
    print(f"first failing check: {first.group(1)}; {out.strip().splitlines()[-1]}")
    assert "the deployment looks containerised: podman lists kolla-ansible's containers" in first.group(2), \
        first.group(2)[-3000:]
    assert "set oslab.deployment: kolla" in first.group(2)
