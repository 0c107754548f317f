"""Deliberate breakages of the live lab: each makes the suite's own check for its fact fail with a message that
names the object, and the check passes again once the lab is healed; at the end the whole suite passes.

How: one ``pytest <suite tests> --cloud lab`` session runs with this module loaded as a plugin (``-p
test_breakages``). Around each suite test listed in BREAKAGES it judges the test three times, on the same servers
and fixtures the suite made: as the lab is (it must pass), broken (it must fail, naming the object), healed
(it must pass again, retried while the lab settles). Each heal restores exactly what its breakage changed (an
agent stopped is started again by ``oslab lab up``). The outcomes go to a JSON file that the tests below read.

The lab is this machine: breakages are made with its own tools (``ip``, ``iptables``, files, signals by PID).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from pytest_oslab.checks import between, guests, names
from pytest_oslab.lab import daemons, proc, switch, node as lab_node
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.services import all_daemons

ROOT = Path(__file__).resolve().parents[2]
OSLAB = str(Path(sys.executable).parent / "oslab")
OUT_ENV = "OSLAB_BREAKAGES_OUT"
Heal = Callable[[], None]


# --- the lab's own tools ---------------------------------------------------------------------------------------

def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"`{shlex.join(argv)}` exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def link(name: str, namespace: str = "") -> dict:
    ns = ["-n", namespace] if namespace else []
    return json.loads(sh("ip", *ns, "-j", "-d", "addr", "show", "dev", name))[0]


def wait_for(what: str, test: Callable[[], bool], timeout: float, pause: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not so after {timeout:.0f}s")
        time.sleep(pause)


def delete_rule(chain: str, matches: Callable[[str], bool]) -> Tuple[Heal, str]:
    """Delete the first rule of ``chain`` whose ``iptables -S`` line ``matches``; the heal puts it back at the same
    place unless the agent already did."""
    rules = [line for line in sh("iptables", "-w", "-S", chain).splitlines() if line.startswith("-A ")]
    index = next(i for i, line in enumerate(rules) if matches(line))
    spec = shlex.split(rules[index])[2:]
    sh("iptables", "-w", "-D", chain, *spec)

    def heal():
        if subprocess.run(["iptables", "-w", "-C", chain, *spec], capture_output=True).returncode != 0:
            sh("iptables", "-w", "-I", chain, str(index + 1), *spec)
    return heal, rules[index]


def edit_file(path: str, change: Callable[[str], str]) -> Heal:
    """Change a file in place (same inode, owner, mode); the heal writes the original back unless the agent has
    rewritten the file meanwhile."""
    original = Path(path).read_text()
    broken = change(original)
    assert broken != original, f"the breakage changes nothing in {path}"
    with open(path, "w") as f:
        f.write(broken)

    def heal():
        if Path(path).read_text() == broken:
            with open(path, "w") as f:
                f.write(original)
    return heal


def processes_with(text: str) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# --- the breakages ---------------------------------------------------------------------------------------------

def tap_mtu(args):
    b = args["instance"]
    tap = names.tap(b.port.id)
    mtu = link(tap)["mtu"]
    sh("ip", "link", "set", "dev", tap, "mtu", str(mtu - 50))
    return (lambda: sh("ip", "link", "set", "dev", tap, "mtu", str(mtu))), [
        f"device {tap}", f"MTU: expected {b.network.mtu} (network MTU), actual {mtu - 50}", b.server.name,
        f"port {b.port.id}"]


def tap_out_of_bridge(args):
    b = args["instance"]
    tap, master = names.tap(b.port.id), link(names.tap(b.port.id))["master"]
    sh("ip", "link", "set", "dev", tap, "nomaster")
    return (lambda: sh("ip", "link", "set", "dev", tap, "master", master)), [
        f"device {tap}", f"master: expected {names.brq(b.network.id)} (ML2/linuxbridge", "actual nothing"]


def host_line_removed(args):
    b = args["instance"]
    path = f"{names.dhcp_dir(b.network.id)}/host"
    heal = edit_file(path, lambda text: "".join(line for line in text.splitlines(True)
                                                if not line.rstrip("\n").endswith(f",{b.ip}")))
    return heal, [f"{path} line for {b.ip}", "actual no line", f"port {b.port.id}"]


def host_line_other_ip(args):
    """I2: the port's MAC in the host file with another IP: the message shows the line the MAC has."""
    b = args["instance"]
    path = f"{names.dhcp_dir(b.network.id)}/host"
    mac = b.port.mac_address.lower()
    heal = edit_file(path, lambda text: "".join(
        line.replace(f",{b.ip}", ",10.99.99.99") if line.startswith(f"{mac},") else line
        for line in text.splitlines(True)))
    return heal, [f"{path} line for {b.ip}: expected", "actual no line (the port's MAC is on", ",10.99.99.99'",
                  f"port {b.port.id}"]


def dhcp_tap_mtu_in_bridge(args):
    """N13: the DHCP port's tap, a member of brq<net>, below the network's MTU."""
    net = args["net"]
    tap = names.tap(net.dhcp_ports[0].id)
    mtu = link(tap)["mtu"]
    sh("ip", "link", "set", "dev", tap, "mtu", str(mtu - 50))
    return (lambda: sh("ip", "link", "set", "dev", tap, "mtu", str(mtu))), [
        f"member {tap} (DHCP port {net.dhcp_ports[0].id[:8]}) MTU: expected {net.network.mtu} (network MTU), actual "
        f"{mtu - 50}", f"network {net.network.name}"]


def foreign_member_in_bridge(args):
    """N13 judged whole: a device of no port of the network enslaved to its bridge (it would join what it carries
    to the network)."""
    net = args["net"]
    bridge, device = names.brq(net.network.id), "oslab-foreign"
    sh("ip", "link", "add", device, "type", "veth", "peer", "name", "oslab-foreignp")
    sh("ip", "link", "set", "dev", device, "master", bridge, "up")
    return (lambda: sh("ip", "link", "del", "dev", device)), [
        f"member {device}: expected only {bridge}'s uplink and taps of network", f"actual {device} is neither",
        f"network {net.network.name}"]


