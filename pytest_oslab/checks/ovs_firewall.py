"""Security groups on Open vSwitch's native firewall (``firewall_driver = openvswitch``): what the iptables chains
are on the other drivers (S1-S5), read from ``br-int``'s OpenFlow tables on the compute node.

The OVS agent marks a port's packets with its ofport in ``reg5`` (and its network's local VLAN in ``reg6``) in
table 60, then judges them: table 71 lets out only the port's MAC with its IPs (ARP and IP; anything else goes
to table 93, which drops), table 72 holds the egress rules (an allowed new connection goes on to table 73), table
82 the ingress rules (``output:<ofport>``). A rule reads as ``ct_state=+new-est`` plus its protocol (``tcp``,
``icmp``, ``ip``; ``tcp6``… on IPv6), ``tp_dst`` (one port), ``icmp_type``/``icmp_code``, and its prefix
(``nw_src`` in, ``nw_dst`` out); a rule whose peer is a group is a conjunction (``conjunction(…)``).
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, wait_until
from pytest_oslab.checks.firewall import describe_rule
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts.openflow import Flow

MARK_TABLE, SPOOF_TABLE, EGRESS_TABLE, ACCEPT_TABLE = 60, 71, 72, 73
INGRESS_TABLE, DROP_TABLE = 82, 93
WORDS = {("IPv4", "tcp"): "tcp", ("IPv4", "udp"): "udp", ("IPv4", "icmp"): "icmp", ("IPv4", "sctp"): "sctp",
         ("IPv6", "tcp"): "tcp6", ("IPv6", "udp"): "udp6", ("IPv6", "ipv6-icmp"): "icmp6",
         ("IPv6", "icmp"): "icmp6", ("IPv6", "sctp"): "sctp6"}
NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp"}


def port_ofport(c: Check, node: NodeFacts, port) -> int:
    """The OpenFlow port number of the port's tap in ``br-int``; fails ``c`` when the tap is no OVS interface."""
    tap = names.tap(port.id)
    iface = next((i for i in node.ovs_interfaces() if i.name == tap), None)
    if iface is None or not iface.ofport or iface.ofport < 1:
        c.fail(f"{tap}: expected an OVS interface with an ofport, actual "
               f"{'absent' if iface is None else iface.ofport}")
    return iface.ofport


def rule_fields(rule) -> Dict[str, Optional[str]]:
    """The match a rule's flows carry besides the port: protocol word, ports, ICMP type/code and prefix."""
    protocol = str(rule.protocol).lower() if rule.protocol not in (None, "", "any") else None
    protocol = NUMBERS.get(protocol, protocol)
    v6 = rule.ether_type == "IPv6"
    word = WORDS.get((rule.ether_type, protocol)) if protocol else ("ipv6" if v6 else "ip")
    fields: Dict[str, Optional[str]] = {"word": word or ("ipv6" if v6 else "ip")}
    if protocol and word is None:
        fields["nw_proto"] = protocol
    low, high = rule.port_range_min, rule.port_range_max
    if word in ("icmp", "icmp6"):
        if low is not None:
            fields["icmp_type"] = str(low)
        if high is not None:
            fields["icmp_code"] = str(high)
    elif low is not None and low == high:
        fields["tp_dst"] = str(low)
    elif low is not None:
        fields["tp_dst"] = "range"  # written as value/mask pairs
    prefix = rule.remote_ip_prefix
    if prefix and prefix not in ("0.0.0.0/0", "::/0"):
        side = "src" if rule.direction == "ingress" else "dst"
        fields[("ipv6_" if v6 else "nw_") + side] = prefix
    return fields


def _same_prefix(value: str, prefix: str) -> bool:
    """``10.0.0.5`` and ``10.0.0.5/32`` are one prefix (ovs-ofctl leaves host masks out)."""
    full = "/128" if ":" in prefix else "/32"
    return value == prefix or value + full == prefix or value == prefix + full


def _of_rule(f: Flow, rule, fields: Dict[str, Optional[str]]) -> bool:
    """Whether flow ``f`` carries the match the firewall writes for ``rule`` (whatever its ct_state)."""
    if fields["word"] not in f.protocols:
        return False
    if rule.remote_group_id:
        return "conjunction(" in f.actions or "conj_id" in f.match
    if "conjunction(" in f.actions or "conj_id" in f.match:
        return False
    for key in ("nw_proto", "icmp_type", "icmp_code", "nw_src", "nw_dst", "ipv6_src", "ipv6_dst"):
        want, have = fields.get(key), f.match.get(key)
        if (want is None) != (have is None) or (want and not _same_prefix(have, want)):
            return False
    want_port = fields.get("tp_dst")
    if want_port == "range":
        return "tp_dst" in f.match
    return (want_port or None) == f.match.get("tp_dst")


