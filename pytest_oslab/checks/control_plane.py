"""The control plane (C1-C4): compute services and network agents alive, ``nova-status upgrade check`` all green,
and what a boot needs (an active image, a flavor that fits it, the run's keypair, ICMP and SSH allowed)."""
from __future__ import annotations

from typing import Iterable, List, Mapping, Optional, Sequence

from pytest_oslab.checks import ovn
from pytest_oslab.checks.core import Check, CheckFailed, Where, attach
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.provision.resources import flavor_fits

# agent types whose absence leaves a documented fact without its actor (ML2/OVN has none of the first three)
DHCP, METADATA, L3 = "DHCP agent", "Metadata agent", "L3 agent"
L2_AGENTS = ("Linux bridge agent", "Open vSwitch agent", "OVN Controller agent", "OVN Controller Gateway agent")
METADATA_AGENTS = ("Metadata agent", "OVN Metadata agent")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))] if rows else []
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in rows)


def check_compute_services(services: Iterable) -> None:
    """C1: every compute service (``nova-compute``, ``nova-conductor``, ``nova-scheduler``...) is enabled and up."""
    services = list(services)
    attach("compute service list (API)", _table([("Binary", "Host", "Zone", "Status", "State")] + [
        (s.binary, s.host, s.availability_zone, s.status, s.state) for s in services]))
    with Check("every compute service is enabled and up") as c:
        binaries = {s.binary for s in services}
        for needed in ("nova-compute", "nova-conductor", "nova-scheduler"):
            c.require(needed in binaries, f"{needed}: expected at least one, actual none listed")
        for s in services:
            c.expect(f"{s.binary} on {s.host} status", "enabled", s.status)
            c.expect(f"{s.binary} on {s.host} state", "up", s.state)


def check_upgrade_check(node: NodeFacts, services: Iterable = ()) -> None:
    """C2: ``nova-status upgrade check`` reports every check as Success, over compute services that are all in
    service: nova-status counts a disabled ``nova-compute`` like an enabled one (its checks read the cells' and
    placement's records, never a service's status), so each of ``services`` (the API's list) must be enabled."""
    services = list(services)
    with Check("nova-status upgrade check reports Success for every check, every compute service enabled",
               Where(node=node.name)) as c:
        results = node.upgrade_check()
        c.require(results, "nova-status upgrade check: expected a table of checks, actual none")
        for r in results:
            detail = f" ({r.details})" if r.details else ""
            c.require(r.ok, f"check {r.name!r}: expected Success, actual {r.result}{detail}")
        for s in services:
            reason = f" (disabled reason: {s.disabled_reason})" if getattr(s, "disabled_reason", None) else ""
            c.require(s.status == "enabled", f"{s.binary} on {s.host} status: expected enabled, actual "
                                             f"{s.status}{reason}")


def check_network_agents(agents: Iterable, compute_hosts: Sequence[str] = (), drivers: Iterable[str] = ()) -> None:
    """C3: every network agent alive and admin-up, and the documented ones present: DHCP (except on OVN), metadata,
    an L2 agent on every compute node; L3 agents, where there are any, alive like the rest."""
    agents = list(agents)
    attach("network agent list (API)", _table([("Agent Type", "Host", "Alive", "State", "Binary")] + [
        (a.agent_type, a.host, ":-)" if a.is_alive else "XXX", "UP" if a.is_admin_state_up else "DOWN", a.binary)
        for a in agents]))
    with Check("every network agent is alive and admin-up, and the documented ones run") as c:
        for a in agents:
            c.expect(f"{a.agent_type} on {a.host} ({a.binary}) alive", True, bool(a.is_alive))
            c.expect(f"{a.agent_type} on {a.host} ({a.binary}) admin state", "UP",
                     "UP" if a.is_admin_state_up else "DOWN")
        types = {a.agent_type for a in agents}
        if "ovn" not in set(drivers):
            c.require(DHCP in types, f"{DHCP}: expected at least one, actual none listed")
        c.require(types & set(METADATA_AGENTS), "metadata agent: expected at least one, actual none listed")
        l2_hosts = {a.host for a in agents if a.agent_type in L2_AGENTS}
        for host in compute_hosts:
            short = host.split(".")[0]
            c.require(any(h == host or h.split(".")[0] == short for h in l2_hosts),
                      f"L2 agent on compute node {host}: expected, actual none "
                      f"(L2 agents on: {', '.join(sorted(l2_hosts)) or 'no host'})")


