"""ML2/OVN's equivalents of the DHCP-agent and OVS-agent facts: the port's logical switch port with its MAC and
IPs, bound (``up``) to the chassis of the compute node that runs the server, its tap in ``br-int`` carrying the
port id, and the ``ovnmeta-<net>`` namespace on that node holding 169.254.169.254.

The databases are read on the compute node: the southbound one through the ``ovn-remote`` its OVS database
names, the northbound one beside it (see ``databases``).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import List, Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, wait_until
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import ovn, ovs, sockets


def databases(node: NodeFacts):
    """(system-id, ovn-nbctl options, ovn-sbctl options) of a chassis, from its OVS database's external_ids: the
    southbound DB its ovn-controller uses (``ovn-remote``) and the northbound DB beside it (same host, port 6641);
    without ``ovn-remote`` the tools' own defaults (local sockets)."""
    record = ovs.parse_records(node.output("ovs-vsctl --format=json list Open_vSwitch"))[0]
    external = record.get("external_ids") or {}
    remote = external.get("ovn-remote")
    if not remote:
        return external.get("system-id"), "", ""
    north = ",".join(r.rsplit(":", 1)[0] + ":6641" for r in remote.split(","))
    return external.get("system-id"), f" --db={shlex.quote(north)}", f" --db={shlex.quote(remote)}"


OVN_RUNDIR = "/var/run/ovn"   # where ovn-controller makes its control socket, ovn-controller.<pid>.ctl
ANSWER_WITHIN = 5             # seconds ovn-controller has to answer `ovn-appctl`: a live one answers at once
TIMED_OUT = 128 + 14          # ovn-appctl's exit status when its --timeout passes (its own SIGALRM)


@dataclass(frozen=True)
class ControllerState:
    """What one ovn-controller process on a node says of itself (``ovn-appctl connection-status``)."""

    pid: int
    stat: str                 # ps's STAT: "Ssl" running or sleeping, "Tsl" stopped (SIGSTOP)
    answered: Optional[bool]  # None: it could not be asked (no ovn-appctl on the node: e.g. only in a container)
    answer: str               # "connected", "not connected", or why there was no answer

    @property
    def stopped(self) -> bool:
        return self.stat.startswith("T")


def controller_states(node: NodeFacts) -> List[ControllerState]:
    """Each ovn-controller on ``node`` asked for its connection to the southbound DB through its control socket
    (``<OVN rundir>/ovn-controller.<pid>.ctl``), bounded: a frozen (stopped) one takes the request and never
    answers, while the API may still call its agent alive for minutes.

    When some of them have their control socket in the node's OVN rundir, only those are the node's: a node sees
    the processes of PID namespaces below its own (another node's on the same machine, a container's) whose
    sockets live in their own /run."""
    processes = node.processes("ovn-controller")
    sockets = set(node.run(f"ls {OVN_RUNDIR}", ok=False).stdout.split())
    own = [p for p in processes if f"ovn-controller.{p.pid}.ctl" in sockets]
    states = []
    for process in own or processes:
        stat = node.run(f"ps -o stat= -p {process.pid}", ok=False).stdout.strip() or "?"
        result = node.run(f"ovn-appctl --timeout={ANSWER_WITHIN} -t {OVN_RUNDIR}/ovn-controller.{process.pid}.ctl "
                          f"connection-status", ok=False)
        if result.rc == 0:
            states.append(ControllerState(process.pid, stat, True, result.stdout.strip()))
            continue
        error = (result.stderr.strip().splitlines() or [f"exit status {result.rc}"])[-1]
        if result.rc == TIMED_OUT:
            error = f"none within {ANSWER_WITHIN}s"
        states.append(ControllerState(process.pid, stat, None if result.rc == 127 else False, error))
    return states


def logical_switch_port(c: Check, node: NodeFacts, nb: str, port) -> ovn.LogicalSwitchPort:
    """The port's logical switch port (``nb``: the ovn-nbctl options of ``databases``); fails ``c`` when the
    northbound DB lacks it."""
    lsp = next((p for p in ovn.parse_logical_switch_ports(
        node.output(f"ovn-nbctl{nb} --format=json list Logical_Switch_Port")) if p.name == port.id), None)
    if lsp is None:
        c.fail(f"logical switch port {port.id}: expected in the northbound DB, actual absent")
    return lsp