def rule_flows(flows: List[Flow], rule, ofport: int) -> List[Flow]:
    """The flows of one API rule for the port: new connections (``+new-est``) in its direction's table."""
    table = INGRESS_TABLE if rule.direction == "ingress" else EGRESS_TABLE
    fields = rule_fields(rule)
    return [f for f in flows if f.table == table and f.has(reg5=hex(ofport), ct_state="+new-est")
            and _of_rule(f, rule, fields)]


def _ends_in(f: Flow, verdict: str) -> bool:
    """``output:1`` is one of the flow's actions (not a part of ``output:11``)."""
    return re.search(rf"(?:^|[,(]){re.escape(verdict)}(?:[,)]|$)", f.actions) is not None


# The flows every port has whatever its rules: replies of connections already allowed, and related traffic.
CONNTRACK_STATES = ("+est-rel+rpl", "-new-est+rel-inv")
RULE_STATES = ("+new-est", "+est-rel-rpl")  # a rule's new connections, and the rest of them once established


def _check_rules(c: Check, flows: List[Flow], ofport: int, rules, direction: str) -> None:
    table = INGRESS_TABLE if direction == "ingress" else EGRESS_TABLE
    verdict = f"output:{ofport}" if direction == "ingress" else f"resubmit(,{ACCEPT_TABLE})"
    mine_rules = [r for r in rules if r.direction == direction]
    for rule in mine_rules:
        mine = rule_flows(flows, rule, ofport)
        if not mine:
            c.require(False, f"table {table}: expected a flow of rule {rule.id[:8]} ({describe_rule(rule)}) for "
                             f"ofport {ofport}, actual none")
        elif not rule.remote_group_id and not any(_ends_in(f, verdict) for f in mine):
            c.require(False, f"table {table}: the flow of rule {rule.id[:8]} ({describe_rule(rule)}) expected to "
                             f"end in {verdict}, actual {' | '.join(f.actions for f in mine)}")
    fields = [(rule, rule_fields(rule)) for rule in mine_rules]
    for f in flows:
        if f.table != table or not f.has(reg5=hex(ofport)) or not _ends_in(f, verdict):
            continue
        state = f.match.get("ct_state")
        if state in CONNTRACK_STATES or (state in RULE_STATES and any(_of_rule(f, r, x) for r, x in fields)):
            continue
        c.require(False, f"table {table}: expected only flows that the port's security-group rules or the "
                         f"documented conntrack states imply to let traffic {'in' if direction == 'ingress' else 'out'}"
                         f", actual a flow for ofport {ofport} lets it through: {f}")
    fallback = [f for f in flows if f.table == table and f.has(reg5=hex(ofport), ct_state="-est")]
    c.require(any(f"resubmit(,{DROP_TABLE})" in f.actions for f in fallback),
              f"table {table}: expected the port's fallback (ct_state=-est -> table {DROP_TABLE}, drop), actual "
              f"{' | '.join(str(f) for f in fallback) or 'none'}")


def check_ingress_flows(node: NodeFacts, server, port, rules) -> None:
    """S1 (OVS native firewall): each ingress rule of the port's groups is a flow of table 82 for the port's
    ofport that outputs to it; what no rule allows falls to table 93."""
    with Check("the port's ingress flows are its groups' ingress rules", Where(server=server, port=port,
                                                                               node=node.name)) as c:
        _check_rules(c, node.flows(), port_ofport(c, node, port), rules, "ingress")


def check_egress_flows(node: NodeFacts, server, port, rules) -> None:
    """S2 (OVS native firewall): each egress rule is a flow of table 72 for the port's ofport going on to table
    73; the rest falls to table 93."""
    with Check("the port's egress flows are its groups' egress rules", Where(server=server, port=port,
                                                                             node=node.name)) as c:
        _check_rules(c, node.flows(), port_ofport(c, node, port), rules, "egress")


