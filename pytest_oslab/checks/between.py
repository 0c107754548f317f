"""Facts between nodes (X1-X7): what only a cloud of several nodes can get wrong. Tunnel endpoints and their
forwarding entries, the underlay's MTU, DHCP only where a DHCP agent runs, traffic and path MTU from one compute to
another, and a server's traces after it moved.

Expected values come from the API: the hosts with a port of the network (ports' ``binding:host_id``), each host's
tunnel address as its L2 agent announces it (``configurations.tunneling_ip``) or, on OVN, as its chassis has it in
the southbound DB (``Encap.ip``). A failure names the node, the device and the peer.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional

from pytest_oslab.checks import names, openvswitch
from pytest_oslab.checks.core import Check, Where, wait_until
from pytest_oslab.checks.guests import guest_run
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import bridge, ovn, ovs, ping

# bytes the underlay carries beyond the network MTU (IPv4 underlay): vxlan 50 (outer Ethernet 14, IP 20, UDP 8,
# VXLAN 8); geneve as neutron's OVN driver sizes it, IP 20 + ml2_type_geneve max_header_size 38
OVERHEAD = {"vxlan": 50, "geneve": 58}
TUNNEL_BRIDGE = "br-tun"
OVS_TUNNEL_TABLE = 4  # br-tun's table that maps a tunnel id (VNI) to the network's local VLAN


@dataclass(frozen=True)
class Peer:
    """A host with a port on the network, as seen from another: its name and its tunnel address."""

    host: str
    ip: str

    def __str__(self) -> str:
        return f"{self.ip} ({self.host})"


def short(host: Optional[str]) -> str:
    return (host or "").split(".")[0]


def tunnel_ips(agents, agent_type: str) -> Dict[str, str]:
    """``{host: tunnel IP}`` from the L2 agents' ``configurations.tunneling_ip`` (capabilities' agents)."""
    return {a.host: a.configurations["tunneling_ip"] for a in agents
            if a.type == agent_type and (a.configurations or {}).get("tunneling_ip")}


def hosts_with_ports(ports) -> List[str]:
    """The hosts the network's ACTIVE ports are bound to (API ``binding:host_id``): l2population announces a host to
    its peers once it has an active port of the network."""
    return sorted({p.binding_host_id for p in ports if p.binding_host_id and p.status == "ACTIVE"})


def hosts_except(hosts: Iterable[str], excluded: Iterable[str]) -> List[str]:
    """``hosts`` but those of ``excluded`` (short names compared): the computes with no port, no DHCP agent..."""
    gone = {short(h) for h in excluded}
    return sorted(h for h in hosts if short(h) not in gone)


def peers_of(host: str, hosts: Iterable[str], ips: Mapping[str, str]) -> List[Peer]:
    """The other hosts of ``hosts`` with their tunnel IPs (``ips``); a host whose agent names no tunnel IP is kept
    with ``?`` so that the check says so."""
    return [Peer(h, ips.get(h, "?")) for h in sorted(hosts) if short(h) != short(host)]


def remote_macs(ports, host: str, ips: Mapping[str, str]) -> Dict[str, Peer]:
    """``{MAC: Peer}`` of the network's ports bound to another host than ``host``."""
    return {p.mac_address.lower(): Peer(p.binding_host_id, ips.get(p.binding_host_id, "?")) for p in ports
            if p.binding_host_id and short(p.binding_host_id) != short(host) and p.status == "ACTIVE"}


# --- X3: Linux bridge with l2population ------------------------------------------------------------------------

def check_vxlan_local(node: NodeFacts, network, own_ip: Optional[str]) -> None:
    """X3: ``vxlan-<vni>`` sends from this node's tunnel IP (``local``), its agent's ``tunneling_ip``."""
    device = names.vxlan(network.provider_segmentation_id)
    with Check("the vxlan device sends from the node's tunnel IP", Where(network=network, device=device,
                                                                         node=node.name)) as c:
        links = node.links()
        if device not in links:
            c.fail(f"device {device}: expected (this node has a port on the network), actual absent")
        vx = links[device].vxlan
        c.expect(f"{device} local", own_ip, vx.local if vx else None, f"tunneling_ip of node {node.name}'s agent")