def check_ovn_controllers_answer(agents: Iterable, states: Mapping[str, Sequence[ovn.ControllerState]]) -> None:
    """C3 on ML2/OVN, judged where it is decided: each OVN Controller agent's chassis runs an ovn-controller that
    answers at once, connected to the southbound DB (``states``: host -> ``ovn.controller_states`` of its node).
    The API's ``is_alive`` for OVN agents is refreshed only when agents are listed and survives a missed beat, so
    a frozen ovn-controller looks alive there for minutes."""
    controllers = [a for a in agents if a.agent_type in ("OVN Controller agent", "OVN Controller Gateway agent")]
    with Check("every OVN chassis' ovn-controller answers, connected to the southbound DB") as c:
        c.require(controllers, "OVN Controller agent: expected at least one, actual none listed")
        for a in controllers:
            found = states.get(a.host, ())
            who = f"ovn-controller on {a.host} ({a.agent_type})"
            if not c.require(found, f"{who}: expected a running process, actual none"):
                continue
            for s in (s for s in found if s.answered is not None):  # None: no ovn-appctl on the node to ask
                state = f"process {s.pid} state {s.stat}" + (": stopped" if s.stopped else "")
                if c.require(s.answered, f"{who}: expected to answer `ovn-appctl connection-status` within "
                                         f"{ovn.ANSWER_WITHIN}s, actual no answer ({s.answer}; {state})"):
                    c.expect(f"{who} connection-status", "connected", s.answer, state)


def check_image_active(image) -> None:
    """C4: the image the suite boots is active."""
    with Check("the image to boot is active") as c:
        c.expect(f"image {image.name} ({image.id[:8]}) status", "active", image.status)


def check_flavor_fits(flavor, image) -> None:
    """C4: the flavor the suite boots fits the image (RAM and disk), and is enabled."""
    with Check(f"flavor {flavor.name} fits image {image.name}") as c:
        c.require(flavor_fits(flavor, image),
                  f"flavor {flavor.name}: ram {flavor.ram} MiB / disk {flavor.disk} GiB; expected at least "
                  f"the image's min_ram {image.min_ram or 0} MiB / min_disk {image.min_disk or 0} GiB / size "
                  f"{image.size or 0} bytes")


def check_keypair_owned(keypairs: Iterable, name: str) -> None:
    """C4: the suite's keypair is registered with Nova for its user."""
    names = sorted(k.name for k in keypairs)
    with Check("the suite's keypair is registered") as c:
        c.require(name in names, f"keypair {name}: expected in the user's keypairs, actual "
                                 f"{', '.join(names) or 'none'}")


def _allows(rules, protocol: str, port: Optional[int]) -> bool:
    """Whether an ingress IPv4 rule from anywhere lets ``protocol`` (and ``port``) in."""
    for r in rules:
        if r.direction != "ingress" or r.ether_type != "IPv4" or r.protocol != protocol:
            continue
        if r.remote_group_id or r.remote_ip_prefix not in (None, "0.0.0.0/0"):
            continue
        low, high = r.port_range_min, r.port_range_max
        if port is None or low is None or low <= port <= (high if high is not None else low):
            return True
    return False


def check_group_allows_icmp_and_ssh(group, rules: Iterable) -> None:
    """C4: security-group rules let ICMP and TCP 22 in from anywhere (IPv4)."""
    rules = list(rules)
    with Check(f"security group {group.name} ({group.id[:8]}) lets ICMP and SSH in") as c:
        c.require(_allows(rules, "icmp", None), "ingress IPv4 icmp from 0.0.0.0/0: expected, actual none")
        c.require(_allows(rules, "tcp", 22), "ingress IPv4 tcp 22 from 0.0.0.0/0: expected, actual none")


def default_rules_missing(group, rules: Iterable) -> List[str]:
    """The documented rules of a project's ``default`` group that ``rules`` lacks: ingress IPv4/IPv6 from the group
    itself, egress IPv4/IPv6 to anywhere."""
    rules = list(rules)
    missing = []
    for direction, ether in (("ingress", "IPv4"), ("ingress", "IPv6"), ("egress", "IPv4"), ("egress", "IPv6")):
        remote = group.id if direction == "ingress" else None
        if not any(r.direction == direction and r.ether_type == ether and r.protocol is None
                   and r.port_range_min is None and r.remote_group_id == remote
                   and (remote is not None or r.remote_ip_prefix in (None, "0.0.0.0/0", "::/0")) for r in rules):
            peer = f"group {group.id[:8]} (itself)" if remote else "anywhere"
            missing.append(f"{direction} {ether} any protocol {'from' if remote else 'to'} {peer}")
    return missing


def check_default_group(group, rules: Iterable) -> None:
    """C4: the project's ``default`` group holds its default rules as documented."""
    with Check(f"the default security group ({group.id[:8]}) holds its default rules") as c:
        for rule in default_rules_missing(group, rules):
            c.require(False, f"rule {rule}: expected, actual absent")


def agent_on(capabilities, agent_type: str, host: str):
    """The agent of ``agent_type`` running on ``host`` (short names compared), from the capabilities; CheckFailed
    naming the agents there are when there is none."""
    short = host.split(".")[0]
    for a in capabilities.agents:
        if a.type == agent_type and (a.host == host or a.host.split(".")[0] == short):
            return a
    raise CheckFailed(f"node {host}: no {agent_type} listed for it (agents: "
                      f"{', '.join(f'{a.type} on {a.host}' for a in capabilities.agents) or 'none'})")
