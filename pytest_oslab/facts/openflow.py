"""OpenFlow tables: ``ovs-ofctl dump-flows <bridge>`` (the form neutron's native OVS firewall is read in).

One line a flow: statistics (``cookie=…, duration=…, table=82, n_packets=0, …``), then the priority and match
(``priority=77,ct_state=+new-est,tcp,reg5=0x13,tp_dst=22``), then `` actions=…``. Match fields are ``key=value``
or a bare protocol word (``ip``, ``tcp``, ``arp``, ``icmp6``…), kept in ``protocols``.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from ._parse import ParseError

STATS = ("cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age", "idle_timeout",
         "hard_timeout", "importance", "send_flow_rem", "reset_counts", "no_packet_counts", "no_byte_counts")


@dataclass(frozen=True)
class Flow:
    table: int
    priority: int
    match: Dict[str, str] = field(default_factory=dict)   # {"reg5": "0x13", "tp_dst": "22", "ct_state": "+new-est"}
    protocols: Tuple[str, ...] = ()                        # ("tcp",)
    actions: str = ""
    n_packets: int = 0

    def has(self, **fields) -> bool:
        """Whether every given match field has this value (``reg5="0x13"``)."""
        return all(self.match.get(k) == v for k, v in fields.items())

    def __str__(self) -> str:
        match = ",".join([f"priority={self.priority}", *self.protocols, *(f"{k}={v}" for k, v in self.match.items())])
        return f"table={self.table}, {match} actions={self.actions}"


def _flow(line: str) -> Flow:
    head, sep, actions = line.strip().partition(" actions=")
    if not sep:
        raise ParseError("ovs-ofctl dump-flows", "a flow without actions", line)
    stats, match, protocols = {}, {}, []
    for part in head.split(", "):
        key = part.split("=", 1)[0]
        if key in STATS and "," not in part:
            stats[key] = part.split("=", 1)[1] if "=" in part else ""
            continue
        for item in part.split(","):
            if "=" in item:
                k, v = item.split("=", 1)
                match[k] = v
            elif item:
                protocols.append(item)
    try:
        return Flow(table=int(stats.get("table", 0)), priority=int(match.pop("priority", 32768)), match=match,
                    protocols=tuple(protocols), actions=actions.strip(), n_packets=int(stats.get("n_packets", 0)))
    except ValueError as exc:
        raise ParseError("ovs-ofctl dump-flows", str(exc), line) from None


def parse_dump_flows(text: str) -> List[Flow]:
    """``ovs-ofctl dump-flows br-int`` -> its flows (the ``NXST_FLOW reply`` header, if printed, is skipped)."""
    return [_flow(line) for line in text.splitlines() if line.strip() and " actions=" in line]
