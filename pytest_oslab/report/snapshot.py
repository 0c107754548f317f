"""Upgrade gating: the documented state of a workload saved as JSON before an upgrade, and compared after it.

A snapshot is a data plane (``pytest_oslab.report.dataplane``) of the workload plus the answers of its
reachability probes. ``facts`` flattens it into keyed facts, each with a severity:

- ``must`` (the upgrade fails if it changed): resources still there with their ids, a server's status, a port's
  MAC and fixed IPs, subnets (CIDR, gateway, pools), router gateway and floating IP addresses, the DHCP entries
  (dnsmasq ``host``, ``addn_hosts``, the leases of the servers), and reachability that held before;
- ``may`` (reported, never failing): mechanism and firewall drivers, network type, segmentation id and MTU, port
  bindings (host, VIF type, status), the devices on the nodes and their masters, local VLAN tags, libvirt
  interfaces, iptables chains. When the driver moves to OVN, the dnsmasq files go with it: reported, not failed.

A snapshot also holds the versions it was taken at (``versions``: each node's installed packages as ``[name,
version]`` pairs, each service's API version document); ``version_changes`` lists what moved, for the report.

``diff`` returns the changes; a ``must`` change is worded like a check's mismatch (``what: expected X (pre
snapshot), actual Y``) so the report shows it as expected against actual.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from pytest_oslab.report.html import esc, scrub, section, stem, table
from pytest_oslab.report.topology import display_name

FORMAT = "pytest-oslab snapshot 1"
CATEGORIES = {
    "resources": "servers, networks, subnets, routers and floating IPs are still there, unchanged",
    "ports": "ports keep their MAC and fixed IPs",
    "dhcp": "DHCP entries are unchanged (dnsmasq host, addn_hosts, leases)",
    "reachability": "the workload answers as it did",
    "reported": "what may change (drivers, devices, VLAN tags, chains, bindings)",
}


@dataclass(frozen=True)
class Fact:
    key: str
    category: str  # a key of CATEGORIES
    label: str
    value: object


@dataclass
class Change:
    severity: str  # "must" | "may"
    category: str
    what: str
    before: str
    after: str

    def line(self) -> str:
        if self.severity == "must":
            return f"{self.what}: expected {self.before} (pre snapshot), actual {self.after}"
        return f"{self.what}: {self.before} -> {self.after}"


def _show(value) -> str:
    if value is None:
        return "absent"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) if isinstance(v, (list, tuple)) else str(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return str(value)


def _names(picture: dict) -> Tuple[dict, dict]:
    servers = {s["id"]: display_name(s["name"]) for s in picture.get("servers", [])}
    networks = {n["id"]: display_name(n["name"]) for n in picture.get("networks", [])}
    return servers, networks


def port_label(p: dict, servers: dict, networks: dict) -> str:
    owner = (f"server {servers[p['device_id']]}" if p["device_id"] in servers
             else p["owner"].replace("network:", "") or f"unbound, {display_name(p.get('name')) or 'no name'}")
    return f"port {p['id'][:8]} ({owner}, network {networks.get(p['network_id'], p['network_id'][:8])})"


def facts(snapshot: dict) -> Dict[str, Fact]:
    """Every fact of a snapshot by key (see the module doc for what must and what may change)."""
    picture = snapshot.get("picture") or {}
    servers, networks = _names(picture)
    out: Dict[str, Fact] = {}

    def add(key, category, label, value):
        out[key] = Fact(key, category, label, value)

    add("drivers", "reported", "mechanism drivers and firewall",
        f"{','.join(snapshot.get('drivers', {}).get('mechanism', [])) or '?'} / "
        f"{snapshot.get('drivers', {}).get('firewall') or '?'}")
    for s in picture.get("servers", []):
        add(f"server/{s['id']}", "resources", f"server {servers[s['id']]} ({s['id'][:8]}) status", s["status"])
        add(f"server/{s['id']}/host", "reported", f"server {servers[s['id']]} compute host", s["host"])
    for n in picture.get("networks", []):
        name = f"network {networks[n['id']]} ({n['id'][:8]})"
        add(f"network/{n['id']}", "resources", f"{name} status", n["status"])
        add(f"network/{n['id']}/segment", "reported", f"{name} type and segmentation id",
            f"{n['type']} {n['segmentation_id']}")
        add(f"network/{n['id']}/mtu", "reported", f"{name} MTU", n["mtu"])
        for sub in n["subnets"]:
            add(f"subnet/{sub['id']}", "resources", f"subnet {sub['cidr']} of {name}: CIDR, gateway, pools",
                f"{sub['cidr']} gw {sub['gateway']} pools {' '.join(sub['pools'])}")
    for r in picture.get("routers", []):
        add(f"router/{r['id']}", "resources", f"router {r['id'][:8]} gateway addresses", sorted(r["gateway"]["ips"]))
    for f in picture.get("floating_ips", []):
        add(f"fip/{f['id']}", "resources", f"floating IP {f['id'][:8]}",
            f"{f['address']} -> {f['fixed_ip']}")
    for p in picture.get("ports", []):
        label = port_label(p, servers, networks)
        add(f"port/{p['id']}/mac", "ports", f"{label} MAC", p["mac"])
        add(f"port/{p['id']}/ips", "ports", f"{label} fixed IPs", sorted(i["ip"] for i in p["ips"]))
        add(f"port/{p['id']}/binding", "reported", f"{label} binding (host, VIF type, status)",
            f"{p['host'] or '-'} {p['vif_type'] or '-'} {p['status']}")
    server_macs = {p["mac"] for p in picture.get("ports", []) if p["device_id"] in servers}
    dhcp: Dict[str, Dict[str, set]] = {}
    for node in picture.get("nodes", []):
        for nid, files in (node.get("dhcp") or {}).items():
            entry = dhcp.setdefault(nid, {"host": set(), "addn_hosts": set(), "leases": set()})
            entry["host"] |= {" ".join(e) for e in files.get("host", [])}
            entry["addn_hosts"] |= {" ".join(e) for e in files.get("addn_hosts", [])}
            entry["leases"] |= {" ".join(e) for e in files.get("leases", []) if e[0] in server_macs}
        for name, d in (node.get("devices") or {}).items():
            add(f"device/{node['name']}/{name}", "reported", f"device {name} on {node['name']}",
                f"{d['kind'] or 'device'} master {d['master'] or '-'} MTU {d['mtu']} {d['state']}")
        for ns, inside in (node.get("namespaces") or {}).items():
            for name, d in inside.items():
                add(f"nsdevice/{node['name']}/{ns}/{name}", "reported", f"device {name} in {ns} on {node['name']}",
                    f"MTU {d['mtu']} {d['state']} {' '.join(d.get('addresses') or [])}".strip())
        for name, tag in (node.get("ovs_tags") or {}).items():
            add(f"tag/{node['name']}/{name}", "reported", f"local VLAN tag of {name} on {node['name']}", tag)
        for sid, ifaces in (node.get("domains") or {}).items():
            add(f"domain/{sid}", "reported", f"libvirt interfaces of server {servers.get(sid, sid[:8])}",
                sorted(f"{i['type']} {i['target']} {i['source']} MTU {i['mtu']}" for i in ifaces))
        for pid, chains in (node.get("chains") or {}).items():
            for role, rules in chains.items():
                add(f"chain/{pid}/{role}", "reported", f"iptables {role} chain of port {pid[:8]} on {node['name']}",
                    rules)
    for nid, files in dhcp.items():
        for f, entries in files.items():
            add(f"dhcp/{nid}/{f}", "dhcp", f"dnsmasq {f} of network {networks.get(nid, nid[:8])}", sorted(entries))
    for probe, ok in (snapshot.get("reachability") or {}).items():
        add(f"reach/{probe}", "reachability", probe, "answers" if ok else "no answer")
    return out


def _set_change(what: str, before: list, after: list) -> Tuple[str, str]:
    """For lists of entries: only what went and what came, not both lists whole."""
    gone = [e for e in before if e not in after]
    came = [e for e in after if e not in before]
    return (_show(gone) + " (gone)" if gone else "the same entries"), (_show(came) + " (new)" if came else "none new")


def diff(before: dict, after: dict) -> List[Change]:
    """What changed from snapshot ``before`` to ``after``: ``must`` changes fail the upgrade, ``may`` are told."""
    old, new = facts(before), facts(after)
    to_ovn = ("ovn" in after.get("drivers", {}).get("mechanism", [])
              and "ovn" not in before.get("drivers", {}).get("mechanism", []))
    changes = []
    for key in sorted(set(old) | set(new), key=lambda k: (k.split("/")[0], k)):
        a, b = old.get(key), new.get(key)
        va, vb = (a.value if a else None), (b.value if b else None)
        if va == vb:
            continue
        fact = a or b
        severity = "may" if fact.category == "reported" else "must"
        if fact.category == "dhcp" and to_ovn:
            severity = "may"  # OVN serves DHCP natively: no dnsmasq files to compare
        if fact.category == "reachability" and va != "answers":
            severity = "may"  # did not answer before: that it answers now is news, not a failure
        if a is None and severity == "must":
            severity = "may"  # something new in the workload is not a change of what was there
        if isinstance(va, list) and isinstance(vb, list) and fact.category in ("dhcp", "reported"):
            shown_a, shown_b = _set_change(fact.label, va, vb)
        else:
            shown_a, shown_b = _show(va), _show(vb)
        changes.append(Change(severity, fact.category, fact.label, shown_a, shown_b))
    return changes


def must(changes: List[Change], category: Optional[str] = None) -> List[Change]:
    return [c for c in changes if c.severity == "must" and (category is None or c.category == category)]


def failure_text(changes: List[Change], category: str, snapshot_path: str) -> str:
    lines = "\n".join(f"  - {c.line()}" for c in changes)
    return f"{CATEGORIES[category]} [snapshot {snapshot_path}]:\n{lines}"


def version_changes(before: dict, after: dict) -> List[Tuple[str, str, str, str]]:
    """(where, what, before, after) for each service API version and node package that differs between two
    snapshots' ``versions``; a package installed or removed shows ``absent`` on its missing side."""
    old, new = before.get("versions") or {}, after.get("versions") or {}
    rows = []
    services_a, services_b = dict(map(tuple, old.get("services", []))), dict(map(tuple, new.get("services", [])))
    for kind in sorted(set(services_a) | set(services_b)):
        if services_a.get(kind) != services_b.get(kind):
            rows.append(("API", kind, services_a.get(kind, "absent"), services_b.get(kind, "absent")))
    packages_a, packages_b = old.get("packages", {}), new.get("packages", {})
    for node in sorted(set(packages_a) & set(packages_b)):  # a node seen once only has nothing to compare
        a, b = dict(map(tuple, packages_a[node])), dict(map(tuple, packages_b[node]))  # [name, version] pairs
        for pkg in sorted(set(a) | set(b)):
            if a.get(pkg) != b.get(pkg):
                rows.append((f"node {node}", pkg, a.get(pkg, "absent"), b.get(pkg, "absent")))
    return rows