def dhcp_device_extra_address(args):
    """N7 judged whole: an address of no port on the DHCP device (it answers ARP for it on the network)."""
    net = args["net"]
    device, namespace = names.ns_device(net.dhcp_ports[0].id), names.qdhcp(net.network.id)
    sh("ip", "-n", namespace, "addr", "add", "10.99.0.1/24", "dev", device)

    def heal():
        if "10.99.0.1" in sh("ip", "-n", namespace, "-4", "addr", "show", "dev", device):
            sh("ip", "-n", namespace, "addr", "del", "10.99.0.1/24", "dev", device)
    return heal, ["address 10.99.0.1/24: expected only the DHCP port's fixed IPs and 169.254.169.254, actual "
                  "10.99.0.1/24 besides", f"namespace {namespace}"]


def addn_hosts_line_removed(args):
    b = args["instance"]
    path = f"{names.dhcp_dir(b.network.id)}/addn_hosts"
    heal = edit_file(path, lambda text: "".join(line for line in text.splitlines(True)
                                                if not line.startswith(f"{b.ip}\t")))
    return heal, [f"{path} line for {b.ip}", "actual no line"]


def ingress_ssh_rule_deleted(args):
    b = args["instance"]
    chain = names.chains(b.port.id)["in"]
    heal, _ = delete_rule(chain, lambda line: "--dport 22 " in line and line.endswith("-j RETURN"))
    return heal, [f"{chain}: expected a RETURN for rule", "(ingress IPv4 tcp 22 from 0.0.0.0/0), actual none",
                  f"chain {chain}"]


def insert_rule(chain: str, spec: List[str], position: int = 1) -> Heal:
    """Insert a rule into ``chain`` (an operator's extra allow); the heal deletes it unless the agent already has."""
    sh("iptables", "-w", "-I", chain, str(position), *spec)

    def heal():
        if subprocess.run(["iptables", "-w", "-C", chain, *spec], capture_output=True).returncode == 0:
            sh("iptables", "-w", "-D", chain, *spec)
    return heal


def ingress_allow_all_inserted(args):
    """S1 judged whole: an allow-all RETURN first in the port's ingress chain, before every documented rule."""
    b = args["instance"]
    chain = names.chains(b.port.id)["in"]
    return insert_rule(chain, ["-j", "RETURN"]), [
        f"{chain}: expected only RETURNs that the port's security-group rules or the documented fixed rules imply, "
        f"actual rule #1 lets traffic through: -A {chain} -j RETURN", f"port {b.port.id}"]


def egress_accept_inserted(args):
    """S2 judged whole: an ACCEPT for a foreign source before the jump to the spoofing chain."""
    b = args["instance"]
    chain = names.chains(b.port.id)["out"]
    return insert_rule(chain, ["-s", "10.66.0.0/16", "-j", "ACCEPT"]), [
        f"actual rule #1 lets traffic through: -A {chain} -s 10.66.0.0/16 -j ACCEPT", f"port {b.port.id}"]


def spoofing_rule_deleted(args):
    b = args["instance"]
    chain = names.chains(b.port.id)["spoof"]
    heal, _ = delete_rule(chain, lambda line: "--mac-source" in line)
    return heal, [f"{chain}: expected RETURN for {b.ip} with MAC {b.port.mac_address}"]


def sg_chain_jump_deleted(args):
    b = args["instance"]
    chains, tap = names.chains(b.port.id), names.tap(b.port.id)
    heal, _ = delete_rule(chains["sg-chain"], lambda line: f"--physdev-out {tap} " in line)
    return heal, [f"{chains['sg-chain']}: expected a jump to {chains['in']} for --physdev-out {tap}"]


def bridge_nf_call_off(args):
    """S4's kernel half: bridged traffic no longer sent through iptables (every chain intact, none consulted)."""
    b = args["instance"]
    key = "net.bridge.bridge-nf-call-iptables"
    before = sh("sysctl", "-n", key).strip()
    sh("sysctl", "-q", "-w", f"{key}=0")
    return (lambda: sh("sysctl", "-q", "-w", f"{key}={before}")), [
        f"{key}: expected 1 (bridged traffic through the iptables firewall), actual 0", f"server {b.server.name}"]


def bridge_nf_call_off_traffic(args):
    """S4 by traffic: the same kernel switch, seen from a peer guest: a closed port answers with a reset and ping
    gets replies, the group opening neither."""
    b = args["guarded_server"]
    key = "net.bridge.bridge-nf-call-iptables"
    before = sh("sysctl", "-n", key).strip()
    sh("sysctl", "-q", "-w", f"{key}=0")
    return (lambda: sh("sysctl", "-q", "-w", f"{key}={before}")), [
        f"TCP {b.ip}:8080 (opened by no rule): expected no answer (dropped), actual refused",
        f"ping {b.ip} (ICMP opened by no rule): expected no reply, actual replies"]


def opts_mtu_changed(args):
    """N10: the network's ``opts`` file gives its subnet another MTU (a subnet's tag wins over the command line)."""
    net = args["net"]
    path = f"{names.dhcp_dir(net.network.id)}/opts"
    line = f"tag:subnet-{net.subnet.id},option:mtu,{net.network.mtu - 50}"
    heal = edit_file(path, lambda text: text.rstrip("\n") + f"\n{line}\n")
    return heal, [f"{path} line {line}: MTU: expected {net.network.mtu} (network MTU), actual {net.network.mtu - 50}",
                  f"network {net.network.name}"]


# --- on the other drivers (judged when the lab runs them: `oslab lab up --driver openvswitch --firewall F`) ----

def hybrid_ingress_allow_all_inserted(args):
    """S1 on OVS hybrid plugging: the allow-all RETURN first in a ``neutron-openvswi-i`` chain."""
    b = args["instance"]
    chain = names.chains(b.port.id, "openvswitch")["in"]
    return insert_rule(chain, ["-j", "RETURN"]), [f"actual rule #1 lets traffic through: -A {chain} -j RETURN",
                                                  f"port {b.port.id}"]


