"""The topology a run builds, declared once: a self-service network, its IPv4 subnet with DHCP on a /24 no visible
subnet uses, and a router with an interface on it (its gateway on the external network when the cloud has one);
the servers then go on that network (``pytest_oslab.provision.servers``, seen by the checks as
``pytest_oslab.booted.Booted``).

The suites' fixtures (``selfservice_network``, ``selfservice_subnet``, ``router``: one step each, so a test asks
only for what it uses) and the upgrade gate's workload (``pytest_oslab.gate.workload``: all of it, and it stays)
build it with these same steps; only the names differ (``SUITE``, ``WORKLOAD``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_oslab.provision.resources import Provisioner
from pytest_oslab.provision.stack import ResourceStack


@dataclass(frozen=True)
class Names:
    """What each piece of the topology is called (``Naming.name`` adds the run's prefix)."""

    network: str
    subnet: str
    router: str


SUITE = Names("selfservice", "selfservice-subnet", "router")
WORKLOAD = Names("workload-net", "workload-subnet", "workload-router")


@dataclass
class SelfService:
    """The network, subnet and router of the topology, as the API returned them."""

    network: Any
    subnet: Any
    router: Any


def network(prov: Provisioner, stack: ResourceStack, names: Names = SUITE):
    return prov.network(stack, names.network)


def subnet(prov: Provisioner, stack: ResourceStack, net, cidr: str, names: Names = SUITE):
    return prov.subnet(stack, net, cidr, names.subnet, enable_dhcp=True)


def router(prov: Provisioner, stack: ResourceStack, sub, external, names: Names = SUITE):
    """The router, its interface on ``sub``, its gateway on ``external`` (None: no gateway)."""
    made = prov.router(stack, names.router, external=external)
    prov.router_interface(stack, made, sub)
    return made


def selfservice(prov: Provisioner, stack: ResourceStack, cidr: str, external, names: Names = SUITE) -> SelfService:
    """The whole topology at once, in dependency order (network, subnet, router)."""
    net = network(prov, stack, names)
    sub = subnet(prov, stack, net, cidr, names)
    return SelfService(net, sub, router(prov, stack, sub, external, names))
