"""What the upgrade gate keeps of the workload: the snapshot of its data plane (``pytest_oslab.report.dataplane``),
the probes whose answers must stay the same, each node's packages and each API's version document, at the time
it was taken (compared by ``pytest_oslab.report.snapshot``).
"""
from __future__ import annotations

import socket
import time
from typing import Dict, List

from pytest_oslab import evidence
from pytest_oslab.booted import Booted
from pytest_oslab.checks import names
from pytest_oslab.facts import packages
from pytest_oslab.gate.checks import dhcp_nodes, image_user_of
from pytest_oslab.gate.workload import Workload, members
from pytest_oslab.report import dataplane, snapshot
from pytest_oslab.report.summary import gather
from pytest_oslab.report.topology import display_name


def reachability(oslab, workload: Workload, ms: List[Booted]) -> Dict[str, bool]:
    """Probes whose answers must still be the same after an upgrade, by a name that stays the same."""
    probes: Dict[str, bool] = {}
    dhcp = dhcp_nodes(oslab, ms[0].network) if oslab.capabilities.driver != "ovn" else []
    for m in ms:
        name = display_name(m.server.name)
        for dn in dhcp[:1]:
            result = dn.run(f"ip netns exec {names.qdhcp(m.network.id)} ping -c 3 -W 2 {m.ip}", ok=False)
            probes[f"{name} ({m.ip}) answers ping from its network's DHCP namespace"] = result.rc == 0
    if workload.pkey is not None:
        user = image_user_of(oslab)
        for m, peer in zip(ms, ms[1:] + ms[:1]):
            label = f"{display_name(m.server.name)} pings {display_name(peer.server.name)} ({peer.ip})"
            try:
                guest = oslab.guest(m.server, user, workload.pkey)
                probes[label] = guest.run(f"ping -c 3 -W 2 {peer.ip}").rc == 0
            except Exception:
                probes[label] = False
    if workload.floating_ip is not None:
        address = workload.floating_ip.floating_ip_address
        probes[f"{display_name(ms[0].server.name)} answers SSH on its floating IP ({address})"] = ssh_banner(address)
    return probes


def ssh_banner(address: str, timeout: float = 10.0, tries: int = 3) -> bool:
    """Whether ``address:22`` answers with an SSH banner (from the machine the suite runs on)."""
    for _ in range(tries):
        try:
            with socket.create_connection((address, 22), timeout=timeout) as s:
                s.settimeout(timeout)
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def node_packages(oslab, picture: dict) -> Dict[str, Dict[str, str]]:
    """{node: {package: version}} of each node the picture shows, from its package manager (a node whose
    listing fails is left out, with its output as evidence)."""
    found = {}
    for n in picture.get("nodes", []):
        facts = oslab.facts_of(n["name"])
        result = facts.run(packages.COMMAND, ok=False, quiet=True)
        if result.rc == 0:
            found[n["name"]] = packages.installed(result.stdout)
        else:
            evidence.attach(f"{n['name']}: packages not listed", f"{packages.COMMAND}\n{result.stderr}")
    return found


def take_snapshot(oslab, workload: Workload, phase: str) -> dict:
    caps = oslab.capabilities
    ms = members(oslab, workload)
    seen = {"network": [workload.network.id], "router": [workload.router.id],
            "server": [s.id for s in workload.servers], "port": [p.id for p in workload.spare_ports]}
    picture = dataplane.collect(oslab, seen)
    drivers = {"mechanism": sorted(caps.mechanism_drivers), "firewall": caps.firewall_driver or ""}
    summary = gather(oslab).to_dict()
    # packages as [name, version] pairs: a {"passwd": "1:4.13"} mapping would be masked as a password when saved
    versions = {"services": summary.get("services", []),
                "packages": {n: sorted(map(list, p.items())) for n, p in node_packages(oslab, picture).items()}}
    return snapshot.make(phase, oslab.settings.cloud, workload.id, oslab.settings.run_id, picture,
                         reachability(oslab, workload, ms), drivers, summary, versions)


def counts_text(snap: dict) -> str:
    picture = snap["picture"]
    reach = snap.get("reachability", {})
    lines = [f"workload {snap['workload']}: {len(picture['servers'])} servers, {len(picture['ports'])} ports, "
             f"{len(picture['networks'])} networks, {len(picture['routers'])} routers, "
             f"{len(picture['floating_ips'])} floating IPs, nodes {', '.join(n['name'] for n in picture['nodes'])}"]
    lines += [f"{'answers' if ok else 'NO ANSWER'}: {probe}" for probe, ok in reach.items()]
    return "\n".join(lines)
