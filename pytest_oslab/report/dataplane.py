"""The data plane a run built, as plain data: what the topology picture draws and the upgrade snapshot keeps.

``Seen`` notes the API objects the checks were given (networks, subnets, routers, ports, servers: the fixtures'
values of every test, and the suite's own records of them). ``collect`` then reads, once, what exists of them
through the API (the admin view when there is one) and, on each node that serves them, the devices, namespaces,
DHCP files, OVS tags, iptables chains and libvirt interfaces they map to, through the facts parsers. The result is
a JSON-ready dict; nothing in it is a secret (no keys, no tokens, no passwords: ids, addresses and device names).

Collection never raises: what cannot be read is listed under ``problems`` and drawn as unknown.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable, Dict, Iterable, List, Optional, Set, TypeVar

from pytest_oslab.checks.names import (PORT_DEVICE_PREFIXES, dhcp_dir, ovnmeta, port_chains, qdhcp, qrouter,
                                       short_id, vxlan)
from pytest_oslab.checks.nodes import NodeFacts, with_tool_timeout
from pytest_oslab.cloud.capabilities import IPTABLES_FIREWALLS
from pytest_oslab.cloud.errors import describe
from pytest_oslab.facts import dnsmasq

T = TypeVar("T")

KINDS = ("network", "subnet", "router", "port", "server", "floating ip")
DHCP_FILES = ("host", "addn_hosts", "leases", "interface")


def kind_of(value) -> Optional[str]:
    """The kind of an openstacksdk resource the picture knows, else None."""
    module = type(value).__module__ or ""
    if not module.startswith("openstack."):
        return None
    name = type(value).__name__
    return {"Network": "network", "Subnet": "subnet", "Router": "router", "Port": "port", "Server": "server",
            "FloatingIP": "floating ip"}.get(name)


class Seen:
    """Ids of the API objects a run's tests were given, by kind (thread-safe; JSON-ready with ``as_dict``)."""

    def __init__(self):
        self.ids: Dict[str, Set[str]] = {k: set() for k in KINDS}
        self._lock = threading.Lock()

    def add(self, kind: str, rid: Optional[str]) -> None:
        if rid and kind in self.ids:
            with self._lock:
                self.ids[kind].add(rid)

    def note(self, value, depth: int = 0) -> None:
        """Walk a fixture value (resource, dataclass, list, dict) a few levels deep and note its resources."""
        if value is None or depth > 4 or isinstance(value, (str, bytes, int, float, bool)):
            return
        kind = kind_of(value)
        if kind is not None:
            self.add(kind, getattr(value, "id", None))
            return
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                if f.repr:  # a field kept out of repr (a private key) is kept out of here too
                    self.note(getattr(value, f.name, None), depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in list(value)[:50]:
                self.note(item, depth + 1)
        elif isinstance(value, dict):
            for item in list(value.values())[:50]:
                self.note(item, depth + 1)

    def merge(self, data: Dict[str, Iterable[str]]) -> None:
        for kind, ids in (data or {}).items():
            for rid in ids:
                self.add(kind, rid)

    def as_dict(self) -> Dict[str, List[str]]:
        with self._lock:
            return {k: sorted(v) for k, v in self.ids.items() if v}

    def __bool__(self) -> bool:
        return any(self.ids.values())


# --- the API side ------------------------------------------------------------------------------------------

def _ips(port) -> List[dict]:
    return [{"ip": f["ip_address"], "subnet_id": f.get("subnet_id")} for f in (port.fixed_ips or [])]


def port_data(port) -> dict:
    return {"id": port.id, "name": port.name or "", "network_id": port.network_id, "mac": port.mac_address,
            "ips": _ips(port), "owner": port.device_owner or "", "device_id": port.device_id or "",
            "status": port.status, "host": getattr(port, "binding_host_id", None) or "",
            "vif_type": getattr(port, "binding_vif_type", None) or ""}


def network_data(net, subnets) -> dict:
    return {"id": net.id, "name": net.name or "", "status": net.status, "mtu": net.mtu,
            "type": getattr(net, "provider_network_type", None) or "",
            "segmentation_id": getattr(net, "provider_segmentation_id", None),
            "physnet": getattr(net, "provider_physical_network", None) or "",
            "external": bool(net.is_router_external), "shared": bool(net.is_shared),
            "subnets": [{"id": s.id, "name": s.name or "", "cidr": s.cidr, "gateway": s.gateway_ip,
                         "pools": [f"{p['start']}-{p['end']}" for p in s.allocation_pools or []],
                         "dhcp": bool(s.is_dhcp_enabled), "ip_version": s.ip_version} for s in subnets]}


def _get(fetch: Callable, rid: str):
    """``fetch(rid)``, or None when the object is gone (or cannot be read)."""
    try:
        return fetch(rid)
    except Exception:
        return None


def api_view(api, seen: Dict[str, List[str]], problems: List[str]) -> dict:
    """Networks, subnets, routers, ports, servers and floating IPs of ``seen`` that still exist.

    One call per server, router and network (its subnets and ports come in one listing each)."""
    n, c = api.network, api.compute
    gone = {k: 0 for k in KINDS}
    servers, routers, networks = {}, {}, {}
    for sid in seen.get("server", []):
        server = _get(c.get_server, sid)
        if server is None:
            gone["server"] += 1
            continue
        servers[server.id] = {"id": server.id, "name": server.name, "status": server.status,
                              "host": getattr(server, "compute_host", None) or "",
                              "instance_name": getattr(server, "instance_name", None) or "", "ports": []}
    for rid in seen.get("router", []):
        r = _get(n.get_router, rid)
        if r is None:
            gone["router"] += 1
        else:
            routers[r.id] = r
    net_ids = set(seen.get("network", []))
    for sid in seen.get("subnet", []):
        sub = _get(n.get_subnet, sid)
        if sub is None:
            gone["subnet"] += 1
        else:
            net_ids.add(sub.network_id)
    wanted_ports = set(seen.get("port", []))
    listed: Dict[str, object] = {}
    if servers:  # the networks the servers are on
        for sid in servers:
            for p in n.ports(device_id=sid):
                listed[p.id] = p
                net_ids.add(p.network_id)
    for pid in wanted_ports - set(listed):
        p = _get(n.get_port, pid)
        if p is None:
            gone["port"] += 1
        else:
            net_ids.add(p.network_id)
    listings = {}
    for nid in sorted(net_ids):
        net = _get(n.get_network, nid)
        if net is None:
            gone["network"] += 1
            continue
        networks[net.id] = network_data(net, list(n.subnets(network_id=net.id)))
        listings[net.id] = list(n.ports(network_id=net.id))
        if not net.is_router_external:  # a router plugged into the run's own network is in the picture
            for p in listings[net.id]:
                if p.device_owner == "network:router_interface" and p.device_id not in routers:
                    r = _get(n.get_router, p.device_id)
                    if r is not None:
                        routers[r.id] = r
    ports: Dict[str, dict] = {}
    for listing in listings.values():
        for p in listing:
            if (p.id in wanted_ports or p.device_id in servers or p.device_id in routers
                    or p.device_owner == "network:dhcp"):
                ports[p.id] = port_data(p)
    for p in ports.values():
        if p["device_id"] in servers:
            servers[p["device_id"]]["ports"].append(p["id"])
    router_data = []
    for r in routers.values():
        gateway = r.external_gateway_info or {}
        router_data.append({"id": r.id, "name": r.name or "", "status": r.status,
                            "gateway": {"network_id": gateway.get("network_id"),
                                        "ips": [f.get("ip_address") for f in gateway.get("external_fixed_ips") or []]},
                            "ports": sorted(pid for pid, p in ports.items() if p["device_id"] == r.id)})
    fips = []
    server_ports = {pid for s in servers.values() for pid in s["ports"]}
    if server_ports:
        try:
            fips = [{"id": ip.id, "address": ip.floating_ip_address, "port_id": ip.port_id,
                     "fixed_ip": ip.fixed_ip_address, "network_id": ip.floating_network_id}
                    for ip in n.ips() if ip.port_id in server_ports]
        except Exception as e:
            problems.append(f"floating IPs: {type(e).__name__}")
    return {"networks": sorted(networks.values(), key=lambda x: (not x["external"], x["name"], x["id"])),
            "routers": sorted(router_data, key=lambda x: (x["name"], x["id"])),
            "servers": sorted(servers.values(), key=lambda x: (x["name"], x["id"])),
            "ports": sorted(ports.values(), key=lambda x: (x["network_id"], x["owner"], x["id"])),
            "floating_ips": sorted(fips, key=lambda x: x["address"] or ""),
            "gone": {k: v for k, v in gone.items() if v}}


# --- the node side -----------------------------------------------------------------------------------------

def link_data(link) -> dict:
    data = {"kind": link.kind or "", "master": link.master or "", "mtu": link.mtu, "mac": link.mac or "",
            "state": link.operstate or ("UP" if "UP" in link.flags else "DOWN"),
            "addresses": [f"{a.ip}/{a.prefixlen}" for a in link.addresses if a.family == "inet"]}
    if link.vxlan is not None:
        data["vxlan"] = {"id": link.vxlan.id, "local": link.vxlan.local, "port": link.vxlan.port,
                         "dev": link.vxlan.dev}
    if link.peer:
        data["peer"] = link.peer
    return data


def relevant_devices(links: Dict[str, object], markers: Set[str], vxlans: Set[str]) -> Dict[str, dict]:
    """Host devices that belong to the run's objects: names holding a port or network id prefix, the vxlan
    devices of its networks, and the members and masters of those (the uplink in a ``brq``, the bridges)."""
    chosen = {name for name in links if name in vxlans or any(m in name for m in markers)}
    bridges = {name for name in chosen if getattr(links[name], "kind", None) == "bridge"}
    chosen |= {name for name, link in links.items() if getattr(link, "master", None) in bridges
               and not name.startswith(PORT_DEVICE_PREFIXES)}  # uplinks and vxlan, not other users' ports
    chosen |= {links[name].master for name in list(chosen) if getattr(links[name], "master", None) in links}
    return {name: link_data(links[name]) for name in sorted(chosen)}


class _Unread(Exception):
    """A command of the picture failed; its problem is noted already."""


class NodeReader(NodeFacts):
    """A node read for the picture with NodeFacts' own commands and parsers, quietly (the picture is no check's
    evidence): a command that fails, or whose output is not understood, becomes one of its problems."""

    def __init__(self, name: str, host):
        super().__init__(host, name)
        self.problems: List[str] = []
        self._last = ""

    def run(self, command: str, ok: bool = True, quiet: bool = True):
        command = with_tool_timeout(command, self.bound)
        self._last = command
        try:
            result = self.host.run(command)
        except Exception as e:
            self.problems.append(f"`{command}`: {type(e).__name__}")
            raise _Unread() from None
        if ok and result.rc != 0:
            last = ((result.stderr or "").strip().splitlines() or [f"exit {result.rc}"])[-1]
            self.problems.append(f"`{command}`: {last[:160]}")
            raise _Unread()
        return result

    def get(self, read: Callable[[], T]) -> Optional[T]:
        """``read()`` (a NodeFacts method), or None when it could not be read."""
        try:
            return read()
        except _Unread:
            return None
        except Exception as e:
            self.problems.append(f"`{self._last}`: output not understood ({type(e).__name__})")
            return None


def node_view(reader: NodeReader, view: dict, driver: str, firewall: str) -> dict:
    """What one node shows of the run's objects (see the module doc)."""
    name = reader.name
    short = name.split(".")[0]
    networks = {n["id"]: n for n in view["networks"]}
    ports = view["ports"]
    markers = {short_id(p["id"]) for p in ports} | {short_id(nid) for nid in networks}
    vxlans = {vxlan(n["segmentation_id"]) for n in networks.values() if n["type"] == "vxlan"}
    out: dict = {"name": name, "devices": {}, "namespaces": {}, "dhcp": {}, "ovs_tags": {}, "chains": {},
                 "domains": {}}

    links = reader.get(reader.links) or {}
    out["devices"] = relevant_devices(links, markers, vxlans)
    present = reader.get(reader.namespaces) or []
    wanted = {qdhcp(nid) for nid in networks} | {ovnmeta(nid) for nid in networks}
    wanted |= {qrouter(r["id"]) for r in view["routers"]}
    for ns in sorted(set(present) & wanted):
        inside = reader.get(lambda ns=ns: reader.links(ns)) or {}
        out["namespaces"][ns] = {dev: link_data(link) for dev, link in sorted(inside.items()) if dev != "lo"}

    for p in ports:
        if p["owner"] != "network:dhcp" or p["host"].split(".")[0] != short:
            continue
        base = dhcp_dir(p["network_id"])
        files = {}
        for f in DHCP_FILES:
            text = reader.get(lambda path=f"{base}/{f}": reader.read(path, missing_ok=True))
            if text is None:
                continue
            try:
                if f == "host":
                    files[f] = [[e.mac, e.hostname, e.ip] for e in dnsmasq.parse_hosts(text)]
                elif f == "addn_hosts":
                    files[f] = [[e.ip, " ".join(e.names)] for e in dnsmasq.parse_addn_hosts(text)]
                elif f == "leases":
                    files[f] = [[e.mac, e.ip] for e in dnsmasq.parse_leases(text)]
                else:
                    files[f] = dnsmasq.parse_interface_file(text)
            except Exception as e:
                reader.problems.append(f"{base}/{f}: not understood ({type(e).__name__})")
        out["dhcp"][p["network_id"]] = files

    if driver == "openvswitch":
        rows = reader.get(reader.ovs_ports) or []
        out["ovs_tags"] = {r.name: r.tag for r in rows if any(m in r.name for m in markers)}

    here = [s for s in view["servers"] if s["host"] and s["host"].split(".")[0] == short]
    if here and firewall in IPTABLES_FIREWALLS:
        ruleset = reader.get(reader.iptables)
        if ruleset is not None and "filter" in ruleset.tables:
            chains = ruleset.table("filter").chains
            for s in here:
                for pid in s["ports"]:
                    names = port_chains(pid, driver)
                    out["chains"][pid] = {role: [r.raw for r in chains[c].rules] if c in chains else None
                                          for role, c in names.items()}
    for s in here:
        if s["instance_name"]:
            domain = reader.get(lambda name=s["instance_name"]: reader.domain(name))
            if domain is not None:
                out["domains"][s["id"]] = [{"type": i.type, "mac": i.mac, "target": i.target,
                                            "source": i.source_bridge or i.source, "mtu": i.mtu, "model": i.model}
                                           for i in domain.interfaces]
    out["problems"] = list(reader.problems)
    return out


def node_names(view: dict) -> List[str]:
    """The nodes that serve the run's objects: compute hosts of servers, hosts the DHCP and router ports are
    bound to."""
    names = {s["host"] for s in view["servers"] if s["host"]}
    names |= {p["host"] for p in view["ports"] if p["host"] and p["owner"] in ("network:dhcp",
                                                                               "network:router_interface",
                                                                               "network:router_gateway")}
    return sorted(names)


def collect(oslab, seen: Dict[str, List[str]], reached: Optional[Set[str]] = None) -> dict:
    """The data plane of ``seen`` in the cloud ``oslab`` (an OslabSession) talks to; never raises.

    ``reached``: read only these nodes (the ones the run's checks already ran commands on), so that a node the
    run never reached is not waited for at its end; None reads every node that serves the objects."""
    picture: dict = {"networks": [], "routers": [], "servers": [], "ports": [], "floating_ips": [], "nodes": [],
                     "gone": {}, "problems": [], "driver": "", "firewall": ""}
    try:
        api = oslab.admin_or_none() or oslab.cloud
        picture.update(api_view(api, seen, picture["problems"]))
        caps = oslab.capabilities
    except Exception as e:
        picture["problems"].append(f"API: {describe(e)}")
        return picture
    picture["driver"] = caps.driver or ""
    picture["firewall"] = caps.firewall_driver or ""
    if not caps.admin:
        picture["problems"].append("no admin rights: which node runs what is unknown; nodes not drawn")
        return picture
    for name in node_names(picture):
        if reached is not None and name.split(".")[0] not in {r.split(".")[0] for r in reached}:
            picture["problems"].append(f"node {name}: not read (no check of this run reached it)")
            continue
        try:
            host = oslab.nodes.host(oslab.node_named(name))
        except Exception as e:
            picture["problems"].append(f"node {name}: {describe(e)}")
            continue
        picture["nodes"].append(node_view(NodeReader(name, host), picture, picture["driver"], picture["firewall"]))
    return picture


def merge(pictures: List[dict]) -> dict:
    """One picture of several (xdist workers each collect their own): objects by id, nodes by name."""
    out: dict = {"networks": [], "routers": [], "servers": [], "ports": [], "floating_ips": [], "nodes": [],
                 "gone": {}, "problems": [], "driver": "", "firewall": ""}
    for kind in ("networks", "routers", "servers", "ports", "floating_ips"):
        by_id: Dict[str, dict] = {}
        for picture in pictures:
            for obj in picture.get(kind, []):
                by_id.setdefault(obj["id"], obj)
        out[kind] = list(by_id.values())
    out["networks"].sort(key=lambda x: (not x["external"], x["name"], x["id"]))
    nodes: Dict[str, dict] = {}
    for picture in pictures:
        out["driver"] = out["driver"] or picture.get("driver", "")
        out["firewall"] = out["firewall"] or picture.get("firewall", "")
        for kind, count in picture.get("gone", {}).items():
            out["gone"][kind] = out["gone"].get(kind, 0) + count
        out["problems"] += [p for p in picture.get("problems", []) if p not in out["problems"]]
        for node in picture.get("nodes", []):
            into = nodes.setdefault(node["name"], {"name": node["name"], "problems": []})
            for key, value in node.items():
                if isinstance(value, dict):
                    into.setdefault(key, {}).update(value)
                elif key == "problems":
                    into["problems"] += [p for p in value if p not in into["problems"]]
    out["nodes"] = [nodes[n] for n in sorted(nodes)]
    return out
