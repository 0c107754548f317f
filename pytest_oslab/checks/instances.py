"""Instances (I1, I5-I7, I10): the server in the API, its libvirt domain and interface, its tap on the compute node."""
from __future__ import annotations

from typing import Iterable, Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where
from pytest_oslab.checks.nodes import NodeFacts


def check_server_active(server, port, subnet) -> None:
    """I1: the server is ACTIVE and its address on the network is inside the subnet's allocation pool."""
    with Check("the server is ACTIVE with an address from the allocation pool", Where(server=server, port=port)) as c:
        c.expect("status", "ACTIVE", server.status)
        ip = names.fixed_ip_on(port, subnet)
        if c.require(ip, f"no IPv4 address on subnet {subnet.name or subnet.id} ({subnet.cidr})"):
            c.require(names.in_pools(ip, subnet), f"IP {ip}: expected inside the allocation pool "
                                                  f"{names.pools_text(subnet)}")


def check_domain_running(node: NodeFacts, server, instance_name: str, ports: Optional[Iterable] = None) -> None:
    """I5: on the compute host, the server's libvirt domain (``OS-EXT-SRV-ATTR:instance_name``) runs, and its
    ``<interface>``s are the server's ports (``ports``, from the API), both ways: every port has an interface with
    its MAC (one detached behind nova's back has none) and every interface is a port of the server."""
    with Check("the libvirt domain runs on the compute host with an interface for each of the server's ports",
               Where(server=server, device=instance_name, node=node.name)) as c:
        result = node.run(f"virsh domstate {instance_name}", ok=False)
        if result.rc != 0:
            c.fail(f"domain {instance_name}: expected running, actual unknown to libvirt "
                   f"({(result.stderr or '').strip()[:200]})")
        c.expect(f"domain {instance_name} state", "running", result.stdout.strip())
        if ports is None:
            return
        macs = {p.mac_address.lower(): p for p in ports}
        interfaces = {(i.mac or "").lower(): i for i in node.domain(instance_name).interfaces}
        have = ", ".join(f"{mac} ({i.target})" for mac, i in sorted(interfaces.items())) or "none"
        for mac, port in sorted(macs.items()):
            c.require(mac in interfaces, f"port {port.id} (MAC {mac}): expected an <interface> with its MAC in "
                                         f"domain {instance_name}, actual none (its interfaces: {have})")
        for mac, iface in sorted(interfaces.items()):
            c.require(mac in macs, f"<interface> MAC {mac} (target {iface.target}): expected one of the server's "
                                   f"ports, actual none of them has it (ports: "
                                   f"{', '.join(f'{p.id[:8]} {m}' for m, p in sorted(macs.items())) or 'none'})")


def expected_interface(port, network, driver: str, firewall: Optional[str]):
    """(type, source bridge) of the libvirt ``<interface>`` for a port under a driver and firewall."""
    if driver == "linuxbridge":
        return "bridge", names.brq(network.id)
    if driver == "openvswitch" and firewall == "iptables_hybrid":
        return "bridge", names.qbr(port.id)
    return "ethernet", None


def check_domain_interface(node: NodeFacts, server, instance_name: str, port, network, driver: str,
                           firewall: Optional[str] = None, model: str = "virtio") -> None:
    """I6: the domain's ``<interface>`` for the port: MAC = port MAC, target ``tap<port>``, model virtio, MTU = network
    MTU, type ``bridge`` with source ``brq<net>`` (Linux bridge) / ``qbr<port>`` (OVS hybrid), else ``ethernet``."""
    tap = names.tap(port.id)
    where = Where(server=server, port=port, network=network, device=f"{instance_name} <interface> {tap}",
                  node=node.name)
    with Check("the libvirt interface carries the port's MAC, tap, model and the network's MTU", where) as c:
        domain = node.domain(instance_name)
        mine = [i for i in domain.interfaces if (i.mac or "").lower() == port.mac_address.lower()]
        if not mine:
            c.fail(f"<interface> with MAC {port.mac_address}: expected, actual "
                   f"{', '.join(f'{i.mac} ({i.target})' for i in domain.interfaces) or 'no interface'}")
        iface = mine[0]
        kind, source = expected_interface(port, network, driver, firewall)
        c.expect("target dev", tap, iface.target)
        c.expect("model", model, iface.model)
        c.expect("mtu size", network.mtu, iface.mtu, "network MTU")
        c.expect("type", kind, iface.type, f"ML2/{driver}" + (f", firewall {firewall}" if firewall else ""))
        if source:
            c.expect("source bridge", source, iface.source_bridge)