def check_vxlan_fdb(node: NodeFacts, network, peers: List[Peer], macs: Mapping[str, Peer]) -> None:
    """X3: ``vxlan-<vni>`` has a flood entry (00:00:00:00:00:00) to each peer host with a port on the network and no
    other, and each remote port's MAC at its host's tunnel IP, programmed (permanent, as l2population adds it: one
    the kernel learned from the guest's traffic is not the agent's)."""
    device = names.vxlan(network.provider_segmentation_id)
    with Check("the vxlan device floods to each peer host and forwards each remote port's MAC to its host",
               Where(network=network, device=device, node=node.name)) as c:
        entries = bridge.tunnel_entries(node.fdb(), device)
        flood = sorted(e.dst for e in entries if e.is_flood)
        for peer in peers:
            c.require(peer.ip in flood, f"flood entry {bridge.FLOOD_MAC} dst {peer}: expected (peer {peer.host} has "
                                        f"a port on the network), actual flood entries to {', '.join(flood) or 'none'}")
        expected = {p.ip for p in peers}
        for dst in flood:
            c.require(dst in expected, f"flood entry {bridge.FLOOD_MAC} dst {dst}: expected none (no peer with a "
                                       f"port on the network has that tunnel IP), actual present")
        unicast = {e.mac: e for e in entries if not e.is_flood}
        for mac, peer in sorted(macs.items()):
            entry = unicast.get(mac)
            c.expect(f"entry {mac} dst (port on peer {peer.host})", peer.ip, entry.dst if entry else None,
                     f"{peer.host}'s tunneling_ip")
            # l2population programs it (permanent); the kernel learns one back from any packet of that guest
            c.require(entry is None or entry.state == "permanent",
                      f"entry {mac} dst {peer.ip} (port on peer {peer.host}): expected permanent (l2population's), "
                      f"actual {entry.state or 'learned' if entry else ''}")


def check_no_vxlan(node: NodeFacts, network) -> None:
    """X3: a host with no port on the network has no ``vxlan-<vni>`` for it."""
    device = names.vxlan(network.provider_segmentation_id)
    with Check("a host with no port on the network has no vxlan device for it",
               Where(network=network, device=device, node=node.name)) as c:
        c.require(device not in node.links(), f"device {device}: expected absent (no port of the network is bound "
                                               f"to {node.name}), actual present")


# --- X2: the underlay carries the network MTU plus the encapsulation ------------------------------------------

def underlay_device(links, tunnel_ip: str):
    """The link holding ``tunnel_ip`` (the device the tunnels leave by), or None."""
    return next((link for link in links.values() if link.has_address(tunnel_ip)), None)


def check_underlay_mtu(node: NodeFacts, network, tunnel_ip: Optional[str], network_type: str) -> None:
    """X2: the device holding this node's tunnel IP has an MTU of at least the network MTU + the encapsulation's
    overhead (vxlan 50, geneve 58)."""
    overhead = OVERHEAD[network_type]
    with Check(f"the underlay carries the network MTU plus {network_type}'s {overhead} bytes",
               Where(network=network, node=node.name)) as c:
        if not tunnel_ip:
            c.fail(f"tunnel IP of {node.name}: expected from its agent's configuration, actual none")
        device = underlay_device(node.links(), tunnel_ip)
        if device is None:
            c.fail(f"a device with tunnel IP {tunnel_ip}: expected on {node.name}, actual none")
        need = network.mtu + overhead
        c.require(device.mtu >= need, f"device {device.name} (tunnel IP {tunnel_ip}) MTU: expected at least {need} "
                                      f"(network MTU {network.mtu} + {overhead}), actual {device.mtu}")


# --- X4: Open vSwitch tunnels --------------------------------------------------------------------------------

