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

import asyncio
import socket
import sys
import time
from typing import Dict, Optional

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_LINK

WINDOW = 20.0  # seconds after a tap appears in which a lost "up" is put back
GRACE = 1.0  # seconds a tap found so is left for libvirt's own "up" (which may be on its way) before the guard acts
IFF_UP, IFF_PROMISC = 0x1, 0x100


def lost_up(name: str, flags: int, age: Optional[float], window: float = WINDOW) -> bool:
    """Whether a link message shows a tap whose "up" ovs-vswitchd overwrote as it took the tap: named ``tap...``,
    promiscuous, not up, and seen first ``age`` seconds ago, within ``window`` (None: there before the guard)."""
    return (name.startswith("tap") and bool(flags & IFF_PROMISC) and not flags & IFF_UP
            and age is not None and age <= window)


async def _flags(ipr: AsyncIPRoute, index: int) -> Optional[int]:
    """The link's flags now; None when it is gone (a guest deleted in the meantime)."""
    try:
        links = await ipr.link("get", index=index)
    except NetlinkError:
        return None
    return links[0]["flags"] if links else None


async def _look_again(ipr: AsyncIPRoute, index: int, name: str, age: float, window: float, grace: float) -> None:
    """``grace`` seconds after a tap was found as ``lost_up`` says: still so, it is brought up."""
    await asyncio.sleep(grace)
    flags = await _flags(ipr, index)
    if flags is None or not lost_up(name, flags, age, window):
        return
    try:
        await ipr.link("set", index=index, state="up")
    except NetlinkError as exc:  # gone in the meantime
        print(f"{socket.gethostname()} {name}: not brought up: {exc}", flush=True)
        return
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {socket.gethostname()} {name}: promiscuous and still down "
          f"{grace:.0f}s after it was so {age:.1f}s after it appeared (ovs-vswitchd overwrote libvirt's up): "
          f"brought up", flush=True)


async def guard(window: float = WINDOW, grace: float = GRACE) -> None:
    """Watch this network namespace's links; a tap found as ``lost_up`` says, and still so ``grace`` seconds
    later (libvirt's own "up" may yet come), is brought up.

    Every kernel message is read as it comes: pyroute2 queues a socket's messages, so waiting on the socket itself
    (select) would leave some in that queue until the next message, more behind after each burst."""
    first_seen: Dict[int, Optional[float]] = {}
    looks: Dict[int, asyncio.Task] = {}  # index: the look again after the grace
    async with AsyncIPRoute() as events, AsyncIPRoute() as ipr:  # one hears the kernel's link messages, one asks
        await events.bind(RTMGRP_LINK)
        async for link in await ipr.get_links():
            first_seen[link["index"]] = None
        print(f"tap guard on {socket.gethostname()}: watching for taps left down within {window:.0f}s of appearing "
              f"({len(first_seen)} links there before)", flush=True)
        while True:
            async for message in events.get():
                index = message.get("index")
                if message.get("event") == "RTM_DELLINK":
                    first_seen.pop(index, None)
                    _forget(looks, index)
                elif message.get("event") == "RTM_NEWLINK":
                    now = time.monotonic()
                    since = first_seen.setdefault(index, now)
                    age = None if since is None else now - since
                    name = message.get_attr("IFLA_IFNAME") or ""
                    if not lost_up(name, message["flags"], age, window):
                        _forget(looks, index)
                    elif index not in looks or looks[index].done():
                        looks[index] = asyncio.create_task(_look_again(ipr, index, name, age, window, grace))


def _forget(looks: Dict[int, asyncio.Task], index: int) -> None:
    look = looks.pop(index, None)
    if look is not None:
        look.cancel()


if __name__ == "__main__":
    asyncio.run(guard(float(sys.argv[1]) if len(sys.argv) > 1 else WINDOW))
