"""``--oslab-phase pre|post|cleanup``: gate an upgrade with a workload that outlives the run.

- ``pre`` creates the workload (a self-service network and subnet behind a router, a security group allowing
  ICMP and SSH, a keypair, two servers, a spare port made beforehand and left unbound (H1), a floating IP for
  the first server when the cloud has an external network), or
  reuses the one an earlier ``pre`` left; checks its documented facts; and saves a snapshot of its data plane as
  JSON beside the report (``reports/oslab-<cloud>-<time>-pre.json``). Everything carries the tags ``oslab``,
  ``oslab-run-<workload id>`` and ``oslab-workload`` (the keypair is named ``oslab-<workload id>-workload-key``),
  so ``post`` finds it again and ``oslab cleanup`` would remove it. Its private key is kept, 0600, in the state
  directory (``$OSLAB_STATE_DIR``, default ``~/.local/state/pytest-oslab``), never beside the reports.
- ``post`` loads the newest pre snapshot of the cloud (or ``--oslab-snapshot``), finds that workload, checks its
  facts again, takes a new snapshot and compares: what must not change fails, naming what changed; what may
  change is reported (see ``pytest_oslab.report.snapshot``).
- ``cleanup`` removes the workload (all of them, for that cloud) and its key; the run's other tests are deselected.

Between the two, the workload is watched: ``pre`` ends by starting the probe agent (``pytest_oslab.probe``) on
the node whose namespace reaches the guests (the DHCP node's ``qdhcp-``, OVN's ``ovnmeta-``), detached and
bounded, and records it in the state directory (``<cloud>-probe-<workload>.json``: node, PID, directory);
``post`` first stops that agent by its PID and reads its files back (kept in ``<cloud>-probe-<workload>/``), and
last fails when a guest's loss or longest gap along a path is over ``--oslab-max-loss`` / ``--oslab-max-gap``.
Each snapshot also holds the versions it was taken at (each node's packages, each API's version document), so
that the post report shows what the upgrade changed.

The phase's steps are test items of their own (``workload::pre::...``), run first and in order, whatever ``-k``
or ``-m`` select; the suite's tests run after them as usual. Under pytest-xdist they stay on one worker, in
order (``--dist load`` becomes ``loadgroup``, the steps one group; ``loadscope`` and ``loadfile`` keep them
together as they are).
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from pytest_oslab import evidence
from pytest_oslab.booted import Booted, admin_view, read_booted
from pytest_oslab.checks import dhcp, firewall, guests, instances
from pytest_oslab.checks.core import CheckFailed, on_each
from pytest_oslab.checks import names
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import packages
from pytest_oslab.cloud.capabilities import skip_reason
from pytest_oslab.outcomes import outcome
from pytest_oslab.probe import control as probe
from pytest_oslab.provision import cleanup as cleanup_run
from pytest_oslab.provision.naming import RUN_TAG_PREFIX, TAG, Naming, new_run_id, run_of
from pytest_oslab.provision.resources import Provisioner, find_flavor, find_image, image_user
from pytest_oslab.provision.servers import BootError, ServerFactory, ServerSpec
from pytest_oslab.provision.stack import ResourceStack
from pytest_oslab.report import dataplane, html, snapshot
from pytest_oslab.report.probe import figures
from pytest_oslab.report.plugin import report_dir, state_of
from pytest_oslab.report.snapshot import CATEGORIES
from pytest_oslab.report.summary import gather
from pytest_oslab.report.topology import display_name
from pytest_oslab.stash import session_of

PHASES = ("pre", "post", "cleanup")
WORKLOAD_TAG = "oslab-workload"
PHASE = pytest.StashKey["PhaseRun"]()


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

    wid = new_run_id()
    naming = WorkloadNaming(wid)
    cloud = oslab.cloud
    prov = Provisioner(cloud, naming, oslab.admin_or_none())
    stack = ResourceStack(timeout=oslab.settings.timeout, keep=True, report=lambda line: None)  # it stays
    oslab.progress(f"oslab: creating workload {wid} (tag {WORKLOAD_TAG}); it stays until --oslab-phase cleanup")
    network = prov.network(stack, "workload-net")
    subnet = prov.subnet(stack, network, oslab.free_cidr(), "workload-subnet", enable_dhcp=True)
    external = oslab.external_network()
    router = prov.router(stack, "workload-router", external=external)
    prov.router_interface(stack, router, subnet)
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
        import paramiko
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


def _node(oslab, server):
    target = oslab.compute_node(server)
    return NodeFacts(oslab.nodes.host(target), target.name)


def _dhcp_nodes(oslab, network):
    return [NodeFacts(oslab.nodes.host(n), n.name) for n in oslab.dhcp_node_list(network)]


def _image_user(oslab) -> str:
    return image_user(find_image(oslab.cloud, oslab.choice.oslab.image), oslab.choice.oslab.image_user)


def check_instances(oslab, workload: Workload) -> None:
    """I1-I7 on each server of the workload: ACTIVE in the pool, dnsmasq entries and lease, domain and tap."""
    caps = oslab.capabilities
    driver, firewall = caps.driver or "", caps.firewall_driver
    steps: List[Callable[[], None]] = []
    for m in members(oslab, workload):
        node = _node(oslab, m.server)
        steps.append(lambda m=m: instances.check_server_active(m.server, m.port, m.subnet))
        steps.append(lambda m=m, node=node: instances.check_domain_running(
            node, m.server, m.server.instance_name, oslab.cloud.network.ports(device_id=m.server.id)))
        steps.append(lambda m=m, node=node: instances.check_domain_interface(
            node, m.server, m.server.instance_name, m.port, m.network, driver, firewall))
        steps.append(lambda m=m, node=node: instances.check_tap(node, m.server, m.port, m.network, driver, firewall))
        if driver in ("linuxbridge", "openvswitch"):
            for dn in _dhcp_nodes(oslab, m.network):
                steps.append(lambda m=m, dn=dn: dhcp.check_host_entry(dn, m.network, m.port, caps.dns_domain))
                steps.append(lambda m=m, dn=dn: dhcp.check_addn_hosts_entry(dn, m.network, m.port, caps.dns_domain))
                steps.append(lambda m=m, dn=dn: dhcp.check_lease(dn, m.network, m.port,
                                                                 timeout=oslab.settings.ssh_timeout))
    on_each(steps, lambda step: step())


def check_chains(oslab, workload: Workload) -> None:
    """S1-S3 on each server's port: ingress, egress and spoofing chains as its group's rules say."""
    caps = oslab.capabilities
    reason = skip_reason({"iptables_firewall": {}}, caps)
    if reason:
        pytest.skip(reason)
    driver = caps.driver or ""
    admin = oslab.admin_cloud
    steps = []
    for m in members(oslab, workload):
        node = _node(oslab, m.server)
        rules = [r for gid in m.port.security_group_ids for r in admin.network.security_group_rules(
            security_group_id=gid)]
        steps += [lambda m=m, node=node, rules=rules: firewall.check_ingress_chain(node, m.server, m.port, rules,
                                                                                   driver),
                  lambda m=m, node=node, rules=rules: firewall.check_egress_chain(node, m.server, m.port, rules,
                                                                                  driver),
                  lambda m=m, node=node: firewall.check_spoofing_chain(node, m.server, m.port, driver)]
    on_each(steps, lambda step: step())


def check_guests(oslab, workload: Workload) -> None:
    """G1-G3: SSH into each server with the workload's key, its NIC as the port says, the peer answers ping, and
    the floating IP leads to the first server."""
    if workload.pkey is None:
        pytest.skip(f"the workload's private key is not on this machine ({key_path(oslab.settings.cloud, workload.id)})"
                    f": guests not checked")
    ms = members(oslab, workload)
    user = _image_user(oslab)
    for m, peer in zip(ms, ms[1:] + ms[:1]):
        guest = oslab.guest(m.server, user, workload.pkey)
        guests.check_guest_nic(guest, m.port, m.network, m.subnet)
        guests.check_ping(guest, peer.ip, peer=peer.server.name)


def reachability(oslab, workload: Workload, ms: List[Booted]) -> Dict[str, bool]:
    """Probes whose answers must still be the same after an upgrade, by a name that stays the same."""
    probes: Dict[str, bool] = {}
    dhcp = _dhcp_nodes(oslab, ms[0].network) if oslab.capabilities.driver != "ovn" else []
    for m in ms:
        name = display_name(m.server.name)
        for dn in dhcp[:1]:
            result = dn.run(f"ip netns exec {names.qdhcp(m.network.id)} ping -c 3 -W 2 {m.ip}", ok=False)
            probes[f"{name} ({m.ip}) answers ping from its network's DHCP namespace"] = result.rc == 0
    if workload.pkey is not None:
        user = _image_user(oslab)
        for m, peer in zip(ms, ms[1:] + ms[:1]):
            label = f"{display_name(m.server.name)} pings {display_name(peer.server.name)} ({peer.ip})"
            try:
                guest = oslab.guest(m.server, user, workload.pkey)
                probes[label] = guest.run(f"ping -c 3 -W 2 {peer.ip}").rc == 0
            except Exception:
                probes[label] = False
    if workload.floating_ip is not None:
        address = workload.floating_ip.floating_ip_address
        probes[f"{display_name(ms[0].server.name)} answers SSH on its floating IP ({address})"] = ssh_banner(address)
    return probes


def ssh_banner(address: str, timeout: float = 10.0, tries: int = 3) -> bool:
    """Whether ``address:22`` answers with an SSH banner (from the machine the suite runs on)."""
    for _ in range(tries):
        try:
            with socket.create_connection((address, 22), timeout=timeout) as s:
                s.settimeout(timeout)
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def node_packages(oslab, picture: dict) -> Dict[str, Dict[str, str]]:
    """{node: {package: version}} of each node the picture shows, from its package manager (a node whose
    listing fails is left out, with its output as evidence)."""
    found = {}
    for n in picture.get("nodes", []):
        facts = NodeFacts(oslab.nodes.host(oslab.node_named(n["name"])), n["name"])
        result = facts.run(packages.COMMAND, ok=False, quiet=True)
        if result.rc == 0:
            found[n["name"]] = packages.installed(result.stdout)
        else:
            evidence.attach(f"{n['name']}: packages not listed", f"{packages.COMMAND}\n{result.stderr}")
    return found


def take_snapshot(oslab, workload: Workload, phase: str) -> dict:
    caps = oslab.capabilities
    ms = members(oslab, workload)
    seen = {"network": [workload.network.id], "router": [workload.router.id],
            "server": [s.id for s in workload.servers], "port": [p.id for p in workload.spare_ports]}
    picture = dataplane.collect(oslab, seen)
    drivers = {"mechanism": sorted(caps.mechanism_drivers), "firewall": caps.firewall_driver or ""}
    summary = gather(oslab).to_dict()
    # packages as [name, version] pairs: a {"passwd": "1:4.13"} mapping would be masked as a password when saved
    versions = {"services": summary.get("services", []),
                "packages": {n: sorted(map(list, p.items())) for n, p in node_packages(oslab, picture).items()}}
    return snapshot.make(phase, oslab.settings.cloud, workload.id, oslab.settings.run_id, picture,
                         reachability(oslab, workload, ms), drivers, summary, versions)


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


def _node_facts(oslab, name: str) -> NodeFacts:
    return NodeFacts(oslab.nodes.host(oslab.node_named(name)), name)


def stop_probe(oslab, record: probe.Record, keep: Path) -> tuple:
    """Stop a record's agents and read them back: (series, one line per agent)."""
    series, lines = [], []
    for agent in record.agents:
        node = _node_facts(oslab, agent.node)
        lines.append(probe.stop(node, agent))
        series += probe.series(agent, probe.fetch(node, agent, keep))
    return series, lines