def qvb_released(args):
    """I7 on OVS hybrid plugging: ``qvb`` released from its ``qbr`` (the guest cut off from br-int)."""
    b = args["instance"]
    qvb, qbr = names.qvb(b.port.id), names.qbr(b.port.id)
    sh("ip", "link", "set", "dev", qvb, "nomaster")
    return (lambda: sh("ip", "link", "set", "dev", qvb, "master", qbr)), [
        f"{qvb} master: expected {qbr} (OVS hybrid plugging), actual nothing", f"port {b.port.id}"]


def native_extra_flow(args):
    """S1 on the OVS native firewall: a flow in the port's ingress rules table (82) letting in TCP 8080, which no
    rule of its groups opens."""
    b = args["instance"]
    ofport = sh("ovs-vsctl", "get", "Interface", names.tap(b.port.id), "ofport").strip()
    match = f"table=82,priority=77,ct_state=+new-est,tcp,reg5={hex(int(ofport))},tp_dst=8080"
    sh("ovs-ofctl", "add-flow", "br-int", f"{match},actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:{ofport}")
    return (lambda: sh("ovs-ofctl", "del-flows", "--strict", "br-int", match)), [
        f"table 82: expected only flows that the port's security-group rules or the documented conntrack states "
        f"imply to let traffic in, actual a flow for ofport {ofport} lets it through:", "tp_dst=8080",
        f"port {b.port.id}"]


def dhcp_tap_retagged(args):
    """N12: the DHCP port's tap on another local VLAN than the network's other br-int ports."""
    net = args["net"]
    tap = names.tap(net.dhcp_ports[0].id)
    tag = sh("ovs-vsctl", "get", "Port", tap, "tag").strip()
    sh("ovs-vsctl", "set", "Port", tap, "tag=99")
    return (lambda: sh("ovs-vsctl", "set", "Port", tap, f"tag={tag}")), [
        f"{tap} tag: expected the tag of the network's other br-int ports, actual 99 where",
        f"network {net.network.name}"]


NB = "--db=tcp:127.0.0.1:6641"  # the lab's OVN northbound DB


def ovn_stray_acl(args):
    """S1 on ML2/OVN: an ACL in the port's port group that belongs to no security-group rule, letting TCP 8080 in."""
    b = args["instance"]
    group = "pg_" + b.port.security_group_ids[0].replace("-", "_")
    match = f"outport == @{group} && ip4 && tcp && tcp.dst == 8080"
    sh("ovn-nbctl", NB, "--type=port-group", "acl-add", group, "to-lport", "1002", match, "allow-related")
    return (lambda: sh("ovn-nbctl", NB, "--type=port-group", "acl-del", group, "to-lport", "1002", match)), [
        f"{group}: expected only ACLs of the group's rules, actual an ACL of no rule: to-lport allow-related",
        "tcp.dst == 8080", f"port {b.port.id}"]


def ovn_controller_frozen(args):
    """C3 on ML2/OVN: this chassis' ovn-controller frozen (SIGSTOP by its PID; SIGCONT heals): the API still calls
    its agent alive, the node's own ovn-controller does not answer."""
    admin = args["admin_cloud"]
    agent = next(a for a in admin.network.agents() if a.agent_type.startswith("OVN Controller")  # or Gateway
                 and is_controller(a.host))  # the controller's, on three nodes too
    pid = ovn_controller_of(agent.host)
    os.kill(pid, signal.SIGSTOP)
    return (lambda: os.kill(pid, signal.SIGCONT)), [
        f"ovn-controller on {agent.host} ({agent.agent_type}): expected to answer `ovn-appctl connection-status` "
        f"within 5s, actual no answer (", f"process {pid} state T"]


def dnsmasq_stopped(args):
    network = args["net"].network
    directory = names.dhcp_dir(network.id)
    pid = int(Path(f"{directory}/pid").read_text().strip())
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    os.kill(pid, signal.SIGTERM)  # the network's own dnsmasq, by the PID its agent recorded
    wait_for(f"dnsmasq {pid} ended", lambda: not Path(f"/proc/{pid}").exists(), 20, 0.2)

    def heal():  # the DHCP agent respawns it (check_child_processes_interval); else start it as it was
        try:
            wait_for("dnsmasq respawned by the DHCP agent", lambda: processes_with(f"{directory}/host"), 90)
        except RuntimeError:
            sh("ip", "netns", "exec", names.qdhcp(network.id), *argv)
    return heal, [f"dnsmasq processes for {directory}/: expected 1, actual 0", f"network {network.name}"]


def vxlan_removed(args):
    b = args["server_a"]
    device, bridge = names.vxlan(b.network.provider_segmentation_id), names.brq(b.network.id)
    before = link(device)
    data = before["linkinfo"]["info_data"]
    sh("ip", "link", "del", "dev", device)

    def heal():
        extra = ["udpcsum" if data.get("udp_csum") else "noudpcsum", "learning" if data.get("learning") else
                 "nolearning"] + (["proxy"] if data.get("proxy") else []) + (["ttl", str(data["ttl"])] if
                                                                              data.get("ttl") else [])
        sh("ip", "link", "add", device, "type", "vxlan", "id", str(data["id"]), "local", data["local"], "dev",
           data["link"], "dstport", str(data["port"]), "ageing", str(data.get("ageing", 300)), *extra)
        sh("ip", "link", "set", "dev", device, "mtu", str(before["mtu"]), "master", bridge, "up")
        after = link(device)["linkinfo"]["info_data"]
        assert after == data, f"{device} came back different: {after} != {data}"
    return heal, [f"device {device}: expected, actual absent", f"network {b.network.name}"]


def dhcp_device_mtu(args):
    net = args["net"]
    port = net.dhcp_ports[0]
    device, namespace = names.ns_device(port.id), names.qdhcp(net.network.id)
    mtu = link(device, namespace)["mtu"]
    sh("ip", "-n", namespace, "link", "set", "dev", device, "mtu", str(mtu - 50))
    return (lambda: sh("ip", "-n", namespace, "link", "set", "dev", device, "mtu", str(mtu))), [
        f"device {device}", f"namespace {namespace}", f"MTU: expected {net.network.mtu} (network MTU), actual {mtu - 50}"]


