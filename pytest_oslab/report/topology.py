"""A picture of what a run built, as one inline SVG (no script, no external asset): drawn from a data plane
collected by ``pytest_oslab.report.dataplane``.

Layout, top to bottom:

- the API view: each network a coloured vertical bar headed by its name, type, segmentation id, MTU and subnets;
  on the left one box per router, server and DHCP port, with a line to each network it has a port on, ending in a
  dot labelled with the port's address, MAC and id;
- then one frame per node: under each network's bar, what that node shows of it (the bridge and its members:
  the taps named after the ports, the vxlan device or the uplink; the ``qdhcp-`` namespace and its devices; the
  OVS tags), and on the left its router namespaces. A device the API says should be there but the node does not
  show is drawn in red as missing.

Names carry the short ids the API view shows, so a port is followed from its dot to its tap by eye.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple
from xml.sax.saxutils import escape

from pytest_oslab.checks.names import brq, network_of_namespace, short_id, tap, vxlan
from pytest_oslab.report.html import esc, section

PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
FONT = "font-family:DejaVu Sans Mono,Menlo,Consolas,monospace"
CHAR = 6.7  # px per character at font-size 11 in a monospace font
LINE = 14
LEFT_X, LEFT_W = 16, 300
COL_W = 330
MISSING = "#c62828"


def _short(rid: Optional[str]) -> str:
    return (rid or "?")[:8]


_RUN_PREFIX = re.compile(r"^oslab-\d{10}[0-9a-f]{4}-")


def display_name(name: Optional[str]) -> str:
    """A resource's name without the run prefix the suite gives it (``oslab-<run>-``): the role stays, and the
    xdist worker that made it (``gw0-server_a-1``)."""
    return _RUN_PREFIX.sub("", name or "") or (name or "")


def wrap(text: str, width: float, indent: str = "    ") -> List[str]:
    """``text`` cut at spaces into lines of at most ``width`` pixels; continuation lines indented."""
    chars = max(8, int(width / CHAR))
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= chars or not current:
            current = candidate
        else:
            lines.append(current)
            current = indent + word
    if current:
        lines.append(current)
    return [_fit(line, width) for line in lines]


def _fit(text: str, width: float) -> str:
    chars = max(4, int(width / CHAR))
    return text if len(text) <= chars else text[:chars - 1] + "…"


@dataclass
class Svg:
    width: float = 0
    parts: List[str] = field(default_factory=list)

    def text(self, x, y, text, width=None, size=11, weight="normal", color="#222", title=None):
        shown = _fit(text, width) if width else text
        tip = f"<title>{escape(title or text)}</title>" if (title or shown != text) else ""
        self.parts.append(f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" font-weight="{weight}" '
                          f'fill="{color}" style="{FONT}">{tip}{escape(shown)}</text>')

    def rect(self, x, y, w, h, stroke="#888", fill="#fff", dash=False, radius=4, width=1.0):
        d = ' stroke-dasharray="4 3"' if dash else ""
        self.parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="{radius}" '
                          f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{d}/>')

    def line(self, x1, y1, x2, y2, color="#888", width=1.5, dash=False, opacity=1.0):
        d = ' stroke-dasharray="5 4"' if dash else ""
        self.parts.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{color}" '
                          f'stroke-width="{width}" stroke-opacity="{opacity}"{d}/>')

    def dot(self, x, y, color, r=4):
        self.parts.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{r}" fill="{color}" stroke="#fff"/>')

    def render(self, height: float, label: str) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
                f'width="{self.width:.0f}" height="{height:.0f}" viewBox="0 0 {self.width:.0f} {height:.0f}">'
                f'<rect width="100%" height="100%" fill="#fcfcfc"/>{"".join(self.parts)}</svg>')


# --- what each box says ------------------------------------------------------------------------------------

def network_lines(net: dict) -> List[str]:
    kind = net["type"] or "?"
    seg = f" {net['segmentation_id']}" if net.get("segmentation_id") is not None else ""
    phys = f" ({net['physnet']})" if net.get("physnet") else ""
    flags = ", ".join(f for f, on in (("external", net["external"]), ("shared", net["shared"])) if on)
    lines = [f"{kind}{seg}{phys} · MTU {net['mtu']}" + (f" · {flags}" if flags else "")]
    for s in net["subnets"]:
        lines.append(f"{s['cidr']} gw {s['gateway'] or '-'}" + ("" if s["dhcp"] else " (no DHCP)"))
    return lines


@dataclass
class Device:
    """A box on the left of the API view: a router, a server or a DHCP port, and the ports it connects with."""

    kind: str
    title: str
    lines: List[str]
    ports: List[dict]
    color: str = "#555"


def devices(picture: dict) -> List[Device]:
    ports = {p["id"]: p for p in picture["ports"]}
    fips = {f["port_id"]: f["address"] for f in picture.get("floating_ips", [])}
    out = []
    for r in picture["routers"]:
        gw = ", ".join(ip for ip in r["gateway"]["ips"] if ip) or "no gateway"
        out.append(Device("router", f"router {display_name(r['name']) or _short(r['id'])}", [f"{_short(r['id'])} · {r['status']}",
                          f"gateway {gw}"], [ports[p] for p in r["ports"] if p in ports], "#6d4c41"))
    for s in picture["servers"]:
        extra = [f"floating IP {fips[p]}" for p in s["ports"] if p in fips]
        out.append(Device("server", f"server {display_name(s['name'])}", [f"{_short(s['id'])} · {s['status']} · {s['host'] or '?'}"]
                          + extra, [ports[p] for p in s["ports"] if p in ports], "#37474f"))
    names = {n["id"]: display_name(n["name"]) or _short(n["id"]) for n in picture["networks"]}
    for p in picture["ports"]:
        if not p["owner"] and not p["device_id"]:
            out.append(Device("port", f"port {display_name(p.get('name')) or _short(p['id'])}",
                              [f"{_short(p['id'])} · {p['status']} · unbound"], [p], "#5d4037"))
    for p in picture["ports"]:
        if p["owner"] == "network:dhcp":
            out.append(Device("dhcp", f"DHCP of {names.get(p['network_id'], '?')}", [f"{_short(p['id'])} · {p['status']} · {p['host'] or '?'}"], [p],
                              "#00796b"))
    return out


def port_label(p: dict) -> str:
    ips = ",".join(i["ip"] for i in p["ips"]) or "no IP"
    return f"{ips} {p['mac']} ({_short(p['id'])})"


# --- node frames -------------------------------------------------------------------------------------------

def _role_of(name: str, ports: Dict[str, dict], servers: Dict[str, dict]) -> str:
    """``→ server vm1 (60ad2c85)`` for a device named after a port."""
    for pid, p in ports.items():
        if short_id(pid) in name:
            if p["device_id"] in servers:
                return f"→ server {display_name(servers[p['device_id']]['name'])} ({_short(pid)})"
            owner = p["owner"].replace("network:", "")
            return f"→ {owner} ({_short(pid)})"
    return ""


def _device_line(name: str, d: dict, ports, servers, tags: Dict[str, int]) -> str:
    bits = [name]
    if d.get("vxlan"):
        v = d["vxlan"]
        bits.append(f"vni {v['id']} local {v.get('local') or '?'}:{v.get('port') or '?'}")
    if d.get("addresses"):
        bits.append(" ".join(d["addresses"]))
    bits.append(f"MTU {d['mtu']}")
    if d["state"] not in ("UP", "UNKNOWN"):
        bits.append(d["state"])
    if name in tags:
        bits.append(f"tag {tags[name]}")
    role = _role_of(name, ports, servers)
    if role:
        bits.append(role)
    return " ".join(bits)


def expected_devices(net: dict, node: str, picture: dict) -> List[str]:
    """Host devices the API says this node should have for ``net`` (Linux bridge and OVS hybrid names)."""
    driver = picture.get("driver")
    names = []
    short = node.split(".")[0]
    for p in picture["ports"]:
        if p["network_id"] != net["id"] or p["host"].split(".")[0] != short:
            continue
        if p["owner"].startswith("compute:") or (driver == "linuxbridge" and p["owner"] in
                                                  ("network:dhcp", "network:router_interface",
                                                   "network:router_gateway")):
            names.append(tap(p["id"]))
    if driver == "linuxbridge" and any(p["network_id"] == net["id"] and p["host"].split(".")[0] == short
                                       for p in picture["ports"]):
        names.append(brq(net["id"]))
        if net["type"] == "vxlan" and net.get("segmentation_id") is not None:
            names.append(vxlan(net["segmentation_id"]))
    return names


def column_of(name: str, d: dict, nets: List[dict], picture: dict) -> Optional[int]:
    """The network column a host device belongs to (by the ids in its name, its vxlan id, its bridge)."""
    ports = {short_id(p["id"]): p["network_id"] for p in picture["ports"]}
    for i, net in enumerate(nets):
        if short_id(net["id"]) in name or (net["type"] == "vxlan" and name == vxlan(net.get("segmentation_id"))):
            return i
    for key, nid in ports.items():
        if key in name:
            return next((i for i, n in enumerate(nets) if n["id"] == nid), None)
    master = d.get("master") or ""
    for i, net in enumerate(nets):
        if short_id(net["id"]) in master:
            return i
    return None


# --- the drawing -------------------------------------------------------------------------------------------

def draw(picture: dict, title: str = "") -> str:
    """The SVG of ``picture`` (a dataplane dict); a short note when there is nothing to draw."""
    nets = picture.get("networks") or []
    if not nets:
        return ""
    color = {n["id"]: PALETTE[i % len(PALETTE)] for i, n in enumerate(nets)}
    bar_x = {n["id"]: LEFT_X + LEFT_W + 60 + i * COL_W for i, n in enumerate(nets)}
    svg = Svg(width=LEFT_X + LEFT_W + 60 + len(nets) * COL_W + 10)
    ports = {p["id"]: p for p in picture["ports"]}
    servers = {s["id"]: s for s in picture["servers"]}

    y = 22
    svg.text(LEFT_X, y, title or "What the run built", size=14, weight="bold")
    y += 18
    svg.text(LEFT_X, y, f"{len(nets)} networks, {len(picture['routers'])} routers, {len(servers)} servers, "
                        f"{len(ports)} ports · driver {picture.get('driver') or '?'} · firewall "
                        f"{picture.get('firewall') or '?'}", color="#555")
    # network headers
    head_top = y + 16
    head_h = max(LINE * (2 + len(network_lines(n))) for n in nets) + 6
    for n in nets:
        x = bar_x[n["id"]]
        svg.rect(x - 8, head_top, COL_W - 24, head_h, stroke=color[n["id"]], fill="#fff", width=1.5)
        svg.text(x, head_top + 16, f"network {display_name(n['name']) or _short(n['id'])}", width=COL_W - 36, weight="bold",
                 color=color[n["id"]], title=n["id"])
        svg.text(x, head_top + 16 + LINE, _short(n["id"]) + f" · {n['status']}", color="#555")
        for k, line in enumerate(network_lines(n)):
            svg.text(x, head_top + 16 + LINE * (2 + k), line, width=COL_W - 36)
    rows_top = head_top + head_h + 18

    # rows: one box per router, server, DHCP port, each line to its networks
    boxes = devices(picture)
    lines, dots, labels = [], [], []
    y = rows_top
    for dev in boxes:
        h = 10 + LINE * (1 + len(dev.lines)) + max(0, len(dev.ports) - len(dev.lines) - 1) * LINE
        svg.rect(LEFT_X, y, LEFT_W, h, stroke=dev.color, fill="#fff", width=1.5)
        svg.text(LEFT_X + 8, y + 15, dev.title, width=LEFT_W - 16, weight="bold", color=dev.color)
        for k, line in enumerate(dev.lines):
            svg.text(LEFT_X + 8, y + 15 + LINE * (k + 1), line, width=LEFT_W - 16, color="#444")
        for k, p in enumerate(dev.ports):
            py = y + 12 + k * LINE
            x2 = bar_x.get(p["network_id"])
            if x2 is None:
                continue
            c = color[p["network_id"]]
            lines.append((LEFT_X + LEFT_W, py, x2 + 3, py, c))
            dots.append((x2 + 3, py, c))
            down = p["status"] != "ACTIVE" and bool(p["device_id"])  # an unbound port is DOWN by nature
            labels.append((x2 + 14, py + 4, port_label(p) + (f" {p['status']}" if down else ""),
                           MISSING if down else "#333"))
        y += h + 10
    rows_bottom = max(y, rows_top + 20)
    for x1, y1, x2, y2, c in lines:
        svg.line(x1, y1, x2, y2, color=c, width=1.4)
    for n in nets:
        x = bar_x[n["id"]] + 3
        svg.parts.append(f'<rect x="{x - 5:.0f}" y="{head_top + head_h:.0f}" width="10" '
                         f'height="{rows_bottom - head_top - head_h:.0f}" fill="{color[n["id"]]}" rx="3"/>')
    for x, yy, c in dots:
        svg.dot(x, yy, "#fff", r=3)
    for x, yy, text, c in labels:
        svg.text(x, yy, text, width=COL_W - 30, size=10, color=c)

    # node frames
    y = rows_bottom + 16
    for node in picture.get("nodes", []):
        y = _draw_node(svg, node, nets, bar_x, color, picture, ports, servers, y) + 14
    if picture.get("gone"):
        gone = ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in sorted(picture["gone"].items()))
        svg.text(LEFT_X, y + 4, f"also used during the run, deleted before this picture: {gone}", color="#777")
        y += 18
    for problem in picture.get("problems", [])[:8]:
        svg.text(LEFT_X, y + 4, f"not seen: {problem}", color=MISSING, width=svg.width - 40)
        y += 16
    return svg.render(y + 10, title or "topology")


def _draw_node(svg: Svg, node: dict, nets, bar_x, color, picture, ports, servers, top: float) -> float:
    tags = node.get("ovs_tags") or {}
    columns: Dict[int, List[Tuple[str, str]]] = {i: [] for i in range(len(nets))}
    left: List[Tuple[str, str]] = []
    devs = node.get("devices") or {}
    bridges = {name for name, d in devs.items() if d["kind"] == "bridge"}
    for name in sorted(devs, key=lambda n: (n not in bridges, n)):
        d = devs[name]
        i = column_of(name, d, nets, picture)
        line = _device_line(name, d, ports, servers, tags)
        if name in bridges:
            entry = ("bridge", f"bridge {line}")
        elif d.get("master") in bridges:
            entry = ("member", f"  └ {line}")
        else:
            entry = ("device", line)
        (columns[i] if i is not None else left).append(entry)
    for i, net in enumerate(nets):
        present = set(devs)
        for name in expected_devices(net, node["name"], picture):
            if name not in present:
                columns[i].append(("missing", f"{name} missing (expected from the API)"))
    for ns, inside in sorted((node.get("namespaces") or {}).items()):
        entries = [("ns", f"namespace {ns}")]
        entries += [("member", "  " + _device_line(dev, d, ports, servers, tags)) for dev, d in inside.items()]
        target = None
        nid = network_of_namespace(ns)
        if nid is not None:
            target = next((i for i, n in enumerate(nets) if n["id"] == nid), None)
        (columns[target] if target is not None else left).extend(entries)
    for nid, files in sorted((node.get("dhcp") or {}).items()):
        i = next((k for k, n in enumerate(nets) if n["id"] == nid), None)
        if i is None:
            continue
        counts = ", ".join(f"{f} {len(v) if isinstance(v, list) else v}" for f, v in files.items())
        columns[i].append(("file", f"dnsmasq files: {counts}"))
    for sid, ifaces in sorted((node.get("domains") or {}).items()):
        name = display_name(servers.get(sid, {}).get("name")) or _short(sid)
        for iface in ifaces:
            left.append(("device", f"libvirt {name}: {iface['type']} {iface['target']} → {iface['source']} "
                                   f"{iface['model'] or ''} MTU {iface['mtu'] or '?'}"))
    for pid, chains in sorted((node.get("chains") or {}).items()):
        counts = ", ".join(f"{role} {len(rules) if rules is not None else 'missing'}"
                           for role, rules in chains.items())
        left.append(("missing" if any(r is None for r in chains.values()) else "device",
                     f"iptables {_short(pid)}: {counts} rules"))

    left = [(kind, piece) for kind, text in left for piece in wrap(text, LEFT_W + 40)]
    columns = {i: [(kind, piece) for kind, text in entries for piece in wrap(text, COL_W - 30, "  ")]
               for i, entries in columns.items()}
    height = 26 + LINE * max([len(left)] + [len(v) for v in columns.values()] + [1]) + 10
    svg.rect(6, top, svg.width - 12, height, stroke="#999", fill="#f6f8fa", radius=6)
    svg.text(LEFT_X, top + 17, f"node {node['name']}", weight="bold", size=12)
    problems = node.get("problems") or []
    if problems:
        svg.text(LEFT_X + 110, top + 17, f"({len(problems)} commands failed: {problems[0]})", color=MISSING,
                 width=svg.width - LEFT_X - 140)
    styles = {"bridge": ("bold", "#222"), "member": ("normal", "#333"), "device": ("normal", "#333"),
              "ns": ("bold", "#00695c"), "file": ("normal", "#555"), "missing": ("bold", MISSING)}
    for k, (kind, text) in enumerate(left):
        weight, c = styles[kind]
        svg.text(LEFT_X, top + 34 + k * LINE, text, width=LEFT_W + 40, size=10, weight=weight, color=c)
    for i, entries in columns.items():
        x = bar_x[nets[i]["id"]]
        if entries:
            svg.line(x + 3, top + 4, x + 3, top + height - 4, color=color[nets[i]["id"]], width=3, opacity=0.35)
        for k, (kind, text) in enumerate(entries):
            weight, c = styles[kind]
            svg.text(x + 12, top + 34 + k * LINE, text, width=COL_W - 30, size=10, weight=weight, color=c)
    return top + height


def topology_html(picture: Optional[dict], title: str = "") -> str:
    if not picture or not picture.get("networks"):
        why = "; ".join((picture or {}).get("problems", [])) or "the run used no network, server or router"
        return section("Topology", f"<p>Nothing to draw: {esc(why)}.</p>", "oslab-topology")
    legend = ('<p class="oslab-legend">Each network is a coloured bar; a dot is a port (address, MAC, short id). '
              'Below, per node, what the node shows for each network: bridges and their members, namespaces, '
              'DHCP files, libvirt interfaces and iptables chains. Red: expected from the API, not found.</p>')
    return section("Topology", legend + f'<div class="oslab-topology">{draw(picture, title)}</div>', "oslab-topology")
