"""Where each node tool and file lives, per deployment: the host, a container, or a snap's command.

Checks call tools by name (``virsh dumpxml x``, ``ovs-vsctl --format=json list Port``, ``cat
/var/lib/neutron/dhcp/<net>/opts``); a node's ``Layout`` rewrites each command for the deployment it runs:

- ``host``: packages on the host (Debian/Ubuntu/RDO packages, devstack): commands as they are;
- ``kolla``: kolla-ansible: ``docker|podman exec <container>``, neutron's state path ``/var/lib/neutron/kolla``
  (the named volume ``neutron_metadata_socket``) read in ``neutron_dhcp_agent``; each network's dnsmasq in its
  own sidecar ``neutron_dhcp_agent_dnsmasq_qdhcp-<net>`` where kolla's agent wrappers are on;
- ``tripleo``: TripleO and RHOSO's data plane (podman; Open vSwitch on the host; libvirt split in
  ``nova_virtqemud``; dnsmasq sidecars ``neutron-dnsmasq-qdhcp-<net>``; iptables through nft);
- ``sunbeam``: Canonical Sunbeam's ``openstack-hypervisor`` snap (``openstack-hypervisor.virsh``, ...; its run
  directories under ``/var/snap/openstack-hypervisor/common``); the control plane's tools are in Kubernetes.

Chosen in clouds.yaml (``oslab: {deployment: kolla}`` or a mapping: ``profile``, ``runtime``, ``iptables``,
``tools: {virsh: nova_libvirt | host | {command: ...}}``, ``nodes: {compute1: tripleo | {...}}``); ``auto`` (the
default) looks at what the node lists (``podman ps --format json``, ``docker ps --format json``, the snap).
A tool that is missing is explained: the likely cause, and what to set.
"""
from __future__ import annotations

import dataclasses
import re
import shlex
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from pytest_oslab.facts import containers as containers_facts
from pytest_oslab.facts.containers import Container

NEUTRON_STATE = "/var/lib/neutron"  # the packages' state_path: the one checks name
SNAP_COMMON = "/var/snap/openstack-hypervisor/common"
RUNTIMES = ("podman", "docker")
IPTABLES_BACKENDS = ("legacy", "nft")

# the service behind each tool, for messages
SERVICES = {"virsh": "libvirt", "ovs-vsctl": "Open vSwitch", "ovs-ofctl": "Open vSwitch",
            "ovs-appctl": "Open vSwitch", "ovn-nbctl": "the OVN northbound database",
            "ovn-sbctl": "the OVN southbound database", "ovn-appctl": "ovn-controller",
            "nova-status": "nova's API", "iptables-save": "the neutron agent's iptables"}
TOOLS = tuple(SERVICES)


class DeploymentError(Exception):
    """A deployment setting that cannot be used; one line naming the setting."""


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    runtime: Optional[str] = None  # the container runtime it uses by default
    containers: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # tool -> candidates, first listed wins
    commands: Mapping[str, str] = field(default_factory=dict)  # tool -> the command run instead
    elsewhere: Mapping[str, str] = field(default_factory=dict)  # tool -> where it is when not on any node
    state_path: str = NEUTRON_STATE
    state_containers: Tuple[str, ...] = ()  # where neutron's state directory is read
    state_volume: Optional[str] = None  # the named volume holding it
    dnsmasq_sidecar: Optional[str] = None  # a network's dnsmasq container ({network} is its id)
    iptables: Optional[str] = None  # the backend the agents write
    run_dirs: Mapping[str, str] = field(default_factory=dict)

    def known_names(self) -> frozenset:
        return frozenset(n for names in self.containers.values() for n in names) | frozenset(self.state_containers)


_OVS = ("ovs-vsctl", "ovs-ofctl", "ovs-appctl")

HOST = Profile("host", "packages on the host")

KOLLA = Profile(
    "kolla", "kolla-ansible", runtime="docker",
    containers={"virsh": ("nova_libvirt",),
                **{t: ("openvswitch_vswitchd", "openvswitch_db") for t in _OVS},
                # a compute has neither database: a check asking the central one (--db=tcp:...) runs the client in
                # ovn_controller, whose image carries OVN's clients too
                "ovn-nbctl": ("ovn_nb_db", "ovn_northd", "ovn_controller"),
                "ovn-sbctl": ("ovn_sb_db", "ovn_northd", "ovn_controller"),
                "ovn-appctl": ("ovn_controller",), "nova-status": ("nova_api",),
                "iptables-save": ("neutron_openvswitch_agent", "neutron_linuxbridge_agent", "neutron_l3_agent")},
    state_path="/var/lib/neutron/kolla",
    state_containers=("neutron_dhcp_agent", "neutron_l3_agent", "neutron_metadata_agent",
                      "neutron_ovn_metadata_agent"),
    state_volume="neutron_metadata_socket",
    dnsmasq_sidecar="neutron_dhcp_agent_dnsmasq_qdhcp-{network}")

