"""The multi-node lab (``oslab lab up --nodes 3``): each node reached over SSH as clouds.yaml names it, its hostname
and services as nova and neutron list them, a server on each compute with its tap in that compute only, nova's SSH
between the computes and a server moved live and cold between them, and a compute whose processes were killed
failing C1/C3 by name until ``lab up`` heals it.

Skipped when the lab has no compute node (``--nodes 1``). Cost on the 2-core machine: see each test's docstring.
"""
import os
import signal
import subprocess
import sys
import time

import openstack
import pytest

from pytest_oslab.lab import compute_node, migration as lab_migration, node as nodes, proc, switch
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.resources import expected_agents
from pytest_oslab.provision import migration
from pytest_oslab.provision.naming import Naming, new_run_id
from pytest_oslab.provision.servers import ServerFactory, ServerSpec
from pytest_oslab.provision.stack import ResourceStack


@pytest.fixture(scope="module")
def lab():
    lab = switch.previous(Lab())  # with the driver the lab runs
    if not nodes.computes(lab):
        pytest.skip("the lab has no compute node (`oslab lab up --nodes 3`)")
    return lab


@pytest.fixture(scope="module")
def admin():
    return openstack.connect(cloud="lab-admin")


def test_each_node_is_reached_over_ssh_with_its_own_hostname_and_root_through_sudo(pool, entries):
    """About 2 s: one SSH connection per node."""
    for entry in entries:
        host = pool.host(pool.inventory.find(entry["name"]))
        assert host.check_output("hostname") == entry["name"], entry["host"]
        assert host.check_output("id -u") == "0", f"{entry['name']}: sudo did not make root"


def test_nova_and_neutron_list_each_node_under_its_hostname(admin, entries, lab):
    """Under 1 s: two API listings."""
    services = {(s.host, s.binary): s.state for s in admin.compute.services()}
    agents = {(a.host, a.binary): a.is_alive for a in admin.network.agents()}
    on_each = set(compute_node.NETWORK_AGENTS[lab.driver])  # the L2 agent; on OVN ovn-controller, metadata agent
    for entry in entries:
        assert services.get((entry["name"], "nova-compute")) == "up", (entry["name"], services)
        for binary in on_each:
            assert agents.get((entry["name"], binary)) is True, (entry["name"], binary, agents)
    assert {binary for (host, binary), alive in agents.items() if host == lab.hostname and alive} \
        >= expected_agents(lab)
    for node in nodes.computes(lab):  # a compute runs its L2 agent only (on OVN: its chassis' two agents)
        assert {binary for (host, binary) in agents if host == node.name} == on_each, node.name


@pytest.fixture(scope="module")
def on_each_compute(admin, lab):
    """A server booted on each compute node by name (``nova:<host>``, admin rights), deleted at the end."""
    hosts = [n.name for n in nodes.computes(lab)]
    stack = ResourceStack(timeout=120)
    factory = ServerFactory(admin, Naming(new_run_id()), admin.image.find_image("guest"),
                            admin.compute.find_flavor("m1.nano"), None, [], timeout=180, progress=lambda line: None)
    network = admin.network.find_network("selfservice")
    try:
        servers = factory.boot(stack, [ServerSpec(network=network, name=f"on-{h}", host=h) for h in hosts])
        yield list(zip(hosts, servers))
    finally:
        assert stack.close() == []


def test_a_server_lands_on_each_compute_and_its_tap_is_only_there(on_each_compute, admin, pool, entries):
    """About 40 s: two boots at once, then one `ip -j link` per node and server."""
    for host, server in on_each_compute:
        assert server.compute_host == host, (server.name, server.compute_host)
        port, = admin.network.ports(device_id=server.id)
        tap = f"tap{port.id[:11]}"
        where = _taps_on(pool, entries, tap)
        assert where == [host], f"{server.name}: tap {tap} on {where}, expected on {host} only"