def check_spoofing_flows(node: NodeFacts, server, port) -> None:
    """S3 (OVS native firewall): table 71 lets IP and ARP out of the port only from its MAC with each fixed IPv4
    address; anything else from it goes to table 93."""
    with Check("the port's flows let out only its MAC and IPs", Where(server=server, port=port, node=node.name)) as c:
        flows = node.flows()
        ofport = port_ofport(c, node, port)
        mine = [f for f in flows if f.table == SPOOF_TABLE and f.has(reg5=hex(ofport), in_port=str(ofport))]
        mac, ips = port.mac_address.lower(), [ip for ip, _ in names.ipv4_fixed_ips(port)]
        for ip in ips:
            ip_ok = any("ip" in f.protocols and f.has(dl_src=mac, nw_src=ip) for f in mine)
            arp_ok = any("arp" in f.protocols and f.has(dl_src=mac, arp_spa=ip) for f in mine)
            c.require(ip_ok, f"table {SPOOF_TABLE}: expected IP from {mac} {ip} let through, actual no such flow")
            c.require(arp_ok, f"table {SPOOF_TABLE}: expected ARP from {mac} {ip} let through, actual no such flow")
        sources = sorted({f.match.get("nw_src") for f in mine if "ip" in f.protocols} - {None})
        allowed = set(ips) | {p["ip_address"].split("/")[0] for p in (
            getattr(port, "allowed_address_pairs", None) or [])}
        extra = [s for s in sources if s.split("/")[0] not in allowed]
        c.require(not extra, f"table {SPOOF_TABLE}: IP sources let through that the port does not hold: "
                             f"{', '.join(extra)}")
        rest = [f for f in mine if set(f.match) == {"reg5", "in_port"} and not f.protocols]
        c.require(any(f"resubmit(,{DROP_TABLE})" in f.actions for f in rest),
                  f"table {SPOOF_TABLE}: expected the rest from ofport {ofport} sent to table {DROP_TABLE}, actual "
                  f"{' | '.join(str(f) for f in rest) or 'none'}")


def check_port_marked(node: NodeFacts, server, port, tag: Optional[int]) -> None:
    """S4 (OVS native firewall): table 60 sends what the port sends (``in_port``) to the egress tables (71) and
    what comes for its MAC on its local VLAN ``tag`` to the ingress tables (81), marking both with its ofport."""
    with Check("the port's traffic is sent through the firewall tables", Where(server=server, port=port,
                                                                             node=node.name)) as c:
        flows = [f for f in node.flows() if f.table == MARK_TABLE]
        ofport = port_ofport(c, node, port)
        mark = f"load:{hex(ofport)}->NXM_NX_REG5[]"
        out = [f for f in flows if f.has(in_port=str(ofport))]
        c.require(any(mark in f.actions and "resubmit(,71)" in f.actions for f in out),
                  f"table {MARK_TABLE}: expected in_port={ofport} marked and sent to table 71, actual "
                  f"{' | '.join(str(f) for f in out) or 'none'}")
        into = [f for f in flows if f.match.get("dl_dst") == port.mac_address.lower()]
        c.require(any(mark in f.actions and "resubmit(,81)" in f.actions
                      and (tag is None or f.match.get("dl_vlan") == str(tag)) for f in into),
                  f"table {MARK_TABLE}: expected dl_dst={port.mac_address.lower()}"
                  f"{f' on VLAN {tag}' if tag is not None else ''} marked and sent to table 81, actual "
                  f"{' | '.join(str(f) for f in into) or 'none'}")


def check_rule_flows_applied(node: NodeFacts, server, port, api_rule, present: bool = True,
                             timeout: float = 60) -> None:
    """S5 (OVS native firewall): a rule added (``present``) or removed through the API shows up in (or leaves)
    the port's flows within ``timeout`` seconds."""
    def probe():
        state = "hold" if present else "no longer hold"
        with Check(f"the port's flows {state} rule {api_rule.id[:8]} ({describe_rule(api_rule)})",
                   Where(server=server, port=port, node=node.name)) as c:
            ofport = port_ofport(c, node, port)
            mine = rule_flows(node.flows(), api_rule, ofport)
            if present:
                c.require(mine, f"expected a flow of the rule for ofport {ofport}, actual none")
            else:
                c.require(not mine, f"expected no flow of the rule, actual {' | '.join(str(f) for f in mine)}")
    wait_until(probe, timeout)


__all__ = ["check_egress_flows", "check_ingress_flows", "check_port_marked", "check_rule_flows_applied",
           "check_spoofing_flows", "rule_fields", "rule_flows"]
