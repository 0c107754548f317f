"""``podman ps --format json`` as captured by tests/data/capture/containers-capture.sh (podman 4.3.1)."""
from pytest_oslab.facts.containers import parse_ps

NET = "8cc956e4-a1ff-4298-9560-71420c7e13ca"


def test_running_kolla_containers_are_listed_by_name(data):
    listed = parse_ps(data("captured/containers/kolla-ovs-podman-ps.json"))
    names = {c.name for c in listed}
    assert {"neutron_dhcp_agent", "nova_libvirt", "openvswitch_vswitchd", f"neutron_dhcp_agent_dnsmasq_qdhcp-{NET}"} <= names
    assert all(c.running for c in listed)
    assert {c.image for c in listed} == {"localhost/oslab-fixture:1"}


def test_a_created_container_is_listed_by_ps_a_and_not_running(data):
    listed = {c.name: c for c in parse_ps(data("captured/containers/kolla-ovs-podman-ps-a.json"))}
    assert listed["neutron_ovn_metadata_agent"].state == "created"
    assert not listed["neutron_ovn_metadata_agent"].running
    assert listed["nova_libvirt"].running


def test_no_container_is_an_empty_list(data):
    assert parse_ps(data("captured/containers/none-podman-ps.json")) == []
    assert parse_ps("") == []
