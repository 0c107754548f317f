"""Links, addresses, routes and namespaces from iproute2 (and busybox ``ip`` in guests).

Machine-readable input is preferred on nodes (``ip -j -d link show``, ``ip -j addr show``, ``ip -j route``);
guests (cirros, busybox) have no ``-j``, so the text form of ``ip addr`` / ``ip link`` / ``ip -d link`` /
``ip route`` is read into the same structures.
"""
import ipaddress
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ._parse import ParseError, columns, json_list, lines


@dataclass(frozen=True)
class Address:
    ip: str
    prefixlen: int
    family: str                      # "inet" | "inet6"
    scope: Optional[str] = None      # "global", "link", "host"
    broadcast: Optional[str] = None
    label: Optional[str] = None

    @property
    def interface(self):
        """``ipaddress.ip_interface("192.168.101.2/24")``."""
        return ipaddress.ip_interface(f"{self.ip}/{self.prefixlen}")

    @property
    def network(self):
        return self.interface.network

    def __str__(self):
        return f"{self.ip}/{self.prefixlen}"


@dataclass(frozen=True)
class Vxlan:
    id: int
    local: Optional[str] = None
    port: Optional[int] = None       # UDP destination port (``dstport``)
    dev: Optional[str] = None        # the underlay device (``dev`` / JSON ``link``)
    learning: Optional[bool] = None


@dataclass(frozen=True)
class BridgeSlave:
    state: Optional[str] = None      # "forwarding", "disabled", ...
    priority: Optional[int] = None
    cost: Optional[int] = None


@dataclass(frozen=True)
class Link:
    name: str
    ifindex: int
    mtu: int
    flags: Tuple[str, ...] = ()
    mac: Optional[str] = None
    operstate: Optional[str] = None  # "UP", "DOWN", "UNKNOWN"; busybox does not print it
    master: Optional[str] = None
    kind: Optional[str] = None       # linkinfo kind: "bridge", "vxlan", "tun", "veth", "openvswitch", ...
    slave_kind: Optional[str] = None  # "bridge", "openvswitch"
    peer: Optional[str] = None       # "eth1" or "if12" (the part after "@")
    link_netnsid: Optional[int] = None
    vxlan: Optional[Vxlan] = None
    bridge_slave: Optional[BridgeSlave] = None
    info: dict = columns()   # linkinfo info_data as printed (tun: type, ...)
    addresses: Tuple[Address, ...] = ()

    @property
    def up(self):
        """Administratively up (the ``UP`` flag)."""
        return "UP" in self.flags

    @property
    def lower_up(self):
        """Carrier present (the ``LOWER_UP`` flag)."""
        return "LOWER_UP" in self.flags

    def ipv4(self):
        return [a for a in self.addresses if a.family == "inet"]

    def ipv6(self):
        return [a for a in self.addresses if a.family == "inet6"]

    def has_address(self, ip, prefixlen=None):
        return any(a.ip == ip and (prefixlen is None or a.prefixlen == prefixlen) for a in self.addresses)


@dataclass(frozen=True)
class Route:
    dst: str                         # "default" or a CIDR / host address
    dev: Optional[str] = None
    gateway: Optional[str] = None
    protocol: Optional[str] = None
    scope: Optional[str] = None
    prefsrc: Optional[str] = None
    metric: Optional[int] = None
    type: Optional[str] = None       # "local", "broadcast", "unreachable"... (unicast is not printed)
    flags: Tuple[str, ...] = ()

    @property
    def is_default(self):
        return self.dst in ("default", "0.0.0.0/0", "::/0")


# --------------------------------------------------------------------------------------------------- helpers

def tap_mac_for(port_mac) -> str:
    """MAC of the host-side tap that libvirt makes for a port: first octet ``fe``, the other five the port's
    (seed 000: port ``fa:16:3e:e9:6a:38`` -> ``tap60ad2c85-f3`` with ``fe:16:3e:e9:6a:38``)."""
    octets = port_mac.lower().split(":")
    if len(octets) != 6:
        raise ParseError("port MAC", "not a MAC address", port_mac)
    return ":".join(["fe"] + octets[1:])


def default_route(routes) -> Optional[Route]:
    """The default route of a list of routes, or None."""
    return next((r for r in routes if r.is_default), None)


def connected_route(routes, cidr) -> Optional[Route]:
    """The route to ``cidr`` (a subnet), or None; compares networks so ``192.168.31.64/27`` matches itself."""
    network = ipaddress.ip_network(cidr, strict=False)
    for route in routes:
        if route.is_default:
            continue
        try:
            if ipaddress.ip_network(route.dst, strict=False) == network:
                return route
        except ValueError:
            continue
    return None


# ----------------------------------------------------------------------------------------------------- JSON