TRIPLEO = Profile(
    "tripleo", "TripleO / RHOSO data plane", runtime="podman",
    containers={"virsh": ("nova_virtqemud", "nova_libvirt"),
                "ovn-nbctl": ("ovn-dbs-bundle-podman-0", "ovn_dbs", "ovn_controller"),
                "ovn-sbctl": ("ovn-dbs-bundle-podman-0", "ovn_dbs", "ovn_controller"),
                "ovn-appctl": ("ovn_controller",), "nova-status": ("nova_api",),
                "iptables-save": ("neutron_ovs_agent", "neutron_l3_agent")},
    elsewhere={"nova-status": "RHOSO runs nova's API in OpenShift (oc exec); TripleO in nova_api on controllers"},
    state_containers=("neutron_dhcp", "neutron_l3_agent", "neutron_metadata_agent", "ovn_metadata_agent"),
    dnsmasq_sidecar="neutron-dnsmasq-qdhcp-{network}", iptables="nft")

SUNBEAM = Profile(
    "sunbeam", "Sunbeam (openstack-hypervisor snap)",
    commands={t: f"openstack-hypervisor.{t}" for t in ("virsh", "ovs-vsctl", "ovs-ofctl", "ovs-appctl",
                                                       "ovn-appctl")},
    elsewhere={t: "Sunbeam runs it in the control plane's Kubernetes pods (kubectl exec)"
               for t in ("ovn-nbctl", "ovn-sbctl", "nova-status")},
    run_dirs={"openvswitch": f"{SNAP_COMMON}/run/openvswitch", "ovn": f"{SNAP_COMMON}/run/ovn"})

PROFILES: Dict[str, Profile] = {p.name: p for p in (HOST, KOLLA, TRIPLEO, SUNBEAM)}
CHOICES = tuple(PROFILES) + ("auto",)


# ------------------------------------------------------------------------------------------------- the setting
@dataclass(frozen=True)
class Setting:
    """``oslab.deployment`` for one node: a profile (or ``auto``) and the operator's overrides."""

    profile: str = "auto"
    runtime: Optional[str] = None
    iptables: Optional[str] = None
    tools: Mapping[str, Any] = field(default_factory=dict)  # tool -> container name | "host" | {command: ...}
    configured: bool = False


@dataclass(frozen=True)
class DeploymentConfig:
    default: Setting = Setting()
    nodes: Mapping[str, Setting] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: Any, where: str = "oslab.deployment") -> "DeploymentConfig":
        if value is None:
            return cls()
        default = _setting(value, where, allow_nodes=True)
        nodes = {}
        if isinstance(value, dict):
            raw = value.get("nodes") or {}
            if not isinstance(raw, dict):
                raise DeploymentError(f"{where}.nodes: expected a mapping of node name to a profile or mapping")
            for name, entry in raw.items():
                merged = dict({k: v for k, v in value.items() if k != "nodes"})
                merged.update({"profile": entry} if isinstance(entry, str) else (entry or {}))
                if not isinstance(entry, (str, dict)) and entry is not None:
                    raise DeploymentError(f"{where}.nodes.{name}: expected a profile name or a mapping")
                merged_tools = dict(value.get("tools") or {})
                merged_tools.update((entry or {}).get("tools") or {} if isinstance(entry, dict) else {})
                merged["tools"] = merged_tools
                nodes[str(name)] = _setting(merged, f"{where}.nodes.{name}")
        return cls(default, nodes)

    def for_node(self, name: str) -> Setting:
        short = name.split(".", 1)[0]
        for key, setting in self.nodes.items():
            if key == name or key.split(".", 1)[0] == short:
                return setting
        return self.default


