"""Guests (seeds 000, 002, 004): SSH with the run's keypair, the NIC as the guest sees it, two guests on one network
reaching each other, a guest reached by its floating IP, and the D1 triage evidence for a guest."""
import pytest

from pytest_oslab.access.guests import GuestError
from pytest_oslab.checks import guests, triage

pytestmark = pytest.mark.oslab


@pytest.mark.fact("G1")
def test_ssh_works_and_the_nic_shows_the_port_mac_ip_prefix_and_mtu(instance, reach, network_views):
    """When SSH does not answer, the failure says whether the guest holds its address, as its network sees it."""
    try:
        guest = reach(instance)
        guests.check_guest_nic(guest, instance.port, instance.network, instance.subnet)
    except (GuestError, pytest.fail.Exception) as unreachable:
        if isinstance(unreachable, pytest.fail.Exception) and "SSH" not in str(unreachable):
            raise
        guests.check_guest_holds_its_address(instance.server, instance.port, instance.subnet,
                                             network_views(instance), str(unreachable).splitlines()[0])


@pytest.mark.fact("G2")
def test_two_guests_on_one_network_ping_each_other(server_a, server_b, reach):
    a, b = reach(server_a), reach(server_b)
    guests.check_ping(a, server_b.ip, peer=f"server {server_b.server.name}")
    guests.check_ping(b, server_a.ip, peer=f"server {server_a.server.name}")


@pytest.mark.fact("G3")
def test_a_guest_is_reached_by_its_floating_ip_through_the_router(server_b, reach, cloud, floating_ip):
    """Setup: server_b on the self-service network behind the run's router; a floating IP of the run.
    Steps: associate the floating IP with server_b's port, SSH to it at that address from here (or the cloud's
    bastion), see the fixed IP inside.
    Teardown: the floating IP is deleted (fixture)."""
    own = reach(server_b)  # the run's own session to it keeps its route
    if own.route.is_floating:  # no node to relay through (--oslab-guest-route): the run gave it this one
        address = own.route.address
    else:
        address = cloud.network.update_ip(floating_ip, port_id=server_b.port.id).floating_ip_address
    at_floating_ip = reach(server_b, floating_ip=address)
    guests.check_guest_nic(at_floating_ip, server_b.port, server_b.network, server_b.subnet)


@pytest.mark.fact("D1")
@pytest.mark.admin
def test_the_triage_of_a_guest_shows_console_lease_arp_counters_and_chains(server_a, reach, triage_of, driver,
                                                                          node_facts):
    """What is attached when a guest cannot be reached, gathered here for a guest that can: each piece present
    and telling (an ARP answer from its MAC, its tap's counters; with the DHCP agent its lease, with the iptables
    firewall its chains). Most pieces are read on its compute node: skipped, naming the node, when it cannot be
    reached."""
    node_facts(server_a.server)
    reach(server_a)  # booted and on the network: its lease and ARP entry exist
    pieces = triage_of(server_a)
    triage.check_triage_readable(pieces, server_a.server, server_a.port, driver)