def _address_json(entry):
    try:
        return Address(ip=entry["local"], prefixlen=int(entry["prefixlen"]), family=entry["family"],
                       scope=entry.get("scope"), broadcast=entry.get("broadcast"), label=entry.get("label"))
    except (KeyError, TypeError, ValueError):
        raise ParseError("ip -j addr", "address entry without local/prefixlen/family", str(entry)) from None


def _link_json(entry):
    try:
        name, ifindex = entry["ifname"], int(entry["ifindex"])
    except (KeyError, TypeError, ValueError):
        raise ParseError("ip -j link", "entry without ifname/ifindex", str(entry)) from None
    linkinfo = entry.get("linkinfo") or {}
    info = linkinfo.get("info_data") or {}
    kind, slave_kind = linkinfo.get("info_kind"), linkinfo.get("info_slave_kind")
    vxlan = None
    if kind == "vxlan" and "id" in info:
        vxlan = Vxlan(id=int(info["id"]), local=info.get("local") or info.get("local6"),
                      port=info.get("port"), dev=info.get("link"), learning=info.get("learning"))
    bridge_slave = None
    if slave_kind == "bridge":
        slave = linkinfo.get("info_slave_data") or {}
        bridge_slave = BridgeSlave(state=slave.get("state"), priority=slave.get("priority"), cost=slave.get("cost"))
    peer = entry.get("link")
    if peer is None and entry.get("link_index") is not None:
        peer = f"if{entry['link_index']}"
    return Link(
        name=name, ifindex=ifindex, mtu=int(entry.get("mtu", 0)), flags=tuple(entry.get("flags", ())),
        mac=entry.get("address"), operstate=entry.get("operstate"), master=entry.get("master"),
        kind=kind, slave_kind=slave_kind, peer=peer, link_netnsid=entry.get("link_netnsid"),
        vxlan=vxlan, bridge_slave=bridge_slave, info=dict(info),
        addresses=tuple(_address_json(a) for a in entry.get("addr_info", ()) if "local" in a),
    )


def parse_links(text) -> Dict[str, Link]:
    """``ip -j [-d] link show`` or ``ip -j [-d] addr show`` -> ``{name: Link}`` in the printed order."""
    return {link.name: link for link in map(_link_json, json_list(text, "ip -j link"))}


def parse_routes(text) -> List[Route]:
    """``ip -j route show`` -> ``[Route]``."""
    routes = []
    for entry in json_list(text, "ip -j route"):
        if "dst" not in entry:
            raise ParseError("ip -j route", "route without dst", str(entry))
        routes.append(Route(dst=entry["dst"], dev=entry.get("dev"), gateway=entry.get("gateway"),
                            protocol=entry.get("protocol"), scope=entry.get("scope"), prefsrc=entry.get("prefsrc"),
                            metric=entry.get("metric"), type=entry.get("type"), flags=tuple(entry.get("flags", ()))))
    return routes


# ----------------------------------------------------------------------------------------------------- text

_HEADER = re.compile(r"^(\d+):\s+([^\s:@]+)(?:@([^\s:]+))?:\s+<([^>]*)>(.*)$")
_ADDRESS_FLAGS = ("dynamic", "secondary", "noprefixroute", "tentative", "deprecated", "mngtmpaddr", "nodad",
                  "optimistic", "home", "temporary", "stable-privacy", "dadfailed", "permanent")


def _detail_line(fields, words):
    """A ``-d`` line of a link: the kind's own line (``vxlan id 267 ...``) or its slave line (``bridge_slave ...``)."""
    first = words[0]
    if first.endswith("_slave"):
        fields["slave_kind"] = first[: -len("_slave")]
        if first == "bridge_slave":
            kv = dict(zip(words[1::2], words[2::2]))
            fields["bridge_slave"] = BridgeSlave(state=kv.get("state"), priority=_int(kv.get("priority")),
                                                 cost=_int(kv.get("cost")))
        return
    if first in ("addrgenmode", "altname", "prop", "alias", "vf"):
        return
    fields["kind"] = first
    if first == "vxlan":
        fields["vxlan"] = _vxlan_text(words)
    elif first == "tun" and len(words) > 2 and words[1] == "type":
        fields["info"] = {"type": words[2]}


def _vxlan_text(words):
    def after(key):
        return words[words.index(key) + 1] if key in words and words.index(key) + 1 < len(words) else None
    try:
        vni = int(after("id"))
    except (TypeError, ValueError):
        raise ParseError("ip -d link", "vxlan line without an id", " ".join(words)) from None
    learning = False if "nolearning" in words else (True if "learning" in words else None)
    return Vxlan(id=vni, local=after("local") or after("local6"), port=_int(after("dstport")), dev=after("dev"),
                 learning=learning)


def _int(value):
    return int(value) if value is not None and str(value).isdigit() else None


