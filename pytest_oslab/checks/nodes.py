"""A node seen through the facts parsers: each fact is a method over one command, and every command is evidence.

``NodeFacts(host, name)`` wraps a testinfra host (anything with ``run(command)`` returning ``rc``/``stdout``/
``stderr``) and the name the API gives the node. ``node.links("qdhcp-…")["ns-1234"].mtu`` reads like the fact;
the command and its output are attached to the running test as it goes (``core.attach``).

The OVS and OVN tools (``ovs-vsctl``, ``ovs-ofctl``, ``ovn-nbctl``, ``ovn-sbctl``) wait for their database or
switch as long as it takes; each is given its own ``--timeout=N``, a little under the node's command bound
(--oslab-command-timeout), so a wedged database is told by the tool itself before the bound stops the command.
"""
from __future__ import annotations

import shlex
import re
from typing import Dict, List, Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import CheckFailed, attach
from pytest_oslab.facts import (bridge, dnsmasq, iproute, iptables, libvirt, neigh, nova_status, openflow, ovn, ovs,
                                processes, sockets)


OVS_TOOLS = ("ovs-vsctl", "ovs-ofctl", "ovn-nbctl", "ovn-sbctl")
DEFAULT_BOUND = 60.0  # --oslab-command-timeout's default, for a host that does not say its bound


def tool_timeout(bound: float) -> int:
    """The ``--timeout`` of an OVS/OVN tool under a command bound of ``bound`` seconds: 5 s (or a fifth) less."""
    return max(1, int(bound - min(5.0, bound / 5)))


def with_tool_timeout(command: str, bound: float) -> str:
    """``command`` with ``--timeout=N`` after the OVS/OVN tool it starts with (other commands as they are)."""
    tool, _, rest = command.partition(" ")
    if tool not in OVS_TOOLS or re.search(r"(^| )--timeout[= ]", rest):
        return command
    return f"{tool} --timeout={tool_timeout(bound)}" + (f" {rest}" if rest else "")


