"""The names neutron derives from ids, and the values the API gives that the checks compare against.

``tap`` + port id[:11], ``ns-`` + port id[:11] (Linux bridge DHCP veth), ``brq`` + network id[:11],
``vxlan-<segmentation id>``, ``qdhcp-<network id>``, ``ovnmeta-<network id>``, ``qrouter-<router id>``, the DHCP
agent's files under ``/var/lib/neutron/dhcp/<network id>/``, ``qbr``/``qvb``/``qvo`` + port id[:11] (OVS hybrid plugging),
the iptables chains ``neutron-linuxbri-{i,o,s}`` + port id[:10] (``neutron-openvswi-`` on OVS).
"""
from __future__ import annotations

import ipaddress
from typing import List, Optional, Tuple

from pytest_oslab.facts.dnsmasq import neutron_hostname
from pytest_oslab.facts.iproute import tap_mac_for
from pytest_oslab.facts.iptables import port_chain_names

DHCP_DIR = "/var/lib/neutron/dhcp"
METADATA_IP = "169.254.169.254"
LINUXBRIDGE_VXLAN_PORT = 8472  # the kernel's (and the Linux bridge agent's) default vxlan UDP port
CHAIN_PREFIX = {"linuxbridge": "neutron-linuxbri-", "openvswitch": "neutron-openvswi-"}


# the prefixes of the host devices neutron names after a port (and the router's qr-/qg-/ha-/sg-/fg-/rfp- ones)
PORT_DEVICE_PREFIXES = ("tap", "ns-", "qvb", "qvo", "qbr", "qr-", "qg-", "ha-", "sg-", "fg-", "rfp-")
# the namespaces named after a network from which its guests are reached: the DHCP agent's, OVN's metadata one
NETWORK_NAMESPACE_PREFIXES = ("qdhcp-", "ovnmeta-")


def short_id(resource_id: str) -> str:
    """The part of a port's or network's id neutron puts in a device name (11 characters)."""
    return resource_id[:11]


def tap(port_id: str) -> str:
    return "tap" + short_id(port_id)


def ns_device(port_id: str) -> str:
    return "ns-" + short_id(port_id)


def brq(network_id: str) -> str:
    return "brq" + short_id(network_id)


def qbr(port_id: str) -> str:
    return "qbr" + short_id(port_id)


def qvb(port_id: str) -> str:
    return "qvb" + short_id(port_id)


def qvo(port_id: str) -> str:
    return "qvo" + short_id(port_id)


def vxlan(segmentation_id) -> str:
    return f"vxlan-{segmentation_id}"


def qdhcp(network_id: str) -> str:
    return NETWORK_NAMESPACE_PREFIXES[0] + network_id


def ovnmeta(network_id: str) -> str:
    return NETWORK_NAMESPACE_PREFIXES[1] + network_id


def network_of_namespace(namespace: str) -> Optional[str]:
    """The network id in a ``qdhcp-``/``ovnmeta-`` namespace's name (None: another namespace)."""
    for prefix in NETWORK_NAMESPACE_PREFIXES:
        if namespace.startswith(prefix):
            return namespace[len(prefix):]
    return None


def qrouter(router_id: str) -> str:
    return "qrouter-" + router_id


def dhcp_dir(network_id: str) -> str:
    return f"{DHCP_DIR}/{network_id}"


def dhcp_device(port_id: str, driver: str) -> str:
    """The DHCP port's device inside ``qdhcp-<net>``: ``ns-…`` on Linux bridge, ``tap…`` on Open vSwitch."""
    return ns_device(port_id) if driver == "linuxbridge" else tap(port_id)


def port_chains(port_id: str, driver: str = "linuxbridge") -> dict:
    """``{"in", "out", "spoof"}`` -> the port's own chain names of the iptables firewall."""
    return port_chain_names(port_id, CHAIN_PREFIX.get(driver, CHAIN_PREFIX["linuxbridge"]))


def chains(port_id: str, driver: str = "linuxbridge") -> dict:
    """``{"in", "out", "spoof", "sg-chain", "fallback"}`` -> chain names of the iptables firewall for a port."""
    prefix = CHAIN_PREFIX.get(driver, CHAIN_PREFIX["linuxbridge"])
    names = port_chains(port_id, driver)
    names.update({"sg-chain": prefix + "sg-chain", "fallback": prefix + "sg-fallback",
                  "FORWARD": prefix + "FORWARD", "INPUT": prefix + "INPUT"})
    return names


def tap_mac(port_mac: str) -> str:
    return tap_mac_for(port_mac)


# --- values from API objects ---------------------------------------------------------------------------------

def ipv4_fixed_ips(port) -> List[Tuple[str, str]]:
    """``[(ip, subnet_id)]`` of a port's IPv4 fixed IPs."""
    return [(f["ip_address"], f.get("subnet_id")) for f in port.fixed_ips or []
            if ipaddress.ip_address(f["ip_address"]).version == 4]


def fixed_ip_on(port, subnet) -> Optional[str]:
    return next((ip for ip, sid in ipv4_fixed_ips(port) if sid == subnet.id), None)


def in_pools(ip: str, subnet) -> bool:
    address = ipaddress.ip_address(ip)
    return any(ipaddress.ip_address(p["start"]) <= address <= ipaddress.ip_address(p["end"])
               for p in subnet.allocation_pools or [])


def pools_text(subnet) -> str:
    return ", ".join(f"{p['start']}-{p['end']}" for p in subnet.allocation_pools or []) or "no pool"


def prefixlen(subnet) -> int:
    return ipaddress.ip_network(subnet.cidr).prefixlen


def dns_names(port, domain: Optional[str] = None) -> Tuple[str, str]:
    """(fqdn, hostname) neutron writes for a port's IPv4 address: from its ``dns_assignment`` when the API gives
    one, else ``host-a-b-c-d`` in ``domain``."""
    ip = ipv4_fixed_ips(port)[0][0]
    for assignment in getattr(port, "dns_assignment", None) or []:
        if assignment.get("ip_address") == ip and assignment.get("fqdn"):
            return assignment["fqdn"].rstrip("."), assignment["hostname"]
    host = neutron_hostname(ip)
    return (f"{host}.{domain}" if domain else host), host