def metadata_address_removed(args):
    net = args["net"]
    device, namespace = names.ns_device(net.dhcp_ports[0].id), names.qdhcp(net.network.id)
    address = next(a for a in link(device, namespace)["addr_info"] if a["local"] == names.METADATA_IP)
    sh("ip", "-n", namespace, "addr", "del", f"{address['local']}/{address['prefixlen']}", "dev", device)
    brd = ["brd", address["broadcast"]] if address.get("broadcast") else []
    return (lambda: sh("ip", "-n", namespace, "addr", "add", f"{address['local']}/{address['prefixlen']}", *brd,
                       "scope", address.get("scope", "global"), "dev", device)), [
        f"address: expected {names.METADATA_IP} (metadata)", f"namespace {namespace}"]


def default_route_removed(args):
    net = args["net"]
    namespace = names.qdhcp(net.network.id)
    route = json.loads(sh("ip", "-n", namespace, "-j", "route", "show", "default"))[0]
    sh("ip", "-n", namespace, "route", "del", "default")
    proto = ["proto", route["protocol"]] if route.get("protocol") else []
    return (lambda: sh("ip", "-n", namespace, "route", "add", "default", "via", route["gateway"], "dev",
                       route["dev"], *proto)), [
        f"default route gateway: expected {net.subnet.gateway_ip} (subnet gateway), actual nothing"]


def interface_file_changed(args):
    net = args["net"]
    path = f"{names.dhcp_dir(net.network.id)}/interface"
    device = names.ns_device(net.dhcp_ports[0].id)
    heal = edit_file(path, lambda text: "tapdeadbeef-00\n")
    return heal, [f"{path}: expected {device}, actual tapdeadbeef-00"]


def agent_stopped(args):
    admin = args["admin_cloud"]
    agent = next(a for a in admin.network.agents() if a.agent_type == "Metadata agent")
    lab = Lab()
    pid = daemons.recorded_pid(next(d for d in all_daemons(lab) if d.name == "neutron-metadata-agent"), lab.pids)
    assert pid, "the lab's metadata agent does not run"
    os.kill(pid, signal.SIGTERM)  # the lab's metadata agent, by the PID the lab recorded
    wait_for("the API shows the metadata agent dead",
             lambda: not admin.network.get_agent(agent.id).is_alive, 240, 5)

    def heal():
        sh(OSLAB, "lab", "up")
        wait_for("the API shows the metadata agent alive", lambda: admin.network.get_agent(agent.id).is_alive,
                 240, 5)
    return heal, [f"Metadata agent on {agent.host} (neutron-metadata-agent) alive: expected True, actual False"]


def compute_service_disabled(args):
    """C2: the compute node's nova-compute disabled through the API (`openstack compute service set --disable`)."""
    admin = args["admin_cloud"]
    service = next(s for s in admin.compute.services() if s.binary == "nova-compute")
    admin.compute.disable_service(service, service.host, service.binary, disabled_reason="oslab breakage")
    return (lambda: admin.compute.enable_service(service, service.host, service.binary)), [
        f"nova-compute on {service.host} status: expected enabled, actual disabled (disabled reason: oslab breakage)"]


def interface_detached(args):
    """I5: the port's interface detached from the running domain behind nova's back (`virsh detach-interface`);
    the heal attaches the same XML again (same MAC, tap name, bridge and PCI slot)."""
    b = args["instance"]
    name, mac = b.instance_name, b.port.mac_address.lower()
    xml = sh("virsh", "dumpxml", name)
    # an unplug asked before the guest's ACPI is up is lost (plain QEMU, the lab's kernel as ELF or bzImage, with and
    # without acpi=noirq: device_del 0.5 s into a boot never took), and the check may run as soon as the server is
    # ACTIVE: wait for the guest's SSH-READY first
    console = Path(re.search(r"<log file='([^']+)'", xml).group(1))
    wait_for(f"{name} booted", lambda: "SSH-READY" in console.read_text(errors="replace"), 120, 1)
    device = next(m.group(0) for m in re.finditer(r"<interface .*?</interface>", xml, re.S) if mac in m.group(0))
    device = "\n".join(line for line in device.splitlines() if "<alias " not in line)  # libvirt's own name
    sh("virsh", "detach-interface", name, "bridge", "--mac", mac, "--live")
    wait_for(f"{mac} gone from {name}", lambda: mac not in sh("virsh", "domiflist", name), 30, 1)
    saved = Path(f"/tmp/oslab-breakage-{name}-{mac.replace(':', '')}.xml")
    saved.write_text(device + "\n")

    def heal():
        sh("virsh", "attach-device", name, str(saved), "--live")
        saved.unlink()
    return heal, [f"port {b.port.id} (MAC {mac}): expected an <interface> with its MAC in domain {name}, actual none",
                  f"server {b.server.name}"]


def guest_unreachable(args):
    """D1: the guest's tap is set down before the suite first reaches it (the agent leaves a tap's state alone,
    where it would restore a deleted rule when it refreshes the group's chains)."""
    b = args["instance"]
    tap = names.tap(b.port.id)
    sh("ip", "link", "set", "dev", tap, "down")
    return (lambda: sh("ip", "link", "set", "dev", tap, "up")), [f"guest {b.server.name}", "no SSH"]


# --- between nodes (X1-X7): on the node that holds the device, the controller being this machine ----------------

def is_controller(host: str) -> bool:
    """Whether ``host`` (as the API names it) is the lab's controller, this machine."""
    return between.short(host) == between.short(Lab().hostname)


def node_init(host: str) -> int:
    """The init PID of the lab's compute node ``host``."""
    pid = lab_node.init_pid(lab_node.named(between.short(host)))
    assert pid, f"lab node {host} does not run"
    return pid


def on_host(host: str, *argv: str, check: bool = True) -> str:
    """Run ``argv`` on the lab's node ``host``: here for the controller, inside the compute node otherwise."""
    if is_controller(host):
        return sh(*argv, check=check)
    return sh(*lab_node.enter(node_init(host), *argv), check=check)


def tunnel_ip(args, host: str) -> str:
    agents = [a for a in args["capabilities"].agents if a.host == host and a.configurations.get("tunneling_ip")]
    assert agents, f"no L2 agent with a tunneling_ip on {host}"
    return agents[0].configurations["tunneling_ip"]


