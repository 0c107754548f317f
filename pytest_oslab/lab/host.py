"""The host side of the lab: firewall tools the Zed agents need, and the lab's own network plumbing.

Plumbing (all devices and namespaces are the lab's own; the host's interface, address, routes and DNS are never
touched):

- ``oslab-prov0`` <-> ``oslab-prov1``: the provider "physical" network. ``oslab-prov0`` is the physical interface
  the L2 agent bridges; ``oslab-prov1`` lives in the namespace ``oslab-upstream``, which plays the provider
  network's upstream router: there it is a port of ``oslab-pbr``, the provider network's switch, which holds the
  provider gateway address and, for each compute node, the veth of that node's provider interface.
- ``oslab-pub0`` <-> ``oslab-pub1``: the second flat physical network, ``public`` (the devstack profile's
  external network, ``devstack.py``), the same way: ``oslab-pub1`` is a port of ``oslab-pubbr`` in
  ``oslab-upstream``, which holds the public range's gateway address. The compute nodes have no leg on it: only
  the controller (the network node) carries routers' gateways, and a member cannot attach a server to it.
- ``oslab-up0`` <-> ``oslab-up1``: the host's link into ``oslab-upstream``, with host routes to the provider
  and public ranges through it, so the host reaches floating IPs as on devstack. Nothing is routed out of the
  machine.
- ``oslab-vx0`` <-> ``oslab-vx1``: carries the vxlan tunnel endpoint address (on Open vSwitch, through
  ``br-underlay``: see ``UNDERLAY_BRIDGE``).
- ``oslab-mgmt``: the bridge of the lab nodes' management network (``node.py``), holding ``oslab-vx1`` and each
  node's veth, so that the nodes and the tunnel address share one segment of the tunnel range.
"""
from __future__ import annotations

import ipaddress
import re
import json
import shutil
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import List, Tuple

from . import plumbing, proc
from .steps import LabError

UPSTREAM_NS = "oslab-upstream"
PROVIDER_IF, PROVIDER_PEER = "oslab-prov0", "oslab-prov1"
PROVIDER_SWITCH = "oslab-pbr"  # in UPSTREAM_NS: PROVIDER_PEER and each compute node's provider veth
PROVIDER_GATEWAY_MAC = "02:00:c6:12:0a:01"  # the switch's, so the gateway's MAC stays as nodes come and go
PUBLIC_IF, PUBLIC_PEER = "oslab-pub0", "oslab-pub1"
PUBLIC_SWITCH = "oslab-pubbr"  # in UPSTREAM_NS: PUBLIC_PEER, with the public range's gateway address
UPLINK_IF, UPLINK_PEER = "oslab-up0", "oslab-up1"
TUNNEL_IF, TUNNEL_PEER = "oslab-vx0", "oslab-vx1"
MGMT_BRIDGE = "oslab-mgmt"  # lab nodes' management network, holding TUNNEL_PEER and each node's veth
LAB_LINKS = (PROVIDER_IF, PUBLIC_IF, UPLINK_IF, TUNNEL_IF, MGMT_BRIDGE)
PROVIDER_BRIDGE = "br-provider"  # Open vSwitch: the provider network's bridge, holding PROVIDER_IF
# ML2/OVN: the public network's bridge on the controller (the gateway chassis), holding PUBLIC_IF
PUBLIC_BRIDGE = "br-public"
# Open vSwitch: the bridge holding the tunnel address and its device. The userspace datapath (this kernel has no
# openvswitch module) sends a vxlan or geneve packet out of the OVS bridge whose own interface its route to the
# peer goes through; a tunnel address on a device outside OVS gives "native tunnel routing failed" and no packet.
UNDERLAY_BRIDGE = "br-underlay"
OWN_DEVICES = (*LAB_LINKS, UNDERLAY_BRIDGE)  # the lab's own devices on the machine (neutron's aside)
EBTABLES_WRAPPER = Path("/usr/local/sbin/ebtables-neutron")
LIBVIRTD_CONF = Path("/etc/libvirt/libvirtd.conf")
LIBVIRT_AUTH = {
    "unix_sock_group": '"libvirt"', "unix_sock_ro_perms": '"0777"', "unix_sock_rw_perms": '"0770"',
    "auth_unix_ro": '"none"', "auth_unix_rw": '"none"',
}
SYSCTLS = {"net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}
# Devices neutron and nova make for the lab's networks and ports (removed by `lab down`).
NEUTRON_DEVICE = re.compile(r"^((brq|tap|qbr|qvb|qvo)[0-9a-f]{8}-[0-9a-f]{2}|vxlan-\d+)$")


def sh(*argv: str, check: bool = True) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()[:200]}")
    return proc.stdout


