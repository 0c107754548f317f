"""The workload's documented facts, checked by ``pre`` and again by ``post`` with the suites' own checks: I1-I7 on
each server (ACTIVE, dnsmasq's entries and lease, the domain and its tap), S1-S3 on each port's chains, G1-G2 from
inside the guests (SSH with the workload's key, the NIC, the peer answers ping).
"""
from __future__ import annotations

from typing import Callable, List

import pytest

from pytest_oslab.checks import dhcp, firewall, guests, instances
from pytest_oslab.checks.core import on_each
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.cloud.capabilities import skip_reason
from pytest_oslab.gate.workload import Workload, key_path, members
from pytest_oslab.provision.resources import find_image, image_user


def dhcp_nodes(oslab, network) -> List[NodeFacts]:
    return [oslab.facts_of(n) for n in oslab.dhcp_node_list(network)]


def image_user_of(oslab) -> str:
    return image_user(find_image(oslab.cloud, oslab.choice.oslab.image), oslab.choice.oslab.image_user)


def check_instances(oslab, workload: Workload) -> None:
    """I1-I7 on each server of the workload: ACTIVE in the pool, dnsmasq entries and lease, domain and tap."""
    caps = oslab.capabilities
    driver, firewall = caps.driver or "", caps.firewall_driver
    steps: List[Callable[[], None]] = []
    for m in members(oslab, workload):
        node = oslab.facts_of(m.server)
        steps.append(lambda m=m: instances.check_server_active(m.server, m.port, m.subnet))
        steps.append(lambda m=m, node=node: instances.check_domain_running(
            node, m.server, m.server.instance_name, oslab.cloud.network.ports(device_id=m.server.id)))
        steps.append(lambda m=m, node=node: instances.check_domain_interface(
            node, m.server, m.server.instance_name, m.port, m.network, driver, firewall))
        steps.append(lambda m=m, node=node: instances.check_tap(node, m.server, m.port, m.network, driver, firewall))
        if driver in ("linuxbridge", "openvswitch"):
            for dn in dhcp_nodes(oslab, m.network):
                steps.append(lambda m=m, dn=dn: dhcp.check_host_entry(dn, m.network, m.port, caps.dns_domain))
                steps.append(lambda m=m, dn=dn: dhcp.check_addn_hosts_entry(dn, m.network, m.port, caps.dns_domain))
                steps.append(lambda m=m, dn=dn: dhcp.check_lease(dn, m.network, m.port,
                                                                 timeout=oslab.settings.ssh_timeout))
    on_each(steps, lambda step: step())


def check_chains(oslab, workload: Workload) -> None:
    """S1-S3 on each server's port: ingress, egress and spoofing chains as its group's rules say."""
    caps = oslab.capabilities
    reason = skip_reason({"iptables_firewall": {}}, caps)
    if reason:
        pytest.skip(reason)
    driver = caps.driver or ""
    admin = oslab.admin_cloud
    steps = []
    for m in members(oslab, workload):
        node = oslab.facts_of(m.server)
        rules = [r for gid in m.port.security_group_ids for r in admin.network.security_group_rules(
            security_group_id=gid)]
        steps += [lambda m=m, node=node, rules=rules: firewall.check_ingress_chain(node, m.server, m.port, rules,
                                                                                   driver),
                  lambda m=m, node=node, rules=rules: firewall.check_egress_chain(node, m.server, m.port, rules,
                                                                                  driver),
                  lambda m=m, node=node: firewall.check_spoofing_chain(node, m.server, m.port, driver)]
    on_each(steps, lambda step: step())


def check_guests(oslab, workload: Workload) -> None:
    """G1-G3: SSH into each server with the workload's key, its NIC as the port says, the peer answers ping, and
    the floating IP leads to the first server."""
    if workload.pkey is None:
        pytest.skip(f"the workload's private key is not on this machine ({key_path(oslab.settings.cloud, workload.id)})"
                    f": guests not checked")
    ms = members(oslab, workload)
    user = image_user_of(oslab)
    for m, peer in zip(ms, ms[1:] + ms[:1]):
        guest = oslab.guest(m.server, user, workload.pkey)
        guests.check_guest_nic(guest, m.port, m.network, m.subnet)
        guests.check_ping(guest, peer.ip, peer=peer.server.name)
