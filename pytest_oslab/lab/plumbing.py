"""The lab's network plumbing through netlink (pyroute2): namespaces, veth pairs, bridges, addresses, routes.

What the lab wants is declared as a list of small records (``Namespace``, ``Veth``, ``Bridge``, ``Port``, ``Up``,
``Address``, ``Route``, ``Forwarding``, ``NoTxChecksum``), each naming the network namespace it lives in (``None``: the machine's
own). ``missing(wants)`` names the ones absent, one line each; ``ensure(wants)`` makes only those, in order, so
both are safe to repeat. ``remove_links`` and ``remove_namespaces`` end what the lab made. Nothing here touches a
device or namespace it was not named.
"""
from __future__ import annotations

import ipaddress
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Union

from pyroute2 import IPRoute, NetNS, netns
from pyroute2.ethtool import Ethtool
from pyroute2.netlink.exceptions import NetlinkError

IFF_UP = 1


@dataclass(frozen=True)
class Namespace:
    name: str

    def __str__(self) -> str:
        return f"namespace {self.name}"


@dataclass(frozen=True)
class Veth:
    """A veth pair: ``name`` in ``netns``, its ``peer`` in ``peer_netns`` (with the MAC ``peer_mac`` if given)."""
    name: str
    peer: str
    netns: Optional[str] = None
    peer_netns: Optional[str] = None
    peer_mac: Optional[str] = None

    def __str__(self) -> str:
        return f"veth {_at(self.name, self.netns)} <-> {_at(self.peer, self.peer_netns)}"


@dataclass(frozen=True)
class Bridge:
    """A bridge; with ``mac``, that MAC for good (else it takes its smallest port's, changing as ports come and
    go: neighbours of an address on it would keep a stale entry)."""
    name: str
    netns: Optional[str] = None
    mac: Optional[str] = None

    def __str__(self) -> str:
        return f"bridge {_at(self.name, self.netns)}"


@dataclass(frozen=True)
class Port:
    """``dev`` enslaved to ``bridge`` (both in ``netns``)."""
    dev: str
    bridge: str
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"{_at(self.dev, self.netns)} in bridge {self.bridge}"


@dataclass(frozen=True)
class Up:
    dev: str
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"{_at(self.dev, self.netns)} UP"


@dataclass(frozen=True)
class Address:
    """``cidr`` (address/prefix length) on ``dev``."""
    dev: str
    cidr: str
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"address {self.cidr} on {_at(self.dev, self.netns)}"


@dataclass(frozen=True)
class NoAddress:
    """``cidr`` not on ``dev`` (in ``netns``): an address a previous layout put there, now elsewhere."""
    dev: str
    cidr: str
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"no address {self.cidr} on {_at(self.dev, self.netns)}"


@dataclass(frozen=True)
class Route:
    """A route to ``dst`` (a CIDR) via ``gateway`` on ``dev``, in the main table."""
    dst: str
    gateway: str
    dev: str
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"route {self.dst} via {self.gateway} dev {_at(self.dev, self.netns)}"


@dataclass(frozen=True)
class Forwarding:
    """IPv4 forwarding on in ``netns`` (``net.ipv4.ip_forward=1``)."""
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"IPv4 forwarding in {self.netns or 'the host'}"


@dataclass(frozen=True)
class NoTxChecksum:
    """``dev`` (in ``netns``) sends every packet with its checksums complete (``ethtool -K dev tx off``). Set on the
    far end of each veth whose near end is a port of an Open vSwitch bridge: the userspace datapath reads the near
    end through a packet socket, which hands it TCP whose checksum the sender left to offload; without userspace
    TSO it forwards them so (the receiver drops them) and with it OVS 3.1 drops them at a vxlan tunnel ("Tunneling
    packets with HW offload flags is not supported")."""
    dev: str
    netns: Optional[str] = None

    def __str__(self) -> str:
        return f"no transmit checksum offload on {_at(self.dev, self.netns)}"


TX_CHECKSUM = ("tx-checksum-ip-generic", "tx-checksum-ipv4", "tx-checksum-ipv6")


def _tx_checksum(dev: str, where: Optional[str], off: bool = False) -> bool:
    """Whether ``dev`` offloads any transmit checksum (after turning all off, when ``off``)."""
    def body():
        tool = Ethtool()
        try:
            features = tool.get_features(dev)
            if off:
                for name in TX_CHECKSUM:
                    if name in features.features:
                        features.features[name].enable = False
                tool.set_features(dev, features)
                features = tool.get_features(dev)
            return any(features.features[n].enable for n in TX_CHECKSUM if n in features.features)
        finally:
            tool.close()
    return in_namespace(where, body)