def ip_json(*args: str, netns: str = None) -> list:
    argv = (["ip", "-n", netns] if netns else ["ip"]) + ["-j", *args]
    out = sh(*argv, check=False)
    return json.loads(out) if out.strip() else []


def _alternative(name: str) -> str:
    out = sh("update-alternatives", "--query", name, check=False)
    for line in out.splitlines():
        if line.startswith("Value:"):
            return line.split(":", 1)[1].strip()
    return ""


# ---------------------------------------------------------------- firewall tools, sysctls, libvirt access

def host_tools_done(lab) -> bool:
    wrapper = resources.files("pytest_oslab.lab").joinpath("files/ebtables-neutron").read_text()
    libvirt = LIBVIRTD_CONF.read_text() if LIBVIRTD_CONF.exists() else ""
    return (_alternative("iptables") == "/usr/sbin/iptables-legacy"
            and _alternative("ip6tables") == "/usr/sbin/ip6tables-legacy"
            and _alternative("ebtables") == str(EBTABLES_WRAPPER)
            and EBTABLES_WRAPPER.exists() and EBTABLES_WRAPPER.read_text() == wrapper
            and all(f"{k} = {v}" in libvirt for k, v in LIBVIRT_AUTH.items())
            and all(Path("/proc/sys", k.replace(".", "/")).read_text().strip() == v for k, v in SYSCTLS.items()))


def host_tools(lab) -> None:
    """iptables-legacy for the Zed agents; ebtables-nft behind a wrapper; libvirt reachable by nova's group."""
    sh("update-alternatives", "--set", "iptables", "/usr/sbin/iptables-legacy")
    sh("update-alternatives", "--set", "ip6tables", "/usr/sbin/ip6tables-legacy")
    EBTABLES_WRAPPER.write_text(resources.files("pytest_oslab.lab").joinpath("files/ebtables-neutron").read_text())
    EBTABLES_WRAPPER.chmod(0o755)
    sh("update-alternatives", "--install", "/usr/sbin/ebtables", "ebtables", str(EBTABLES_WRAPPER), "5")
    sh("update-alternatives", "--set", "ebtables", str(EBTABLES_WRAPPER))
    lines = [l for l in LIBVIRTD_CONF.read_text().splitlines()
             if l.split("=", 1)[0].strip() not in LIBVIRT_AUTH] if LIBVIRTD_CONF.exists() else []
    lines += [f"{k} = {v}" for k, v in LIBVIRT_AUTH.items()]
    LIBVIRTD_CONF.write_text("\n".join(lines) + "\n")
    for key, value in SYSCTLS.items():
        sh("sysctl", "-qw", f"{key}={value}")


# ---------------------------------------------------------------- plumbing

REGISTRY_HOSTS = ("pypi.org", "files.pythonhosted.org")


def _apt_hosts() -> List[str]:
    hosts = set()
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        try:
            text = path.read_text()
        except OSError:
            continue
        hosts.update(re.findall(r"https?://([^/\s:]+)", text))
    return sorted(hosts)


def needed_addresses() -> List[tuple]:
    """(address, what) the host must keep reaching: its resolvers and the package mirrors' addresses."""
    found = []
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            if line.split()[:1] == ["nameserver"] and len(line.split()) > 1:
                found.append((line.split()[1], "nameserver"))
    except OSError:
        pass
    for host in (*_apt_hosts(), *REGISTRY_HOSTS):
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET)
        except OSError:
            continue
        found += [(info[4][0], host) for info in infos]
    return sorted(set(found))