# --- the phase's test items ----------------------------------------------------------------------------------

class PhaseItem(pytest.Item):
    """One step of the phase, run as a test so that its outcome and evidence are in every report."""

    def __init__(self, *, step: Callable[["PhaseItem"], None], doc: str = "", **kwargs):
        super().__init__(**kwargs)
        self.step = step
        self.doc = doc
        self.gate: Optional[dict] = None

    def runtest(self) -> None:
        with outcome("the upgrade workload"):  # the plugin bound this item: its evidence goes to its report
            self.step(self)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (CheckFailed, WorkloadMissing)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.nodeid


class PhaseRun:
    """The phase's state in one process: the workload, the snapshots and what changed."""

    def __init__(self, config, phase: str):
        self.config = config
        self.phase = phase
        self.workload: Optional[Workload] = None
        self.before: Optional[dict] = None
        self.before_path: Optional[Path] = None
        self.changes = None
        self.after_path: Optional[Path] = None
        self.broken: Optional[str] = None  # why the step that makes or finds the workload failed
        self.probe: Optional[dict] = None  # the probe's figures (pytest_oslab.report.probe.figures)

    @property
    def oslab(self):
        return session_of(self.config)

    def _note(self, workload: Workload) -> None:
        seen = state_of(self.config).seen
        for res in workload.resources():
            seen.note(res)

    def _path(self, phase: str) -> Path:
        state = state_of(self.config)
        directory = report_dir(self.config)
        if state.html is not None and state.html.parent == directory and state.html.stem.endswith(f"-{phase}"):
            path = state.html.with_suffix(".json")
        else:
            path = directory / (html.free_stem(directory, html.stem(self.oslab.settings.cloud, phase)) + ".json")
        state.files.append(path)
        return path

    def need_workload(self) -> Workload:
        if self.broken is not None:
            pytest.skip(f"no workload to check: {self.broken}")
        if self.workload is None:
            oslab = self.oslab
            wid = self.before.get("workload") if self.before else None
            self.workload = find_workload(oslab, wid)
            self._note(self.workload)
        return self.workload

    # steps --------------------------------------------------------------------------------------------------
    def first(self, step: Callable[[PhaseItem], None]) -> Callable[[PhaseItem], None]:
        """The step that makes or finds the workload: when it fails, the steps that need the workload skip."""
        def run(item: PhaseItem) -> None:
            try:
                step(item)
            except BaseException as e:
                self.broken = (str(e).splitlines() or [type(e).__name__])[0]
                raise
        return run

    def create(self, item: PhaseItem) -> None:
        oslab = self.oslab
        try:
            self.workload = find_workload(oslab)
            evidence.attach("workload",
                            f"workload {self.workload.id} from an earlier pre phase found: reused, re-snapshotted")
        except WorkloadMissing:
            self.workload = create_workload(oslab)
            evidence.attach("workload", f"workload {self.workload.id} created: " + ", ".join(
                f"{r.name or r.id}" for r in self.workload.resources()))
        self._note(self.workload)

    def find(self, item: PhaseItem) -> None:
        given = self.config.getoption("oslab_snapshot")
        try:
            self.before_path = Path(given) if given else snapshot.newest_pre(report_dir(self.config),
                                                                             self.oslab.settings.cloud)
            self.before = snapshot.load(self.before_path)
        except snapshot.SnapshotError as e:
            raise WorkloadMissing(str(e)) from None
        workload = self.need_workload()
        evidence.attach("workload", f"pre snapshot {self.before_path} (taken {self.before.get('taken')}, run "
                           f"{self.before.get('run')}); workload {workload.id} found: "
                           + ", ".join(f"{r.name or r.id}" for r in workload.resources()))

    def instances(self, item: PhaseItem) -> None:
        check_instances(self.oslab, self.need_workload())

    def chains(self, item: PhaseItem) -> None:
        check_chains(self.oslab, self.need_workload())

    def guests(self, item: PhaseItem) -> None:
        check_guests(self.oslab, self.need_workload())

    def save(self, item: PhaseItem) -> None:
        taken = take_snapshot(self.oslab, self.need_workload(), "pre")
        path = snapshot.save(taken, self._path("pre"))
        item.gate = snapshot.gate("pre", taken["workload"], str(path), [])
        evidence.attach("snapshot", f"{path}\n" + _counts(taken))

    def compare(self, item: PhaseItem) -> None:
        if self.before is None:
            pytest.skip("no pre snapshot was loaded (see the step that finds the workload)")
        taken = take_snapshot(self.oslab, self.need_workload(), "post")
        self.changes = snapshot.diff(self.before, taken)
        taken["compared_with"] = str(self.before_path)
        taken["changes"] = [c.__dict__ for c in self.changes]
        if self.probe is not None:  # what the guests felt in between, for whoever reads the snapshots
            taken["probe"] = {k: v for k, v in self.probe.items() if k != "series"}
            taken["probe"]["series"] = [{k: v for k, v in s.items() if k != "buckets"} for s in self.probe["series"]]
        self.after_path = snapshot.save(taken, self._path("post"))
        item.gate = snapshot.gate("post", taken["workload"], str(self.after_path), self.changes, str(self.before_path),
                                  snapshot.version_changes(self.before, taken))
        lines = [c.line() for c in self.changes] or ["no difference"]
        evidence.attach("changes since the pre snapshot", "\n".join(lines))

    def unchanged(self, category: str) -> Callable[[PhaseItem], None]:
        def step(item: PhaseItem) -> None:
            if self.changes is None:
                pytest.skip("the snapshots were not compared (see the step that compares them)")
            failing = snapshot.must(self.changes, category)
            told = [c for c in self.changes if c.category == category and c.severity == "may"]
            if told:
                evidence.attach(f"{category}: changes reported, not failed", "\n".join(c.line() for c in told))
            if failing:
                raise CheckFailed(snapshot.failure_text(failing, category, str(self.before_path)))
        return step

    def reported(self, item: PhaseItem) -> None:
        if self.changes is None:
            pytest.skip("the snapshots were not compared (see the step that compares them)")
        told = [c for c in self.changes if c.severity == "may"]
        evidence.attach("what may change and did", "\n".join(c.line() for c in told) or "nothing")

    def start_probe(self, item: PhaseItem) -> None:
        oslab, workload = self.oslab, self.need_workload()
        path = probe_path(oslab.settings.cloud, workload.id)
        if path.exists():  # a second pre: the earlier agents are stopped, their figures dropped
            stop_probe(oslab, probe.Record.load(path), path.with_suffix(""))
        record = probe.Record(workload.id)
        for agent in probe_agents(oslab, workload):
            record.agents.append(probe.start(_node_facts(oslab, agent.node), agent))
        record.save(path)
        evidence.attach("probe started", "\n".join(
            f"agent {a.pid} on {a.node} in {a.namespace} ({a.directory}), at most {probe.LIFETIME} s: "
            + ", ".join(f"{t.name} ({t.ip})" for t in a.targets) + f"; paths: {', '.join(a.paths())}"
            for a in record.agents) + f"\nrecord: {path}")

    def read_probe(self, item: PhaseItem) -> None:
        oslab, workload = self.oslab, self.need_workload()
        path = probe_path(oslab.settings.cloud, workload.id)
        if not path.exists():
            pytest.skip(f"no probe was started for workload {workload.id} (no {path}): its pre phase ran elsewhere "
                        f"or before the probe existed")
        series, lines = stop_probe(oslab, probe.Record.load(path), path.with_suffix(""))
        path.unlink()
        max_loss, max_gap = limit_of(self.config, "oslab_max_loss"), limit_of(self.config, "oslab_max_gap")
        self.probe = figures(series, max_loss, max_gap, lines)
        item.gate = {"phase": "post", "probe": self.probe}
        evidence.attach("probe", "\n".join(lines + [s.line() for s in series]
                                           + [f"files: {path.with_suffix('')}"]))

    def probe_limits(self, item: PhaseItem) -> None:
        if self.probe is None:
            pytest.skip("no probe figures (see the step that reads the probe back)")
        if self.probe["over"]:
            raise CheckFailed("the workload's data plane during the upgrade, per guest and path, over the limits:\n"
                              + "\n".join(f"  - {line}" for line in self.probe["over"]))
        if self.probe["limits"]["max_loss"] is None and self.probe["limits"]["max_gap"] is None:
            evidence.attach("probe limits", "no --oslab-max-loss nor --oslab-max-gap: figures reported only")

    def cleanup(self, item: PhaseItem) -> None:
        lines = remove_workloads(self.oslab)
        evidence.attach("cleanup",
                        "\n".join(lines) or f"no workload (tag {WORKLOAD_TAG}) in this cloud: nothing to remove")

    def steps(self):
        """(name, step, what it does) of this phase, in order."""
        common = [("instances: ACTIVE, dnsmasq entries and lease, domain and tap (I1-I7)", self.instances),
                  ("security groups: the ports' chains (S1-S3)", self.chains),
                  ("guests: SSH, NIC, the peer answers ping (G1-G2)", self.guests)]
        if self.phase == "pre":
            return ([("create or reuse the workload", self.first(self.create))] + common
                    + [("snapshot the workload's data plane", self.save),
                       ("probe: start watching the guests (ICMP, TCP 22, DHCP leases)", self.start_probe)])
        if self.phase == "post":
            return ([("find the workload of the pre snapshot", self.first(self.find)),
                     ("probe: stop it and read back what the guests felt", self.read_probe)] + common
                    + [("compare with the pre snapshot", self.compare)]
                    + [(f"unchanged: {snapshot_category}", self.unchanged(key))
                       for key, snapshot_category in _must_categories()]
                    + [("reported: what may change", self.reported),
                       ("probe: loss and longest gap within --oslab-max-loss and --oslab-max-gap",
                        self.probe_limits)])
        return [("remove the workload", self.cleanup)]