Want = Union[Namespace, Veth, Bridge, Port, Up, Address, NoAddress, Route, Forwarding, NoTxChecksum]


def exists(where: Optional[str]) -> bool:
    """A namespace is a name under /run/netns or a path (``/proc/<pid>/ns/net`` of a lab node's init)."""
    if not where:
        return True
    return os.path.exists(where) if "/" in where else where in netns.listnetns()


def _at(dev: str, where: Optional[str]) -> str:
    return f"{dev} (netns {where})" if where else dev


# ---------------------------------------------------------------- sockets, one per namespace

class Netlink:
    """Netlink sockets by namespace (``None``: the machine's own; a name or a path: see ``exists``), opened on
    first use, closed together."""

    def __init__(self):
        self._sockets: Dict[Optional[str], IPRoute] = {}

    def __call__(self, where: Optional[str]) -> IPRoute:
        if where not in self._sockets:
            self._sockets[where] = NetNS(where, flags=0) if where else IPRoute()
        return self._sockets[where]

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def index(self, dev: str, where: Optional[str]) -> Optional[int]:
        if not exists(where):
            return None
        found = self(where).link_lookup(ifname=dev)
        return found[0] if found else None

    def link(self, dev: str, where: Optional[str]):
        index = self.index(dev, where)
        return self(where).link("get", index=index)[0] if index else None

    def addresses(self, dev: str, where: Optional[str]) -> List[str]:
        index = self.index(dev, where)
        if not index:
            return []
        return [f"{a.get('address')}/{a['prefixlen']}" for a in self(where).get_addr(index=index)]


@contextmanager
def netlink() -> Iterator[Netlink]:
    nl = Netlink()
    try:
        yield nl
    finally:
        nl.close()


