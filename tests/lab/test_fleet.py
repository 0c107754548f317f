"""The suites' fleet on the real lab: a server that fails to boot fails the tests of its own role, and only those.

How: the lab's provider subnet gets an allocation pool of one address that is already in use and one that is free.
The run's router takes the free one for its gateway (the networks are made before any server), so nova-compute
cannot give the provider server a port ("No more IP addresses available"): a real build failure, made with the
API and undone in ``finally``. The suite then runs the "server is active" test of both instances in its own
pytest process; the failed test carries what nova-compute logged about the server (its compute log excerpt).
"""
import ipaddress
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def provider_subnet_full():
    import openstack
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        admin = openstack.connect(cloud="lab-admin")
    network = admin.network.find_network("provider", ignore_missing=False)
    subnet = next(admin.network.subnets(network_id=network.id, ip_version=4))
    used = sorted((ipaddress.ip_address(ip["ip_address"]) for port in admin.network.ports(network_id=network.id)
                   for ip in port.fixed_ips if ip["subnet_id"] == subnet.id))
    pools = subnet.allocation_pools
    free = next(a for a in ipaddress.ip_network(subnet.cidr).hosts()
                if a > used[-1] and str(a) != subnet.gateway_ip)
    # a pool must be one range: from the highest address in use to the first free one above it
    admin.network.update_subnet(subnet, allocation_pools=[{"start": str(used[-1]), "end": str(free)}])
    try:
        yield network
    finally:
        admin.network.update_subnet(subnet, allocation_pools=pools)
    assert admin.network.get_subnet(subnet.id).allocation_pools == pools


def test_a_server_that_fails_to_boot_fails_its_roles_tests_and_no_other(provider_subnet_full, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/test_instances.py", "-k", "server_is_active", "--cloud", "lab",
         "-p", "no:cacheprovider", "-q", "-rfE", "--junitxml", str(tmp_path / "junit.xml")],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = done.stdout
    print(out[-4000:])
    assert done.returncode == 1, out[-4000:]
    failed = [line for line in out.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    assert len(failed) == 1 and "[provider]" in failed[0], failed
    said = {line.strip() for line in out.splitlines() if "went to ERROR" in line}
    assert said and all("provider_server" in line and "server_a" not in line for line in said), said
    assert any("IP addresses available" in line for line in said), said  # nova's own reason, in the fault
    assert "1 passed" in out  # the self-service server booted and its test ran
    # the compute node's side of it, read from nova-compute's log on the node (not from the API's fault)
    assert re.search(r"oslab: \S+: nova-compute log of \S+provider_server", out), out[-4000:]
    assert re.search(r"ERROR nova\.compute\.manager: .*(NoMoreFixedIps|No fixed IP addresses)", out), out[-4000:]


def test_make_server_that_fails_to_boot_brings_the_compute_log(provider_subnet_full, tmp_path):
    """The same failure through the plugin's own ``make_server`` fixture, as a user's test meets it."""
    test = tmp_path / "test_user_boot.py"
    test.write_text("def test_boot_on_the_provider_network(make_port, make_server, provider_network):\n"
                    "    make_port(provider_network)  # the pool's one free address\n"
                    "    make_server(network=provider_network)\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "--cloud", "lab", "-p", "no:cacheprovider", "-q", "-rfE",
         "--oslab-no-report"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    out = done.stdout
    assert done.returncode == 1, out[-4000:]
    assert re.search(r"oslab: server \S+ \([0-9a-f-]{36}\) went to ERROR after", out), out[-4000:]
    assert re.search(r"oslab: \S+: nova-compute log of \S+", out), out[-4000:]
    assert re.search(r"ERROR nova\.compute\.manager: .*(NoMoreFixedIps|No fixed IP addresses)", out), out[-4000:]
