"""ML2/Open vSwitch devices (N12, I8), read from the OVS database (``ovs-vsctl --format=json list ...``):
the DHCP and instance ports of ``br-int`` with their local VLAN tags, the ``int-br-<physnet>`` / ``phy-br-<physnet>``
patch, the physical interface on ``br-<physnet>``, secure fail mode and connected controllers."""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import ovs

INTEGRATION_BRIDGE = "br-int"


class _Db:
    """The four tables a check joins, read once."""

    def __init__(self, node: NodeFacts):
        self.bridges = {b.name: b for b in node.ovs_bridges()}
        self.ports = node.ovs_ports()
        self.port_by_uuid = ovs.by_uuid(self.ports)
        self.interfaces = node.ovs_interfaces()
        self.iface_by_uuid = ovs.by_uuid(self.interfaces)

    def members(self, bridge: str) -> Dict[str, ovs.Port]:
        found = self.bridges.get(bridge)
        if found is None:
            return {}
        return {self.port_by_uuid[u].name: self.port_by_uuid[u] for u in found.ports if u in self.port_by_uuid}

    def interface(self, name: str) -> Optional[ovs.Interface]:
        return next((i for i in self.interfaces if i.name == name), None)

    def port_of_neutron_port(self, port_id: str) -> Optional[ovs.Port]:
        """The OVS port whose interface has ``external_ids:iface-id`` = the neutron port id."""
        for p in self.ports:
            if any(self.iface_by_uuid[u].iface_id == port_id for u in p.interfaces if u in self.iface_by_uuid):
                return p
        return None


# the Open vSwitch agent's tag for a port it isolates (neutron's DEAD_VLAN_TAG: the largest VLAN id + 1)
DEAD_VLAN_TAG = 4095


def ovs_port_name(port_id: str, firewall: Optional[str]) -> str:
    """The neutron port's port on ``br-int``: ``qvo…`` with the hybrid iptables firewall, else ``tap…``."""
    return names.qvo(port_id) if firewall == "iptables_hybrid" else names.tap(port_id)


def local_vlan(node: NodeFacts, port_id: str, firewall: Optional[str]) -> Optional[int]:
    """The local VLAN tag of the neutron port's ``br-int`` port (I8); None when it is not there or untagged."""
    member = _Db(node).members(INTEGRATION_BRIDGE).get(ovs_port_name(port_id, firewall))
    return member.tag if member else None


def interfaces_on(node: NodeFacts, bridge: str, kind: str) -> List[ovs.Interface]:
    """The interfaces of type ``kind`` (``vxlan``, ``geneve``...) of ``bridge``'s ports."""
    db = _Db(node)
    return [db.iface_by_uuid[u] for p in db.members(bridge).values() for u in p.interfaces
            if u in db.iface_by_uuid and db.iface_by_uuid[u].type == kind]


def check_dhcp_port_tagged(node: NodeFacts, network, dhcp_port) -> None:
    """N12: the DHCP port's tap is a port of ``br-int`` with a local VLAN ``tag``, the tag of the network's other
    ``br-int`` ports on the node (those the OVS agent marks with the network in ``other_config:net_uuid``)."""
    tap = names.tap(dhcp_port.id)
    with Check("the DHCP tap is a br-int port with the network's local VLAN tag",
               Where(port=dhcp_port, network=network, device=tap, node=node.name)) as c:
        db = _Db(node)
        members = db.members(INTEGRATION_BRIDGE)
        if tap not in members:
            c.fail(f"{tap}: expected a port of {INTEGRATION_BRIDGE}, actual not there "
                   f"({', '.join(sorted(members)) or 'no br-int'})")
        tag = members[tap].tag
        if not c.require(tag is not None and tag != DEAD_VLAN_TAG,
                         f"{tap} tag: expected a local VLAN, actual {'none' if tag is None else f'{tag} (dead)'}"):
            return
        # a port the agent parked on the dead VLAN (admin down, unbound, being deleted) carries nothing to compare
        others = {name: p.tag for name, p in members.items()
                  if name != tap and p.other_config.get("net_uuid") == network.id and p.tag != DEAD_VLAN_TAG}
        differ = sorted(f"{name} tag {other}" for name, other in others.items() if other != tag)
        c.require(not differ, f"{tap} tag: expected the tag of the network's other {INTEGRATION_BRIDGE} ports, "
                              f"actual {tag} where {', '.join(differ)}")