class NodeFacts:
    def __init__(self, host, name: str):
        self.host = host
        self.name = name
        backend = getattr(host, "backend", None)
        self.bound = float(getattr(backend, "bound", None) or DEFAULT_BOUND)  # the access layer's bound

    def __repr__(self) -> str:
        return f"NodeFacts({self.name!r})"

    # --- commands ----------------------------------------------------------------------------------------------
    def run(self, command: str, ok: bool = True, quiet: bool = False):
        """Run ``command`` on the node and keep its output as evidence; CheckFailed when it fails and ``ok``."""
        command = with_tool_timeout(command, self.bound)
        result = self.host.run(command)
        rc, out, err = result.rc, result.stdout or "", result.stderr or ""
        if not quiet:
            text = out if rc == 0 else f"{out}{err}\n(exit status {rc})"
            placed = getattr(self.host, "placed", None)  # the node's deployment may run it elsewhere (a container)
            ran = placed(command) if placed else command
            attach(f"{self.name}: {command}", text if ran == command else f"(run as: {ran})\n{text}")
        if ok and rc != 0:
            first = (err.strip().splitlines() or out.strip().splitlines() or [""])[-1]
            raise CheckFailed(f"node {self.name}: `{command}` exited {rc}: {first}")
        return result

    def output(self, command: str) -> str:
        return self.run(command).stdout

    @staticmethod
    def _in(namespace: Optional[str], command: str) -> str:
        return f"ip netns exec {shlex.quote(namespace)} {command}" if namespace else command

    # --- kernel networking -------------------------------------------------------------------------------------
    def links(self, namespace: Optional[str] = None) -> Dict[str, iproute.Link]:
        """Every link with its details and addresses: ``ip -j -d addr show`` (in ``namespace`` when given)."""
        ns = f"-n {shlex.quote(namespace)} " if namespace else ""
        return iproute.parse_links(self.output(f"ip {ns}-j -d addr show"))

    def routes(self, namespace: Optional[str] = None) -> List[iproute.Route]:
        ns = f"-n {shlex.quote(namespace)} " if namespace else ""
        return iproute.parse_routes(self.output(f"ip {ns}-j route show"))

    def namespaces(self) -> List[str]:
        """The named network namespaces: ``ip -j netns`` (nothing printed when there is none)."""
        return iproute.parse_netns(self.output("ip -j netns"))

    def neighbours(self, namespace: Optional[str] = None) -> List[neigh.Neighbour]:
        ns = f"-n {shlex.quote(namespace)} " if namespace else ""
        return neigh.parse_neigh(self.output(f"ip {ns}-j neigh show"))

    def arping(self, namespace: Optional[str], device: str, ip: str, count: int = 3) -> str:
        """``arping`` from a namespace (evidence for triage; never fails on no answer)."""
        return self.run(self._in(namespace, f"arping -c {count} -w {count + 1} -I {shlex.quote(device)} {ip}"),
                        ok=False).stdout

    def link_counters(self, device: str, namespace: Optional[str] = None) -> str:
        ns = f"-n {shlex.quote(namespace)} " if namespace else ""
        return self.run(f"ip {ns}-s -d link show dev {shlex.quote(device)}", ok=False).stdout

    def fdb(self) -> List[bridge.FdbEntry]:
        """The forwarding database of every bridge and vxlan device: ``bridge -j fdb show``."""
        return bridge.parse_fdb(self.output("bridge -j fdb show"))

    def sockets(self, namespace: Optional[str] = None) -> List[sockets.Socket]:
        return sockets.parse_ss(self.output(self._in(namespace, "ss -Htulpn")))

    def iptables(self) -> iptables.Ruleset:
        return iptables.parse_iptables_save(self.output("iptables-save -t filter"))

    # --- files and processes -----------------------------------------------------------------------------------
    def read(self, path: str, missing_ok: bool = False) -> Optional[str]:
        """The text of ``path``; None when it does not exist and ``missing_ok``."""
        quoted = shlex.quote(path)
        result = self.run(f"cat {quoted}", ok=not missing_ok)
        if result.rc != 0:
            return None
        return result.stdout

    def processes(self, program: Optional[str] = None) -> List[processes.Process]:
        """``ps`` of every process, or of those running ``program`` only (``ps -C``: none is no error)."""
        if program is None:
            return processes.parse_ps(self.output("ps -ww -eo pid,args"))
        return processes.parse_ps(self.run(f"ps -ww -C {shlex.quote(program)} -o pid,args", ok=False).stdout)

    def path(self, path: str) -> str:
        """``path`` as the node's processes name it (neutron's state path is the deployment's: access layer)."""
        place = getattr(self.host, "path", None)
        return place(path) if place else path

    def deployment_hint(self) -> str:
        """Why a state the packages' layout names may be missing here: 'the deployment looks containerised ...'
        when the node lists a deployment's containers while taken for packages on the host; else ''."""
        hint = getattr(self.host, "looks_containerised", None)
        return hint() if hint else ""

    def dnsmasq_of(self, network_id: str) -> List[processes.Process]:
        """The dnsmasq processes serving ``network_id`` (their files live under /var/lib/neutron/dhcp/<net>/)."""
        return processes.find(self.processes("dnsmasq"), "dnsmasq", self.path(names.dhcp_dir(network_id)) + "/")

    def dnsmasq_command(self, process: processes.Process) -> dnsmasq.DnsmasqCommand:
        return dnsmasq.parse_cmdline(process.args)

    def dnsmasq(self, network) -> "DnsmasqFiles":
        """The files neutron's DHCP agent writes for dnsmasq for ``network`` (a network or its id) on this node:
        ``node.dnsmasq(network).hosts``, ``.addn_hosts``, ``.leases``, ``.interface``, ``.opts``."""
        return DnsmasqFiles(self, getattr(network, "id", network))

    def tap(self, port) -> Optional[iproute.Link]:
        """The port's tap (``tap`` + its id[:11]) in the root namespace, None when it is not there."""
        return self.links().get(names.tap(getattr(port, "id", port)))

    # --- libvirt, OVS, nova ------------------------------------------------------------------------------------
    def domain(self, name: str) -> libvirt.Domain:
        return libvirt.parse_domain_xml(self.output(f"virsh dumpxml {shlex.quote(name)}"))

    def domains(self) -> List[libvirt.ListedDomain]:
        """Every libvirt domain, running or not: ``virsh list --all``."""
        return libvirt.parse_virsh_list(self.output("virsh list --all"))

    def domain_state(self, name: str) -> str:
        return self.output(f"virsh domstate {shlex.quote(name)}").strip()

    def ovs_bridges(self) -> List[ovs.Bridge]:
        return ovs.parse_bridges(self.output("ovs-vsctl --format=json list Bridge"))

    def ovs_ports(self) -> List[ovs.Port]:
        return ovs.parse_ports(self.output("ovs-vsctl --format=json list Port"))

    def ovs_interfaces(self) -> List[ovs.Interface]:
        return ovs.parse_interfaces(self.output("ovs-vsctl --format=json list Interface"))

    def flows(self, bridge: str = "br-int") -> List[openflow.Flow]:
        """The bridge's OpenFlow flows (``ovs-ofctl dump-flows``): the native OVS firewall's rules live there."""
        return openflow.parse_dump_flows(self.output(f"ovs-ofctl dump-flows {shlex.quote(bridge)}"))

    def sb_chassis(self, db: str = "") -> List[ovn.Chassis]:
        """The OVN southbound DB's chassis (``db``: ovn-sbctl options, `` --db=...``)."""
        return ovn.parse_chassis(self.output(f"ovn-sbctl{db} --format=json list Chassis"))

    def sb_encaps(self, db: str = "") -> List[ovn.Encap]:
        return ovn.parse_encaps(self.output(f"ovn-sbctl{db} --format=json list Encap"))

    def sb_port_bindings(self, db: str = "") -> List[ovn.PortBinding]:
        return ovn.parse_port_bindings(self.output(f"ovn-sbctl{db} --format=json list Port_Binding"))

    def ovs_controllers(self) -> List[ovs.Target]:
        return ovs.parse_targets(self.output("ovs-vsctl --format=json list Controller"))

    def upgrade_check(self) -> List[nova_status.UpgradeCheck]:
        """``nova-status upgrade check`` (it exits 1 on warnings, 2 on failures: the table says which).

        The table, not ``--json``: oslo.upgradecheck's ``--json`` is offered by ``neutron-status`` but not by the
        ``nova-status`` of Zed's nova (its ``upgrade check`` takes no option), and nova's is the check C2 names."""
        result = self.run("nova-status upgrade check", ok=False)
        if result.rc not in (0, 1, 2):
            raise CheckFailed(f"node {self.name}: `nova-status upgrade check` exited {result.rc}: "
                              f"{(result.stderr.strip().splitlines() or [''])[-1]}")
        return nova_status.parse_upgrade_check(result.stdout)