def flood_entry_deleted(args):
    """X3: the flood entry of one far server's host to the other's tunnel IP deleted from vxlan-<vni>."""
    here, peer = args["far_servers"]
    device, dst = names.vxlan(here.network.provider_segmentation_id), tunnel_ip(args, peer.host)
    on_host(here.host, "bridge", "fdb", "del", "00:00:00:00:00:00", "dev", device, "dst", dst)
    return (lambda: on_host(here.host, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", device, "dst", dst)), [
        f"flood entry 00:00:00:00:00:00 dst {dst} ({peer.host}): expected", f"device {device}", f"node {here.host}"]


def remote_mac_deleted(args):
    """X3: the other far server's MAC deleted from this host's vxlan-<vni>."""
    here, peer = args["far_servers"]
    device, dst, mac = (names.vxlan(here.network.provider_segmentation_id), tunnel_ip(args, peer.host),
                        peer.port.mac_address.lower())
    on_host(here.host, "bridge", "fdb", "del", mac, "dev", device, "dst", dst)
    # gone, or learned back by the vxlan device from the peer guest's next packet (not the agent's permanent one)
    return (lambda: on_host(here.host, "bridge", "fdb", "replace", mac, "dev", device, "dst", dst)), [
        f"entry {mac} dst", f"(port on peer {peer.host}): expected", f"device {device}", f"node {here.host}"]


def underlay_mtu_lowered(args):
    """X2: the device holding a compute's tunnel IP lowered below the network MTU + 50."""
    here = next(b for b in args["far_servers"] if not is_controller(b.host))
    ip = tunnel_ip(args, here.host)
    links = json.loads(on_host(here.host, "ip", "-j", "addr", "show"))
    device = next(e for e in links if any(a.get("local") == ip for a in e.get("addr_info", [])))
    low = here.network.mtu + 49
    on_host(here.host, "ip", "link", "set", "dev", device["ifname"], "mtu", str(low))
    return (lambda: on_host(here.host, "ip", "link", "set", "dev", device["ifname"], "mtu", str(device["mtu"]))), [
        f"device {device['ifname']} (tunnel IP {ip}) MTU: expected at least {here.network.mtu + 50} (network MTU "
        f"{here.network.mtu} + 50), actual {low}", f"node {here.host}"]


def tunnel_port_removed(args):
    """X4: br-tun's tunnel port to the other far server's host removed (put back with its options and ofport)."""
    here, peer = args["far_servers"]
    dst = tunnel_ip(args, peer.host)
    rows = json.loads(on_host(here.host, "ovs-vsctl", "--format=json", "--columns=name,options,ofport", "find",
                              "Interface", "type=vxlan", f"options:remote_ip={dst}"))["data"]
    name, options, ofport = rows[0][0], dict(rows[0][1][1]), rows[0][2]
    on_host(here.host, "ovs-vsctl", "del-port", "br-tun", name)
    opts = [f"options:{k}={v}" for k, v in options.items()]
    return (lambda: on_host(here.host, "ovs-vsctl", "--may-exist", "add-port", "br-tun", name, "--", "set",
                            "Interface", name, "type=vxlan", f"ofport_request={ofport}", *opts)), [
        f"vxlan port to peer {dst} ({peer.host}): expected on br-tun", f"node {here.host}"]


def stale_tap_left(args):
    """X7: a tap named after the moved server's port left on the compute it left."""
    moved = args["moved"]
    tap = names.tap(moved.booted.port.id)
    on_host(moved.old_host, "ip", "tuntap", "add", "dev", tap, "mode", "tap")
    return (lambda: on_host(moved.old_host, "ip", "link", "del", "dev", tap)), [
        f"{tap} on {moved.old_host} (old host): expected gone, actual still there", f"port {moved.booted.port.id}"]


def guests_cut_apart(args):
    """X1: the two far servers' traffic to each other dropped on the first one's compute (two rules at the top of
    its FORWARD chain, which bridged frames pass on Linux bridge); the heal deletes them."""
    here, peer = args["far_servers"]
    rules = [["-s", here.ip, "-d", peer.ip, "-j", "DROP"], ["-s", peer.ip, "-d", here.ip, "-j", "DROP"]]
    for rule in rules:
        on_host(here.host, "iptables", "-w", "-I", "FORWARD", "1", *rule)

    def heal():
        for rule in rules:
            on_host(here.host, "iptables", "-w", "-D", "FORWARD", *rule, check=False)
    return heal, [f"ping {peer.ip}: expected replies, actual none", f"server {peer.server.name} on {peer.host}",
                  f"server {here.server.name}"]


def dhcp_namespace_on_compute(args):
    """X6: a ``qdhcp-<net>`` namespace made on a compute that runs no DHCP agent (as a DHCP agent once there would
    have left it); the heal deletes it."""
    capabilities, network = args["capabilities"], args["far_net"].network
    host = between.hosts_except(capabilities.compute_hosts, capabilities.dhcp_hosts)[0]
    namespace = names.qdhcp(network.id)
    on_host(host, "ip", "netns", "add", namespace)
    return (lambda: on_host(host, "ip", "netns", "del", namespace)), [
        f"namespace {namespace}: expected absent (no DHCP agent on {between.short(host)}), actual present",
        f"node {between.short(host)}"]


def ovn_controller_of(host: str) -> int:
    """The PID (as this machine sees it) of the ovn-controller of the lab's node ``host``: the one in its network
    namespace."""
    net = proc.namespace_ids(os.getpid() if is_controller(host) else node_init(host))["net"]
    found = sorted(p for p in proc.named("ovn-controller") if proc.namespace_ids(p)["net"] == net)
    assert len(found) == 1, f"expected one ovn-controller on {host}, found PIDs {found}"
    return found[0]


def geneve_port_removed(args):
    """X5: on compute1, its ovn-controller frozen (SIGSTOP, so that it does not make the port again at once) and
    br-int's Geneve port to compute2's encap IP deleted; the heal lets ovn-controller go on (SIGCONT), and it makes
    the port again itself."""
    here, peer = "compute1", "compute2"
    encap = on_host(peer, "ovs-vsctl", "get", "Open_vSwitch", ".", "external_ids:ovn-encap-ip").strip().strip('"')
    rows = json.loads(on_host(here, "ovs-vsctl", "--format=json", "--columns=name", "find", "Interface",
                              "type=geneve", f"options:remote_ip={encap}"))["data"]
    assert rows, f"no geneve port to {encap} on {here}'s br-int to remove"
    pid = ovn_controller_of(here)
    os.kill(pid, signal.SIGSTOP)
    on_host(here, "ovs-vsctl", "del-port", "br-int", rows[0][0])
    return (lambda: os.kill(pid, signal.SIGCONT)), [
        f"geneve port to peer {encap} ({peer}): expected on br-int", f"node {here}"]


def guest_address_changed(args):
    """G1: the guest's address changed inside the guest (over the run's session, which then dies): it takes another
    address of the subnet and talks to the DHCP port from it (the agent's ARP protection keeps that from its
    network); 80 s later the guest puts its own address back (nothing else could reach it), which is the heal."""
    b = args["instance"]
    guest = args["reach"](b)
    nic = next(name for name, link in guests.guest_links(guest).items()
               if (link.mac or "").lower() == b.port.mac_address.lower())
    subnet = ipaddress.ip_network(b.subnet.cidr)
    other = str(next(a for a in reversed(list(subnet.hosts())) if str(a) != b.ip))
    prefix, dhcp = subnet.prefixlen, names.fixed_ip_on(b.net.dhcp_ports[0], b.subnet)
    route = f"ip route replace default via {b.subnet.gateway_ip}; " if b.subnet.gateway_ip else ""
    script = (f"sleep 1; ip addr flush dev {nic}; ip addr add {other}/{prefix} dev {nic}; "
              f"ping -c 3 -W 1 {dhcp}; sleep 80; ip addr flush dev {nic}; ip addr add {b.ip}/{prefix} dev {nic}; "
              f"{route}ping -c 3 -W 1 {dhcp}")
    sudo = "" if guest.user == "root" else "sudo "
    guest.run(f"{sudo}sh -c {shlex.quote(script)} </dev/null >/dev/null 2>&1 &")
    back = time.monotonic() + 85
    time.sleep(5)  # the change made and the guest's pings sent before G1 looks

    def heal():
        time.sleep(max(0.0, back - time.monotonic()))
    return heal, [f"port {b.port.id} address {b.ip} (MAC {b.port.mac_address.lower()}): expected held by the guest, "
                  f"actual no ARP answer for {b.ip} from {names.qdhcp(b.network.id)}",
                  f"server {b.server.name}"]


@dataclass
class Breakage:
    id: str
    fact: str
    test: str                       # the suite test that judges the fact (node id)
    apply: Callable[[Dict], Tuple[Heal, List[str]]]  # the test's fixtures -> (heal, what the failure must name)
    heal_timeout: float = 120.0
    driver: str = "linuxbridge"     # the lab's driver it needs, as `oslab lab up` records it
    rejudge: bool = True            # judge again once healed (an unreachable guest stays remembered by the run)
    evidence: Tuple[str, ...] = ()  # titles the failure's evidence must hold
    computes: int = 1               # the compute nodes it needs (the controller counts): 2 for facts between nodes


INST = "suites/test_instances.py::"
NETS = "suites/test_networks_dhcp.py::"
SECG = "suites/test_security_groups.py::"
BREAKAGES = [
    Breakage("guest-unreachable", "D1", "suites/test_guests.py::"
             "test_ssh_works_and_the_nic_shows_the_port_mac_ip_prefix_and_mtu[provider]", guest_unreachable,
             rejudge=False, evidence=("console log of", "DHCP leases of network", "arping", "counters of tap",
                                      "iptables chains of port")),
    Breakage("guest-address-changed", "G1", "suites/test_guests.py::"
             "test_ssh_works_and_the_nic_shows_the_port_mac_ip_prefix_and_mtu[selfservice]", guest_address_changed,
             heal_timeout=90),
    Breakage("tap-mtu-changed", "I7", INST + "test_the_tap_is_up_at_the_network_mtu_in_its_bridge_with_the_port_mac"
             "[selfservice]", tap_mtu),
    Breakage("tap-out-of-bridge", "I7", INST + "test_the_tap_is_up_at_the_network_mtu_in_its_bridge_with_the_port_mac"
             "[provider]", tap_out_of_bridge),
    Breakage("host-line-removed", "I2", INST + "test_dnsmasq_host_file_holds_the_mac_name_and_ip[selfservice]",
             host_line_removed),
    Breakage("host-line-other-ip", "I2", INST + "test_dnsmasq_host_file_holds_the_mac_name_and_ip[provider]",
             host_line_other_ip),
    Breakage("dhcp-tap-mtu-in-bridge", "N13", NETS + "test_the_network_bridge_holds_its_uplink_and_the_dhcp_tap"
             "[selfservice]", dhcp_tap_mtu_in_bridge),
    Breakage("foreign-member-in-bridge", "N13", NETS + "test_the_network_bridge_holds_its_uplink_and_the_dhcp_tap"
             "[provider]", foreign_member_in_bridge),
    Breakage("dhcp-device-extra-address", "N7", NETS + "test_the_dhcp_device_holds_the_port_ip_and_the_metadata_"
             "address[provider]", dhcp_device_extra_address),
    Breakage("addn-hosts-line-removed", "I3", INST + "test_dnsmasq_addn_hosts_names_the_ip[selfservice]",
             addn_hosts_line_removed),
    Breakage("vxlan-device-removed", "I9", INST + "test_the_vxlan_device_carries_the_vni_from_the_tunnel_address",
             vxlan_removed),
    Breakage("ingress-rule-deleted", "S1", SECG + "test_the_ingress_chain_returns_each_ingress_rule_and_falls_back"
             "[selfservice]", ingress_ssh_rule_deleted),
    Breakage("ingress-allow-all-inserted", "S1", SECG + "test_the_ingress_chain_returns_each_ingress_rule_and_falls_back"
             "[provider]", ingress_allow_all_inserted),
    Breakage("egress-accept-inserted", "S2", SECG + "test_the_egress_chain_allows_dhcp_stops_spoofing_and_returns_each_"
             "egress_rule[selfservice]", egress_accept_inserted),
    Breakage("spoofing-rule-deleted", "S3", SECG + "test_the_spoofing_chain_allows_only_the_ports_ip_and_mac"
             "[selfservice]", spoofing_rule_deleted),
    Breakage("sg-chain-jump-deleted", "S4", SECG + "test_the_taps_bridged_traffic_reaches_the_port_chains[selfservice]",
             sg_chain_jump_deleted),
    Breakage("bridge-nf-call-off", "S4", SECG + "test_the_kernel_passes_the_bridged_traffic_through_iptables"
             "[selfservice]", bridge_nf_call_off),
    Breakage("bridge-nf-call-off-traffic", "S4", SECG + "test_the_groups_decide_the_traffic_opened_ports_answer_the_"
             "rest_is_dropped", bridge_nf_call_off_traffic),
    Breakage("opts-mtu-changed", "N10", NETS + "test_every_mtu_dnsmasq_gives_the_guests_is_the_network_mtu"
             "[selfservice]", opts_mtu_changed),
    Breakage("dhcp-device-mtu-changed", "N6", NETS + "test_the_dhcp_device_is_up_with_the_port_mac_and_network_mtu"
             "[selfservice]", dhcp_device_mtu),
    Breakage("metadata-address-removed", "N7", NETS + "test_the_dhcp_device_holds_the_port_ip_and_the_metadata_address"
             "[selfservice]", metadata_address_removed),
    Breakage("default-route-removed", "N8", NETS + "test_the_dhcp_namespace_routes_via_the_gateway_and_the_subnet"
             "[selfservice]", default_route_removed),
    Breakage("interface-file-changed", "N11", NETS + "test_the_interface_file_names_the_dhcp_device[selfservice]",
             interface_file_changed),
    Breakage("dnsmasq-stopped", "N10", NETS + "test_one_dnsmasq_serves_the_network_with_its_files_ranges_mtu_and_domain"
             "[selfservice]", dnsmasq_stopped, heal_timeout=150),
    Breakage("compute-service-disabled", "C2", "suites/test_control_plane.py::test_nova_status_upgrade_check_"
             "reports_success", compute_service_disabled),
    Breakage("interface-detached", "I5", INST + "test_the_libvirt_domain_runs_on_the_compute_host[provider]",
             interface_detached),
    Breakage("agent-stopped", "C3", "suites/test_control_plane.py::test_every_network_agent_is_alive_and_admin_up",
             agent_stopped, heal_timeout=300),
]
HYBRID, NATIVE, OVN = "openvswitch iptables_hybrid", "openvswitch openvswitch", "ovn"
BETWEEN = "suites/test_between_nodes.py::"
BREAKAGES += [
    Breakage("fdb-flood-entry-deleted", "X3", BETWEEN + "test_each_vxlan_device_floods_to_its_peers_and_knows_each_"
             "remote_mac", flood_entry_deleted, computes=2),
    Breakage("fdb-remote-mac-deleted", "X3", BETWEEN + "test_each_vxlan_device_floods_to_its_peers_and_knows_each_"
             "remote_mac", remote_mac_deleted, computes=2),
    Breakage("underlay-mtu-lowered", "X2", BETWEEN + "test_every_nodes_underlay_carries_the_network_mtu_plus_the_"
             "encapsulation", underlay_mtu_lowered, computes=2),
    Breakage("stale-tap-left", "X7", BETWEEN + "test_a_migrated_server_is_on_the_new_compute_and_gone_from_the_old"
             "[cold]", stale_tap_left, computes=2),
    Breakage("tunnel-port-removed", "X4", BETWEEN + "test_br_tun_holds_a_tunnel_port_to_each_peer_host",
             tunnel_port_removed, driver=NATIVE, computes=2),
    Breakage("guests-cut-apart", "X1", BETWEEN + "test_two_guests_on_different_computes_ping_and_ssh_each_other",
             guests_cut_apart, computes=2),
    Breakage("dhcp-namespace-on-compute", "X6", BETWEEN + "test_no_dhcp_namespace_or_dnsmasq_on_a_compute_without_a_"
             "dhcp_agent", dhcp_namespace_on_compute, computes=2),
    Breakage("geneve-port-removed", "X5", BETWEEN + "test_each_chassis_has_its_hostname_and_encap_ip_and_a_tunnel_to_"
             "each_other", geneve_port_removed, driver=OVN, computes=2),
]
BREAKAGES += [
    Breakage("hybrid-ingress-allow-all-inserted", "S1", SECG + "test_the_ingress_chain_returns_each_ingress_rule_and_"
             "falls_back[provider]", hybrid_ingress_allow_all_inserted, driver=HYBRID),
    Breakage("qvb-released", "I7", INST + "test_the_tap_is_up_at_the_network_mtu_in_its_bridge_with_the_port_mac"
             "[selfservice]", qvb_released, driver=HYBRID),
    Breakage("native-extra-flow", "S1", SECG + "test_the_ingress_flows_are_the_groups_ingress_rules[selfservice]",
             native_extra_flow, driver=NATIVE),
    Breakage("dhcp-tap-retagged", "N12", NETS + "test_the_dhcp_tap_is_a_br_int_port_with_a_local_vlan_tag"
             "[selfservice]", dhcp_tap_retagged, driver=NATIVE),
    Breakage("ovn-controller-frozen", "C3", "suites/test_control_plane.py::test_every_network_agent_is_alive_and_"
             "admin_up", ovn_controller_frozen, driver=OVN),
    Breakage("ovn-stray-acl", "S1", SECG + "test_the_ports_groups_are_port_groups_whose_acls_are_the_rules"
             "[selfservice]", ovn_stray_acl, driver=OVN),
]


def lab_driver() -> str:
    """The lab's driver as `oslab lab up` recorded it: ``linuxbridge``, ``ovn``, ``openvswitch <firewall>``."""
    words = (switch.recorded(Lab()) or "linuxbridge").split()
    return " ".join(words) if words[0] == "openvswitch" else words[0]


def lab_computes() -> int:
    """The lab's compute nodes, the controller counted (`oslab lab up --nodes N` records N)."""
    recorded = Lab().state / "nodes"
    return int(recorded.read_text()) if recorded.exists() else 1


def compute_access() -> List[str]:
    """How the suite reaches the lab's compute nodes (found through the API): the lab's node user and key; their
    host keys are made anew with each node, so none is written to known_hosts."""
    if lab_computes() < 2:
        return []
    return ["--oslab-node-user", lab_node.NODE_USER, "--oslab-node-key", str(lab_node.key_file(Lab())),
            "--oslab-host-key-policy", "ignore"]


def applies(breakage: Breakage) -> bool:
    return breakage.driver == lab_driver() and lab_computes() >= breakage.computes


BY_TEST: Dict[str, List[Breakage]] = {}
for _b in BREAKAGES:
    if applies(_b):
        BY_TEST.setdefault(_b.test, []).append(_b)


# --- the plugin (active in the suite session started below) ----------------------------------------------------

def _judge(function, args) -> Tuple[bool, str]:
    try:
        function(**args)
        return True, ""
    except (AssertionError, pytest.fail.Exception, pytest.skip.Exception) as failure:
        return False, str(failure)


def _record(entry: dict) -> None:
    path = Path(os.environ[OUT_ENV])
    done = json.loads(path.read_text()) if path.exists() else []
    done.append(entry)
    path.write_text(json.dumps(done, indent=1))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    breakages = BY_TEST.get(pyfuncitem.nodeid)
    if not breakages or OUT_ENV not in os.environ:
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    for breakage in breakages:  # one after another, each healed before the next (two may judge one test)
        _break_and_heal(pyfuncitem, breakage, args)
    return True


def _break_and_heal(pyfuncitem, breakage: Breakage, args) -> None:
    from pytest_oslab.evidence import EVIDENCE
    function = pyfuncitem.obj
    entry = {"id": breakage.id, "fact": breakage.fact, "test": breakage.test}
    if breakage.rejudge:
        pyfuncitem.stash[EVIDENCE] = []
        entry["baseline"] = _judge(function, args)
        entry["baseline_evidence_text"] = {r.title: r.text for r in pyfuncitem.stash.get(EVIDENCE, [])}
        if not entry["baseline"][0]:
            _record(entry)
            pytest.fail(f"{breakage.id}: the check fails before any breakage:\n{entry['baseline'][1]}", pytrace=False)
    heal, entry["expect"] = breakage.apply(dict(pyfuncitem.funcargs))  # every fixture of the test, not only its own
    try:
        pyfuncitem.stash[EVIDENCE] = []
        entry["broken"] = _judge(function, args)
        entry["evidence"] = [record.title for record in pyfuncitem.stash.get(EVIDENCE, [])]
        entry["evidence_text"] = {record.title: record.text for record in pyfuncitem.stash.get(EVIDENCE, [])}
    finally:
        heal()
    if breakage.rejudge:
        deadline = time.monotonic() + breakage.heal_timeout
        while True:
            entry["healed"] = _judge(function, args)
            if entry["healed"][0] or time.monotonic() > deadline:
                break
            time.sleep(5)
    _record(entry)


# --- the tests -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def breakage_run(tmp_path_factory, request):
    """Run the suite tests of the selected breakages (``-k``; all by default) in one session against the lab, with
    this module as its plugin."""
    selected = {item.callspec.params["breakage"].id for item in request.session.items
                if "breakage" in getattr(getattr(item, "callspec", None), "params", {})}
    on_lab = [b for b in BREAKAGES if applies(b)]
    chosen = [b for b in on_lab if b.id in selected] or on_lab
    out = Path(os.environ.get("OSLAB_BREAKAGES_KEEP") or tmp_path_factory.mktemp("breakages") / "breakages.json")
    env = dict(os.environ, **{OUT_ENV: str(out), "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}"
                                                                f"{os.environ.get('PYTHONPATH', '')}"})
    tests = dict.fromkeys(b.test for b in chosen)  # once each: a test may carry several breakages
    command = [sys.executable, "-m", "pytest", *tests, "--cloud", "lab", "-p", "test_breakages", "-p", "no:cacheprovider",
               "--oslab-ssh-timeout", "60", "-q", "-rfE", *compute_access()]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    results = {entry["id"]: entry for entry in json.loads(out.read_text())} if out.exists() else {}
    return results, done.stdout[-6000:] + done.stderr[-2000:]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=[b.id for b in BREAKAGES])
