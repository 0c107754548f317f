"""``ping`` statistics, iputils' (``1 packets transmitted, 1 received, ...``) and busybox's (``1 packets
transmitted, 1 packets received, ...``): how many echo replies came back, and the local error when the kernel
refused to send (``ping: local error: message too long, mtu=1450`` with ``-M do``)."""
import re
from dataclasses import dataclass
from typing import Optional

from ._parse import ParseError

_STATS = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_LOCAL = re.compile(r"local error: (.+)")


@dataclass(frozen=True)
class PingResult:
    transmitted: int
    received: int
    local_error: Optional[str] = None


def parse_ping(text) -> PingResult:
    stats = _STATS.search(text or "")
    if stats is None:
        raise ParseError("ping", "no 'packets transmitted' statistics line", text)
    local = _LOCAL.search(text)
    return PingResult(int(stats.group(1)), int(stats.group(2)), local.group(1).strip() if local else None)
