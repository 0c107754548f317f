"""One run's state in one process: settings, connections, what it created, and its open sessions to machines.

The plugin's fixtures are thin wrappers over this object. Everything is made lazily on first use and kept for the
run: the cloud connections, the capabilities, one testinfra host per node, one SSH session per guest. ``close``
(at session end, also after Ctrl-C) closes the sessions and deletes every resource the run created, newest first.
"""
from __future__ import annotations

import ipaddress
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from pytest_oslab import config, evidence
from pytest_oslab.access import deployment, guests
from pytest_oslab.access.inventory import Inventory, InventoryError, Node
from pytest_oslab.access.nodes import NodeError, NodePool
from pytest_oslab.checks import names, triage
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.cloud import capabilities as caps_mod
from pytest_oslab.cloud.connection import connect, is_admin
from pytest_oslab.cloud.errors import CloudError, describe
from pytest_oslab.facts import iproute
from pytest_oslab.provision.naming import Naming
from pytest_oslab.provision.resources import Provisioner, external_network
from pytest_oslab.provision.stack import ResourceStack


NAMESPACE_WAIT = 60.0  # seconds a guest's namespace may take to appear on a node (OVN: once its port is bound)
# a router's ports on a network it routes (legacy, distributed, HA)
ROUTER_INTERFACE_OWNERS = ("network:router_interface", "network:ha_router_replicated_interface")


class Unavailable(Exception):
    """What a fixture needs is not there; the message is the skip reason."""


class NoNodeAccess(Exception):
    """No node that could relay to a guest can be asked (no admin credentials or inventory, or every such node
    refuses or does not answer); the message says why."""


@dataclass
class Settings:
    cloud: Optional[str] = None
    admin_cloud: Optional[str] = None
    inventory: Optional[str] = None
    keep: bool = False
    timeout: float = 300.0
    ssh_timeout: float = 120.0
    api_timeout: float = 60.0
    command_timeout: float = 60.0
    host_key_policy: str = "accept-new"
    ssh_config: Optional[str] = None
    ssh_client: str = "paramiko"
    guest_route: str = "auto"
    node_user: Optional[str] = None
    node_key: Optional[str] = None
    external_network: Optional[str] = None
    run_id: str = ""
    worker: str = ""
    subnet_pool: str = "10.199.0.0/16"


