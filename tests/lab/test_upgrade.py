"""A real upgrade of the lab (issue 16): down to OpenStack's point release, a server booted there, then `oslab lab
upgrade` to the security updates; the packages change version, the lab is healthy, the server and its domain
survive. The lab is left at the security release, unpinned, whatever happens."""
import subprocess
import sys

import openstack
import pytest

from pytest_oslab.lab import release
from pytest_oslab.lab.context import Lab

OSLAB = [sys.executable, "-m", "pytest_oslab.cli", "lab"]
STEPS = ("upgrade-packages", "db-migrations", "restart-control-plane", "restart-network-agents", "restart-computes",
         "compute-and-agents-ready", "dhcp-served", "nova-status")


def oslab(*args):
    return subprocess.run(OSLAB + list(args), capture_output=True, text=True, timeout=1200)


def at(release_name):
    """The OpenStack packages not at the release's version: {package: (installed, wanted)}."""
    return {c.package: (c.installed, c.wanted(release_name)) for c in release.lab_candidates()
            if c.installed != c.wanted(release_name)}


def domain_state(name):
    return subprocess.run(["virsh", "-c", "qemu:///system", "domstate", name], capture_output=True, text=True,
                          timeout=60).stdout.strip()


@pytest.fixture
def back_to_security():
    yield
    if release.recorded(Lab()) != "security" or release.PIN.exists() or at("security"):
        done = oslab("up", "--release", "security")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr


@pytest.fixture
def server(back_to_security):
    conn = openstack.connect(cloud="lab")
    made = []

    def make():
        net = conn.network.find_network("selfservice")
        made.append(conn.compute.create_server(
            name="oslab-upgrade-survivor", image_id=conn.image.find_image("guest").id,
            flavor_id=conn.compute.find_flavor("m1.nano").id, networks=[{"uuid": net.id}]))
        return conn.compute.wait_for_server(made[-1], status="ACTIVE", wait=300)
    yield conn, make
    for s in made:
        conn.compute.delete_server(s, ignore_missing=True)
        conn.compute.wait_for_delete(s, wait=120)


def test_upgrade_from_the_point_release_keeps_the_server_running(server):
    conn, make = server
    assert release.lab_candidates(), "apt serves no OpenStack package at two versions: nothing to upgrade"

    done = oslab("up", "--release", "point")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert at("point") == {}, "not at the point release after `lab up --release point`"
    assert release.PIN.exists() and release.recorded(Lab()) == "point"
    again = oslab("up")
    assert again.returncode == 0 and at("point") == {}, "a plain `lab up` left the point release"

    survivor = make()
    admin = openstack.connect(cloud="lab-admin")
    domain = admin.compute.get_server(survivor.id).instance_name
    assert domain_state(domain) == "running"

    upgraded = oslab("upgrade")
    assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr
    for step in STEPS:
        assert f"{step} ..." in upgraded.stdout, f"step {step} missing from:\n{upgraded.stdout}"
    assert at("security") == {}, "not at the security release after `lab upgrade`"
    assert not release.PIN.exists() and release.recorded(Lab()) == "security"

    status = oslab("status")
    assert status.returncode == 0, status.stdout
    assert conn.compute.get_server(survivor.id).status == "ACTIVE"
    assert domain_state(domain) == "running", f"domain {domain} of the server made before the upgrade"

    second = oslab("upgrade")
    lines = [l for l in second.stdout.splitlines() if " ... " in l]
    assert second.returncode == 0 and lines and all(l.endswith("already done") for l in lines), second.stdout
