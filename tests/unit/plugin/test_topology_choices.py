"""Topology assumptions (issue 19 point 7), on devstack's networks as its lib/neutron makes them: ``public``
(flat, external, admin's, not shared), the demo project's ``private``, and ``shared`` (shared by admin). Booting
only where the user may attach, N1 judged against what the network is meant to be (and saying so), the external
network chosen by option or clouds.yaml."""
import pytest
from openstack.network.v2.network import Network

from pytest_oslab import config
from pytest_oslab.checks import core, networks
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.plugin import settings_from
from pytest_oslab.provision.resources import NotFound, attach_refusal, external_network

ADMIN, DEMO = "5a0f1f0e2b7e4a7c8b0f0c2e6d1a9b01", "9d3c8e2f4a1b4c6d8e0f1a2b3c4d5e6f"
PUBLIC = Network(id="3b4b6f2e-7c1a-4f0e-9d6a-2c8e5a1b0f11", name="public", status="ACTIVE", is_shared=False,
                 is_router_external=True, provider_network_type="flat", provider_physical_network="public",
                 mtu=1500, project_id=ADMIN)
PRIVATE = Network(id="8f2d0c4a-1e3b-4a5c-9b7d-6e0f1a2b3c44", name="private", status="ACTIVE", is_shared=False,
                  is_router_external=False, provider_network_type="geneve", mtu=1442, project_id=DEMO)
SHARED = Network(id="c7e1a9b3-5d2f-4e6a-8b0c-1d3e5f7a9b22", name="shared", status="ACTIVE", is_shared=True,
                 is_router_external=False, provider_network_type="geneve", mtu=1442, project_id=ADMIN)
DEVSTACK = [PUBLIC, PRIVATE, SHARED]


def test_a_member_may_boot_on_shared_networks_and_its_own_not_on_admins_public():
    assert attach_refusal(SHARED, DEMO) is None and attach_refusal(PRIVATE, DEMO) is None
    assert attach_refusal(PUBLIC, ADMIN) is None
    assert attach_refusal(PUBLIC, DEMO) == ("network public (3b4b6f2e) is not shared and belongs to another project: "
                                            "this cloud's user cannot boot on it (neutron would answer 403)")


def test_n1_expects_shared_as_the_install_guide_and_says_where_to_say_otherwise():
    with pytest.raises(CheckFailed) as failure:
        networks.check_provider_network(PUBLIC)
    assert "  - shared: expected True (the install guide's provider network; set oslab.provider_network_shared " \
           "in clouds.yaml if this one is meant otherwise), actual False" in str(failure.value)


def test_n1_judges_the_network_as_the_deployer_says_and_reports_it_when_it_holds():
    with core.recorded() as evidence:
        networks.check_provider_network(PUBLIC, shared=False)
    assert ("N1: network public is meant to be not shared", "from oslab.provider_network_shared in clouds.yaml") \
        in [tuple(e) for e in evidence]
    with pytest.raises(CheckFailed, match=r"shared: expected False \(oslab.provider_network_shared in clouds.yaml\), "
                                          r"actual True"):
        networks.check_provider_network(Network(**{**PUBLIC.to_dict(computed=False), "is_shared": True}),
                                        shared=False)


def test_the_external_network_is_the_configured_one_or_the_first_by_name():
    other = Network(id="1e0a", name="ext-b", is_router_external=True, project_id=ADMIN)
    assert external_network(DEVSTACK + [other]).name == "ext-b"
    assert external_network(DEVSTACK + [other], "public").name == "public"
    assert external_network(DEVSTACK, PUBLIC.id).name == "public"
    with pytest.raises(NotFound, match=r"^external network 'shared' \(--oslab-external-network or "
                                       r"oslab.external_network\) is not external \(router:external false\); "
                                       r"external networks: public$"):
        external_network(DEVSTACK, "shared")
    with pytest.raises(NotFound, match="'nope' .* is not visible in this cloud"):
        external_network(DEVSTACK, "nope")


def test_clouds_yaml_says_the_external_network_and_whether_the_provider_network_is_shared():
    oslab = config.OslabConfig.from_entry("devstack", {"external_network": "public", "provider_network_shared": False})
    assert oslab.external_network == "public" and oslab.provider_network_shared is False
    assert config.OslabConfig.from_entry("devstack", {}).provider_network_shared is None
    with pytest.raises(config.ConfigError, match="'oslab.provider_network_shared' must be true or false, not 'no'"):
        config.OslabConfig.from_entry("devstack", {"provider_network_shared": "no"})


def test_the_external_network_option_and_ini_key(pytester):
    pytester.makeini("[pytest]\noslab_external_network = ext-ini\n")
    assert settings_from(pytester.parseconfig()).external_network == "ext-ini"
    assert settings_from(pytester.parseconfig("--oslab-external-network", "public")).external_network == "public"
