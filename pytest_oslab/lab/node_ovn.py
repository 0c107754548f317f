"""A compute node's OVN chassis (the ovn driver): its ovn-controller on the node's own Open vSwitch
(``node_switch.py``), the OVN metadata agent in place of an L2 agent, and os-vif's relay into the node's database.

- The node's Open vSwitch carries the chassis' external_ids (``services.ovn_chassis_ids``): system-id and hostname
  the node's name, ``ovn-remote`` the controller's southbound DB on the controller's management address
  (``services.ovn_remote``: the controller's OVN databases listen there too), ``ovn-encap-ip`` the node's own
  address, which lives on the node's br-underlay (Geneve leaves through the userspace datapath, as vxlan does on
  Open vSwitch). Not ``ovn-cms-options=enable-chassis-as-gw``: the gateways stay on the controller.
- ovn-controller runs as the controller's does (its control socket ``ovn-controller.<pid>.ctl`` in the node's
  private /run/ovn, where the suite's OVN checks look), logging to the node's own log directory.
- The node's chassis in the southbound DB gets the external_ids neutron reads (``host.copy_to_chassis``).
- The OVN metadata agent uses the node's copy of /etc/neutron: the node's Open vSwitch on its 127.0.0.1:6640, the
  controller's southbound DB, nova's metadata API through the node's forwarder (``compute_node.FORWARDED``).
- os-vif's relay (``ovsdb_filter``): each node runs its own, on the node's 127.0.0.1:6639 in front of the node's
  ovsdb-server, since nova-compute on the node plugs VIFs into the node's br-int, which os-vif would otherwise set
  to the kernel datapath on every plug (``ovsdb_filter`` says why); the controller's relay is in the controller's
  network namespace and fronts the controller's database, which the node cannot and must not use.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, List

from . import inifile, node as nodes
from .host import OS_VIF_OVSDB_PORT, OVSDB_PORT, chassis_listing, chassis_missing, chassis_wanted, \
    copy_to_chassis, delete_chassis, ovsdb_map
from .node_switch import RUN as OVS_RUN
from .services import ovn_chassis_ids, ovn_remote, vsctl_set_ids
from .steps import LabError

CONTROLLER = "/usr/bin/ovn-controller"
METADATA_AGENT = "neutron-ovn-metadata-agent"
METADATA_INI = "neutron_ovn_metadata_agent.ini"
RELAY = "pytest_oslab.lab.ovsdb_filter"  # the word of the node's os-vif relay


def external_ids(node: nodes.Node) -> dict:
    """What the node's Open vSwitch carries for its ovn-controller."""
    return ovn_chassis_ids(node.name, ovn_remote(node.lab), node.address)


def configure(neutron: Path, node: nodes.Node) -> None:
    """The node's copy of the OVN metadata agent's configuration (``neutron``: the node's /etc/neutron)."""
    inifile.edit(neutron / METADATA_INI, {"ovs": {"ovsdb_connection": f"tcp:127.0.0.1:{OVSDB_PORT}"},
                                          "ovn": {"ovn_sb_connection": ovn_remote(node.lab)}})


def chassis_daemons(node: nodes.Node) -> List[tuple]:
    """(word, argv, log, namespaces, user) of ovn-controller and os-vif's relay, as ``compute_node.daemons``': after
    the node's switch, before nova-compute (which plugs its guests' VIFs again as it starts)."""
    logs = node.logs
    return [
        (CONTROLLER, [CONTROLLER, f"unix:{OVS_RUN}/db.sock", f"--log-file={logs / 'ovn-controller.log'}"],
         logs / "ovn-controller.out", "-m -u -n -p", ""),
        (RELAY, [sys.executable, "-m", RELAY, str(OS_VIF_OVSDB_PORT), str(OVSDB_PORT), "netdev"],
         logs / "os-vif-ovsdb-relay.log", "-m -u -n -p", ""),
    ]


def metadata_agent(node: nodes.Node) -> tuple:
    """The OVN metadata agent, where the other drivers have their L2 agent."""
    return (f"/usr/bin/{METADATA_AGENT}",
            [f"/usr/bin/{METADATA_AGENT}", "--config-file", "/etc/neutron/neutron.conf",
             "--config-file", f"/etc/neutron/{METADATA_INI}", "--log-file", f"/var/log/neutron/{METADATA_AGENT}.log"],
            node.logs / f"{METADATA_AGENT}.out", "-m -u -n -p", "")


def after_database(node: nodes.Node, vsctl: Callable[..., str]) -> List[str]:
    """The chassis' external_ids set in the node's Open vSwitch (``vsctl``: its ovs-vsctl), before ovn-controller
    starts."""
    vsctl("--no-wait", *vsctl_set_ids(external_ids(node)))
    return []


def after_controller(node: nodes.Node) -> List[str]:
    """The node's chassis registered by its ovn-controller, with the external_ids neutron reads."""
    log = node.logs / "ovn-controller.log"
    try:
        return copy_to_chassis(node.name, chassis_wanted(gateway=False), log)
    except LabError as exc:
        raise LabError(f"node {node.name}: its ovn-controller, on {ovn_remote(node.lab)}, did not register its chassis "
                       f"(the controller's southbound DB listens there once {node.lab.tunnel_ip} exists: `ss -ltn` on "
                       f"the controller; its ovsdb-server log {node.lab.logs / 'ovn-sbdb.log'}): "
                       f"{str(exc).removesuffix(f' (log: {log})')}",
                       log=str(log)) from exc


def ids_missing(node: nodes.Node, listing: str) -> List[str]:
    """What of ``external_ids`` the node's Open vSwitch lacks (``listing``: its ``ovs-vsctl --format=json
    --columns=external_ids list Open_vSwitch``), each with the value found and the one expected."""
    try:
        have = ovsdb_map(json.loads(listing)["data"][0][0])
    except (ValueError, KeyError, IndexError, TypeError):
        return ["its Open vSwitch database does not answer (ovs-vsctl list Open_vSwitch)"]
    return [f"Open vSwitch external_ids:{k} is {have.get(k)!r}, expected {v!r}"
            for k, v in external_ids(node).items() if have.get(k) != v]


def missing(node: nodes.Node, vsctl: Callable[..., str]) -> List[str]:
    """What of the node's chassis is not as ``up`` makes it: its Open vSwitch's external_ids and its Chassis'."""
    found = ids_missing(node, vsctl("--format=json", "--columns=external_ids", "list", "Open_vSwitch", check=False))
    found += chassis_missing(node.name, chassis_wanted(gateway=False), chassis_listing())
    return [f"node {node.name}: {line} (log: {node.logs / 'ovn-controller.log'})" for line in found]


def forget(node: nodes.Node) -> List[str]:
    """The node's chassis deleted from the controller's southbound DB (the node is down), so that no chassis keeps
    Geneve tunnels to it nor neutron an agent of it; nothing when the database does not answer."""
    return delete_chassis(node.name)
