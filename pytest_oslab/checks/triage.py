"""D1: when a guest cannot be reached, attach what tells why without logging in: its console log, the DHCP
leases of its network, ARP from the DHCP namespace to its IP, its tap's counters and its port's chains. When a
server does not even boot, ``compute_log`` finds what nova-compute logged about it (the API keeps only the
conductor's fault once a build was rescheduled).

``gather`` is best effort: each piece that cannot be had says so in its own attachment, and nothing it does can
hide the failure that called it.
"""
from __future__ import annotations

import shlex
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, attach
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import nova_log

# where nova-compute logs on the common deployments: Debian/Ubuntu and RDO packages, kolla-ansible, devstack and
# packaged systemd units (``journal:UNIT``); a cloud's ``oslab: {compute_log: ...}`` names its own
COMPUTE_LOGS = ("/var/log/nova/nova-compute.log", "/var/log/kolla/nova/nova-compute.log",
                "journal:devstack@n-cpu.service", "journal:nova-compute.service")


def _safely(what: str, make: Callable[[], str]) -> Tuple[str, str]:
    try:
        return what, make()
    except Exception as e:  # evidence only: a failure to gather it must not replace the real failure
        return what, f"({what} unavailable: {type(e).__name__}: {e})"


def chains_text(node: NodeFacts, port_id: str, driver: str) -> str:
    """The port's chains as ``iptables-save`` prints them, and the jumps to them."""
    text = node.run("iptables-save -c -t filter", quiet=True).stdout
    wanted = set(names.chains(port_id, driver)[k] for k in ("in", "out", "spoof"))
    tap = names.tap(port_id)
    kept = [line for line in text.splitlines()
            if any(w in line for w in wanted) or tap in line or line.startswith(("*", "COMMIT"))]
    return "\n".join(kept) or "(no rule names the port)"


def gather(server, port, network, compute: Optional[NodeFacts], dhcp: Iterable[NodeFacts] = (),
           console: Optional[Callable[[], str]] = None, driver: str = "linuxbridge") -> List[Tuple[str, str]]:
    """Attach the D1 evidence for ``server``'s ``port`` on ``network``; returns what was attached.

    With the DHCP agent: the leases and ARP from ``qdhcp-<net>`` on each DHCP node; with ML2/OVN (native DHCP, no
    lease file): ARP from ``ovnmeta-<net>`` on the compute node. The iptables chains with the iptables firewalls."""
    pieces: List[Tuple[str, str]] = []
    ip = next((ip for ip, _ in names.ipv4_fixed_ips(port)), None)
    if console is not None:
        pieces.append(_safely(f"console log of {server.name}", console))
    for node in dhcp:
        leases = f"{names.dhcp_dir(network.id)}/leases"
        pieces.append(_safely(f"{node.name}: DHCP leases of network {network.name or network.id}",
                              lambda node=node, path=leases: node.run(f"cat {path}", ok=False, quiet=True).stdout
                              or "(no leases)"))
    arp_from = [(node, names.qdhcp(network.id)) for node in dhcp]
    if driver == "ovn" and compute is not None:
        arp_from = [(compute, names.ovnmeta(network.id))]
    for node, namespace in arp_from if ip else []:
        device = namespace_device(node, namespace)
        pieces.append(_safely(f"{node.name}: arping {ip} from {namespace}",
                              lambda node=node, ns=namespace, dev=device: node.run(
                                  f"ip netns exec {ns} arping -c 3 -w 4 -I {dev} {ip}", ok=False,
                                  quiet=True).stdout or "(no output)"))
        pieces.append(_safely(f"{node.name}: neighbours in {namespace}",
                              lambda node=node, ns=namespace: node.run(f"ip -n {ns} neigh show", ok=False,
                                                                       quiet=True).stdout or "(none)"))
    if compute is not None:
        tap = names.tap(port.id)
        pieces.append(_safely(f"{compute.name}: counters of {tap}",
                              lambda: compute.run(f"ip -s -d link show dev {tap}", ok=False, quiet=True).stdout
                              or f"({tap} not found)"))
        if driver in ("linuxbridge", "openvswitch"):
            pieces.append(_safely(f"{compute.name}: iptables chains of port {names.short_id(port.id)}",
                                  lambda: chains_text(compute, port.id, driver)))
    for title, text in pieces:
        attach(f"D1 triage: {title}", text)
    return pieces