@dataclass
class OslabSession:
    settings: Settings
    progress: Callable[[str], None] = print
    naming: Naming = field(init=False)
    stack: ResourceStack = field(init=False)

    def __post_init__(self):
        s = self.settings
        self.naming = Naming(s.run_id, s.worker)
        hint = f"oslab cleanup --cloud {s.cloud} --run {s.run_id}"
        self.stack = self.new_stack(hint)
        self._lock = threading.RLock()
        self._cache: Dict[str, object] = {}
        self._guests: Dict[str, guests.Guest] = {}
        self._guest_errors: Dict[str, str] = {}

    def new_stack(self, hint: Optional[str] = None) -> ResourceStack:
        s = self.settings
        return ResourceStack(timeout=s.timeout, keep=s.keep, report=self.progress,
                             cleanup_hint=hint or f"oslab cleanup --cloud {s.cloud} --run {s.run_id}")

    def _once(self, key: str, make):
        """Make a value once per run; a failure is remembered and raised again (same one line) on later uses."""
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = ("ok", make())
                except (config.ConfigError, CloudError, Unavailable) as e:
                    self._cache[key] = ("error", e)
            state, value = self._cache[key]
            if state == "error":
                raise value
            return value

    # --- clouds ----------------------------------------------------------------------------------------------
    @property
    def choice(self) -> config.CloudChoice:
        return self._once("choice", lambda: config.resolve(self.settings.cloud, self.settings.admin_cloud))

    @property
    def cloud(self):
        return self._once("cloud", lambda: connect(self.choice.region, self.settings.api_timeout, self.choice.name))

    @property
    def admin_cloud(self):
        """The admin connection; Unavailable (skip reason) when there is none or it lacks the admin role."""
        def make():
            choice = self.choice
            if choice.admin_region is None:
                raise Unavailable(choice.admin_missing)
            conn = connect(choice.admin_region, self.settings.api_timeout, choice.admin_name)
            if not is_admin(conn):
                raise Unavailable(f"needs admin rights: cloud {choice.admin_name!r} has no admin role")
            return conn
        return self._once("admin", make)

    def admin_or_none(self):
        try:
            return self.admin_cloud
        except Unavailable:
            return None

    @property
    def capabilities(self) -> caps_mod.Capabilities:
        def make():
            try:
                return caps_mod.discover(self.cloud, self.admin_or_none(), self.choice.oslab.driver)
            except CloudError:
                raise
            except Exception as e:
                raise CloudError(describe(e, "discovering the cloud's capabilities")) from None
        return self._once("capabilities", make)

    @property
    def provisioner(self) -> Provisioner:
        return self._once("provisioner", lambda: Provisioner(self.cloud, self.naming, self.admin_or_none()))

    # --- networks the run needs ------------------------------------------------------------------------------
    def visible_networks(self):
        return list((self.admin_or_none() or self.cloud).network.networks())

    def external_network(self):
        """The external network of routers and floating IPs: --oslab-external-network, else clouds.yaml's
        ``oslab.external_network``, else the first external network by name; None when the cloud has none."""
        configured = self.settings.external_network or self.choice.oslab.external_network
        return external_network(self.visible_networks(), configured)

    def free_cidr(self) -> str:
        """A /24 from the pool that no subnet visible to us uses; stable per run and worker, unique per worker."""
        taken = [ipaddress.ip_network(s.cidr) for s in (self.admin_or_none() or self.cloud).network.subnets()
                 if s.ip_version == 4]
        pool = list(ipaddress.ip_network(self.settings.subnet_pool).subnets(new_prefix=24))
        start = zlib.crc32(self.naming.prefix.encode()) % len(pool)
        for i in range(len(pool)):
            candidate = pool[(start + i) % len(pool)]
            if not any(candidate.overlaps(t) for t in taken):
                return str(candidate)
        raise Unavailable(f"no free /24 left in {self.settings.subnet_pool} for a self-service subnet")

    # --- nodes -----------------------------------------------------------------------------------------------
    @property
    def inventory(self) -> Inventory:
        def make():
            oslab = self.choice.oslab
            try:
                return Inventory.build(oslab.nodes, self.settings.inventory or oslab.inventory,
                                       self.settings.node_user or oslab.node_user,
                                       self.settings.node_key or oslab.node_key)
            except InventoryError as e:
                raise config.ConfigError(str(e)) from None
        return self._once("inventory", make)

    @property
    def nodes(self) -> NodePool:
        s = self.settings
        return self._once("nodes", lambda: NodePool(
            self.inventory, s.ssh_timeout, s.command_timeout, s.host_key_policy, s.ssh_config, s.ssh_client,
            bastion=self.choice.oslab.bastion, progress=self.progress, deployments=self.deployments))

    @property
    def deployments(self) -> deployment.DeploymentConfig:
        def make():
            try:
                return deployment.DeploymentConfig.parse(self.choice.oslab.deployment)
            except deployment.DeploymentError as e:
                raise config.ConfigError(f"clouds.yaml: cloud {self.choice.name!r}: {e}") from None
        return self._once("deployments", make)

    def node_named(self, name: str) -> Node:
        address = None
        caps = self.capabilities
        for hypervisor, ip in caps.hypervisors.items():
            if hypervisor == name or hypervisor.split(".")[0] == name.split(".")[0]:
                address = ip
        return self.inventory.node(name, address)

    def compute_node(self, server) -> Node:
        admin = self.admin_or_none()
        if admin is None:
            computes = self.inventory.with_role("compute")
            if len(computes) == 1:
                return computes[0]
            raise Unavailable("needs admin credentials to see which compute node runs a server "
                              "(or an inventory with exactly one compute node)")
        detail = admin.compute.get_server(server.id)
        name = detail.compute_host or detail.hypervisor_hostname
        if not name:
            raise Unavailable(f"server {server.name} is not placed on any compute node (status {detail.status})")
        return self.node_named(name)

    def facts_of(self, what) -> NodeFacts:
        """``what`` through the facts parsers: an inventory ``Node``, the name the API gives a node (the NodeFacts
        is called by it), or a server (its compute node)."""
        if isinstance(what, str):
            return NodeFacts(self.nodes.host(self.node_named(what)), what)
        node = what if isinstance(what, Node) else self.compute_node(what)
        return NodeFacts(self.nodes.host(node), node.name)

    def dhcp_node_list(self, network) -> List[Node]:
        admin = self.admin_or_none()
        if admin is not None:
            if self.capabilities.driver == "ovn":
                # OVN serves DHCP itself (no DHCP agents, and no API listing them): the guest is reached from
                # the ovnmeta- namespace of the node running the OVN metadata agent
                hosts = sorted(self.capabilities.hosts("OVN Metadata agent"))
            else:
                hosts = sorted({a.host for a in admin.network.network_hosting_dhcp_agents(network)})
            return [self.node_named(h) for h in hosts]
        nodes = self.inventory.with_role("network")
        if not nodes:
            raise Unavailable("needs admin credentials (or inventory nodes with the network role) to know which "
                              "nodes serve a network's DHCP")
        return nodes

    # --- guests ----------------------------------------------------------------------------------------------
    def namespace_of(self, network_id: str) -> str:
        ovn = self.capabilities.driver == "ovn" if self.admin_or_none() else False
        return names.ovnmeta(network_id) if ovn else names.qdhcp(network_id)

    def guest_route(self, server) -> guests.Route:
        """How this run reaches ``server``: its floating IP where it has one; else (``--oslab-guest-route``) through
        its network's namespace on a node that holds it (``namespace``), from outside the cloud (``floating``: at
        its fixed IP on an external network, else at a floating IP the run gives it), or the first, falling back
        to the second when no node can be reached (``auto``)."""
        server = self.cloud.compute.get_server(server.id)
        for addresses in (server.addresses or {}).values():
            for a in addresses:
                if a.get("OS-EXT-IPS:type") == "floating" and a.get("version") == 4:
                    return guests.Route.floating(a["addr"])
        port, address = self._first_ipv4(server)
        mode = self.settings.guest_route
        if mode == "floating":
            return self.outside_route(server, port, address, "--oslab-guest-route floating")
        try:
            return self.namespace_route(server, address, port.network_id)
        except NoNodeAccess as e:
            if mode == "namespace":
                raise guests.GuestError(f"guest {server.name} ({server.id}): {e} (--oslab-guest-route namespace)") \
                    from None
            return self.outside_route(server, port, address, str(e))

    def _first_ipv4(self, server):
        """(the server's oldest port with an IPv4 address, that address)."""
        ports = list(self.cloud.network.ports(device_id=server.id))
        for port in sorted(ports, key=lambda p: p.created_at or ""):
            for ip in port.fixed_ips or []:
                if ipaddress.ip_address(ip["ip_address"]).version == 4:
                    return port, ip["ip_address"]
        raise Unavailable(f"server {server.name} has no IPv4 address to reach it by")

    def namespace_route(self, server, address: str, network_id: str) -> guests.Route:
        """``address`` through the network's namespace on a node that holds it: the guest's own host first where it
        serves the network (OVN), waiting a bounded while for the namespace to appear; GuestError naming the
        hosts and the namespace tried when none holds it; NoNodeAccess when no node serving it can be asked."""
        try:
            nodes = {n.name: n for n in self.dhcp_node_list(self.cloud.network.get_network(network_id))}
        except Unavailable as e:
            raise NoNodeAccess(str(e)) from None
        if not nodes:
            raise Unavailable(f"no DHCP node serves network {network_id} of server {server.name}")
        admin = self.admin_or_none()
        own = admin.compute.get_server(server.id).compute_host if admin is not None else None
        order = guests.route_hosts(nodes, own)
        namespace = self.namespace_of(network_id)
        bound = min(self.settings.ssh_timeout, NAMESPACE_WAIT)
        deadline = time.monotonic() + bound
        while True:
            unreachable: Dict[str, str] = {}

            def holds(host: str) -> bool:
                try:
                    return self.holds_namespace(nodes[host], namespace)
                except NodeError as e:
                    unreachable[host] = str(e)
                    return False
            host, lacking = guests.first_holding(order, holds)
            if host is not None:
                return guests.Route(address, namespace, nodes[host], tuple(lacking))
            if len(unreachable) == len(order):
                raise NoNodeAccess(f"no node holding {namespace} can be reached: {'; '.join(unreachable.values())}")
            if time.monotonic() + 2 > deadline:
                raise guests.GuestError(
                    f"guest {server.name} ({server.id}): no node holds {namespace} to reach {address} through: "
                    f"tried {', '.join(order)} for {bound:.0f}s (its host: {own or 'unknown'})")
            time.sleep(2)

    def holds_namespace(self, node: Node, namespace: str) -> bool:
        """Whether ``node`` has network namespace ``namespace``; NodeError when the node cannot be asked."""
        listed = self.facts_of(node).run("ip -j netns", ok=False, quiet=True)
        return namespace in iproute.parse_netns(listed.stdout)

    def outside_route(self, server, port, address: str, why: str) -> guests.Route:
        """``address`` from outside the cloud (here, or the bastion): directly when the port's network is external
        (its addresses are routed outside, as floating IPs are), else at a floating IP of the run (tagged, deleted
        with the run's resources) on the external network of the network's router; Unavailable (the skip says
        what to add) when it has none."""
        net = self.cloud.network
        for fip in net.ips(port_id=port.id):
            if fip.fixed_ip_address == address:
                return guests.Route.floating(fip.floating_ip_address)
        network = net.get_network(port.network_id)
        if network.is_router_external:
            return guests.Route(address, what=f"fixed IP on external network {network.name}")
        external = self.router_gateway_of(network.id)
        if external is None:
            raise Unavailable(f"guest {server.name}: {why}; and its network {network.name} is not external and has "
                              "no router to an external network to give the guest a floating IP")
        made = self.provisioner.floating_ip(self.stack, external, port, fixed_address=address)
        self.progress(f"guest {server.name}: reached at floating IP {made.floating_ip_address} of the run ({why})")
        return guests.Route.floating(made.floating_ip_address)

    def router_gateway_of(self, network_id: str):
        """The external network of a router with an interface on ``network_id`` (None when no router has one)."""
        net = self.cloud.network
        for port in net.ports(network_id=network_id):
            if not (port.device_owner or "").startswith(ROUTER_INTERFACE_OWNERS):
                continue
            gateway = (net.get_router(port.device_id).external_gateway_info or {}).get("network_id")
            if gateway:
                return net.get_network(gateway)
        return None

    def guest(self, server, user: str, pkey, floating_ip: Optional[str] = None) -> guests.Guest:
        """The run's one SSH session into ``server``; GuestError (console log attached) when it never answers. With
        ``floating_ip``, the run's session into ``server`` at that address, from outside the cloud (this machine,
        or the cloud's bastion), beside its own session (which keeps its route)."""
        key = server.id if floating_ip is None else f"{server.id} at {floating_ip}"
        with self._lock:
            if key in self._guest_errors:
                raise guests.GuestError(self._guest_errors[key])
            if key in self._guests:
                return self._guests[key]

        def routed():  # decided again when the session dies and is reopened: the server may have moved
            route = self.guest_route(server) if floating_ip is None else guests.Route.floating(floating_ip)
            return route, self._guest_sock(route)
        route, sock = routed()
        try:
            guest = guests.connect(server, user, pkey, route, self.settings.ssh_timeout, sock,
                                   progress=self.progress, command_timeout=self.settings.command_timeout,
                                   note=evidence.attach, reroute=routed)
        except guests.GuestError as e:
            with self._lock:
                self._guest_errors[key] = str(e)
            self.attach_console_log(server)
            raise
        with self._lock:
            self._guests[key] = guest
        return guest

    def _guest_sock(self, route: guests.Route) -> Optional[Callable[[], object]]:
        """How SSH reaches ``route``: a relay through its namespace on its node, a channel through the cloud's
        bastion to a floating IP, or (None) a direct connection from this machine."""
        if route.namespace:
            pool = self.nodes
            pool.host(route.node)  # connect (and check sudo) before the first relay
            return lambda: pool.open_relay(route.node, route.namespace, route.address)
        if self.choice.oslab.bastion:  # a floating IP reached through the cloud's bastion
            return lambda: self.nodes.open_direct(route.address)
        return None

    def attach_console_log(self, server, lines: int = 80) -> None:
        try:
            output = self.cloud.compute.get_server_console_output(server, length=lines).get("output", "")
        except Exception as e:  # the log is evidence; failing to get it must not hide the real failure
            output = f"(console log unavailable: {describe(e)})"
        evidence.attach(f"console log of {server.name}", output)

    def compute_logs(self, server, most: int = 8) -> List[tuple]:
        """(title, text) pairs: what nova-compute logged about ``server``, one that failed to boot, on the node
        that built it or, when the API no longer names one (a build rescheduled until no host was left), on each
        compute node (``most`` of them). Best effort: a node that cannot be read says so in its text."""
        sources = self.choice.oslab.compute_log or triage.COMPUTE_LOGS
        try:
            try:
                nodes = [self.compute_node(server)]
            except Unavailable:  # not placed (any more), or no admin and not exactly one compute node
                if self.admin_or_none() is not None:
                    nodes = [self.node_named(h) for h in self.capabilities.compute_hosts]
                else:
                    nodes = self.inventory.with_role("compute")
        except Exception as e:  # evidence only: never replaces the boot failure itself
            return [(f"nova-compute log of {server.name}", f"(unavailable: {describe(e)})")]
        pieces = []
        for node in nodes[:most]:
            try:
                text = triage.compute_log(self.facts_of(node), server, sources)
            except Exception as e:
                text = f"(unavailable: {describe(e)})"
            pieces.append((f"{node.name}: nova-compute log of {server.name} ({server.id})", text))
        return pieces

    def attach_compute_logs(self, servers) -> None:
        """Attach ``compute_logs`` of each server (ones that failed to boot) to the running test."""
        for server in servers:
            for title, text in self.compute_logs(server):
                evidence.attach(title, text)

    # --- end -------------------------------------------------------------------------------------------------
    def close(self) -> List[str]:
        for g in list(self._guests.values()):
            g.close()
        self._guests.clear()
        if "nodes" in self._cache and self._cache["nodes"][0] == "ok":
            self._cache["nodes"][1].close()
        return self.stack.close()
