"""A guest's tap that ovs-vswitchd's userspace datapath left down as it took it: brought up once, as libvirt meant.

Why: nova (Zed) delegates a VIF's Open vSwitch port to os-vif, so br-int holds the port's row before libvirt
creates the tap, and ovs-vswitchd opens the tap the moment it appears. libvirt then brings it up, while
ovs-vswitchd, on this lab's userspace datapath (the kernel has no openvswitch module), turns promiscuous mode on
by writing back the interface flags it read when it opened the tap (``netdev_linux``'s cached flags). When
libvirt's "up" lands in between, it is overwritten: the tap stays down and promiscuous, and its guest's NIC is cut
off for good. Seen four times in a day of this machine's logs (``error sending Ethernet packet on tap...: Network is
down`` for a minute or more after ``added interface``), on ML2/OVS and on OVN, controller and compute; each time
H4 or H2 failed. The kernel datapath sets promiscuity inside the kernel and cannot lose the flag so.

What it does: on each netlink link message for a device named ``tap...`` that is promiscuous (Open vSwitch has taken
it) and not up, and that appeared less than ``WINDOW`` seconds before, and is still so ``GRACE`` seconds later
(libvirt's own "up" may be on its way), it brings the device up and logs one line. A tap set down later (an
operator, one of the project's breakages) is left alone, so the suite's checks still see it; so is every tap that
existed when the guard started.

Run as ``python -m pytest_oslab.lab.tap_guard [WINDOW]`` in the network namespace it guards.
"""
from __future__ import annotations

import select
import sys
import time
from typing import Dict, Optional, Tuple

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

WINDOW = 20.0  # seconds after a tap appears in which a lost "up" is put back
GRACE = 1.0  # seconds a tap found so is left for libvirt's own "up" (which may be on its way) before the guard acts
IFF_UP, IFF_PROMISC = 0x1, 0x100


def lost_up(name: str, flags: int, age: Optional[float], window: float = WINDOW) -> bool:
    """Whether a link message shows a tap whose "up" ovs-vswitchd overwrote as it took the tap: named ``tap...``,
    promiscuous, not up, and seen first ``age`` seconds ago, within ``window`` (None: there before the guard)."""
    return (name.startswith("tap") and bool(flags & IFF_PROMISC) and not flags & IFF_UP
            and age is not None and age <= window)


def _flags(ipr: IPRoute, index: int) -> Optional[int]:
    """The link's flags now; None when it is gone (a guest deleted in the meantime)."""
    try:
        links = ipr.get_links(index)
    except NetlinkError:
        return None
    return links[0]["flags"] if links else None


def guard(window: float = WINDOW, grace: float = GRACE) -> None:
    """Watch this network namespace's links; a tap found as ``lost_up`` says, and still so ``grace`` seconds
    later (libvirt's own "up" may yet come), is brought up."""
    first_seen: Dict[int, Optional[float]] = {}
    pending: Dict[int, Tuple[str, float, float]] = {}  # index: (name, age when found, when to look again)
    with IPRoute() as events, IPRoute() as ipr:  # one socket hears the kernel's link messages, one asks and sets
        events.bind()
        for link in ipr.get_links():
            first_seen[link["index"]] = None
        print(f"tap guard: watching for taps left down within {window:.0f}s of appearing "
              f"({len(first_seen)} links there before)", flush=True)
        while True:
            wait = max(0.0, min(due for _, _, due in pending.values()) - time.monotonic()) if pending else None
            if select.select([events], [], [], wait)[0]:
                for message in events.get():
                    index = message.get("index")
                    if message.get("event") == "RTM_DELLINK":
                        first_seen.pop(index, None)
                        pending.pop(index, None)
                    elif message.get("event") == "RTM_NEWLINK":
                        now = time.monotonic()
                        since = first_seen.setdefault(index, now)
                        age = None if since is None else now - since
                        name = message.get_attr("IFLA_IFNAME") or ""
                        if lost_up(name, message["flags"], age, window):
                            pending.setdefault(index, (name, age, now + grace))
                        else:
                            pending.pop(index, None)
            for index, (name, age, due) in list(pending.items()):
                if time.monotonic() < due:
                    continue
                del pending[index]
                flags = _flags(ipr, index)
                if flags is not None and lost_up(name, flags, age, window):
                    try:
                        ipr.link("set", index=index, state="up")
                    except NetlinkError as exc:  # gone in the meantime
                        print(f"{name}: not brought up: {exc}", flush=True)
                        continue
                    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {name}: promiscuous and still down {grace:.0f}s "
                          f"after it was so {age:.1f}s after it appeared (ovs-vswitchd overwrote libvirt's up): "
                          f"brought up", flush=True)


if __name__ == "__main__":
    guard(float(sys.argv[1]) if len(sys.argv) > 1 else WINDOW)
