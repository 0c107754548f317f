"""Control plane (seed 002: ``openstack compute service list``, ``nova-status upgrade check``,
``openstack network agent list``; and what "Launch an instance" needs first: image, flavor, keypair, rules)."""
import pytest

from pytest_oslab.checks import control_plane, ovn

pytestmark = pytest.mark.oslab


@pytest.mark.fact("C1")
@pytest.mark.admin
def test_every_compute_service_is_enabled_and_up(admin_cloud):
    control_plane.check_compute_services(admin_cloud.compute.services())


@pytest.mark.fact("C2")
@pytest.mark.admin
def test_nova_status_upgrade_check_reports_success(admin_cloud, node_facts):
    """Run on a node of the nova-conductor service (a controller), where nova-status reads nova.conf."""
    services = list(admin_cloud.compute.services())
    hosts = sorted({s.host for s in services if s.binary == "nova-conductor"})
    if not hosts:
        pytest.fail("no nova-conductor service is listed: nowhere to run nova-status", pytrace=False)
    control_plane.check_upgrade_check(node_facts(hosts[0]), services)


@pytest.mark.fact("C3")
@pytest.mark.admin
def test_every_network_agent_is_alive_and_admin_up(admin_cloud, capabilities, node_facts):
    """On ML2/OVN, each chassis' ovn-controller is also asked on its node (the API's word on OVN agents lags)."""
    agents = list(admin_cloud.network.agents())
    control_plane.check_network_agents(agents, capabilities.compute_hosts, capabilities.mechanism_drivers)
    if capabilities.driver == "ovn":
        hosts = {a.host for a in agents if a.agent_type.startswith("OVN Controller")}
        control_plane.check_ovn_controllers_answer(agents, {h: ovn.controller_states(node_facts(h)) for h in hosts})


@pytest.mark.fact("C4")
def test_the_image_to_boot_is_active(image):
    control_plane.check_image_active(image)


@pytest.mark.fact("C4")
def test_the_flavor_fits_the_image(flavor, image):
    control_plane.check_flavor_fits(flavor, image)


@pytest.mark.fact("C4")
def test_the_suites_keypair_is_registered(cloud, keypair):
    control_plane.check_keypair_owned(cloud.compute.keypairs(), keypair.name)


@pytest.mark.fact("C4")
def test_the_suites_security_group_lets_icmp_and_ssh_in(cloud, security_group):
    control_plane.check_group_allows_icmp_and_ssh(
        security_group, cloud.network.security_group_rules(security_group_id=security_group.id))


@pytest.mark.fact("C4")
def test_the_default_security_group_holds_its_default_rules(cloud):
    project = cloud.current_project_id
    groups = list(cloud.network.security_groups(name="default", project_id=project))
    if not groups:
        pytest.fail(f"project {project} has no 'default' security group", pytrace=False)
    group = groups[0]
    control_plane.check_default_group(group, cloud.network.security_group_rules(security_group_id=group.id))