def check_bridges_patched(node: NodeFacts, physnet: str, physical_bridge: str) -> None:
    """N12: ``br-int`` and ``br-<physnet>`` are patched (``int-br-X`` <-> ``phy-br-X``), the physical interface is a
    port of ``br-<physnet>``, both bridges in ``fail_mode: secure`` with their controllers connected."""
    int_patch, phy_patch = f"int-{physical_bridge}", f"phy-{physical_bridge}"
    with Check(f"br-int and {physical_bridge} are patched, secure and connected, with the physical interface",
               Where(device=f"{INTEGRATION_BRIDGE}/{physical_bridge} (physnet {physnet})", node=node.name)) as c:
        db = _Db(node)
        controllers = ovs.by_uuid(node.ovs_controllers())
        for bridge in (INTEGRATION_BRIDGE, physical_bridge):
            if bridge not in db.bridges:
                c.fail(f"bridge {bridge}: expected, actual absent ({', '.join(sorted(db.bridges)) or 'none'})")
            found = db.bridges[bridge]
            c.expect(f"{bridge} fail_mode", "secure", found.fail_mode)
            targets = [controllers[u] for u in found.controllers if u in controllers]
            c.require(targets and all(t.is_connected for t in targets),
                      f"{bridge} controllers: expected connected, actual "
                      f"{', '.join(f'{t.target} connected={t.is_connected}' for t in targets) or 'none'}")
        for bridge, patch, peer in ((INTEGRATION_BRIDGE, int_patch, phy_patch), (physical_bridge, phy_patch, int_patch)):
            iface = db.interface(patch)
            c.require(patch in db.members(bridge), f"{patch}: expected a port of {bridge}, actual absent")
            if iface is not None:
                c.expect(f"{patch} type", "patch", iface.type)
                c.expect(f"{patch} options:peer", peer, iface.options.get("peer"))
        physical = [name for name, p in db.members(physical_bridge).items()
                    if name != physical_bridge and not name.startswith("phy-")
                    and all((db.iface_by_uuid.get(u) or ovs.Interface("", "")).type in ("", "system", "dpdk")
                            for u in p.interfaces)]
        c.require(physical, f"{physical_bridge}: expected a physical interface port, actual only "
                            f"{', '.join(sorted(db.members(physical_bridge))) or 'nothing'}")


def check_port_tag(node: NodeFacts, server, port, network, firewall: Optional[str] = None,
                   network_port_ids: Iterable[str] = ()) -> None:
    """I8: the instance's port is a ``br-int`` port with a local VLAN tag, the same tag as the network's other ports
    on that host (``network_port_ids``: the network's ports bound there, from the API)."""
    name = ovs_port_name(port.id, firewall)
    with Check("the instance's port is in br-int with the network's local VLAN tag",
               Where(server=server, port=port, network=network, device=name, node=node.name)) as c:
        db = _Db(node)
        members = db.members(INTEGRATION_BRIDGE)
        if name not in members:
            c.fail(f"{name}: expected a port of {INTEGRATION_BRIDGE}, actual not there")
        tag = members[name].tag
        if not c.require(tag is not None, f"{name} tag: expected a local VLAN, actual none"):
            return
        for other in network_port_ids:
            if other == port.id:
                continue
            peer = db.port_of_neutron_port(other)
            if peer is not None and peer.name in members:
                c.expect(f"tag of {peer.name} (port {other[:8]} of the same network)", tag, peer.tag,
                         f"{name}'s tag")