def overlapping_ranges(lab) -> List[str]:
    """The lab's ranges that overlap an address or route of the host, a resolver or a package mirror."""
    mine = [ipaddress.ip_network(c) for c in (lab.provider_cidr, lab.public_cidr, lab.tunnel_cidr,
                                             lab.uplink_cidr, lab.selfservice_cidr)]
    found = []
    for address, what in needed_addresses():
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        found += [f"{m} contains {ip} ({what})" for m in mine if ip in m]
    for entry in ip_json("addr"):
        if entry.get("ifname") in OWN_DEVICES or NEUTRON_DEVICE.match(str(entry.get("ifname", ""))):
            continue
        for a in entry.get("addr_info", []):
            if a.get("family") != "inet":
                continue
            net = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
            found += [f"{m} overlaps {net} on {entry['ifname']}" for m in mine if m.overlaps(net)]
    for route in ip_json("route"):
        dst, dev = route.get("dst"), route.get("dev", "")
        if dst in (None, "default") or dev in OWN_DEVICES or NEUTRON_DEVICE.match(dev):
            continue
        net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        found += [f"{m} overlaps route {net} dev {dev}" for m in mine if m.overlaps(net)]
    return sorted(set(found))


def _prefix(cidr: str) -> int:
    return ipaddress.ip_network(cidr).prefixlen


def wanted_plumbing(lab) -> List[plumbing.Want]:
    """The one-node lab's links, addresses and routes, in the order they are made."""
    return [
        plumbing.Namespace(UPSTREAM_NS),
        plumbing.Up("lo", UPSTREAM_NS),
        plumbing.Veth(PROVIDER_IF, PROVIDER_PEER, peer_netns=UPSTREAM_NS),
        plumbing.Veth(UPLINK_IF, UPLINK_PEER, peer_netns=UPSTREAM_NS),
        plumbing.Veth(TUNNEL_IF, TUNNEL_PEER),
        plumbing.Bridge(PROVIDER_SWITCH, UPSTREAM_NS, mac=PROVIDER_GATEWAY_MAC),
        plumbing.Port(PROVIDER_PEER, PROVIDER_SWITCH, UPSTREAM_NS),
        plumbing.NoTxChecksum(PROVIDER_PEER, UPSTREAM_NS),  # into br-provider on Open vSwitch
        plumbing.Address(PROVIDER_SWITCH, f"{lab.provider_gateway}/{_prefix(lab.provider_cidr)}", UPSTREAM_NS),
        # where labs made before the switch had the gateway address
        plumbing.NoAddress(PROVIDER_PEER, f"{lab.provider_gateway}/{_prefix(lab.provider_cidr)}", UPSTREAM_NS),
        plumbing.Up(PROVIDER_SWITCH, UPSTREAM_NS),
        plumbing.Address(UPLINK_PEER, f"{lab.uplink_ns_ip}/{_prefix(lab.uplink_cidr)}", UPSTREAM_NS),
        plumbing.Up(PROVIDER_PEER, UPSTREAM_NS),
        plumbing.Up(UPLINK_PEER, UPSTREAM_NS),
        plumbing.Forwarding(UPSTREAM_NS),
        plumbing.Address(UPLINK_IF, f"{lab.uplink_host_ip}/{_prefix(lab.uplink_cidr)}"),
        *([plumbing.Address(TUNNEL_IF, tunnel_cidr(lab)),
           # on Open vSwitch the address lives on br-underlay, a tap of ovs-vswitchd's that outlives it: left
           # holding the address (a switch cut short, vswitchd killed), its dead route would win over the veth's
           plumbing.NoAddress(UNDERLAY_BRIDGE, tunnel_cidr(lab))] if lab.driver == "linuxbridge" else []),
        *[plumbing.Up(dev) for dev in (PROVIDER_IF, UPLINK_IF, TUNNEL_IF, TUNNEL_PEER)],
        plumbing.NoTxChecksum(TUNNEL_PEER),  # into br-underlay on Open vSwitch
        plumbing.Route(lab.provider_cidr, lab.uplink_ns_ip, UPLINK_IF),
        *public_network(lab),
        *management_bridge(),
    ]