def check_tunnel_ports(node: NodeFacts, own_ip: Optional[str], peers: List[Peer], bridge_name: str = TUNNEL_BRIDGE,
                       kind: str = "vxlan", network=None) -> None:
    """X4/X5: ``bridge_name`` (br-tun; br-int on OVN) holds a ``kind`` tunnel port per peer with ``remote_ip`` the
    peer's tunnel IP and ``local_ip`` (when the agent sets one) this node's."""
    with Check(f"{bridge_name} holds a {kind} tunnel port to each peer host",
               Where(network=network, device=bridge_name, node=node.name)) as c:
        on_bridge = openvswitch.interfaces_on(node, bridge_name, kind)
        by_remote = {i.options.get("remote_ip"): i for i in on_bridge}
        shown = ", ".join(f"{i.name} -> {i.options.get('remote_ip')}" for i in on_bridge) or "none"
        for peer in peers:
            port = by_remote.get(peer.ip)
            if not c.require(port is not None, f"{kind} port to peer {peer}: expected on {bridge_name}, actual "
                                               f"tunnel ports {shown}"):
                continue
            local = port.options.get("local_ip")
            if own_ip and local is not None:
                c.expect(f"{port.name} local_ip (to peer {peer.host})", own_ip, local, f"node {node.name}'s tunnel IP")
            c.require(not port.error, f"{port.name} (to peer {peer}): expected no error, actual {port.error}")


def check_vni_to_vlan(node: NodeFacts, network, tag: Optional[int]) -> None:
    """X4: br-tun's flows take the network's VNI to the local VLAN tag its ports have on br-int (I8)."""
    vni = network.provider_segmentation_id
    with Check("br-tun maps the network's VNI to its local VLAN", Where(network=network, device=TUNNEL_BRIDGE,
                                                                         node=node.name)) as c:
        if tag is None:
            c.fail("local VLAN tag of the network on br-int: expected (I8), actual none")
        flows = [f for f in node.flows(TUNNEL_BRIDGE) if f.table == OVS_TUNNEL_TABLE and f.has(tun_id=hex(vni))]
        actions = [f.actions for f in flows]
        c.require(any(f"mod_vlan_vid:{tag}" in a for a in actions),
                  f"table {OVS_TUNNEL_TABLE} tun_id={hex(vni)} (VNI {vni}): expected actions mod_vlan_vid:{tag}, "
                  f"actual {'; '.join(actions) or 'no flow'}")


# --- X5: OVN chassis -----------------------------------------------------------------------------------------

def check_chassis(node: NodeFacts, host: str, sb: str, encap_ip: Optional[str], kind: str = "geneve") -> None:
    """X5: this node's chassis (its OVS system-id) is in the southbound DB with its hostname and a ``kind`` encap at
    the node's ``ovn-encap-ip``."""
    with Check("the node's chassis is in the southbound DB with its hostname and encap IP",
               Where(node=node.name)) as c:
        record = ovs.parse_records(node.output("ovs-vsctl --format=json list Open_vSwitch"))[0]
        external = record.get("external_ids") or {}
        system_id = external.get("system-id")
        chassis = next((ch for ch in node.sb_chassis(sb) if ch.name == system_id), None)
        if chassis is None:
            c.fail(f"chassis {system_id} (system-id of {node.name}): expected in the southbound DB, actual absent")
        c.expect(f"chassis {system_id} hostname", short(host), short(chassis.hostname), "the agent's host")
        encaps = [e for e in node.sb_encaps(sb) if e.uuid in chassis.encaps]
        ips = sorted(e.ip for e in encaps if e.type == kind)
        c.expect(f"chassis {system_id} {kind} encap IP", [encap_ip or external.get("ovn-encap-ip")], ips,
                 f"ovn-encap-ip of {node.name}")


