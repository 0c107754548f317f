"""The upgrade gate's workload: made by ``pre`` (or reused), found again by ``post``, removed by ``cleanup``; the
servers of it as the checks see them (``pytest_oslab.booted.Booted``, as the suites' own); the probe agent that
watches its guests in between (started and stopped by its PID, recorded in the state directory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import paramiko

from pytest_oslab.booted import Booted, admin_view, read_booted
from pytest_oslab.checks import names
from pytest_oslab.probe import control as probe
from pytest_oslab.provision import cleanup as cleanup_run
from pytest_oslab.provision import topology
from pytest_oslab.provision.naming import RUN_TAG_PREFIX, TAG, Naming, new_run_id, run_of
from pytest_oslab.provision.resources import Provisioner, find_flavor, find_image
from pytest_oslab.provision.servers import BootError, ServerFactory, ServerSpec
from pytest_oslab.provision.stack import ResourceStack
from pytest_oslab.report.topology import display_name

WORKLOAD_TAG = "oslab-workload"


@dataclass(frozen=True)
class WorkloadNaming(Naming):
    """The suite's naming, plus the tag that marks a resource as part of the long-lived workload."""

    @property
    def tags(self) -> list:
        return [TAG, RUN_TAG_PREFIX + self.run_id, WORKLOAD_TAG]


class WorkloadMissing(Exception):
    """The workload (or a part of it) is not in the cloud; the message names what is missing."""


