"""ML2/Linux bridge devices (N13, I9): ``brq<net>`` with its uplink (the physical interface or ``vxlan-<vni>``)
and the DHCP tap, and the vxlan device's id, tunnel address, UDP port and MTU."""
from __future__ import annotations

from typing import Iterable, Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where
from pytest_oslab.checks.nodes import NodeFacts


def uplink(network, physical_interface: Optional[str]) -> Optional[str]:
    """The device ``brq<net>`` must hold besides the taps: ``vxlan-<vni>`` or the mapped physical interface."""
    if network.provider_network_type == "vxlan":
        return names.vxlan(network.provider_segmentation_id)
    if network.provider_network_type == "vlan" and physical_interface:
        return f"{physical_interface}.{network.provider_segmentation_id}"
    return physical_interface


def check_bridge_members(node: NodeFacts, network, physical_interface: Optional[str] = None,
                         dhcp_port=None, ports: Optional[Iterable] = None) -> None:
    """N13: ``brq<net>`` holds the physical interface (flat; from the agent's ``interface_mappings``) or
    ``vxlan-<vni>`` (vxlan), and the DHCP port's tap on a node that serves the network's DHCP; each of them UP,
    forwarding in the bridge, at the network's MTU (a physical interface at least at it). And nothing else: with
    ``ports`` (the network's ports, from the API) every other member is the tap of one of them (a device of
    another network in the bridge joins the two networks)."""
    bridge = names.brq(network.id)
    with Check("the network's bridge holds its uplink and the DHCP tap, up and forwarding at the network's MTU",
               Where(network=network, device=bridge, node=node.name)) as c:
        links = node.links()
        if bridge not in links:
            c.fail(f"bridge {bridge}: expected, actual absent")
        c.expect(f"{bridge} state UP", True, links[bridge].up)
        members = sorted(name for name, link in links.items() if link.master == bridge)
        expected = uplink(network, physical_interface)
        wanted = []
        if expected:
            what = f"{network.provider_network_type} uplink"
            if c.require(expected in members, f"member {expected} ({what}): expected, actual members "
                                              f"{', '.join(members) or 'none'}"):
                wanted.append((expected, what, network.provider_network_type in ("flat", "vlan")))
        if dhcp_port is not None:
            tap = names.tap(dhcp_port.id)
            if c.require(tap in members, f"member {tap} (DHCP port {dhcp_port.id}): expected, actual members "
                                         f"{', '.join(members) or 'none'}"):
                wanted.append((tap, f"DHCP port {dhcp_port.id[:8]}", False))
        for name, what, at_least in wanted:
            _member_forwards(c, links[name], f"member {name} ({what})", network.mtu, at_least)
        if ports is not None:
            taps = {names.tap(p.id) for p in ports}
            for name in members:
                c.require(name == expected or name in taps, f"member {name}: expected only {bridge}'s uplink "
                                                            f"and taps of network {network.name or network.id}'s "
                                                            f"ports, actual {name} is neither")


def _member_forwards(c: Check, link, label: str, mtu: int, at_least: bool) -> None:
    """A bridge member UP, its bridge port forwarding, at the network's MTU (``at_least``: a physical interface may
    carry more)."""
    c.expect(f"{label} state UP", True, link.up)
    state = link.bridge_slave.state if link.bridge_slave else None
    c.expect(f"{label} bridge port state", "forwarding", state)
    if at_least:
        c.require(link.mtu is not None and link.mtu >= mtu, f"{label} MTU: expected at least {mtu} (network MTU), "
                                                            f"actual {link.mtu}")
    else:
        c.expect(f"{label} MTU", mtu, link.mtu, "network MTU")


def check_vxlan_device(node: NodeFacts, network, tunnel_ip: Optional[str],
                       udp_port: int = names.LINUXBRIDGE_VXLAN_PORT) -> None:
    """I9: ``brq<net>`` and ``vxlan-<vni>`` at the network MTU, ``vxlan-<vni>`` enslaved to the bridge with id =
    segmentation id, ``local`` = the agent's tunnel IP, and the agent's UDP port (8472 by default)."""
    bridge, device = names.brq(network.id), names.vxlan(network.provider_segmentation_id)
    with Check("the vxlan device carries the network's VNI from the tunnel address, in the bridge, at its MTU",
               Where(network=network, device=device, node=node.name)) as c:
        links = node.links()
        for name in (bridge, device):
            if name not in links:
                c.fail(f"device {name}: expected, actual absent")
        vx, br = links[device], links[bridge]
        c.expect(f"{bridge} MTU", network.mtu, br.mtu, "network MTU")
        c.expect(f"{device} MTU", network.mtu, vx.mtu, "network MTU")
        c.expect(f"{device} master", bridge, vx.master)
        if c.require(vx.vxlan is not None, f"{device}: expected kind vxlan, actual {vx.kind or 'unknown'}"):
            c.expect(f"{device} id", network.provider_segmentation_id, vx.vxlan.id, "segmentation id")
            if tunnel_ip:
                c.expect(f"{device} local", tunnel_ip, vx.vxlan.local, "the L2 agent's tunneling_ip")
            c.expect(f"{device} dstport", udp_port, vx.vxlan.port)
        c.expect(f"{device} state UP", True, vx.up)