def tunnel_cidr(lab) -> str:
    return f"{lab.tunnel_ip}/{_prefix(lab.tunnel_cidr)}"


def public_network(lab) -> List[plumbing.Want]:
    """The physical network ``public``: its veth into the upstream namespace, its switch there holding the
    gateway address, and the host's route to its range."""
    gateway = f"{lab.public_gateway}/{_prefix(lab.public_cidr)}"
    return [
        plumbing.Veth(PUBLIC_IF, PUBLIC_PEER, peer_netns=UPSTREAM_NS),
        plumbing.Bridge(PUBLIC_SWITCH, UPSTREAM_NS),
        plumbing.Port(PUBLIC_PEER, PUBLIC_SWITCH, UPSTREAM_NS),
        plumbing.NoTxChecksum(PUBLIC_PEER, UPSTREAM_NS),  # into br-public on OVN
        plumbing.Address(PUBLIC_SWITCH, gateway, UPSTREAM_NS),
        plumbing.Up(PUBLIC_SWITCH, UPSTREAM_NS),
        plumbing.Up(PUBLIC_PEER, UPSTREAM_NS),
        plumbing.Up(PUBLIC_IF),
        plumbing.Route(lab.public_cidr, lab.uplink_ns_ip, UPLINK_IF),
    ]


def management_bridge() -> List[plumbing.Want]:
    """The bridge of the lab nodes' management network, joined to the far end of the tunnel address's veth."""
    return [plumbing.Bridge(MGMT_BRIDGE), plumbing.Port(TUNNEL_PEER, MGMT_BRIDGE), plumbing.Up(MGMT_BRIDGE)]


def plumbing_done(lab) -> bool:
    return not plumbing.missing(wanted_plumbing(lab))


def make_plumbing(lab) -> None:
    clashes = overlapping_ranges(lab)
    if clashes:
        raise LabError("lab address ranges clash with the host's: " + "; ".join(clashes[:3]))
    plumbing.ensure(wanted_plumbing(lab))


def remove_neutron_devices() -> List[str]:
    """Remove the namespaces and devices neutron and nova made for the lab's networks and ports."""
    removed = plumbing.remove_namespaces(
        ns for ns in plumbing.namespaces() if ns.startswith(("qdhcp-", "qrouter-", "ovnmeta-")))
    return removed + plumbing.remove_links(name for name in plumbing.links() if NEUTRON_DEVICE.match(name))


NEUTRON_STATE = "/var/lib/neutron/"  # what the agents' own children (dnsmasq, haproxy, keepalived) name


def neutron_children(state: str = NEUTRON_STATE, unless: str = "") -> List[int]:
    """The live processes the agents started and left to run on their own (dnsmasq, the metadata proxies' haproxy,
    keepalived): those whose command line names neutron's state directory ``state`` (and not ``unless``)."""
    return proc.matching(lambda line: state in line and not _agent_or_its_container(line.split(" ", 1)[0])
                         and not (unless and unless in line))


def _agent_or_its_container(program: str) -> bool:
    """An agent itself, or what runs it in its container (``containers.py``): not one of the agents' children."""
    return "neutron-" in program or program.rsplit("/", 1)[-1] in ("podman", "unshare", "conmon")


def stop_neutron_children(timeout: float = 10.0, state: str = NEUTRON_STATE, unless: str = "") -> List[str]:
    """Stop what ``neutron_children`` finds (the agents stopped first): SIGTERM, SIGKILL after ``timeout``."""
    pids = neutron_children(state, unless)
    names = {pid: proc.name_of(pid) for pid in pids}
    proc.end(pids, timeout)
    return [f"{names[pid]} (pid {pid})" for pid in pids if names[pid] is not None]


def remove_plumbing(lab) -> List[str]:
    """Remove the lab's own links, its upstream namespace and neutron's namespaces and devices for it."""
    removed = plumbing.remove_links(OWN_DEVICES) + plumbing.remove_namespaces([UPSTREAM_NS])
    return removed + remove_neutron_devices()


# ---------------------------------------------------------------- Open vSwitch (userspace datapath)