def encap_ips(encaps: Iterable[ovn.Encap], chassis: Iterable[ovn.Chassis], kind: str = "geneve") -> Dict[str, str]:
    """``{hostname: encap IP}`` of every chassis of the southbound DB."""
    by_uuid = {e.uuid: e for e in encaps if e.type == kind}
    return {ch.hostname: by_uuid[u].ip for ch in chassis for u in ch.encaps if u in by_uuid}


def check_bound_to_host(node: NodeFacts, sb: str, server, port, host: str) -> None:
    """X5: the server's port binding is on the chassis whose hostname is the server's host (API)."""
    with Check("the server's port is bound to the chassis of its host",
               Where(server=server, port=port, node=node.name)) as c:
        chassis = {ch.uuid: ch for ch in node.sb_chassis(sb)}
        binding = next((b for b in node.sb_port_bindings(sb) if b.logical_port == port.id), None)
        if binding is None:
            c.fail(f"Port_Binding of {port.id}: expected in the southbound DB, actual absent")
        bound = chassis.get(binding.chassis)
        c.expect("bound chassis' hostname", short(host), short(bound.hostname) if bound else None,
                 "the server's host (OS-EXT-SRV-ATTR:host)")


# --- X6: DHCP only where a DHCP agent runs ---------------------------------------------------------------------

def check_no_dhcp_here(node: NodeFacts, network) -> None:
    """X6: a node without a DHCP agent has no ``qdhcp-<net>`` namespace and no dnsmasq for the network."""
    namespace = names.qdhcp(network.id)
    with Check("a node without a DHCP agent serves no DHCP for the network",
               Where(network=network, namespace=namespace, node=node.name)) as c:
        c.require(namespace not in node.namespaces(), f"namespace {namespace}: expected absent (no DHCP agent on "
                                                      f"{node.name}), actual present")
        stray = node.dnsmasq_of(network.id)
        c.require(not stray, f"dnsmasq for the network: expected none, actual pid(s) "
                             f"{', '.join(str(p.pid) for p in stray)}")


def check_dhcp_ports_on_agents(network, dhcp_ports, agent_hosts: Iterable[str]) -> None:
    """X6: each DHCP port of the network is bound to a host whose DHCP agent serves it (the network node)."""
    hosts = sorted(agent_hosts)
    with Check("the network's DHCP ports are bound to its DHCP agents' hosts", Where(network=network)) as c:
        if not dhcp_ports:
            c.fail("DHCP port: expected at least one, actual none")
        for port in dhcp_ports:
            c.require(short(port.binding_host_id) in {short(h) for h in hosts},
                      f"DHCP port {port.id} binding host: expected one of {', '.join(hosts) or 'none'} (hosts of the "
                      f"DHCP agents serving the network), actual {port.binding_host_id or 'unbound'}")


# --- X1/X2: traffic between guests on different computes -------------------------------------------------------

def check_ssh_answers(guest, address: str, peer: str = "", timeout: float = 30) -> None:
    """X1: from ``guest``, ``address`` answers on TCP 22 with an SSH banner (``nc``: no key needed)."""
    def probe():
        with Check(f"the guest reaches {address} ({peer}) by SSH", Where(server=guest.server)) as c:
            result = guest_run(guest, f"echo | nc -w 3 {shlex.quote(address)} 22", ok=False)
            c.require("SSH-" in result.stdout, f"SSH banner from {address} port 22: expected, actual "
                                               f"{result.stdout.strip() or 'nothing'} (exit status {result.rc})")
    wait_until(probe, timeout, 3)


def check_full_mtu_ping(guest, address: str, mtu: int, peer: str = "", timeout: float = 30) -> None:
    """X2: the guest's ping of exactly the network MTU (``-s MTU-28``) reaches the peer; the guest's kernel sends it
    with DF set (path MTU discovery: a packet that fits the device is not fragmentable)."""
    def probe():
        with Check(f"a ping of exactly the network MTU ({mtu} bytes) reaches {address} ({peer})",
                   Where(server=guest.server)) as c:
            out = guest_run(guest, f"ping -c 1 -W 3 -s {mtu - 28} {shlex.quote(address)}", ok=False)
            got = ping.parse_ping(out.stdout + out.stderr)
            c.expect(f"replies to {mtu}-byte packets", 1, got.received)
    wait_until(probe, timeout, 3)


