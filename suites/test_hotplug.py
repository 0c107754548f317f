"""Ports and NIC hot-plug (seed 004), as the notebook does it: two servers, a port for each made beforehand on a
second network, attach, see the NIC with its MAC in the guest, configure it, ping the peer, detach, re-attach (the
MAC is kept; the NIC's name and PCI slot may change), configure again, ping again.

Setup: two servers of their own on the self-service network; a port each on the provider network.
Steps: the tests below, in order; a step whose earlier step failed is skipped, saying which.
Teardown: the ports are deleted (detached first by Nova), then the servers at the end of the run.
Under pytest-xdist run with ``--dist loadgroup`` so that the steps stay on one worker.
"""
from dataclasses import dataclass, field
from typing import Dict, List

import pytest

from pytest_oslab import evidence
from pytest_oslab.checks import guests, names, ports
from pytest_oslab.checks.core import Check, Where
from pytest_oslab.outcomes import outcome
from pytest_oslab.provision.resources import attach_refusal

pytestmark = [pytest.mark.oslab, pytest.mark.xdist_group("hotplug")]
ATTACH_TIMEOUT = 120


@dataclass
class Scenario:
    servers: List[object]          # Booted
    ports: List[object]            # the hot-plug ports, one per server
    net: object                    # Net of the ports (the provider network)
    nics: Dict[str, str] = field(default_factory=dict)   # port id -> the guest's NIC name
    done: List[str] = field(default_factory=list)

    def needs(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"the hot-plug step(s) {', '.join(missing)} before this one did not pass")


@pytest.fixture(scope="module")
def scenario(oslab, hotplug_servers, provider, security_group):
    """The hot-plug scenario: its two servers, a port for each made beforehand on the provider network, and the
    steps passed so far (the ports are deleted after the module)."""
    refusal = attach_refusal(provider.network, oslab.cloud.current_project_id)
    if refusal:  # the member's ports there would be refused (403)
        pytest.skip(f"{refusal}; the hot-plug ports need a network this user may use")
    stack = oslab.new_stack()
    with outcome("creating the hot-plug ports"):
        made = [oslab.provisioner.port(stack, provider.network, f"hotplug-port-{i + 1}",
                                       security_group_ids=[security_group.id]) for i in range(2)]
    yield Scenario(list(hotplug_servers), made, provider)
    problems = stack.close()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _peer_ip(scenario, i):
    return names.fixed_ip_on(scenario.ports[1 - i], scenario.net.subnet)


def _configure_and_ping(scenario, reach):
    for i, (booted, port) in enumerate(zip(scenario.servers, scenario.ports)):
        with outcome():  # a guest whose user cannot be root (busybox only, no sudo): skipped, saying so
            guests.configure_nic(reach(booted), scenario.nics[port.id], port, scenario.net.subnet)
    for i, booted in enumerate(scenario.servers):
        guests.check_ping(reach(booted), _peer_ip(scenario, i), peer="the peer's hot-plugged port")


@pytest.mark.fact("H1")
def test_a_port_made_before_use_is_down_with_a_fixed_ip_and_no_device(scenario, cloud):
    for port in scenario.ports:
        ports.check_port_unused(cloud.network.get_port(port.id), scenario.net.subnet)
    scenario.done.append("H1")


@pytest.mark.fact("H2")
def test_attached_to_a_running_server_the_port_is_active_owned_and_listed(scenario, cloud, reach):
    scenario.needs("H1")
    for booted in scenario.servers:
        reach(booted)  # running and reachable before its NIC changes
    for booted, port in zip(scenario.servers, scenario.ports):
        cloud.compute.create_server_interface(booted.server, port_id=port.id)
    for booted, port in zip(scenario.servers, scenario.ports):
        ports.check_port_attached(cloud.network, cloud.compute, port.id, booted.server, ATTACH_TIMEOUT)
    scenario.done.append("H2")


@pytest.mark.fact("H3")
def test_the_guest_sees_a_new_nic_with_the_port_mac(scenario, reach):
    """The NIC appears with the port's MAC (an image without hot-plug DHCP leaves it down and without address)."""
    scenario.needs("H2")
    for booted, port in zip(scenario.servers, scenario.ports):
        nic = guests.check_nic_shown(reach(booted), port, True, ATTACH_TIMEOUT)
        scenario.nics[port.id] = nic.name
    scenario.done.append("H3")


@pytest.mark.fact("H4")
def test_configured_with_the_port_ip_the_nic_reaches_the_peer(scenario, reach):
    scenario.needs("H3")
    _configure_and_ping(scenario, reach)
    scenario.done.append("H4")


@pytest.mark.fact("H5")
def test_detached_the_port_leaves_the_server_and_the_guest_and_is_down(scenario, cloud, reach):
    scenario.needs("H2")
    booted, port = scenario.servers[0], scenario.ports[0]
    cloud.compute.delete_server_interface(port.id, server=booted.server)
    ports.check_port_detached(cloud.network, cloud.compute, port.id, booted.server, scenario.net.subnet,
                              ATTACH_TIMEOUT)
    guests.check_nic_shown(reach(booted), port, False, ATTACH_TIMEOUT)
    scenario.done.append("H5")


@pytest.mark.fact("H6")
def test_reattached_the_nic_returns_with_the_same_mac_and_reaches_the_peer_again(scenario, cloud, reach):
    """Its name and PCI slot may change and a guest without hot-plug DHCP loses the address: it is configured
    again, and the peer answers."""
    scenario.needs("H5")
    booted, port = scenario.servers[0], scenario.ports[0]
    before = scenario.nics.get(port.id)
    cloud.compute.create_server_interface(booted.server, port_id=port.id)
    ports.check_port_attached(cloud.network, cloud.compute, port.id, booted.server, ATTACH_TIMEOUT)
    nic = guests.check_nic_shown(reach(booted), port, True, ATTACH_TIMEOUT)
    with Check("the re-attached NIC keeps the port's MAC", Where(server=booted.server, port=port)) as c:
        c.expect("MAC", port.mac_address.lower(), (nic.mac or "").lower(), "port MAC")
    scenario.nics[port.id] = nic.name
    evidence.attach(f"guest {booted.server.name}: re-attached NIC", f"port {port.id}: {nic.name} (was {before})")
    _configure_and_ping(scenario, reach)
    scenario.done.append("H6")
