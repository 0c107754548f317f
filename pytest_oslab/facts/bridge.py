"""Linux bridges and their ports: ``bridge -j link show`` (machine-readable) and the ``brctl show`` of seed 002;
the forwarding database, ``bridge -j fdb show`` (a vxlan device's entries carry the remote tunnel address, ``dst``)."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ._parse import ParseError, json_list, lines, normalize_mac


@dataclass(frozen=True)
class BridgePort:
    name: str
    master: str               # the bridge
    state: Optional[str] = None   # "forwarding", "disabled", "blocking"...
    mtu: Optional[int] = None
    flags: Tuple[str, ...] = ()


@dataclass(frozen=True)
class BrctlBridge:
    name: str
    bridge_id: str
    stp: bool
    interfaces: Tuple[str, ...] = ()


def parse_bridge_link(text) -> List[BridgePort]:
    """``bridge -j link show`` -> ``[BridgePort]``."""
    ports = []
    for entry in json_list(text, "bridge -j link"):
        if "ifname" not in entry or "master" not in entry:
            raise ParseError("bridge -j link", "entry without ifname/master", str(entry))
        ports.append(BridgePort(name=entry["ifname"], master=entry["master"], state=entry.get("state"),
                                mtu=entry.get("mtu"), flags=tuple(entry.get("flags", ()))))
    return ports


def ports_by_bridge(ports) -> Dict[str, List[str]]:
    """``{bridge: [port names]}`` from ``parse_bridge_link``."""
    out: Dict[str, List[str]] = {}
    for port in ports:
        out.setdefault(port.master, []).append(port.name)
    return out


def parse_brctl_show(text) -> Dict[str, BrctlBridge]:
    """``brctl show`` -> ``{bridge: BrctlBridge}`` (the first interface shares the bridge's line, the others
    follow on lines of their own)."""
    rows = lines(text)
    if not rows or not rows[0].startswith("bridge name"):
        raise ParseError("brctl show", "missing the 'bridge name' header", rows[0] if rows else "")
    bridges: Dict[str, dict] = {}
    current = None
    for line in rows[1:]:
        words = line.split()
        if line[:1].isspace():
            if current is None or len(words) != 1:
                raise ParseError("brctl show", "interface line outside a bridge", line)
            current["interfaces"].append(words[0])
            continue
        if len(words) not in (3, 4) or words[2] not in ("yes", "no"):
            raise ParseError("brctl show", "expected 'name id STP [interface]'", line)
        current = {"name": words[0], "bridge_id": words[1], "stp": words[2] == "yes", "interfaces": words[3:]}
        bridges[words[0]] = current
    return {name: BrctlBridge(b["name"], b["bridge_id"], b["stp"], tuple(b["interfaces"])) for name, b in bridges.items()}


FLOOD_MAC = "00:00:00:00:00:00"  # a vxlan device's all-zeros entry: broadcast and unknown unicast go to its dst


@dataclass(frozen=True)
class FdbEntry:
    mac: str
    device: str                   # the device the entry is on (``ifname``: a tap, vxlan-<vni>, the bridge)
    dst: Optional[str] = None     # the remote tunnel address (vxlan entries of the device itself, ``self``)
    master: Optional[str] = None  # the bridge, for the bridge's own (learned or static) entries
    vlan: Optional[int] = None
    state: str = ""               # "permanent", "static", "" (learned)
    flags: Tuple[str, ...] = ()   # "self", "extern_learn", "offload"...

    @property
    def is_flood(self) -> bool:
        return self.mac == FLOOD_MAC


def parse_fdb(text) -> List[FdbEntry]:
    """``bridge -j fdb show`` -> ``[FdbEntry]`` in the printed order."""
    entries = []
    for entry in json_list(text, "bridge -j fdb"):
        if "mac" not in entry or "ifname" not in entry:
            raise ParseError("bridge -j fdb", "entry without mac/ifname", str(entry))
        entries.append(FdbEntry(mac=normalize_mac(entry["mac"], "bridge -j fdb"), device=entry["ifname"],
                                dst=entry.get("dst"), master=entry.get("master"), vlan=entry.get("vlan"),
                                state=entry.get("state", ""), flags=tuple(entry.get("flags", ()))))
    return entries


def tunnel_entries(entries, device: str) -> List[FdbEntry]:
    """The entries of vxlan ``device`` that send to a remote tunnel address (those with a ``dst``)."""
    return [e for e in entries if e.device == device and e.dst]
