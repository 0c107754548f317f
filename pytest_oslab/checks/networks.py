"""Networks and subnets as the API describes them (N1-N3), and the self-service network's MTU on the devices."""
from __future__ import annotations

import ipaddress
from typing import Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, attach
from pytest_oslab.checks.nodes import NodeFacts

VXLAN_OVERHEAD = 50  # outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14)


INSTALL_GUIDE_SHARED = True  # the install guide makes the provider network with --share --external


def shared_expectation(configured: Optional[bool]) -> tuple:
    """(shared or not, where that comes from): what the deployer says (``oslab.provider_network_shared``), else
    what the install guide documents."""
    if configured is None:
        return INSTALL_GUIDE_SHARED, ("the install guide's provider network; set oslab.provider_network_shared "
                                      "in clouds.yaml if this one is meant otherwise")
    return configured, "oslab.provider_network_shared in clouds.yaml"


def check_provider_network(network, shared: Optional[bool] = None) -> None:
    """N1: the flat provider network is ACTIVE, ``provider:network_type`` flat, on a physical network, external,
    with an MTU, and shared as it is meant to be (``shared``: what the deployer says; None: as the install guide
    makes it). The expectation and where it comes from are reported either way."""
    meant, source = shared_expectation(shared)
    attach(f"N1: network {network.name} is meant to be {'shared' if meant else 'not shared'}", f"from {source}")
    with Check(f"the provider network is ACTIVE, flat on a physical network, {'' if meant else 'not '}shared, "
               f"external, with an MTU", Where(network=network)) as c:
        c.expect("status", "ACTIVE", network.status)
        c.expect("provider:network_type", "flat", network.provider_network_type)
        c.require(network.provider_physical_network, "provider:physical_network: expected a physical network, "
                                                     "actual none")
        c.expect("shared", meant, bool(network.is_shared), source)
        c.expect("router:external", True, bool(network.is_router_external))
        c.require((network.mtu or 0) >= 68, f"mtu: expected a usable MTU, actual {network.mtu}")


def check_overlay_network(network, network_types=("vxlan", "geneve")) -> None:
    """N2 (API): the self-service network is ACTIVE, an overlay (vxlan; geneve on ML2/OVN) with a segmentation id,
    and an MTU."""
    with Check(f"the self-service network is {' or '.join(network_types)} with a segmentation id and an MTU",
               Where(network=network)) as c:
        c.expect("status", "ACTIVE", network.status)
        c.require(network.provider_network_type in network_types,
                  f"provider:network_type: expected {' or '.join(network_types)}, actual "
                  f"{network.provider_network_type}")
        c.require(isinstance(network.provider_segmentation_id, int) and network.provider_segmentation_id > 0,
                  f"provider:segmentation_id: expected a VNI, actual {network.provider_segmentation_id}")
        c.require((network.mtu or 0) >= 68, f"mtu: expected a usable MTU, actual {network.mtu}")


def check_overlay_mtu_on_node(node: NodeFacts, network, dhcp_port=None, driver: str = "linuxbridge") -> None:
    """N2 (devices): the devices carrying the self-service network on a node show the API's MTU: the DHCP device
    and, on Linux bridge, ``brq<net>`` and ``vxlan-<vni>`` (whose id is the segmentation id), and the tunnel's
    underlay device has room for the encapsulation (network MTU + 50)."""
    with Check("the self-service network's MTU is what its devices show", Where(network=network,
                                                                               node=node.name)) as c:
        if dhcp_port is not None:
            device = names.dhcp_device(dhcp_port.id, driver)
            links = node.links(names.qdhcp(network.id))
            if c.require(device in links, f"DHCP device {device} in {names.qdhcp(network.id)}: expected, actual "
                                          f"absent"):
                c.expect(f"{device} MTU", network.mtu, links[device].mtu, "network MTU")
        if driver != "linuxbridge":
            return
        links = node.links()
        bridge, vxlan = names.brq(network.id), names.vxlan(network.provider_segmentation_id)
        for name in (bridge, vxlan):
            if c.require(name in links, f"device {name}: expected, actual absent"):
                c.expect(f"{name} MTU", network.mtu, links[name].mtu, "network MTU")
        vx = links.get(vxlan)
        if vx is not None and vx.vxlan is not None:
            c.expect(f"{vxlan} id", network.provider_segmentation_id, vx.vxlan.id, "segmentation id")
            underlay = _underlay(links, vx)
            if underlay is not None:
                c.require(underlay.mtu >= network.mtu + VXLAN_OVERHEAD,
                          f"underlay {underlay.name} MTU: expected at least {network.mtu + VXLAN_OVERHEAD} "
                          f"(network MTU + {VXLAN_OVERHEAD} of vxlan headers), actual {underlay.mtu}")


def _underlay(links, vx) -> Optional[object]:
    if vx.vxlan.dev and vx.vxlan.dev in links:
        return links[vx.vxlan.dev]
    local = vx.vxlan.local
    return next((link for link in links.values() if local and link.has_address(local)), None)


def check_subnet(subnet, network) -> None:
    """N3 (API): the subnet's allocation pools and gateway lie in its CIDR, the gateway outside the pools, its DNS
    servers are addresses, and DHCP is enabled."""
    with Check("the subnet's CIDR, pool, gateway and DNS servers agree, DHCP enabled",
               Where(network=network)) as c:
        cidr = ipaddress.ip_network(subnet.cidr)
        c.expect(f"subnet {subnet.name or subnet.id} enable_dhcp", True, subnet.is_dhcp_enabled)
        c.require(subnet.allocation_pools, f"subnet {subnet.cidr}: expected an allocation pool, actual none")
        for pool in subnet.allocation_pools or []:
            for end in ("start", "end"):
                c.require(ipaddress.ip_address(pool[end]) in cidr,
                          f"allocation pool {end} {pool[end]}: expected inside {cidr}, actual outside")
        if subnet.gateway_ip:
            c.require(ipaddress.ip_address(subnet.gateway_ip) in cidr,
                      f"gateway {subnet.gateway_ip}: expected inside {cidr}, actual outside")
            c.require(not names.in_pools(subnet.gateway_ip, subnet),
                      f"gateway {subnet.gateway_ip}: expected outside the pool {names.pools_text(subnet)}, "
                      f"actual inside")
        for server in subnet.dns_nameservers or []:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                c.require(False, f"DNS server {server!r}: expected an IP address")
