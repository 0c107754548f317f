"""Listening sockets from ``ss -Htulpn`` (also ``ss -tulpn`` with its header, and the ``ss -ano -4`` of seed 003)."""
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ._parse import ParseError, lines


@dataclass(frozen=True)
class SocketProcess:
    name: str
    pid: int
    fd: int


@dataclass(frozen=True)
class Socket:
    netid: str                # "udp", "tcp"
    state: str                # "UNCONN", "LISTEN", "ESTAB", ...
    address: str              # "169.254.169.254", "0.0.0.0", "::1", "*"
    port: Optional[int]       # None for "*"
    interface: Optional[str] = None   # "%ns-..." in "0.0.0.0%ns-..:67" (sockets bound to a device)
    peer: str = ""
    processes: Tuple[SocketProcess, ...] = ()

    @property
    def process_names(self):
        return tuple(sorted({p.name for p in self.processes}))


_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<addr>[^\s%]*?))(?:%(?P<dev>[^:\s]+))?:(?P<port>\*|\d+)$")
_PROCESS = re.compile(r'\("([^"]*)",pid=(\d+),fd=(\d+)\)')


def _endpoint(text, line):
    match = _ENDPOINT.match(text)
    if not match:
        raise ParseError("ss", f"cannot read the address {text!r}", line)
    address = match.group("v6") if match.group("v6") is not None else match.group("addr")
    port = None if match.group("port") == "*" else int(match.group("port"))
    return address, port, match.group("dev")


def parse_ss(text) -> List[Socket]:
    """``ss -Htulpn`` (with or without the header, with or without ``-p``) -> ``[Socket]``."""
    sockets = []
    for line in lines(text):
        words = line.split(None, 6)
        if words[0] in ("Netid", "State"):
            continue
        if len(words) < 6:
            raise ParseError("ss", "expected 'Netid State Recv-Q Send-Q Local Peer [Process]'", line)
        netid, state, _recv, _send, local, peer = words[:6]
        address, port, interface = _endpoint(local, line)
        processes = tuple(SocketProcess(n, int(p), int(f)) for n, p, f in _PROCESS.findall(words[6])) \
            if len(words) > 6 else ()
        sockets.append(Socket(netid=netid, state=state, address=address, port=port, interface=interface, peer=peer,
                              processes=processes))
    return sockets


def listening(sockets, netid, port, address=None) -> List[Socket]:
    """Sockets of ``netid`` (``"udp"``/``"tcp"``) on ``port``, and on ``address`` when given; a socket on the
    wildcard address (``0.0.0.0``, ``*``, ``::``) counts for any address of its family."""
    wildcard = {"0.0.0.0", "*", "::", ""}
    return [s for s in sockets if s.netid == netid and s.port == port and s.state in ("LISTEN", "UNCONN")
            and (address is None or s.address == address or s.address in wildcard)]