def test_the_breakage_fails_its_check_naming_the_object_and_healing_passes_it(breakage, request):
    if breakage.driver != lab_driver():
        pytest.skip(f"needs the lab on {breakage.driver} (`oslab lab up --driver ...`), it runs {lab_driver()}")
    if lab_computes() < breakage.computes:
        pytest.skip(f"needs the lab with {breakage.computes} compute nodes or more (`oslab lab up --nodes N`), it has "
                    f"{lab_computes()}")
    results, output = request.getfixturevalue("breakage_run")
    entry = results.get(breakage.id)
    assert entry is not None, f"{breakage.id} was not judged; the suite session said:\n{output}"
    print(f"{breakage.id} ({breakage.fact}) broken, the check said:\n{entry['broken'][1]}")
    if breakage.rejudge:
        assert entry["baseline"][0], f"{breakage.test} failed before the breakage:\n{entry['baseline'][1]}"
    passed, message = entry["broken"]
    assert not passed, f"{breakage.test} still passed with {breakage.id}"
    missing = [name for name in entry["expect"] if name not in message]
    assert not missing, f"the failure does not name {missing}:\n{message}"
    for title in breakage.evidence:
        assert any(title in t for t in entry["evidence"]), f"no evidence {title!r} among {entry['evidence']}"
    if breakage.rejudge:
        assert entry["healed"][0], f"{breakage.test} still fails once healed:\n{entry['healed'][1]}"


def test_the_suite_passes_again_once_the_lab_is_healed(breakage_run):
    """The lab healed (``oslab lab status`` healthy three times in a row, 10 s apart), the whole suite passes."""
    healthy = []

    def settled():
        healthy.append(subprocess.run([OSLAB, "lab", "status"], capture_output=True).returncode == 0)
        return healthy[-3:] == [True, True, True]
    wait_for("the lab healthy three times in a row", settled, 300, 10)
    done = subprocess.run([sys.executable, "-m", "pytest", "suites", "--cloud", "lab", "-p", "no:cacheprovider",
                           "-q"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-8000:]