def _must_categories():
    return [(k, v) for k, v in CATEGORIES.items() if k != "reported"]


def _counts(snap: dict) -> str:
    picture = snap["picture"]
    reach = snap.get("reachability", {})
    lines = [f"workload {snap['workload']}: {len(picture['servers'])} servers, {len(picture['ports'])} ports, "
             f"{len(picture['networks'])} networks, {len(picture['routers'])} routers, "
             f"{len(picture['floating_ips'])} floating IPs, nodes {', '.join(n['name'] for n in picture['nodes'])}"]
    lines += [f"{'answers' if ok else 'NO ANSWER'}: {probe}" for probe, ok in reach.items()]
    return "\n".join(lines)


# --- hooks -----------------------------------------------------------------------------------------------------

@pytest.hookimpl(trylast=True)  # after pytest_oslab.plugin made the "oslab" group
def pytest_addoption(parser):
    group = parser.getgroup("oslab")
    group.addoption("--oslab-phase", dest="oslab_phase", default=None, choices=PHASES,
                    help="upgrade gating: pre (make a workload that stays, check it, snapshot it), post (find it, "
                         "check it, compare with the pre snapshot), cleanup (remove it) [ini: oslab_phase]")
    group.addoption("--oslab-snapshot", dest="oslab_snapshot", default=None, metavar="PATH",
                    help="the pre snapshot --oslab-phase post compares with (default: the newest of the cloud in "
                         "the report directory)")
    parser.addini("oslab_phase", "upgrade gating phase: pre, post or cleanup", default="")
    for option, ini, text in LIMITS:
        group.addoption(option, dest=ini, default=None, metavar=option.split("-")[-1].upper(),
                        help=f"{text} [ini: {ini}]")
        parser.addini(ini, text, default="")