def _vsctl(*args: str, check: bool = True) -> str:
    return sh("ovs-vsctl", "--timeout=20", *args, check=check)


OVSDB_PORT = 6640  # ovsdb-server's TCP remote, where neutron's agents connect
OS_VIF_OVSDB_PORT = 6639  # on ML2/OVN, os-vif's relay in front of it (ovsdb_filter)
OVSDB_MANAGER = f"ptcp:{OVSDB_PORT}:127.0.0.1"


def physical_bridges(lab) -> List[Tuple[str, str]]:
    """(Open vSwitch bridge, its physical port) on the controller: the provider network's, and on OVN the public
    network's (the devstack profile's external network: OVN's gateway chassis, the controller, carries it)."""
    return [(PROVIDER_BRIDGE, PROVIDER_IF)] + ([(PUBLIC_BRIDGE, PUBLIC_IF)] if lab.driver == "ovn" else [])


def bridge_mappings(gateway: bool) -> str:
    """The physical networks' bridges: the provider network on every node, the public one on the gateway (OVN)."""
    return f"provider:{PROVIDER_BRIDGE}" + (f",public:{PUBLIC_BRIDGE}" if gateway else "")


def ovs_bridges_done(lab) -> bool:
    if lab.driver == "linuxbridge":
        return True
    out = _vsctl("--format=json", "--columns=name,datapath_type", "list", "Bridge", check=False)
    try:
        rows = {r[0]: r[1] for r in json.loads(out)["data"]}
    except (ValueError, KeyError):
        return False
    managers = _vsctl("get-manager", check=False).split()
    return (all(rows.get(bridge) == "netdev" and port in _vsctl("list-ports", bridge, check=False).split()
                for bridge, port in physical_bridges(lab))
            and OVSDB_MANAGER in managers and not underlay_missing(TUNNEL_IF, tunnel_cidr(lab), _vsctl))


def ovs_bridges(lab) -> None:
    """The physical networks' bridges on the userspace datapath, each with its veth as its physical port; the OVS
    database listening on 127.0.0.1:6640, where neutron's agents (the OVN metadata agent too) connect."""
    _vsctl("set-manager", OVSDB_MANAGER)
    for bridge, port in physical_bridges(lab):
        plumbing.release(port)  # still enslaved to a Linux bridge of the previous driver
        _vsctl("--may-exist", "add-br", bridge, "--", "set", "Bridge", bridge, "datapath_type=netdev",
               "--", "--may-exist", "add-port", bridge, port)
        plumbing.ensure([plumbing.Up(port)])
    move_to_underlay(TUNNEL_IF, tunnel_cidr(lab), _vsctl)


def underlay(device: str, cidr: str, netns: str = None) -> List[plumbing.Want]:
    """The tunnel address on the underlay bridge, none left on the device the bridge holds."""
    return [plumbing.NoAddress(device, cidr, netns), plumbing.Address(UNDERLAY_BRIDGE, cidr, netns),
            plumbing.Up(UNDERLAY_BRIDGE, netns), plumbing.Up(device, netns)]


def underlay_missing(device: str, cidr: str, vsctl, netns: str = None) -> List[str]:
    """What of the underlay bridge is not as ``move_to_underlay`` makes it (``vsctl``: ovs-vsctl of that switch)."""
    found = [] if device in vsctl("list-ports", UNDERLAY_BRIDGE, check=False).split() \
        else [f"{device} is not a port of {UNDERLAY_BRIDGE}"]
    return found + plumbing.missing(underlay(device, cidr, netns))


def move_to_underlay(device: str, cidr: str, vsctl, netns: str = None) -> None:
    """``device`` made the port of the underlay bridge (netdev, with the device's MAC, so that no neighbour keeps a
    stale entry) and the tunnel address ``cidr`` moved from the device to the bridge's own interface."""
    mac = plumbing.mac(device, netns)
    vsctl("--may-exist", "add-br", UNDERLAY_BRIDGE, "--", "set", "Bridge", UNDERLAY_BRIDGE, "datapath_type=netdev",
          f'other_config:hwaddr="{mac}"', "--", "--may-exist", "add-port", UNDERLAY_BRIDGE, device)
    plumbing.ensure(underlay(device, cidr, netns))