def test_nova_logs_into_each_other_compute_over_ssh_without_a_prompt(pool, entries):
    """About 3 s: from each node, as nova, `ssh -o BatchMode=yes <each other node's address> hostname` (what a
    cold migration runs first: nova uses the destination's my_ip, its management address)."""
    for entry in entries:
        host = pool.host(pool.inventory.find(entry["name"]))
        for other in entries:
            if other is entry:
                continue
            address = other["host"].rsplit("@", 1)[1]
            said = host.run(f"sudo -u {lab_migration.NOVA_USER} timeout 20 ssh -o BatchMode=yes {address} hostname")
            assert (said.rc, said.stdout.strip()) == (0, other["name"]), \
                f"{entry['name']} -> {other['name']} ({address}) as nova: exit {said.rc} {said.stderr.strip()[:300]}"


def _taps_on(pool, entries, tap: str) -> list:
    return [e["name"] for e in entries if pool.host(pool.inventory.find(e["name"])).run(f"ip link show {tap}").rc == 0]


def test_a_server_moves_live_then_cold_between_the_computes_with_its_tap(on_each_compute, admin, pool, entries):
    """About 1 min: compute1's server live-migrated (block migration) to compute2, then cold-migrated back; each
    time its tap is on the new compute only."""
    (first, server), (second, _) = on_each_compute[0], on_each_compute[1]
    port, = admin.network.ports(device_id=server.id)
    tap = f"tap{port.id[:11]}"
    for move, target in ((migration.live_migrate, second), (migration.cold_migrate, first)):
        try:
            moved = move(admin, server, 240, host=target)
        except migration.MigrationFailed as e:
            pytest.fail(f"{move.__name__} of {server.name} to {target}: {e}", pytrace=False)
        assert moved.compute_host == target, f"{move.__name__}: {server.name} on {moved.compute_host}, not {target}"
        where = []
        for _ in range(20):  # the old host's tap goes once nova has cleaned up there
            where = _taps_on(pool, entries, tap)
            if where == [target]:
                break
            time.sleep(1)
        assert where == [target], f"{move.__name__} of {server.name}: tap {tap} on {where}, expected on {target} only"


def _c1_c3(timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--cloud", "lab",
                           "suites/test_control_plane.py", "-k", "every_compute_service or every_network_agent"],
                          capture_output=True, text=True, timeout=timeout)


def _pids_in(pid: int, words) -> list:
    """The PIDs (as the machine sees them) of the processes in the PID namespace of the node whose init is ``pid``
    whose command line has one of ``words``."""
    return [p for p, line in proc.command_lines_in_pid_namespace(pid).items() if any(w in line for w in words)]


def test_a_compute_whose_processes_died_fails_c1_and_c3_by_name_and_lab_up_heals_it(admin, lab):
    """About 3 min: nova and neutron say down only after their down times (60 s, 75 s), then `lab up`."""
    node = nodes.computes(lab)[-1]
    l2_agent = compute_node.agent(node)
    for pid in _pids_in(nodes.init_pid(node), ("nova-compute", l2_agent)):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        state = compute_node.registered(node, admin)
        if not state["nova-compute"] and not state[l2_agent]:
            break
        time.sleep(5)
    state = compute_node.registered(node, admin)
    assert not state["nova-compute"] and not state[l2_agent], f"{node.name} still up 150 s on: {state}"
    run = _c1_c3()
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    assert run.returncode == 1 and len(failed) == 2, run.stdout[-2000:]
    for test in ("test_every_compute_service_is_enabled_and_up", "test_every_network_agent_is_alive_and_admin_up"):
        section = run.stdout.split(f"_ {test} _", 1)[-1].split("\n____", 1)[0]
        assert f"_ {test} _" in run.stdout and node.name in section, f"{test} does not name {node.name}: {section}"
    healed = subprocess.run([sys.executable, "-m", "pytest_oslab.cli", "lab", "up"], capture_output=True,
                            text=True, timeout=600)
    assert healed.returncode == 0, healed.stdout[-2000:]
    healing = [line for line in healed.stdout.splitlines() if f"node {node.name}:" in line]
    assert healing and "nova-compute started" in healing[0] and f"{l2_agent} started" in healing[0], healing
    again = _c1_c3()
    assert again.returncode == 0, again.stdout[-2000:]
