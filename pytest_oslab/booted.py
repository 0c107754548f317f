"""What a run booted, as the checks see it: one type shared by the suites' fleet and the upgrade gate's workload.

``Net``: a network seen with admin rights, its IPv4 DHCP subnet and its DHCP ports. ``Booted``: a server with its
port on such a network and where it runs (admin: ``OS-EXT-SRV-ATTR:host`` / ``instance_name``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from pytest_oslab.checks.names import fixed_ip_on


@dataclass
class Net:
    """A network the checks judge, seen with admin rights: the network, its IPv4 DHCP subnet, its DHCP ports."""

    role: str
    network: object
    subnet: object
    dhcp_ports: List[object] = field(default_factory=list)

    def dhcp_port_on(self, node_name: str):
        short = node_name.split(".")[0]
        for p in self.dhcp_ports:
            if (p.binding_host_id or "").split(".")[0] == short:
                return p
        return None


def admin_view(admin_cloud, network, subnet, role: str = "") -> Net:
    """``network`` and ``subnet`` read again with admin rights, with the network's DHCP ports."""
    api = admin_cloud.network
    network = api.get_network(network.id)
    subnet = api.get_subnet(subnet.id)
    ports = sorted(api.ports(network_id=network.id, device_owner="network:dhcp"), key=lambda p: p.id)
    return Net(role=role, network=network, subnet=subnet, dhcp_ports=ports)


@dataclass
class Booted:
    """A server the run booted, with what the checks need: its port on its network, the network (admin view),
    the subnet, and where it runs (admin: ``OS-EXT-SRV-ATTR:host`` / ``instance_name``)."""

    role: str
    server: object
    port: object
    net: Net
    host: Optional[str] = None
    instance_name: Optional[str] = None

    @property
    def network(self):
        return self.net.network

    @property
    def subnet(self):
        return self.net.subnet

    @property
    def ip(self) -> str:
        return fixed_ip_on(self.port, self.subnet)


def read_booted(admin_cloud, server, net: Net, role: str = "") -> Booted:
    """``server`` as the checks see it: the admin view of it, its port on ``net`` (None: it has none there)."""
    ports = list(admin_cloud.network.ports(device_id=server.id, network_id=net.network.id))
    detail = admin_cloud.compute.get_server(server.id)
    return Booted(role, detail, ports[0] if ports else None, net, detail.compute_host, detail.instance_name)
