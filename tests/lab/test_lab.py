"""The lab itself, as it runs on this machine (issue 2): healthy, idempotent, secret-free, self-contained."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from pytest_oslab.lab import host
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.services import all_daemons

OSLAB = [sys.executable, "-m", "pytest_oslab.cli", "lab"]


def oslab(*args):
    return subprocess.run(OSLAB + list(args), capture_output=True, text=True, timeout=900)


def test_status_lists_every_service_running_with_its_log():
    done = oslab("status")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for daemon in all_daemons(Lab()):
        line = next((l for l in lines if l.split()[:1] == [daemon.name]), None)
        assert line is not None, f"{daemon.name} missing from `oslab lab status`:\n{done.stdout}"
        assert "running (pid" in line and f"log: {daemon.log}" in line, line
    assert lines[-1] == "lab: healthy"


def test_up_again_finds_every_step_done_and_changes_nothing():
    before = {d.name: Path(Lab().pids / f"{d.name}.pid").read_text() for d in all_daemons(Lab())}
    done = oslab("up")
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [l for l in done.stdout.splitlines() if " ... " in l]
    assert steps and all(l.endswith("already done") for l in steps), done.stdout
    after = {d.name: Path(Lab().pids / f"{d.name}.pid").read_text() for d in all_daemons(Lab())}
    assert after == before  # no daemon restarted


def test_passwords_live_only_in_0600_files_and_never_in_output():
    lab = Lab()
    secrets = json.loads(lab.secrets_file.read_text())
    assert stat.S_IMODE(lab.secrets_file.stat().st_mode) == 0o600
    secure = Path("/etc/openstack/secure.yaml")
    assert stat.S_IMODE(secure.stat().st_mode) == 0o600
    clouds_text = Path("/etc/openstack/clouds.yaml").read_text()
    clouds = yaml.safe_load(clouds_text)["clouds"]
    assert {"lab", "lab-admin"} <= set(clouds)
    assert all("password" not in clouds[c]["auth"] for c in ("lab", "lab-admin"))
    printed = oslab("up").stdout + oslab("status").stdout
    for name, value in secrets.items():
        assert value not in clouds_text, f"the {name} password is in clouds.yaml"
        assert value not in printed, f"the {name} password was printed"
    for log in lab.logs.glob("*.log"):
        if log.name.startswith(("dbsync", "keystone-manage", "rabbitmq-setup", "apt", "mariadb-install")):
            text = log.read_text(errors="replace")
            for name, value in secrets.items():
                assert value not in text, f"the {name} password is in {log}"


def test_lab_plumbing_stays_on_the_machine():
    lab = Lab()
    assert host.plumbing_done(lab)
    assert host.overlapping_ranges(lab) == []
    routes = host.ip_json("route")
    default = [r for r in routes if r.get("dst") == "default"]
    assert default and all(r.get("dev") not in host.LAB_LINKS for r in default), default
    lab_routes = [r for r in routes if r.get("dev") in host.LAB_LINKS]
    ours = {lab.provider_cidr, lab.public_cidr, lab.tunnel_cidr, lab.uplink_cidr}
    assert {r["dst"] for r in lab_routes} <= ours, lab_routes
    upstream = host.ip_json("route", netns=host.UPSTREAM_NS)
    assert not [r for r in upstream if r.get("dst") == "default"], "the upstream namespace must not route out"


def test_a_dead_underlay_bridge_holding_the_tunnel_address_is_cleared_by_up():
    """As a session that ends while the lab runs Open vSwitch (or a switch back to Linux bridge cut short) leaves it:
    ovs-vswitchd's persistent tap br-underlay outlives it with the tunnel address, and its route (linkdown, still
    used) takes the machine's traffic to the nodes. CI failed so: "sshd does not answer on 198.51.100.201:22"."""
    import pytest

    from pytest_oslab.lab import plumbing

    lab = Lab()
    if lab.driver != "linuxbridge":
        pytest.skip("on Open vSwitch and OVN the tunnel address belongs on br-underlay")
    node = lab.tunnel_cidr.replace(".0/24", ".250")
    made = host.UNDERLAY_BRIDGE not in plumbing.links()
    if made:
        subprocess.run(["ip", "tuntap", "add", "dev", host.UNDERLAY_BRIDGE, "mode", "tap"], check=True)
    try:
        # the address went to the bridge first and came back to the veth after: the bridge's route comes first
        subprocess.run(["ip", "addr", "del", host.tunnel_cidr(lab), "dev", host.TUNNEL_IF], check=True)
        subprocess.run(["ip", "addr", "replace", host.tunnel_cidr(lab), "dev", host.UNDERLAY_BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", host.UNDERLAY_BRIDGE, "up"], check=True)
        subprocess.run(["ip", "addr", "add", host.tunnel_cidr(lab), "dev", host.TUNNEL_IF], check=True)
        assert plumbing.route_device(node) == host.UNDERLAY_BRIDGE  # broken as CI found it
        assert not host.plumbing_done(lab)
        done = oslab("up")
        assert done.returncode == 0, done.stdout + done.stderr
        assert plumbing.route_device(node) == host.TUNNEL_IF
        assert plumbing.missing([plumbing.NoAddress(host.UNDERLAY_BRIDGE, host.tunnel_cidr(lab))]) == []
    finally:
        if made:
            subprocess.run(["ip", "tuntap", "del", "dev", host.UNDERLAY_BRIDGE, "mode", "tap"], check=False)


def test_every_api_listens_on_loopback_only():
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
    ports = {5000, 9292, 8778, 8774, 8775, 9696, 3306, 5672, 11211, 4369}
    for line in out.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        if port.isdigit() and int(port) in ports:
            assert address in ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"), line


def test_a_dhcp_agent_that_serves_nothing_is_restarted_once_by_up():
    """As when its privsep daemon deadlocks at its first start: the agent lives but starts no dnsmasq. Made here by
    freezing the agent (SIGSTOP) and ending one network's dnsmasq; `up` waits, then restarts the agent once."""
    import signal
    import time

    import pytest

    from pytest_oslab.lab import daemons
    from pytest_oslab.lab.resources import DHCP_DIR, _dnsmasq_runs
    from pytest_oslab.lab.services import compute_and_agents
    from pytest_oslab.lab.switch import recorded

    lab = Lab()
    if (recorded(lab) or "linuxbridge").split()[0] == "ovn":
        pytest.skip("ML2/OVN has no DHCP agent")
    agent = next(d for d in compute_and_agents(lab) if d.name == "neutron-dhcp-agent")
    old = daemons.recorded_pid(agent, lab.pids)
    # the lab's own network, not one a test made (and may be deleting) around this one
    from pytest_oslab.lab.identity import admin_connection
    network = admin_connection(lab).network.find_network("selfservice", ignore_missing=False).id
    assert old and _dnsmasq_runs(network), "the lab's DHCP agent serves its networks before the test"
    dnsmasq = int((DHCP_DIR / network / "pid").read_text().split()[0])
    os.kill(old, signal.SIGSTOP)
    try:
        os.kill(dnsmasq, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _dnsmasq_runs(network) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _dnsmasq_runs(network)
        done = oslab("up")
    finally:
        if daemons.recorded_pid(agent, lab.pids) == old:
            os.kill(old, signal.SIGCONT)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    said = [line for line in out.splitlines() if "dhcp-served: no dnsmasq after 60s" in line]
    assert len(said) == 1 and "restarting neutron-dhcp-agent once" in said[0], out
    new = daemons.recorded_pid(agent, lab.pids)
    assert new and new != old and _dnsmasq_runs(network)