def check_port_bound(node: NodeFacts, server, port, network) -> None:
    """I8 (OVN): the port's logical switch port in ``neutron-<net>`` has its MAC and IPs and is up, its
    Port_Binding is on the chassis of this compute node, and its tap is a ``br-int`` port carrying the port id."""
    tap = names.tap(port.id)
    with Check("the port's logical switch port is up and bound to the compute node's chassis",
               Where(server=server, port=port, network=network, device=tap, node=node.name)) as c:
        system_id, nb, sb = databases(node)
        lsp = logical_switch_port(c, node, nb, port)
        c.expect("logical switch port MAC", port.mac_address.lower(), (lsp.mac or "").lower(), "port MAC")
        c.expect("logical switch port IPs", sorted(ip for ip, _ in names.ipv4_fixed_ips(port)),
                 sorted(ip for ip in lsp.ips if ":" not in ip), "port fixed IPs")
        c.expect("logical switch port up", True, lsp.up)
        chassis = {ch.uuid: ch for ch in ovn.parse_chassis(node.output(f"ovn-sbctl{sb} --format=json list Chassis"))}
        bindings = ovn.parse_port_bindings(node.output(f"ovn-sbctl{sb} --format=json list Port_Binding"))
        binding = next((b for b in bindings if b.logical_port == port.id), None)
        if c.require(binding is not None, f"Port_Binding of {port.id}: expected, actual absent"):
            bound = chassis.get(binding.chassis)
            c.expect("bound chassis", system_id, bound.name if bound else None, f"system-id of node {node.name}")
        interfaces = {i.name: i for i in ovs.parse_interfaces(node.output("ovs-vsctl --format=json list Interface"))}
        iface = interfaces.get(tap)
        if c.require(iface is not None, f"{tap}: expected an OVS interface, actual absent"):
            c.expect(f"{tap} external_ids:iface-id", port.id, iface.iface_id)


def check_metadata_namespace(node: NodeFacts, network, metadata_ips: Optional[List[str]] = None) -> None:
    """N5/N7 (OVN): ``ovnmeta-<net>`` exists on a compute node with ports of the network, and its device holds
    169.254.169.254 and the network's metadata port IP(s) (``metadata_ips``, from the API's ``network:distributed``
    port)."""
    namespace = names.ovnmeta(network.id)
    with Check("the OVN metadata namespace serves the network on the node",
               Where(network=network, namespace=namespace, node=node.name)) as c:
        present = node.namespaces()
        if namespace not in present:
            c.fail(f"namespace {namespace}: expected in `ip netns`, actual absent")
        addresses = sorted(str(a) for link in node.links(namespace).values() for a in link.ipv4()
                           if not a.ip.startswith("127."))
        c.require(any(a.startswith(names.METADATA_IP + "/") for a in addresses),
                  f"address {names.METADATA_IP}: expected in {namespace}, actual {', '.join(addresses) or 'none'}")
        for ip in metadata_ips or []:
            c.require(any(a.split("/")[0] == ip for a in addresses),
                      f"address {ip} (metadata port): expected in {namespace}, actual {', '.join(addresses) or 'none'}")


def check_metadata_proxy(node: NodeFacts, network, timeout: float = 0) -> None:
    """N9 (OVN): in ``ovnmeta-<net>`` the metadata proxy (the OVN metadata agent's haproxy) listens on TCP
    169.254.169.254:80 (within ``timeout`` seconds: the agent starts it once a port of the network is bound on the
    node)."""
    namespace = names.ovnmeta(network.id)

    def probe():
        with Check("the metadata proxy listens on 169.254.169.254:80 in the OVN metadata namespace",
                   Where(network=network, namespace=namespace, node=node.name)) as c:
            if namespace not in node.namespaces():
                c.fail(f"namespace {namespace}: expected in `ip netns`, actual absent")
            found = sockets.listening(node.sockets(namespace), "tcp", 80, names.METADATA_IP)
            c.require(found, f"TCP {names.METADATA_IP}:80: expected the metadata proxy listening in {namespace}, "
                             f"actual nothing")
    wait_until(probe, timeout)


def check_dhcp_options(node: NodeFacts, network, subnet, port) -> None:
    """N10/I2 (OVN): OVN answers the port's DHCP itself: the subnet's DHCP_Options row (``external_ids:subnet_id``)
    has its CIDR, the gateway as ``router``, the network's MTU and a lease time, and the port's logical switch port
    points its ``dhcpv4_options`` at that row."""
    with Check("OVN's DHCP options of the subnet serve the port with its gateway and MTU",
               Where(port=port, network=network, node=node.name)) as c:
        _, nb, _ = databases(node)
        rows = [o for o in ovn.parse_dhcp_options(node.output(f"ovn-nbctl{nb} --format=json list DHCP_Options"))
                if o.subnet_id == subnet.id and ":" not in o.cidr]
        if len(rows) != 1:
            c.fail(f"DHCP_Options of subnet {subnet.id}: expected one row, actual {len(rows)}")
        row = rows[0]
        c.expect("DHCP_Options cidr", subnet.cidr, row.cidr, "subnet CIDR")
        if subnet.gateway_ip:
            c.expect("DHCP_Options router", subnet.gateway_ip, row.options.get("router"), "subnet gateway")
        c.expect("DHCP_Options mtu", str(network.mtu), row.options.get("mtu"), "network MTU")
        c.require(row.options.get("lease_time"), f"DHCP_Options {row.uuid[:8]} lease_time: expected, actual none")
        lsp = logical_switch_port(c, node, nb, port)
        c.expect("logical switch port dhcpv4_options", row.uuid, lsp.dhcpv4_options,
                 f"subnet {subnet.name or subnet.id}")
