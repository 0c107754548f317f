"""Inside the guests (G1-G2, H3-H6): the NIC of a port as the guest sees it, and reachability between guests.

A guest is anything with ``run(command) -> rc/stdout/stderr`` (``pytest_oslab.access.guests.Guest``); commands
are the ones busybox and cirros have (``ip addr``, ``ping``), parsed with the facts' text parsers.
"""
from __future__ import annotations

import shlex
from typing import Dict, Mapping, NamedTuple, Optional, Sequence

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, CheckFailed, Where, attach, wait_until
from pytest_oslab.facts import iproute, neigh


class NotRoot(Exception):
    """A change inside the guest needs root and the login user cannot get it: what needs it cannot be judged on
    this image (a skip naming the user and what to set), not the cloud's failure."""


def as_root(guest, command: str) -> str:
    """``command`` as root in the guest: as it is for root, through ``sudo -n`` for another login user (cirros'
    ``cirros``) when the guest has sudo; NotRoot otherwise (a busybox-only guest has no sudo)."""
    user = getattr(guest, "user", None) or "root"
    if user == "root":
        return command
    if guest.run("command -v sudo").rc != 0:
        raise NotRoot(f"guest {guest.server.name}: changing its NICs needs root; the login user {user} is not root "
                      f"and the guest has no sudo (set oslab.image and oslab.image_user in clouds.yaml to an image "
                      f"whose user is root or has passwordless sudo)")
    return f"sudo -n sh -c {shlex.quote(command)}"


def guest_run(guest, command: str, ok: bool = True):
    result = guest.run(command)
    text = result.stdout if result.rc == 0 else f"{result.stdout}{result.stderr}\n(exit status {result.rc})"
    attach(f"guest {guest.server.name}: {command}", text)
    if ok and result.rc != 0:
        first = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or [""])[-1]
        raise CheckFailed(f"guest {guest.server.name}: `{command}` exited {result.rc}: {first}")
    return result


def guest_links(guest) -> Dict[str, iproute.Link]:
    return iproute.parse_links_text(guest_run(guest, "ip addr").stdout)


def nic_of(links: Dict[str, iproute.Link], mac: str) -> Optional[iproute.Link]:
    return next((link for link in links.values() if (link.mac or "").lower() == mac.lower()), None)


def check_guest_nic(guest, port, network, subnet) -> None:
    """G1: ``ip addr`` in the guest shows the port's MAC on a NIC that is UP, with the fixed IP and the subnet's
    prefix, at the network's MTU."""
    with Check("the guest's NIC has the port's MAC, fixed IP and prefix, is UP at the network's MTU",
               Where(server=guest.server, port=port, network=network)) as c:
        links = guest_links(guest)
        nic = nic_of(links, port.mac_address)
        if nic is None:
            c.fail(f"NIC with MAC {port.mac_address}: expected in the guest, actual "
                   f"{', '.join(f'{n} {link.mac}' for n, link in links.items()) or 'no NIC'}")
        ip = names.fixed_ip_on(port, subnet)
        expected = f"{ip}/{names.prefixlen(subnet)}"
        have = [str(a) for a in nic.ipv4()]
        c.require(expected in have, f"{nic.name} address: expected {expected}, actual {', '.join(have) or 'none'}")
        c.expect(f"{nic.name} state UP", True, nic.up)
        c.expect(f"{nic.name} MTU", network.mtu, nic.mtu, "network MTU")


class NetworkView(NamedTuple):
    """How one namespace serving the guest's network sees it: a fresh ``arping`` of the port's address, and its
    neighbour table (``ip -j neigh``)."""

    arping: neigh.Arping
    neighbours: Sequence[neigh.Neighbour]


def check_guest_holds_its_address(server, port, subnet, views: Mapping[str, NetworkView], unreachable: str) -> None:
    """G1 when SSH does not answer (``unreachable`` says how): whether the guest holds its port's address, asked
    from each namespace serving its network (``views``: ``"<namespace> on <node>"`` -> what it saw), and which other
    address its MAC was seen at. Always fails: it says why the guest is out of reach in the port's words."""
    ip = names.fixed_ip_on(port, subnet)
    mac = port.mac_address.lower()
    with Check("the guest holds its port's address and answers SSH there", Where(server=server, port=port)) as c:
        where = ", ".join(views) or "no namespace (none could be read)"
        answering = sorted({m.lower() for v in views.values() for m in v.arping.macs})
        others = sorted({n.ip for v in views.values() for n in v.neighbours if (n.mac or "").lower() == mac
                         and n.ip != ip and ":" not in n.ip and not {"FAILED", "INCOMPLETE"} & set(n.state)})
        held = f"; its MAC was seen at {', '.join(others)} (neighbour entries)" if others else ""
        if mac in answering:
            c.fail(f"port {port.id} address {ip} (MAC {mac}): held by the guest (it answers ARP for it from {where}), "
                   f"but SSH there does not answer: {unreachable}")
        if answering:
            c.fail(f"port {port.id} address {ip} (MAC {mac}): expected held by the guest, actual ARP for {ip} from "
                   f"{where} answered by {', '.join(answering)} (another device holds it){held}; SSH: {unreachable}")
        c.fail(f"port {port.id} address {ip} (MAC {mac}): expected held by the guest, actual no ARP answer for {ip} "
               f"from {where} (the guest does not hold it, or its traffic does not get through){held}; SSH: "
               f"{unreachable}")


