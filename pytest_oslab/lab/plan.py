"""The order in which the lab is brought up: every step checks its own result and can be re-run."""
from __future__ import annotations

from typing import List

from .configs import ConfigStep
from .databases import DatabasesStep, KeystoneSetupStep, SchemaStep
from .host import (host_tools, host_tools_done, ovn_chassis, ovn_chassis_done, ovs_bridges, ovs_bridges_done,
                   make_plumbing, plumbing_done)
from .identity import CloudsYamlStep, IdentityStep
from .image import GuestImageStep
from .packages import PackagesStep
from .resources import ComputeReadyStep, DhcpServedStep, ResourcesStep
from .services import (DaemonsStep, compute_and_agents, identity_api, infrastructure, neutron_server, node_access,
                       openstack_apis, ovn_controller, ovn_databases, virtual_switch)
from .switch import DriverSwitchStep
from .steps import FuncStep, Step


def control_plane(lab) -> List[Step]:
    """The steps up to the lab's APIs answering, with its driver's configuration and databases."""
    return [
        ConfigStep(),
        DaemonsStep("infrastructure", infrastructure),
        DatabasesStep(),
        SchemaStep(),
        KeystoneSetupStep(),
        DaemonsStep("keystone", identity_api),
        IdentityStep(),
        DaemonsStep("ovn-databases", ovn_databases),
        DaemonsStep("api-services", openstack_apis),
    ]


def steps(lab) -> List[Step]:
    image = GuestImageStep()
    return [
        PackagesStep(lab.driver),
        FuncStep("host-tools", host_tools, host_tools_done),
        FuncStep("network-plumbing", make_plumbing, plumbing_done),
        # before anything is configured for the new driver: the old one's networks are deleted by the old
        # one's neutron-server (another mechanism driver's server cannot, e.g. ML2/OVN routers lack the
        # extra attributes the L3 agent plugin reads)
        DriverSwitchStep(control_plane),
        *control_plane(lab),
        DaemonsStep("virtual-switch", virtual_switch),
        FuncStep("ovs-bridges", ovs_bridges, ovs_bridges_done),
        DaemonsStep("ovn-controller", ovn_controller),
        FuncStep("ovn-chassis", ovn_chassis, ovn_chassis_done),
        DaemonsStep("neutron-server", neutron_server),
        DaemonsStep("compute-and-agents", compute_and_agents),
        image,
        ComputeReadyStep(),
        ResourcesStep(image),
        DhcpServedStep(),
        DaemonsStep("node-access", node_access),
        CloudsYamlStep(),
    ]