LIMITS = [
    ("--oslab-max-loss", "oslab_max_loss", "post fails when a guest lost more than this percent of its probes "
     "along a path (ICMP, TCP 22, DHCP lease) during the upgrade; default: reported only"),
    ("--oslab-max-gap", "oslab_max_gap", "post fails when a guest went longer than these seconds without an answer "
     "along a path during the upgrade; default: reported only"),
]


def limit_of(config, ini: str) -> Optional[float]:
    value = config.getoption(ini)
    if value in (None, ""):
        value = config.getini(ini) or None
    if value is None:
        return None
    try:
        number = float(str(value).rstrip("%s").strip())
    except ValueError:
        raise pytest.UsageError(f"oslab: {ini}: {value!r} is not a number") from None
    if number < 0:
        raise pytest.UsageError(f"oslab: {ini}: {value!r} is negative")
    return number


def phase_of(config) -> Optional[str]:
    value = config.getoption("oslab_phase") or config.getini("oslab_phase") or None
    if value is not None and value not in PHASES:
        raise pytest.UsageError(f"oslab: oslab_phase: {value!r} is not one of {', '.join(PHASES)}")
    return value


@pytest.hookimpl(tryfirst=True)  # the report's file name carries the phase
def pytest_configure(config):
    phase = phase_of(config)
    if phase is None:
        return
    config.option.oslab_phase = phase
    for _, ini, _ in LIMITS:
        limit_of(config, ini)  # a wrong value stops the run before the workload is touched
    config.stash[PHASE] = PhaseRun(config, phase)
    if getattr(config, "workerinput", None) is None and config.pluginmanager.hasplugin("xdist"):
        if getattr(config.option, "dist", "no") in ("load", "worksteal"):  # the steps stay together, in order
            config.option.dist = "loadgroup"


def pytest_oslab_worker_input(config) -> dict:
    """What an xdist worker is told (the plugin's one channel, pytest_oslab.hooks): to group the phase's steps
    (xdist's own grouping of marked items runs before the steps exist)."""
    if PHASE not in config.stash:
        return {}
    return {"oslab_group": getattr(config.option, "dist", "no") == "loadgroup"}


@pytest.hookimpl(trylast=True)  # after -k/-m: the phase's steps always run
def pytest_collection_modifyitems(session, config, items):
    run = config.stash.get(PHASE, None)
    if run is None:
        return
    group = "@oslab-workload" if (getattr(config, "workerinput", None) or {}).get("oslab_group") else ""
    mine = [PhaseItem.from_parent(session, name=f"{run.phase}::{name}",
                                  nodeid=f"workload::{run.phase}::{name}{group}", step=step)
            for name, step in run.steps()]
    if run.phase == "cleanup" and items:
        config.hook.pytest_deselected(items=list(items))
        items[:] = mine
    else:
        items[:0] = mine