def check_ping(guest, address: str, count: int = 3, timeout: float = 30, peer: str = "") -> None:
    """G2/H4: the guest pings ``address`` (retried up to ``timeout`` seconds: ARP and flows may need a moment)."""
    who = f" ({peer})" if peer else ""

    def probe():
        with Check(f"the guest reaches {address}{who} by ping", Where(server=guest.server)) as c:
            result = guest_run(guest, f"ping -c {count} -W 2 {address}", ok=False)
            c.require(result.rc == 0, f"ping {address}: expected replies, actual none "
                                      f"({(result.stdout.strip().splitlines() or ['no output'])[-1]})")
    wait_until(probe, timeout)


def check_no_ping(guest, address: str, count: int = 2, peer: str = "") -> None:
    """S5: the guest does not reach ``address`` by ping (a rule that forbids it is in force)."""
    who = f" ({peer})" if peer else ""
    with Check(f"the guest no longer reaches {address}{who} by ping", Where(server=guest.server)) as c:
        result = guest_run(guest, f"ping -c {count} -W 2 {address}", ok=False)
        c.require(result.rc != 0, f"ping {address}: expected no reply, actual replies")


ANSWERED, REFUSED, DROPPED = "answered", "refused (a reset: the packet reached the guest)", "no answer (dropped)"


def tcp_probe(guest, address: str, port: int, wait: int = 3) -> str:
    """What a TCP connection from the guest to ``address:port`` meets (busybox ``nc``): ANSWERED (it connected),
    REFUSED (a reset: nothing listens, but the packet got there) or DROPPED (nothing within ``wait`` seconds)."""
    result = guest_run(guest, f"echo | nc -w {wait} {address} {port}", ok=False)
    if result.rc == 0 or result.stdout.strip():
        return ANSWERED
    return REFUSED if "refused" in (result.stderr + result.stdout).lower() else DROPPED


def check_traffic_follows_the_groups(peer, address: str, opened: Sequence[int], closed: Sequence[int],
                                     icmp_opened: bool = False, target: str = "") -> None:
    """S4 by traffic: from ``peer``, the TCP ports the target's groups open answer, the others (nothing listens
    there either) are dropped, not refused, and ping gets through only when ICMP is opened: the firewall is in
    the path, whatever the driver (iptables on the bridge, OVS flows, OVN ACLs)."""
    who = f" ({target})" if target else ""
    with Check(f"traffic to {address}{who} follows its security groups: opened ports answer, the rest is dropped",
               Where(server=peer.server)) as c:
        for port, wanted in [(p, ANSWERED) for p in opened] + [(p, DROPPED) for p in closed]:
            met = tcp_probe(peer, address, port)
            c.require(met == wanted, f"TCP {address}:{port} (opened by {'a' if wanted == ANSWERED else 'no'} rule): "
                                     f"expected {wanted}, actual {met}")
        ping = "replies" if guest_run(peer, f"ping -c 2 -W 2 {address}", ok=False).rc == 0 else "no reply"
        wanted = "replies" if icmp_opened else "no reply"
        c.require(ping == wanted, f"ping {address} (ICMP opened by {'a' if icmp_opened else 'no'} rule): expected "
                                  f"{wanted}, actual {ping}")


def check_nic_shown(guest, port, present: bool = True, timeout: float = 60) -> Optional[iproute.Link]:
    """H3/H5/H6: the guest shows (or, ``present=False``, no longer shows) a NIC with the port's MAC, within
    ``timeout`` seconds; returns the NIC (None when gone)."""
    state = "shows" if present else "no longer shows"

    def probe():
        with Check(f"the guest {state} a NIC with the port's MAC", Where(server=guest.server, port=port)) as c:
            links = guest_links(guest)
            nic = nic_of(links, port.mac_address)
            if present:
                c.require(nic is not None, f"NIC with MAC {port.mac_address}: expected, actual "
                                           f"{', '.join(f'{n} {link.mac}' for n, link in links.items())}")
            else:
                c.require(nic is None, f"NIC with MAC {port.mac_address}: expected gone, actual "
                                       f"{nic.name if nic else ''}")
            return nic
    return wait_until(probe, timeout)


def configure_nic(guest, nic: str, port, subnet) -> None:
    """H4/H6: give ``nic`` the port's IP with the subnet's prefix and bring it up, as seed 004 does by hand (an
    address a DHCP client already set is kept); as root (``as_root``: NotRoot when the guest's user cannot be)."""
    ip = names.fixed_ip_on(port, subnet)
    cidr = f"{ip}/{names.prefixlen(subnet)}"
    links = guest_links(guest)
    if nic in links and links[nic].has_address(ip):
        guest_run(guest, as_root(guest, f"ip link set {nic} up"))
        return
    # a DHCP client in the guest may set the same address between the look above and the add: that is kept too
    guest_run(guest, as_root(guest, f"{{ ip addr add {cidr} dev {nic} || ip addr show dev {nic} | grep -qF "
                                    f"'inet {cidr} '; }} && ip link set {nic} up"))