def compute_log_command(instance_id: str, sources: Sequence[str] = COMPUTE_LOGS, lines: int = 400) -> str:
    """One shell command printing the last ``lines`` lines that name the instance, from each readable source."""
    uid = shlex.quote(instance_id)
    parts = []
    for source in sources:
        if source.startswith("journal:"):
            unit = shlex.quote(source.split(":", 1)[1])
            parts.append(f"if command -v journalctl >/dev/null; then journalctl -q --no-pager -o short-iso -u {unit} "
                         f"--grep {uid} 2>/dev/null | tail -n {lines}; fi")
        else:
            path = shlex.quote(source)
            parts.append(f"if [ -r {path} ]; then grep -h -F -- {uid} {path} | tail -n {lines}; fi")
    return "; ".join(parts) + "; true"


def compute_log(node: NodeFacts, server, sources: Sequence[str] = COMPUTE_LOGS) -> str:
    """What nova-compute on ``node`` logged about ``server`` at WARNING and above, traceback frames left out;
    the raw lines' tail when it logged nothing above INFO."""
    text = node.run(compute_log_command(server.id, sources), ok=False, quiet=True).stdout or ""
    events = nova_log.instance_events(text, server.id)
    if events:
        return "\n".join(str(e) for e in events)
    raw = text.splitlines()  # every line names the instance: the command greps for it
    if raw:
        return "(no warning or error for the instance; its last lines)\n" + "\n".join(raw[-20:])
    return f"(nothing names {server.id} in {', '.join(sources)})"


def namespace_device(node: NodeFacts, namespace: str) -> str:
    """The device in ``namespace`` that is not ``lo`` (``ns-``/``tap`` of the DHCP port, OVN's metadata veth)."""
    result = node.run(f"ip -n {namespace} -o link show", ok=False, quiet=True)
    for line in (result.stdout or "").splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name and name != "lo":
            return name
    return "any"


def check_triage_readable(pieces: List[Tuple[str, str]], server, port, driver: str = "linuxbridge") -> None:
    """D1: the evidence gathered for a guest tells its story: a console log, an ARP answer from its MAC, its tap's
    counters; with the DHCP agent a lease for its MAC, with the iptables firewalls its port's chains."""
    mac = port.mac_address.lower()
    tap = names.tap(port.id)
    kinds = ["console log", "arping", "counters"]
    if driver in ("linuxbridge", "openvswitch"):
        kinds += ["DHCP leases", "iptables chains"]
    with Check("the triage evidence for the guest is complete", Where(server=server, port=port)) as c:
        by_kind = {kind: [text for title, text in pieces if kind in title] for kind in kinds}
        for kind in kinds:
            texts = by_kind[kind]
            if not c.require(texts, f"{kind}: expected in the triage, actual not gathered"):
                continue
            unavailable = [t for t in texts if t.startswith("(") and "unavailable" in t[:200]]
            c.require(not unavailable, f"{kind}: expected, actual {unavailable[0][:200] if unavailable else ''}")
        c.require(any(t.strip() for t in by_kind["console log"]), "console log: expected text, actual empty")
        c.require(any(mac in t.lower() for t in by_kind["arping"]), f"arping: expected an answer from {mac}, "
                                                                    f"actual none")
        c.require(any(tap in t for t in by_kind["counters"]), f"counters: expected {tap}'s, actual none")
        if "DHCP leases" in by_kind:
            c.require(any(mac in t.lower() for t in by_kind["DHCP leases"]),
                      f"DHCP leases: expected a lease for {mac}, actual none")