def _address_text(words, line):
    family = words[0]
    try:
        ip, _, plen = words[1].partition("/")
        prefixlen = int(plen) if plen else (32 if family == "inet" else 128)
        ipaddress.ip_address(ip)
    except (IndexError, ValueError):
        raise ParseError("ip addr", "cannot read the address", line) from None
    kv, leftover = {}, []
    rest = words[2:]
    i = 0
    while i < len(rest):
        if rest[i] in ("brd", "scope", "peer", "metric") and i + 1 < len(rest):
            kv[rest[i]] = rest[i + 1]
            i += 2
        else:
            leftover.append(rest[i])
            i += 1
    label = leftover[-1] if family == "inet" and leftover and leftover[-1] not in _ADDRESS_FLAGS else None
    return Address(ip=ip, prefixlen=prefixlen, family=family, scope=kv.get("scope"), broadcast=kv.get("brd"),
                   label=label)


def parse_links_text(text) -> Dict[str, Link]:
    """Text of ``ip addr`` / ``ip link`` / ``ip -d link show`` (iproute2 or busybox) -> ``{name: Link}``."""
    out, fields, addresses = {}, None, []

    def finish():
        if fields is not None:
            out[fields["name"]] = Link(addresses=tuple(addresses), **fields)

    for line in lines(text):
        header = _HEADER.match(line)
        if header:
            finish()
            index, name, peer, flags, rest = header.groups()
            words = rest.split()
            kv = dict(zip(words[::2], words[1::2]))
            if "mtu" not in kv:
                raise ParseError("ip addr", f"link {name} without mtu", line)
            fields = dict(name=name, ifindex=int(index), mtu=int(kv["mtu"]), flags=tuple(filter(None, flags.split(","))),
                          operstate=kv.get("state"), master=kv.get("master"), peer=peer)
            addresses = []
            continue
        if fields is None or not line[:1].isspace():
            raise ParseError("ip addr", "line outside a link block", line)
        words = line.split()
        first = words[0]
        if first.startswith("link/"):
            if len(words) > 1 and first not in ("link/none",):
                fields["mac"] = words[1]
            if "link-netnsid" in words:
                fields["link_netnsid"] = _int(words[words.index("link-netnsid") + 1])
        elif first in ("inet", "inet6"):
            addresses.append(_address_text(words, line))
        elif first in ("valid_lft", "RX:", "TX:") or first[0].isdigit():
            continue
        else:
            _detail_line(fields, words)
    finish()
    return out


_ROUTE_KEYS = {"via": "gateway", "dev": "dev", "proto": "protocol", "scope": "scope", "src": "prefsrc",
               "metric": "metric", "table": None, "pref": None, "mtu": None, "expires": None, "weight": None,
               "realm": None}
_ROUTE_TYPES = ("unicast", "local", "broadcast", "multicast", "unreachable", "prohibit", "blackhole", "throw", "nat")


def parse_routes_text(text) -> List[Route]:
    """Text of ``ip route`` (iproute2 or busybox) -> ``[Route]``."""
    routes = []
    for line in lines(text):
        words = line.split()
        rtype = None
        if words[0] in _ROUTE_TYPES:
            rtype, words = words[0], words[1:]
        if not words or words[0] in _ROUTE_KEYS:
            raise ParseError("ip route", "route without a destination", line)
        values, flags = {}, []
        i = 1
        while i < len(words):
            key = words[i]
            if key in _ROUTE_KEYS:
                if i + 1 >= len(words):
                    raise ParseError("ip route", f"{key!r} has no value", line)
                if _ROUTE_KEYS[key]:
                    values[_ROUTE_KEYS[key]] = words[i + 1]
                i += 2
            else:
                flags.append(key)
                i += 1
        if "metric" in values:
            values["metric"] = int(values["metric"])
        routes.append(Route(dst=words[0], type=rtype, flags=tuple(flags), **values))
    return routes


# ---------------------------------------------------------------------------------------------- namespaces

def parse_netns(text) -> List[str]:
    """``ip netns`` (``qdhcp-<net> (id: 0)`` lines) or ``ip -j netns`` -> namespace names."""
    if str(text).lstrip().startswith("["):
        return [entry["name"] for entry in json_list(text, "ip -j netns")]
    names = []
    for line in lines(text):
        match = re.match(r"^(\S+)(?:\s+\(id:\s*\d+\))?$", line.strip())
        if not match:
            raise ParseError("ip netns", "not a namespace line", line)
        names.append(match.group(1))
    return names


def by_kind(links, kind) -> List[Link]:
    """Links of one linkinfo kind (``"vxlan"``, ``"bridge"``...)."""
    return [link for link in links.values() if link.kind == kind]


def slaves_of(links, master) -> Dict[str, Link]:
    """Links enslaved to ``master`` (a bridge such as ``brq<net>`` or ``ovs-system``)."""
    return {name: link for name, link in links.items() if link.master == master}