def _setting(value: Any, where: str, allow_nodes: bool = False) -> Setting:
    if isinstance(value, str):
        value = {"profile": value}
    if not isinstance(value, dict):
        raise DeploymentError(f"{where}: expected a profile name ({', '.join(CHOICES)}) or a mapping")
    known = {"profile", "runtime", "iptables", "tools"} | ({"nodes"} if allow_nodes else set())
    unknown = sorted(set(value) - known)
    if unknown:
        raise DeploymentError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    profile = str(value.get("profile") or "auto")
    if profile not in CHOICES:
        raise DeploymentError(f"{where}: profile {profile!r}: expected one of {', '.join(CHOICES)}")
    runtime = value.get("runtime")
    if runtime is not None and runtime not in RUNTIMES:
        raise DeploymentError(f"{where}: runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    iptables = value.get("iptables")
    if iptables is not None and iptables not in IPTABLES_BACKENDS:
        raise DeploymentError(f"{where}: iptables {iptables!r}: expected one of {', '.join(IPTABLES_BACKENDS)}")
    tools = value.get("tools") or {}
    if not isinstance(tools, dict):
        raise DeploymentError(f"{where}.tools: expected a mapping of tool to a container, host or {{command: ...}}")
    for tool, place in tools.items():
        ok = isinstance(place, str) and place or (isinstance(place, dict) and set(place) == {"command"}
                                                  and isinstance(place["command"], str) and place["command"])
        if not ok:
            raise DeploymentError(f"{where}.tools.{tool}: expected a container name, 'host' or {{command: ...}}")
    return Setting(profile=profile, runtime=runtime, iptables=iptables, tools=dict(tools), configured=True)


# ------------------------------------------------------------------------------------------------- detection
LISTING = ("for rt in podman docker; do command -v $rt >/dev/null 2>&1 && echo \"== $rt\" && "
           "$rt ps --format json 2>/dev/null; done; "
           "test -d /snap/openstack-hypervisor && echo '== snap openstack-hypervisor'; true")


@dataclass(frozen=True)
class Listing:
    """What a node runs: its containers by runtime, and whether Sunbeam's hypervisor snap is there."""

    containers: Mapping[str, Tuple[Container, ...]] = field(default_factory=dict)
    snap: bool = False

    def running(self, runtime: Optional[str] = None) -> Dict[str, str]:
        """Running container names -> their runtime (of ``runtime`` only, when given)."""
        return {name: rt for rt, listed in self.containers.items() if runtime in (None, rt)
                for c in listed if c.running for name in c.names}


def parse_listing(text: str) -> Listing:
    """The output of ``LISTING``: ``== podman`` / ``== docker`` headers each followed by that runtime's ps."""
    found: Dict[str, List[str]] = {}
    snap, current = False, None
    for line in str(text).splitlines():
        if line.startswith("== snap"):
            snap = True
        elif line.startswith("== "):
            current = line[3:].strip()
            found[current] = []
        elif current is not None:
            found[current].append(line)
    containers = {}
    for runtime, lines in found.items():
        try:
            containers[runtime] = tuple(containers_facts.parse_ps("\n".join(lines), f"{runtime} ps --format json"))
        except ValueError:
            containers[runtime] = ()
    return Listing(containers, snap)


def detect(listing: Listing) -> Tuple[Profile, Optional[str], List[str]]:
    """(profile, runtime, the names that told) from what a node lists; the host profile when nothing tells."""
    running = listing.running()
    best: Tuple[int, Profile, List[str]] = (0, HOST, [])
    for profile in (KOLLA, TRIPLEO):
        own = profile.known_names() - _shared_names()
        hits = sorted(n for n in running if n in own)
        if len(hits) > best[0]:
            best = (len(hits), profile, hits)
    if best[0]:
        runtimes = sorted({running[n] for n in best[2]})
        return best[1], runtimes[0], best[2]
    if listing.snap:
        return SUNBEAM, None, ["/snap/openstack-hypervisor"]
    return HOST, None, []


def _shared_names() -> frozenset:
    return KOLLA.known_names() & TRIPLEO.known_names()


# ------------------------------------------------------------------------------------------------- the layout
@dataclass(frozen=True)
class Place:
    """Where one tool runs on one node."""

    kind: str  # host | container | command | elsewhere
    container: str = ""
    command: str = ""
    why: str = ""


@dataclass(frozen=True)
class Layout:
    """A node's deployment, resolved: its profile, runtime, the containers it runs and the operator's overrides."""

    node: str
    profile: Profile
    runtime: Optional[str] = None
    running: Tuple[str, ...] = ()  # running container names (empty: not listed)
    setting: Setting = Setting()
    how: str = "default"  # configured | detected | default
    evidence: Tuple[str, ...] = ()  # the container names detection saw

    @property
    def iptables(self) -> Optional[str]:
        return self.setting.iptables or self.profile.iptables

    def place(self, tool: str) -> Place:
        override = self.setting.tools.get(tool)
        if isinstance(override, dict):
            return Place("command", command=override["command"], why="oslab.deployment.tools")
        if override == "host":
            return Place("host", why="oslab.deployment.tools")
        if override:
            return Place("container", container=override, why="oslab.deployment.tools")
        if tool in self.profile.commands:
            return Place("command", command=self.profile.commands[tool])
        candidates = self.profile.containers.get(tool, ())
        if candidates:
            listed = [c for c in candidates if c in self.running]
            return Place("container", container=(listed or list(candidates))[0])
        if tool in self.profile.elsewhere:
            return Place("elsewhere", why=self.profile.elsewhere[tool])
        return Place("host")

    def state_container(self) -> Optional[str]:
        if not self.profile.state_containers:
            return None
        listed = [c for c in self.profile.state_containers if c in self.running]
        return (listed or list(self.profile.state_containers))[0]

    def path(self, path: str) -> str:
        """``path`` as the node's processes see it: neutron's state path where this deployment keeps it."""
        state = self.profile.state_path
        if state == NEUTRON_STATE or path.startswith(state + "/") or not _names_state(path):
            return path
        return state + path[len(NEUTRON_STATE):]

    def dnsmasq_container(self, network_id: str) -> Optional[str]:
        """The sidecar that runs the network's dnsmasq, when the deployment runs one and the node lists it."""
        if not self.profile.dnsmasq_sidecar:
            return None
        name = self.profile.dnsmasq_sidecar.format(network=network_id)
        return name if name in self.running else None

    def exec_prefix(self, container: str) -> str:
        return f"{self.runtime or self.profile.runtime or 'docker'} exec {shlex.quote(container)}"

    def wrap(self, command: str) -> str:
        """The command to run on the node's host for ``command`` as a check says it."""
        tool = tool_of(command)
        if not tool:
            return command
        place = self.place(tool)
        if place.kind == "command":
            return place.command + command[len(tool):]
        if place.kind == "container":
            return f"{self.exec_prefix(place.container)} sh -c {shlex.quote(self._paths(command))}"
        if place.kind == "elsewhere":
            return command  # it fails as it would; the explanation says where the tool is
        if tool == "iptables-save" and self.iptables:
            return f"iptables-{self.iptables}-save" + command[len(tool):]
        if _names_state(command) and self.profile.state_path != NEUTRON_STATE:
            inner = self._paths(command)
            container = self.state_container()
            return f"{self.exec_prefix(container)} sh -c {shlex.quote(inner)}" if container else inner
        return command

    def _paths(self, command: str) -> str:
        if self.profile.state_path == NEUTRON_STATE:
            return command
        return _STATE.sub(lambda m: self.path(m.group(0)), command)

    def describe(self) -> str:
        """One line for the report: ``kolla-ansible (podman; detected: nova_libvirt, ...)``."""
        details = [self.runtime] if self.runtime else []
        if self.how == "detected" and self.evidence:
            shown = ", ".join(self.evidence[:4]) + (", ..." if len(self.evidence) > 4 else "")
            details.append(f"detected: {shown}")
        else:
            details.append(self.how)
        if self.setting.tools:
            details.append("mapped: " + ", ".join(f"{t} -> {_shown(p)}" for t, p in sorted(self.setting.tools.items())))
        if self.iptables:
            details.append(f"iptables {self.iptables}")
        return f"{self.profile.title} ({'; '.join(details)})"


_STATE = re.compile(re.escape(NEUTRON_STATE) + r"/[^\s'\";|&]*")


def _names_state(text: str) -> bool:
    return bool(_STATE.search(text))


def _shown(place: Any) -> str:
    return place["command"] if isinstance(place, dict) else str(place)


def tool_of(command: str) -> str:
    """The first word of ``command`` when it is one of the tools a deployment places (``virsh``, ...)."""
    first = command.strip().split(" ", 1)[0] if command.strip() else ""
    return first if first in TOOLS or first in ("cat", "ls", "test", "stat") else ""


def resolve(node: str, setting: Setting, listing: Optional[Listing]) -> Layout:
    """The node's layout from its setting and (for ``auto``, or a profile with containers) what it lists."""
    listing = listing or Listing()
    if setting.profile == "auto":
        profile, runtime, evidence = detect(listing)
        how = "detected" if evidence else "default"
    else:
        profile, runtime, evidence, how = PROFILES[setting.profile], None, [], "configured"
    runtime = setting.runtime or runtime
    if runtime is None and profile.containers:
        listed = [rt for rt, found in listing.containers.items()
                  if any(n in profile.known_names() for c in found for n in c.names)]
        runtime = listed[0] if listed else profile.runtime
    running = tuple(sorted(listing.running(runtime))) if runtime else ()
    return Layout(node, profile, runtime, running, setting, how, tuple(evidence))


# ------------------------------------------------------------------------------------------------- messages
def missing(result) -> bool:
    """A result saying the command (or its container) is not there: exit 127, or a runtime's 'no such container'."""
    err = (result.stderr or "").lower()
    return result.rc == 127 or (result.rc in (125, 126) and ("no such container" in err
                                                             or "no container with name" in err))


def explain(layout: Layout, command: str, listing: Optional[Listing]) -> str:
    """Why ``command`` is missing on the node, and what to set: one line."""
    tool = command.strip().split(" ", 1)[0]
    service = SERVICES.get(tool, tool)
    place = layout.place(tool) if tool in TOOLS else Place("host")
    where = f"`{tool}` not found on {layout.node}"
    if place.kind == "container":
        return (f"{where} in container {place.container} ({layout.profile.title}, {layout.runtime or '?'}): "
                f"the node does not run that container; map {tool} in oslab.deployment.tools or set the profile")
    if place.kind == "elsewhere":
        return f"{where}: {place.why}"
    if place.kind == "command":
        return f"{where}: `{place.command}` ({layout.profile.title}) did not run; map {tool} in oslab.deployment.tools"
    looks = containerised(listing) if layout.profile is HOST else ""
    if looks:
        return f"{where}: {looks}"
    return (f"{where}: {service} may run in a container; set oslab.deployment "
            f"(kolla, tripleo, sunbeam) or map {tool} in oslab.deployment.tools")


def containerised(listing: Optional[Listing]) -> str:
    """'the deployment looks containerised ...' when the node lists a deployment's containers, else ''."""
    if listing is None:
        return ""
    profile, runtime, evidence = detect(listing)
    if profile is HOST:
        return ""
    shown = ", ".join(evidence[:4]) + (", ..." if len(evidence) > 4 else "")
    kind = f"{runtime} lists {profile.title}'s containers ({shown})" if runtime else f"{shown} is there"
    return f"the deployment looks containerised: {kind}; set oslab.deployment: {profile.name}"


# ------------------------------------------------------------------------------------------------- the host
class DeployedHost:
    """A testinfra host whose ``run`` places each tool as the node's deployment does; everything else is the host's.

    The node's listing (``LISTING``) is read once, on the first command that needs it: always for ``auto``, for
    a profile with containers (which of its candidates run, and under which runtime), and to explain a failure.
    """

    def __init__(self, host, node: str, setting: Setting):
        self._host = host
        self.node = node
        self.setting = setting
        self._layout: Optional[Layout] = None
        self._listing: Optional[Listing] = None
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._host, name)

    def listing(self) -> Listing:
        with self._lock:
            if self._listing is None:
                result = self._host.run(LISTING)
                self._listing = parse_listing(result.stdout or "")
            return self._listing

    def layout(self) -> Layout:
        if self._layout is None:
            needs = self.setting.profile == "auto" or PROFILES[self.setting.profile].containers
            self._layout = resolve(self.node, self.setting, self.listing() if needs else None)
        return self._layout

    def path(self, path: str) -> str:
        return self.layout().path(path)

    def looks_containerised(self) -> str:
        """'the deployment looks containerised: ...' when the node is taken for packages on the host but lists a
        deployment's containers; else ''. For a check that found nothing where the host profile looks."""
        return containerised(self.listing()) if self.layout().profile is HOST else ""

    def placed(self, command: str) -> str:
        """What ``run(command)`` runs on the node's host."""
        return self.layout().wrap(command)

    def run(self, command: str, *args: str, **kwargs):
        if args:
            command = self._host.backend.quote(command, *args)
        layout = self.layout()
        result = self._host.run(layout.wrap(command), **kwargs)
        if missing(result) and tool_of(command) in TOOLS:
            return _with_hint(result, explain(layout, command, self.listing()))
        if result.rc != 0 and layout.profile is HOST and _names_state(command) \
                and "no such file" in (result.stderr or "").lower():
            looks = containerised(self.listing())
            if looks:
                return _with_hint(result, f"{_STATE.search(command).group(0)} not found on {self.node}: {looks}")
        return result


def _with_hint(result, hint: str):
    """The result with ``hint`` as the last line of its stderr (what a failing check quotes)."""
    err = (result.stderr or "").rstrip("\n")
    return dataclasses.replace(result, _stderr=(err + "\n" if err else "") + hint + "\n")
