"""Ports and hot-plug through the API (H1, H2, H5): a port before use, attached to a server, detached again."""
from __future__ import annotations

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, wait_until


def check_port_unused(port, subnet) -> None:
    """H1 / H5: the port is DOWN, has its fixed IP on the subnet, and no device (no ``device_id``)."""
    with Check("the port is DOWN with a fixed IP and no device", Where(port=port)) as c:
        c.expect("status", "DOWN", port.status)
        c.require(names.fixed_ip_on(port, subnet), f"fixed IP on subnet {subnet.cidr}: expected, actual "
                                                   f"{port.fixed_ips or 'none'}")
        c.expect("device_id", "", port.device_id or "")


def check_port_attached(network_api, compute_api, port_id: str, server, timeout: float = 60) -> None:
    """H2: the port attached to a running server: ACTIVE, ``device_id`` = the server, listed in its interfaces."""
    def probe():
        port = network_api.get_port(port_id)
        with Check("the attached port is ACTIVE, owned by the server and listed in its interfaces",
                   Where(server=server, port=port)) as c:
            c.expect("status", "ACTIVE", port.status)
            c.expect("device_id", server.id, port.device_id, "the server's id")
            listed = [i.port_id for i in compute_api.server_interfaces(server)]
            c.require(port_id in listed, f"server interfaces: expected {port_id}, actual {', '.join(listed)}")
    wait_until(probe, timeout)


def check_port_detached(network_api, compute_api, port_id: str, server, subnet, timeout: float = 60) -> None:
    """H5: detached, the port is gone from the server's interfaces and is DOWN with no device."""
    def probe():
        port = network_api.get_port(port_id)
        with Check("the detached port left the server's interfaces", Where(server=server, port=port)) as c:
            listed = [i.port_id for i in compute_api.server_interfaces(server)]
            c.require(port_id not in listed, f"server interfaces: expected without {port_id}, actual still listed")
        check_port_unused(port, subnet)
    wait_until(probe, timeout)
