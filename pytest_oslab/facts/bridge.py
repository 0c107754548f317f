"""Linux bridges and their ports: ``bridge -j link show`` (machine-readable) and the ``brctl show`` of seed 002."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ._parse import ParseError, json_list, lines


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