def state_dir() -> Path:
    base = os.environ.get("OSLAB_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "pytest-oslab")
    return Path(base)


def key_path(cloud: str, workload: str) -> Path:
    return state_dir() / f"{cloud}-workload-{workload}.key"


def probe_path(cloud: str, workload: str) -> Path:
    """The record of the probe agents a pre phase started (the files brought back go beside it, in a directory
    of the same name without ``.json``)."""
    return state_dir() / f"{cloud}-probe-{workload}.json"


@dataclass
class Workload:
    id: str
    network: Any
    subnet: Any
    router: Any
    group: Any
    servers: List[Any]
    spare_ports: List[Any] = field(default_factory=list)
    floating_ip: Any = None
    keypair_name: str = ""
    pkey: Any = field(default=None, repr=False)  # paramiko key, loaded from the state directory

    def resources(self) -> List[Any]:
        return [self.network, self.subnet, self.router, self.group, *self.servers, *self.spare_ports] + (
            [self.floating_ip] if self.floating_ip is not None else [])


# --- making, finding, removing the workload --------------------------------------------------------------------

def create_workload(oslab) -> Workload:
    """A new workload: the run's topology (``pytest_oslab.provision.topology``, the workload's names), a security
    group, a keypair (its private key kept in the state directory), two servers on the network, a spare port, a
    floating IP for the first server when the cloud has an external network. Nothing of it is deleted at the end."""
    wid = new_run_id()
    naming = WorkloadNaming(wid)
    cloud = oslab.cloud
    prov = Provisioner(cloud, naming, oslab.admin_or_none())
    stack = ResourceStack(timeout=oslab.settings.timeout, keep=True, report=lambda line: None)  # it stays
    oslab.progress(f"oslab: creating workload {wid} (tag {WORKLOAD_TAG}); it stays until --oslab-phase cleanup")
    external = oslab.external_network()
    built = topology.selfservice(prov, stack, oslab.free_cidr(), external, topology.WORKLOAD)
    network, subnet, router = built.network, built.subnet, built.router
    group = prov.security_group(stack, "workload-sg")
    keypair = prov.keypair(stack, "workload-key")
    path = key_path(oslab.settings.cloud, wid)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keypair.write_private_key(str(path))
    image = find_image(cloud, oslab.choice.oslab.image)
    flavor = find_flavor(cloud, image, oslab.choice.oslab.flavor) or prov.flavor(stack, image)
    factory = ServerFactory(cloud, naming, image, flavor, keypair.name, [group], oslab.settings.timeout,
                            progress=oslab.progress)
    try:
        servers = factory.boot(stack, [ServerSpec(network=network, name="workload"),
                                       ServerSpec(network=network, name="workload")])
    except BootError as e:
        oslab.attach_compute_logs(e.failed)
        raise
    spare = prov.port(stack, network, "workload-spare-port", security_group_ids=[group.id])
    fip = None
    if external is not None:
        port = next(iter(cloud.network.ports(device_id=servers[0].id)))
        fip = prov.floating_ip(stack, external, port)
    return Workload(wid, network, subnet, router, group, servers, [spare], fip, keypair.name, keypair.pkey)


def workload_ids(conn) -> List[str]:
    """Ids of the workloads in the cloud, oldest first (ids sort by their creation time)."""
    found = set()
    for listing in (conn.network.networks, conn.network.routers, conn.network.security_groups):
        for res in listing(tags=WORKLOAD_TAG):
            found.add(run_of(res.tags))
    for server in conn.compute.servers(tags=WORKLOAD_TAG):
        found.add(run_of(server.tags))
    return sorted(f for f in found if f and f != "?")


def find_workload(oslab, wid: Optional[str] = None) -> Workload:
    """The workload ``wid`` (default: the newest); WorkloadMissing names what is not there."""
    cloud = oslab.cloud
    if wid is None:
        ids = workload_ids(cloud)
        if not ids:
            raise WorkloadMissing(f"no workload (tag {WORKLOAD_TAG}) in cloud {oslab.settings.cloud!r}: run "
                                  f"--oslab-phase pre first")
        wid = ids[-1]
    tag = RUN_TAG_PREFIX + wid
    n = cloud.network

    def only(kind: str, items: List[Any]):
        return sorted(items, key=lambda r: r.name or "")[0] if items else None

    network = only("network", list(n.networks(tags=tag)))
    subnet = only("subnet", list(n.subnets(tags=tag)))
    router = only("router", list(n.routers(tags=tag)))
    group = only("security group", list(n.security_groups(tags=tag)))
    servers = sorted((cloud.compute.get_server(s.id) for s in cloud.compute.servers(tags=tag)), key=lambda s: s.name)
    fips = list(n.ips(tags=tag))
    spare = sorted(n.ports(tags=tag), key=lambda p: p.name or "")
    missing = [kind for kind, value in (("network", network), ("subnet", subnet), ("router", router),
                                        ("security group", group)) if value is None]
    if len(servers) < 2:
        missing.append(f"servers (found {len(servers)} of 2)")
    if missing:
        raise WorkloadMissing(f"workload {wid} in cloud {oslab.settings.cloud!r} lacks: {', '.join(missing)} "
                              f"(deleted by hand or by `oslab cleanup`?)")
    pkey = None
    path = key_path(oslab.settings.cloud, wid)
    if path.exists():
        pkey = paramiko.Ed25519Key.from_private_key_file(str(path))
    return Workload(wid, network, subnet, router, group, servers, spare, fips[0] if fips else None,
                    f"oslab-{wid}-workload-key", pkey)


def remove_workloads(oslab) -> List[str]:
    """Delete every workload of the cloud, in dependency order, and their keys (a probe a pre left running
    stopped first); one line per workload."""
    cloud, admin = oslab.cloud, oslab.admin_or_none()
    lines = []
    for wid in workload_ids(cloud):
        record = probe_path(oslab.settings.cloud, wid)
        if record.exists():  # a pre whose post never ran: its probe is stopped, not left to ping for hours
            _, stopped = stop_probe(oslab, probe.Record.load(record), record.with_suffix(""))
            record.unlink()
            lines += stopped
        leftovers = cleanup_run.select(cleanup_run.list_candidates(cloud, admin), run=wid)
        problems = cleanup_run.remove(leftovers, cloud, admin, oslab.settings.timeout, report=oslab.progress)
        if problems:
            raise WorkloadMissing(f"workload {wid}: " + "; ".join(problems))
        key_path(oslab.settings.cloud, wid).unlink(missing_ok=True)
        lines.append(f"workload {wid}: removed {len(leftovers)} resources: "
                     + ", ".join(f"{x.kind} {x.label}" for x in leftovers))
    return lines


# --- what the workload shows ---------------------------------------------------------------------------------

def members(oslab, workload: Workload) -> List[Booted]:
    """The workload's servers as the checks see them: the suites' own Booted, on the workload's network."""
    admin = oslab.admin_cloud
    net = admin_view(admin, workload.network, workload.subnet, "workload")
    out = []
    for s in workload.servers:
        booted = read_booted(admin, s, net, "workload")
        if booted.port is None:
            raise WorkloadMissing(f"server {s.name} ({s.id}) has no port on the workload's network")
        out.append(booted)
    return out


# --- the probe ------------------------------------------------------------------------------------------------

def probe_agents(oslab, workload: Workload) -> List[probe.Agent]:
    """One agent, on the first node serving the workload network's DHCP (OVN: its metadata agent's node), in the
    namespace from which the guests are reached, watching every server of the workload."""
    ms = members(oslab, workload)
    net = ms[0].network
    nodes = oslab.dhcp_node_list(net)
    if not nodes:
        raise WorkloadMissing(f"no node serves network {net.id} of workload {workload.id}: nowhere to probe from")
    ovn = oslab.capabilities.driver == "ovn"
    targets = [probe.Target(display_name(m.server.name), m.ip, m.port.mac_address) for m in ms]
    return [probe.Agent(nodes[0].name, oslab.namespace_of(net.id), probe.remote_dir(workload.id), targets,
                        leases="" if ovn else f"{names.dhcp_dir(net.id)}/leases")]


def stop_probe(oslab, record: probe.Record, keep: Path) -> tuple:
    """Stop a record's agents and read them back: (series, one line per agent)."""
    series, lines = [], []
    for agent in record.agents:
        node = oslab.facts_of(agent.node)
        lines.append(probe.stop(node, agent))
        series += probe.series(agent, probe.fetch(node, agent, keep))
    return series, lines