class DnsmasqFiles:
    """The files of one network's dnsmasq under ``/var/lib/neutron/dhcp/<network id>/`` on a node, each read (a
    ``cat`` kept as evidence) and parsed when asked for. ``hosts`` and ``addn_hosts`` must be there (a missing one
    fails the check); ``leases`` may not be yet (no lease); ``interface`` and ``opts`` are None when absent."""

    def __init__(self, node: NodeFacts, network_id: str):
        self.node = node
        self.network_id = network_id
        self.directory = names.dhcp_dir(network_id)

    def path(self, name: str) -> str:
        return f"{self.directory}/{name}"

    @property
    def hosts(self) -> List[dnsmasq.HostEntry]:
        return dnsmasq.parse_hosts(self.node.read(self.path("host")) or "")

    @property
    def addn_hosts(self) -> List[dnsmasq.AddnHost]:
        return dnsmasq.parse_addn_hosts(self.node.read(self.path("addn_hosts")) or "")

    @property
    def leases(self) -> List[dnsmasq.Lease]:
        return dnsmasq.parse_leases(self.node.read(self.path("leases"), missing_ok=True) or "")

    @property
    def interface(self) -> Optional[str]:
        """The device dnsmasq listens on, as the file names it (None: no file)."""
        text = self.node.read(self.path("interface"), missing_ok=True)
        return None if text is None else dnsmasq.parse_interface_file(text)

    @property
    def opts(self) -> Optional[List[dnsmasq.DhcpOption]]:
        """The DHCP options of the ``opts`` file (None: no file)."""
        text = self.node.read(self.path("opts"), missing_ok=True)
        return None if text is None else dnsmasq.parse_opts(text)

    @property
    def processes(self) -> List[processes.Process]:
        """The dnsmasq processes serving the network."""
        return self.node.dnsmasq_of(self.network_id)


def facts_of(node, name: Optional[str] = None) -> NodeFacts:
    """``node`` as NodeFacts: NodeFacts stay as they are; a testinfra host is wrapped (named by ``name``)."""
    if isinstance(node, NodeFacts):
        return node
    return NodeFacts(node, name or getattr(getattr(node, "backend", None), "hostname", None) or "node")