def expected_master(port, network, driver: str, firewall: Optional[str], datapath: Optional[str] = None
                    ) -> Optional[str]:
    """The tap's master: ``brq<net>`` (Linux bridge), ``qbr<port>`` (OVS hybrid), ``ovs-system`` (OVS, OVN on the
    kernel datapath); none on OVS's userspace datapath (``netdev``: ovs-vswitchd reads the tap itself), which the
    port's ``binding:vif_details`` or else ``br-int``'s ``datapath_type`` says."""
    if driver == "linuxbridge":
        return names.brq(network.id)
    if driver == "openvswitch" and firewall == "iptables_hybrid":
        return names.qbr(port.id)
    details = getattr(port, "binding_vif_details", None) or {}
    return None if (details.get("datapath_type") or datapath) == "netdev" else "ovs-system"


def check_tap(node: NodeFacts, server, port, network, driver: str, firewall: Optional[str] = None) -> None:
    """I7: the tap is UP, MTU = network MTU, master ``brq<net>`` (Linux bridge) / ``ovs-system`` (OVS, OVN),
    its MAC ``fe:`` and the port MAC's last five octets; with OVS hybrid plugging the tap's master is
    ``qbr<port>``, and ``qvb<port>`` is UP in it at the network's MTU."""
    tap = names.tap(port.id)
    where = Where(server=server, port=port, network=network, device=tap, node=node.name)
    with Check("the tap is UP at the network's MTU, in its bridge, with the port's MAC", where) as c:
        links = node.links()
        if tap not in links:
            c.fail(f"device {tap}: expected on the compute node, actual absent")
        link = links[tap]
        datapath = None
        if driver in ("openvswitch", "ovn") and not (getattr(port, "binding_vif_details", None) or {}).get(
                "datapath_type"):
            datapath = next((b.datapath_type for b in node.ovs_bridges() if b.name == "br-int"), None)
        c.expect("state UP", True, link.up)
        c.expect("MTU", network.mtu, link.mtu, "network MTU")
        c.expect("master", expected_master(port, network, driver, firewall, datapath), link.master,
                 f"ML2/{driver}" + (f", firewall {firewall}" if firewall else "")
                 + (f", {datapath} datapath" if datapath else ""))
        c.expect("MAC", names.tap_mac(port.mac_address), (link.mac or "").lower(), "fe: + the port MAC's last five")
        if driver == "openvswitch" and firewall == "iptables_hybrid":
            _hybrid_veth(c, links, port, network)


def _hybrid_veth(c: Check, links, port, network) -> None:
    """OVS hybrid plugging: ``qvb<port>``, the end of the veth pair that joins ``qbr<port>`` to ``br-int``
    (``qvo<port>``), is UP in ``qbr<port>`` at the network's MTU (released from it, the guest is cut off); and
    ``qbr<port>`` holds nothing else than the tap and ``qvb<port>`` (another device there is on the port's wire,
    outside its firewall)."""
    qvb, qbr = names.qvb(port.id), names.qbr(port.id)
    for name in sorted(n for n, member in links.items() if member.master == qbr and n not in (qvb, names.tap(port.id))):
        c.require(False, f"{qbr} member {name}: expected only {names.tap(port.id)} and {qvb}, actual {name} too")
    link = links.get(qvb)
    if not c.require(link is not None, f"device {qvb}: expected in {qbr}, actual absent"):
        return
    c.expect(f"{qvb} master", qbr, link.master, "OVS hybrid plugging")
    c.expect(f"{qvb} state UP", True, link.up)
    c.expect(f"{qvb} MTU", network.mtu, link.mtu, "network MTU")


def check_no_instance_namespace(node: NodeFacts, server, port) -> None:
    """I10: no network namespace is made on the compute host for the instance: its tap is in the root namespace
    and no namespace is named after the server or its port."""
    tap = names.tap(port.id)
    with Check("the instance has no network namespace of its own", Where(server=server, port=port,
                                                                        node=node.name)) as c:
        found = [ns for ns in node.namespaces() if server.id in ns or names.short_id(port.id) in ns]
        c.require(not found, f"namespaces named after the instance: expected none, actual {', '.join(found)}")
        c.require(node.tap(port) is not None, f"device {tap}: expected in the root namespace, actual absent")