def check_df_ping_from(node: NodeFacts, namespace: str, address: str, mtu: int, peer: str = "") -> None:
    """X2: from the network's namespace on ``node``, a DF ping (``-M do``) of exactly the network MTU reaches the
    guest on another compute; one byte more does not."""
    with Check(f"a DF packet of exactly the network MTU reaches {address} ({peer}), one byte more does not",
               Where(namespace=namespace, node=node.name)) as c:
        for size, arrives in ((mtu, True), (mtu + 1, False)):
            out = node.run(f"ip netns exec {shlex.quote(namespace)} ping -M do -c 1 -W 3 -s {size - 28} "
                           f"{shlex.quote(address)}", ok=False)
            got = ping.parse_ping(out.stdout + out.stderr)
            c.expect(f"DF packet of {size} bytes arrives" + (f" (sender: {got.local_error})" if got.local_error
                                                             else ""), arrives, got.received > 0)


# --- X7: after a migration ---------------------------------------------------------------------------------------

def check_moved(old: NodeFacts, new: NodeFacts, server, port, network, instance_name: str,
                firewall_driver: Optional[str] = None, vxlan: Optional[str] = None,
                new_tunnel_ip: Optional[str] = None) -> None:
    """X7: the server's tap, libvirt domain and (iptables firewall: ``firewall_driver`` names the chains) chains are
    on the new compute and gone from the old one; on Linux bridge (``vxlan``) the old host keeps no forwarding entry
    for the port's MAC but one to the new host's tunnel IP."""
    tap = names.tap(port.id)
    with Check("the server's tap, domain and chains moved to the new compute and left the old one",
               Where(server=server, port=port, network=network, device=tap, node=f"{old.name} -> {new.name}")) as c:
        new_links, old_links = new.links(), old.links()
        c.require(tap in new_links, f"{tap} on {new.name} (new host): expected, actual absent")
        c.require(tap not in old_links, f"{tap} on {old.name} (old host): expected gone, actual still there")
        c.require(instance_name in {d.name for d in new.domains()},
                  f"domain {instance_name} on {new.name} (new host): expected, actual absent")
        c.require(instance_name not in {d.name for d in old.domains()},
                  f"domain {instance_name} on {old.name} (old host): expected gone, actual still defined")
        if firewall_driver:
            chains = set(names.port_chains(port.id, firewall_driver).values())
            left = sorted(chains & set(old.iptables().table("filter").chains))
            have = sorted(chains & set(new.iptables().table("filter").chains))
            c.require(not left, f"chains on {old.name} (old host): expected gone, actual {', '.join(left)}")
            c.expect(f"chains on {new.name} (new host)", sorted(chains), have)
        if vxlan:
            mac = port.mac_address.lower()
            stale = [e for e in old.fdb() if e.mac == mac and (e.device == tap or (
                e.device == vxlan and e.dst and e.dst != new_tunnel_ip))]
            for entry in stale:
                c.require(False, f"forwarding entry {mac} on {entry.device} of {old.name} (old host): expected gone "
                                 f"or to {new_tunnel_ip} ({new.name}), actual {entry.dst or 'local'}")


def check_kept(moved_port, port, new_host: str) -> None:
    """X7: the port keeps its MAC and fixed IPs across the migration and is bound to the new host (API)."""
    with Check("the server keeps its MAC and address across the migration", Where(port=port)) as c:
        c.expect("MAC", port.mac_address, moved_port.mac_address, "before the migration")
        c.expect("fixed IPs", sorted(ip for ip, _ in names.ipv4_fixed_ips(port)),
                 sorted(ip for ip, _ in names.ipv4_fixed_ips(moved_port)), "before the migration")
        c.expect("binding host", short(new_host), short(moved_port.binding_host_id), "the server's new host")