def versions_html(rows: List[list]) -> str:
    if not rows:
        return "<p>Versions: no service API version and no package changed between the snapshots.</p>"
    trs = "".join(f"<tr><td>{esc(w)}</td><td>{esc(what)}</td><td>{esc(a)}</td><td>{esc(b)}</td></tr>"
                  for w, what, a, b in rows)
    return (f"<h3>Versions before and after ({len(rows)} changed)</h3><table class=\"oslab-changes\"><tr><th>where</th>"
            f"<th>what</th><th>before (pre)</th><th>after (post)</th></tr>{trs}</table>")


# --- files --------------------------------------------------------------------------------------------------

def make(phase: str, cloud: str, workload: str, run: str, picture: dict, reachability: Dict[str, bool],
         drivers: dict, summary: Optional[dict] = None, versions: Optional[dict] = None) -> dict:
    return {"format": FORMAT, "phase": phase, "cloud": cloud, "workload": workload, "run": run,
            "taken": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "drivers": drivers,
            "summary": summary or {}, "reachability": reachability, "picture": picture, "versions": versions or {}}


def save(snapshot: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scrub(json.dumps(snapshot, indent=1, sort_keys=True)) + "\n", encoding="utf-8")
    return path


class SnapshotError(Exception):
    """No usable pre snapshot; the message says where it looked and what to do."""