def in_namespace(where: Optional[str], fn):
    """Run ``fn`` in a thread that has joined ``where`` (setns changes only the calling thread)."""
    if not where:
        return fn()
    result: dict = {}

    def body():
        try:
            netns.setns(where, flags=0)
            result["value"] = fn()
        except BaseException as exc:  # handed back to the caller
            result["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{where}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _forwarding(where: Optional[str], value: Optional[str] = None) -> str:
    def body():
        path = "/proc/sys/net/ipv4/ip_forward"
        if value is not None:
            with open(path, "w") as fh:
                fh.write(value)
        with open(path) as fh:
            return fh.read().strip()
    return in_namespace(where, body)


# ---------------------------------------------------------------- present / make

def present(nl: Netlink, want: Want) -> bool:
    if isinstance(want, Namespace):
        return want.name in netns.listnetns()
    if isinstance(want, Veth):
        return (nl.index(want.name, want.netns) is not None
                and nl.index(want.peer, want.peer_netns) is not None)
    if isinstance(want, Bridge):
        link = nl.link(want.name, want.netns)
        return (link is not None and link.get(("linkinfo", "kind")) == "bridge"
                and want.mac in (None, link.get("address")))
    if isinstance(want, Port):
        link, bridge = nl.link(want.dev, want.netns), nl.index(want.bridge, want.netns)
        return link is not None and bridge is not None and link.get("master") == bridge
    if isinstance(want, Up):
        link = nl.link(want.dev, want.netns)
        return link is not None and bool(link["flags"] & IFF_UP)
    if isinstance(want, Address):
        return want.cidr in nl.addresses(want.dev, want.netns)
    if isinstance(want, NoAddress):
        return want.cidr not in nl.addresses(want.dev, want.netns)
    if isinstance(want, Route):
        return _route_present(nl, want)
    if isinstance(want, Forwarding):
        return exists(want.netns) and _forwarding(want.netns) == "1"
    if isinstance(want, NoTxChecksum):
        return nl.index(want.dev, want.netns) is not None and not _tx_checksum(want.dev, want.netns)
    raise TypeError(f"not a plumbing record: {want!r}")


def _route_present(nl: Netlink, want: Route) -> bool:
    index = nl.index(want.dev, want.netns)
    if index is None:
        return False
    net = ipaddress.ip_network(want.dst)
    for route in nl(want.netns).get_routes(family=2, table=254):
        if (route.get("dst") == str(net.network_address) and route["dst_len"] == net.prefixlen
                and route.get("gateway") == want.gateway and route.get("oif") == index):
            return True
    return False


def make(nl: Netlink, want: Want) -> None:
    """Make one record so (it is absent: ``ensure`` asked ``present`` first)."""
    if isinstance(want, Namespace):
        netns.create(want.name)
    elif isinstance(want, Veth):
        # one end without the other is a leftover (a half-made pair, or a peer moved away): start again
        remove_links([want.name], want.netns, nl)
        remove_links([want.peer], want.peer_netns, nl)
        peer = {"ifname": want.peer, **({"address": want.peer_mac} if want.peer_mac else {})}
        if want.peer_netns != want.netns:
            if not want.peer_netns:
                raise ValueError(f"{want}: make a pair from the host's side, moving its peer away")
            peer["net_ns_fd"] = want.peer_netns
        nl(want.netns).link("add", ifname=want.name, kind="veth", peer=peer)
    elif isinstance(want, Bridge):
        if nl.index(want.name, want.netns) is None:
            nl(want.netns).link("add", ifname=want.name, kind="bridge")
        if want.mac:
            nl(want.netns).link("set", index=nl.index(want.name, want.netns), address=want.mac)
    elif isinstance(want, Port):
        nl(want.netns).link("set", index=nl.index(want.dev, want.netns), master=nl.index(want.bridge, want.netns))
    elif isinstance(want, Up):
        nl(want.netns).link("set", index=nl.index(want.dev, want.netns), state="up")
    elif isinstance(want, Address):
        address, prefix = want.cidr.split("/")
        nl(want.netns).addr("add", index=nl.index(want.dev, want.netns), address=address, prefixlen=int(prefix))
    elif isinstance(want, NoAddress):
        address, prefix = want.cidr.split("/")
        nl(want.netns).addr("del", index=nl.index(want.dev, want.netns), address=address, prefixlen=int(prefix))
    elif isinstance(want, Route):
        nl(want.netns).route("replace", dst=want.dst, gateway=want.gateway, oif=nl.index(want.dev, want.netns),
                            proto="boot")  # as `ip route` makes it
    elif isinstance(want, Forwarding):
        _forwarding(want.netns, "1")
    elif isinstance(want, NoTxChecksum):
        _tx_checksum(want.dev, want.netns, off=True)
    else:
        raise TypeError(f"not a plumbing record: {want!r}")


def missing(wants: Iterable[Want]) -> List[str]:
    """What of ``wants`` is absent, one line each (empty: all there)."""
    with netlink() as nl:
        return [str(w) for w in wants if not present(nl, w)]


def ensure(wants: Iterable[Want]) -> List[str]:
    """Make what of ``wants`` is absent, in order; the lines of what was made."""
    made = []
    with netlink() as nl:
        for want in wants:
            if not present(nl, want):
                make(nl, want)
                made.append(str(want))
    return made


# ---------------------------------------------------------------- removal

def remove_links(names: Iterable[str], where: Optional[str] = None, nl: Optional[Netlink] = None) -> List[str]:
    """Delete the named links that exist in ``where`` (a veth's peer goes with it); the names deleted."""
    if nl is None:
        with netlink() as own:
            return remove_links(names, where, own)
    removed = []
    for name in names:
        index = nl.index(name, where)
        if index is None:
            continue
        try:
            nl(where).link("del", index=index)
        except NetlinkError as exc:
            if exc.code != 19:  # ENODEV: gone with its peer meanwhile
                raise
        removed.append(name)
    return removed


def remove_namespaces(names: Iterable[str]) -> List[str]:
    """Delete the named network namespaces that exist (their devices go with their last user)."""
    removed = []
    for name in names:
        if name in netns.listnetns():
            netns.remove(name)
            removed.append(name)
    return removed


def namespaces() -> List[str]:
    return sorted(netns.listnetns())


def links(where: Optional[str] = None) -> List[str]:
    """The names of the links in ``where``."""
    with netlink() as nl:
        if not exists(where):
            return []
        return [l.get("ifname") for l in nl(where).get_links()]


def route_device(address: str, where: Optional[str] = None) -> Optional[str]:
    """The device the kernel sends to ``address`` through (``ip route get``), None where there is no route."""
    with netlink() as nl:
        try:
            found = nl(where).route("get", dst=address)
        except OSError:
            return None
        index = found[0].get("oif") if found else None
        links = nl(where).link("get", index=index) if index else []
        return links[0].get("ifname") if links else None


def mac(dev: str, where: Optional[str] = None) -> str:
    """The MAC address of ``dev`` in ``where``."""
    with netlink() as nl:
        link = nl.link(dev, where)
        if link is None:
            raise ValueError(f"no link {_at(dev, where)}")
        return link.get("address")


def release(dev: str, where: Optional[str] = None) -> bool:
    """Take ``dev`` out of the bridge it is in; whether it was in one."""
    with netlink() as nl:
        link = nl.link(dev, where)
        if link is None or not link.get("master"):
            return False
        nl(where).link("set", index=link["index"], master=0)
        return True
