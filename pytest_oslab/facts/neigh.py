"""Neighbours and ARP probes, for evidence when a guest cannot be reached (D1): ``ip -j neigh``, the ``arp -n``
and ``arping`` outputs of seed 002 (iputils on the nodes, busybox in the guest)."""
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ._parse import ParseError, json_list, lines, normalize_mac, table_rows


@dataclass(frozen=True)
class Neighbour:
    ip: str
    dev: str
    mac: Optional[str]        # None while incomplete / failed
    state: Tuple[str, ...] = ()   # ("REACHABLE",), ("STALE",)...; arp -n: ("C",) flags


@dataclass(frozen=True)
class ArpReply:
    ip: str
    mac: str
    ms: float


@dataclass(frozen=True)
class Arping:
    target: str
    source: Optional[str]
    interface: Optional[str]
    replies: Tuple[ArpReply, ...] = ()
    sent: Optional[int] = None
    received: Optional[int] = None

    @property
    def macs(self):
        return tuple(sorted({r.mac for r in self.replies}))


def parse_neigh(text) -> List[Neighbour]:
    """``ip -j neigh show`` -> ``[Neighbour]``."""
    out = []
    for entry in json_list(text, "ip -j neigh"):
        if "dst" not in entry or "dev" not in entry:
            raise ParseError("ip -j neigh", "entry without dst/dev", str(entry))
        mac = entry.get("lladdr")
        out.append(Neighbour(ip=entry["dst"], dev=entry["dev"], mac=normalize_mac(mac) if mac else None,
                             state=tuple(entry.get("state", ()))))
    return out


def parse_arp_n(text) -> List[Neighbour]:
    """``arp -n`` (net-tools) -> ``[Neighbour]``; ``(incomplete)`` rows get ``mac=None``."""
    out = []
    for cells in table_rows(text, "arp -n", 3):
        if cells[1] == "(incomplete)":
            out.append(Neighbour(ip=cells[0], dev=cells[-1], mac=None, state=("INCOMPLETE",)))
        elif len(cells) >= 5:
            out.append(Neighbour(ip=cells[0], dev=cells[-1], mac=normalize_mac(cells[2], "arp -n"),
                                 state=tuple(cells[3].split())))
        else:
            raise ParseError("arp -n", "expected Address HWtype HWaddress Flags Iface", "  ".join(cells))
    return out


_HEAD = re.compile(r"^ARPING (?:to )?(\S+)(?: from (\S+))?(?: (?:via )?(\S+))?$")
_REPLY = re.compile(r"^Unicast reply from (\S+) \[([0-9A-Fa-f:]+)\]\s+([\d.]+)ms$")
_SENT = re.compile(r"^Sent (\d+) probes?")
_RECEIVED = re.compile(r"^Received (\d+) (?:response|reply|replies)")


def parse_arping(text) -> Arping:
    """``arping -c N [-I dev] IP`` (iputils, and busybox's wording) -> Arping."""
    rows = [line.strip() for line in lines(text)]
    head = _HEAD.match(rows[0]) if rows else None
    if not head:
        raise ParseError("arping", "missing the 'ARPING <ip> from <ip> <dev>' line", rows[0] if rows else "")
    replies, sent, received = [], None, None
    for line in rows[1:]:
        reply, sent_m, recv_m = _REPLY.match(line), _SENT.match(line), _RECEIVED.match(line)
        if reply:
            replies.append(ArpReply(reply.group(1), normalize_mac(reply.group(2), "arping"), float(reply.group(3))))
        elif sent_m:
            sent = int(sent_m.group(1))
        elif recv_m:
            received = int(recv_m.group(1))
        else:
            raise ParseError("arping", "unexpected line", line)
    return Arping(target=head.group(1), source=head.group(2), interface=head.group(3), replies=tuple(replies),
                  sent=sent, received=received)