CHASSIS_IDS = ("ovn-bridge-mappings", "ovn-cms-options", "datapath-type")
SB = "--db=tcp:127.0.0.1:6642"  # the controller's southbound DB, from the machine


def chassis_wanted(gateway: bool) -> dict:
    """What neutron reads from a Chassis' external_ids: its bridge mappings and datapath type, and on the
    controller (the network node) the option that makes it a gateway chassis."""
    return {"ovn-bridge-mappings": bridge_mappings(gateway), "datapath-type": "netdev",
            **({"ovn-cms-options": "enable-chassis-as-gw"} if gateway else {})}


def ovsdb_map(cell) -> dict:
    """A map column of ``--format=json`` output (``["map", [[k, v], ...]]``) as a dict."""
    return dict(cell[1]) if isinstance(cell, list) and len(cell) == 2 and cell[0] == "map" else {}


def chassis_external_ids(listing: str) -> dict:
    """{chassis name: its external_ids} from ``ovn-sbctl --format=json --columns=name,external_ids list
    Chassis`` (empty when the output is not that: the database did not answer)."""
    try:
        rows = json.loads(listing)["data"]
    except (ValueError, KeyError, TypeError):
        return {}
    return {name: ovsdb_map(ids) for name, ids in rows}


def chassis_missing(name: str, wanted: dict, listing: str) -> List[str]:
    """What of ``wanted`` the chassis ``name`` lacks in its external_ids (``listing`` as ``chassis_external_ids``
    reads it), each as the key with expected and actual values."""
    chassis = chassis_external_ids(listing)
    if name not in chassis:
        return [f"chassis {name} is not in the southbound database (registered: {sorted(chassis) or 'none'})"]
    return [f"chassis {name}: external_ids:{k} is {chassis[name].get(k)!r}, expected {v!r}"
            for k, v in wanted.items() if chassis[name].get(k) != v]


def chassis_listing() -> str:
    return sh("ovn-sbctl", SB, "--timeout=10", "--format=json", "--columns=name,external_ids", "list", "Chassis",
              check=False)


def copy_to_chassis(name: str, wanted: dict, log: Path, timeout: float = 60.0) -> List[str]:
    """neutron 21 reads bridge mappings and gateway options from the Chassis' external_ids, where OVN 23.03 no
    longer writes them (it uses other_config): copy ``wanted`` there once ``name``'s ovn-controller (logging to
    ``log``) has registered it, or the provider network never binds. What was done (empty: it was there)."""
    deadline = time.monotonic() + timeout
    while True:
        listing = chassis_listing()
        if name in chassis_external_ids(listing):
            break
        if time.monotonic() > deadline:
            raise LabError(f"ovn-controller did not register chassis {name!r} in the southbound database in "
                           f"{timeout:.0f}s", log=str(log))
        time.sleep(1)
    if not chassis_missing(name, wanted, listing):
        return []
    sh("ovn-sbctl", SB, "--timeout=10", "set", "Chassis", name, *[f'external_ids:{k}="{v}"' for k, v in wanted.items()])
    return [f"chassis {name}'s external_ids for neutron"]


def delete_chassis(name: str) -> List[str]:
    """The chassis ``name`` (its Encap rows go with it) deleted from the southbound database, if it answers."""
    if name not in chassis_external_ids(chassis_listing()):
        return []
    sh("ovn-sbctl", SB, "--timeout=10", "--if-exists", "chassis-del", name)
    return [f"chassis {name}"]


def ovn_chassis_done(lab) -> bool:
    return lab.driver != "ovn" or not chassis_missing(lab.hostname, chassis_wanted(gateway=True), chassis_listing())


def ovn_chassis(lab) -> None:
    """The controller's chassis' external_ids for neutron (``copy_to_chassis``)."""
    copy_to_chassis(lab.hostname, chassis_wanted(gateway=True), lab.logs / "ovn-controller.log")


def loopback_ok() -> bool:
    """Every lab API listens on 127.0.0.1: the host's loopback must carry it."""
    return not plumbing.missing([plumbing.Address("lo", "127.0.0.1/8")])


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None
