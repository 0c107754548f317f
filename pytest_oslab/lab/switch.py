"""Switching an existing lab to another ML2 mechanism driver (``oslab lab up --driver X``).

Networking is rebuilt cleanly, and the old driver takes its own networks down: its control plane is brought up
as it was (its configuration, its OVN databases), then the lab's servers, floating IPs, routers and networks
are deleted through it (the resources step makes the networks again on the new driver). Then the compute nodes
are ended (their namespaces take their devices, bridges and switches with them; their Open vSwitch databases
are removed: `--nodes` brings them back on the new driver), the old driver's agents are stopped and their agent
records deleted, their devices, bridges and namespaces removed, and
neutron-server and nova-compute stopped, to be started again on the new configuration (nova-compute forgets
its cached list of network extensions).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, List, Optional

from . import compute_node, daemons, node as nodes, node_ovn, node_switch, plumbing
from .host import PROVIDER_BRIDGE, PUBLIC_BRIDGE, UNDERLAY_BRIDGE, remove_neutron_devices, sh, wanted_plumbing
from .identity import admin_connection
from .steps import LabError, Progress, Step, run_steps
from .services import TAP_GUARD, all_daemons, every_daemon, userspace_tso

NETWORK_AGENTS = ("neutron-dhcp-agent", "neutron-metadata-agent", "neutron-l3-agent",
                  "neutron-linuxbridge-agent", "neutron-openvswitch-agent", "neutron-ovn-metadata-agent",
                  "os-vif-ovsdb-relay", "ovn-controller", "ovn-northd", "ovn-nbdb", "ovn-sbdb")


def recorded(lab) -> Optional[str]:
    path = lab.state / "driver"
    return path.read_text().strip() if path.exists() else None


def record(lab) -> None:
    (lab.state / "driver").write_text(_wanted(lab) + "\n")


def _wanted(lab) -> str:
    return lab.driver if lab.driver == "linuxbridge" else f"{lab.driver} {lab.firewall}"


def previous(lab):
    """The lab as it was last brought up: this one with the recorded driver and firewall."""
    words = (recorded(lab) or "").split()
    return replace(lab, driver=words[0], firewall=words[1] if len(words) > 1 else lab.firewall)


def _delete_workload(conn) -> None:
    """Every server, floating IP, router and network of the lab's cloud, in dependency order."""
    compute, network = conn.compute, conn.network
    servers = list(compute.servers(all_projects=True))
    for server in servers:
        compute.delete_server(server)
    for server in servers:
        compute.wait_for_delete(server, wait=300)
    for fip in network.ips():
        network.delete_ip(fip)
    for router in network.routers():
        for port in network.ports(device_id=router.id, device_owner="network:router_interface"):
            network.remove_interface_from_router(router, port_id=port.id)
        network.update_router(router, external_gateway_info={})
        network.delete_router(router)
    for net in network.networks():
        network.delete_network(net)


class DriverSwitchStep(Step):
    """Done when the lab runs the requested driver (a new lab has nothing to switch)."""

    name = "driver-switch"

    def __init__(self, control_plane: Callable[[object], List[Step]]):
        self.control_plane = control_plane

    def done(self, lab) -> bool:
        old = recorded(lab)
        return old is None or old == _wanted(lab)

    def run(self, lab) -> None:
        old = previous(lab)
        old_driver = old.driver
        try:
            run_steps(self.control_plane(old), old, Progress(prefix=f"  ({old_driver}) "))
            _delete_workload(admin_connection(old))
        except Exception as exc:
            raise LabError(f"the {_wanted(old)} lab could not delete its networks ({exc}); "
                           "`oslab lab down --purge` removes the lab and all it holds") from exc
        conn = admin_connection(lab)
        for node in nodes.made(lab):
            if compute_node.is_compute(node):
                nodes.down(node)
                node_switch.forget(node)  # its OVS database: bridges, system-id and OVN's external_ids
                if old_driver == "ovn":  # the old southbound DB still answers (the old control plane runs)
                    node_ovn.forget(node)
        for d in every_daemon(lab):
            if d.name in NETWORK_AGENTS:
                daemons.stop(d, lab.pids)
        # the agents of ML2/OVS and Linux bridge, gone with their driver. OVN's agents are its chassis and go with
        # its mechanism driver, which lists them from the southbound database, stopped by now: neutron-server
        # waited 180 s for it and answered 500, so after OVN none are asked for
        for agent in ([] if old_driver == "ovn" else conn.network.agents()):
            conn.network.delete_agent(agent)
        remove_neutron_devices()
        if old_driver in ("openvswitch", "ovn") and lab.driver == "linuxbridge":
            for bridge in ("br-int", "br-tun", PROVIDER_BRIDGE, PUBLIC_BRIDGE, UNDERLAY_BRIDGE):
                sh("ovs-vsctl", "--timeout=20", "--if-exists", "del-br", bridge, check=False)
            for d in every_daemon(lab):
                if d.name in ("ovs-vswitchd", "ovsdb-server", TAP_GUARD):
                    daemons.stop(d, lab.pids)
            plumbing.ensure(wanted_plumbing(lab))  # the tunnel address back on its veth
        elif lab.driver != "linuxbridge":
            # ports of the old datapath in br-int would point at devices that are gone
            stale = ["br-int", "br-tun"]
            if userspace_tso(old_driver) != userspace_tso(lab.driver):
                # their own interfaces are taps that outlive ovs-vswitchd, with the offloads the old one set: left
                # from OVN, br-underlay handed TCP with partial checksums to ML2/OVS (a node's sshd dropped the
                # controller's SYNs as bad); made again by the new one (ovs-bridges, the tunnel address with it)
                stale += [PROVIDER_BRIDGE, PUBLIC_BRIDGE, UNDERLAY_BRIDGE]
            for bridge in stale:
                sh("ovs-vsctl", "--timeout=20", "--if-exists", "del-br", bridge, check=False)
            for d in every_daemon(lab):  # started again on the new driver's userspace TSO (read as it starts)
                if d.name == "ovs-vswitchd":
                    daemons.stop(d, lab.pids)
        current = {d.name: d for d in all_daemons(lab)}
        for name in ("neutron-server", "nova-compute"):
            daemons.stop(current[name], lab.pids)
        record(lab)