def load(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SnapshotError(f"snapshot {path}: cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"snapshot {path}: not a pytest-oslab snapshot (format {data.get('format')!r})"
                            if isinstance(data, dict) else f"snapshot {path}: not a pytest-oslab snapshot")
    return data


def newest_pre(directory: Path, cloud: str) -> Path:
    """The newest pre snapshot of ``cloud`` in ``directory`` (``oslab-<cloud>-<time>-pre.json``, by its time)."""
    prefix = stem(cloud, None, 0)[: -len("19700101-000000")]  # oslab-<cloud>-
    shape = re.compile(rf"^{re.escape(prefix)}\d{{8}}-\d{{6}}-pre(?:-\d+)?\.json$")
    found = sorted(p for p in Path(directory).glob(f"{prefix}*.json") if shape.match(p.name) and p.is_file())
    if not found:
        raise SnapshotError(f"no pre snapshot of cloud {cloud!r} in {directory} ({prefix}<time>-pre.json): run "
                            f"--oslab-phase pre first, or name one with --oslab-snapshot")
    return found[-1]


# --- in the HTML report -------------------------------------------------------------------------------------

def gate_html(gate: dict) -> str:
    """The upgrade gate's section: the snapshots compared and every change, must-not-change first."""
    changes = [Change(**c) for c in gate.get("changes", [])]
    failing = must(changes)
    rows = [("phase", esc(gate.get("phase", "?"))), ("workload", esc(gate.get("workload", "?"))),
            ("snapshot", f"<code>{esc(gate.get('snapshot', ''))}</code>")]
    if gate.get("compared_with"):
        rows.append(("compared with", f"<code>{esc(gate['compared_with'])}</code>"))
    if gate.get("phase") == "post":
        verdict = (f'<span class="oslab-bad">{len(failing)} change(s) of what must not change</span>' if failing
                   else '<span class="oslab-good">nothing that must stay changed</span>')
        rows.append(("verdict", verdict + f"; {len(changes) - len(failing)} change(s) reported"))
    body = table(rows)
    if changes:
        trs = "".join(f'<tr class="oslab-{c.severity}"><td>{"must not change" if c.severity == "must" else "may change"}'
                      f"</td><td>{esc(c.what)}</td><td>{esc(c.before)}</td><td>{esc(c.after)}</td></tr>"
                      for c in sorted(changes, key=lambda c: c.severity != "must"))
        body += (f'<table class="oslab-changes"><tr><th></th><th>what</th><th>before (pre)</th><th>after (post)</th>'
                 f"</tr>{trs}</table>")
    elif gate.get("phase") == "post":
        body += "<p>No difference between the snapshots.</p>"
    if gate.get("phase") == "post":
        body += versions_html(gate.get("versions") or [])
    return section("Upgrade gate", body, "oslab-gate")


def gate(phase: str, workload: str, snapshot_path: str, changes: List[Change],
         compared_with: str = "", versions: Optional[List[tuple]] = None) -> dict:
    return {"phase": phase, "workload": workload, "snapshot": snapshot_path, "compared_with": compared_with,
            "changes": [asdict(c) for c in changes], "versions": [list(r) for r in versions or []]}
