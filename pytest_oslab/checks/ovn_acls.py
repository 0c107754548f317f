"""Security groups on ML2/OVN: what the iptables chains are on the other drivers (S1-S3, S5), read from the
northbound DB on the compute node.

Neutron's OVN driver keeps a group as the port group ``pg_<group id, - as _>`` holding the logical switch ports of
its members, and each of the group's rules as one ACL of that port group: ``to-lport`` for ingress (``outport ==
@pg_…``), ``from-lport`` for egress (``inport == @pg_…``), ``allow-related`` on a stateful group, a ``match`` that
spells the rule (``ip4``, ``tcp && tcp.dst == 22``, ``icmp4``, ``ip4.src == <prefix>``, ``ip4.src ==
$pg_<remote>_ip4``) and the rule's id in ``external_ids``. Every port with port security is also in
``neutron_pg_drop``, whose ACLs drop what no rule allows; its ``port_security`` holds its MAC with its IPs (the
anti-spoofing of S3).
"""
from __future__ import annotations

import functools
from typing import Dict, List, Optional, Set

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, wait_until
from pytest_oslab.checks.firewall import describe_rule
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.checks.ovn import databases, logical_switch_port
from pytest_oslab.facts import ovn

DROP_GROUP = "neutron_pg_drop"
TRANSPORT = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "sctp": "sctp", "132": "sctp"}
ICMP = {"icmp", "1", "ipv6-icmp", "icmpv6", "58"}


def port_group_name(group_id: str) -> str:
    return "pg_" + group_id.replace("-", "_")


def expected_match(rule) -> Set[str]:
    """The conjuncts (`` && ``-separated terms) of the ACL match neutron's OVN driver writes for an API rule."""
    ingress = rule.direction == "ingress"
    ip = "ip4" if rule.ether_type == "IPv4" else "ip6"
    terms = {f"{'outport' if ingress else 'inport'} == @{port_group_name(rule.security_group_id)}", ip}
    peer = "src" if ingress else "dst"
    if rule.remote_ip_prefix and rule.remote_ip_prefix not in ("0.0.0.0/0", "::/0"):
        terms.add(f"{ip}.{peer} == {rule.remote_ip_prefix}")
    if rule.remote_group_id:
        terms.add(f"{ip}.{peer} == ${port_group_name(rule.remote_group_id)}_{ip}")
    protocol = str(rule.protocol).lower() if rule.protocol not in (None, "", "any") else None
    low, high = rule.port_range_min, rule.port_range_max
    if protocol in TRANSPORT:
        name = TRANSPORT[protocol]
        terms.add(name)
        if low is not None and low == high:
            terms.add(f"{name}.dst == {low}")
        else:
            if low is not None:
                terms.add(f"{name}.dst >= {low}")
            if high is not None:
                terms.add(f"{name}.dst <= {high}")
    elif protocol in ICMP:
        icmp = "icmp4" if ip == "ip4" else "icmp6"
        terms.add(icmp)
        if low is not None:
            terms.add(f"{icmp}.type == {low}")
        if high is not None:
            terms.add(f"{icmp}.code == {high}")
    elif protocol is not None:
        terms.add(f"{ip}.proto == {protocol}")
    return terms


def match_terms(match: str) -> Set[str]:
    """``outport == @pg_x && ip4 && ip4.src == 0.0.0.0/0`` -> its terms; a ``0.0.0.0/0`` (``::/0``) peer, which
    matches everything, is left out as the API's rule without a prefix is."""
    terms = {t.strip().strip("()").strip() for t in match.split("&&")}
    return {t for t in terms if not t.endswith((" == 0.0.0.0/0", " == ::/0"))}


class Northbound:
    """The northbound DB's security-group tables as one node reads them (each list read once)."""

    def __init__(self, node: NodeFacts):
        _, self.nb, _ = databases(node)
        self.node = node

    def _list(self, table: str) -> str:
        return self.node.output(f"ovn-nbctl{self.nb} --format=json list {table}")

    @functools.cached_property
    def groups(self) -> Dict[str, ovn.PortGroup]:
        return {g.name: g for g in ovn.parse_port_groups(self._list("Port_Group"))}

    @functools.cached_property
    def acls(self) -> Dict[str, ovn.Acl]:
        return {a.uuid: a for a in ovn.parse_acls(self._list("ACL"))}

    def port(self, c: Check, port) -> ovn.LogicalSwitchPort:
        """The port's logical switch port; fails ``c`` when the northbound DB lacks it."""
        return logical_switch_port(c, self.node, self.nb, port)

    def acls_of(self, group: ovn.PortGroup) -> List[ovn.Acl]:
        return [self.acls[u] for u in group.acls if u in self.acls]


def _port_in_group(c: Check, nb: Northbound, lsp, group_name: str) -> Optional[ovn.PortGroup]:
    group = nb.groups.get(group_name)
    if not c.require(group is not None, f"port group {group_name}: expected in the northbound DB, actual absent"):
        return None
    c.require(lsp.uuid in group.ports, f"port group {group_name}: expected to hold the port's logical switch port "
                                       f"{lsp.uuid[:8]}, actual {len(group.ports)} other port(s)")
    return group


def _rule_acl_problems(nb: Northbound, group: ovn.PortGroup, rule, stateful: bool) -> List[str]:
    acls = [a for a in nb.acls_of(group) if a.rule_id == rule.id]
    label = f"rule {rule.id[:8]} ({describe_rule(rule)})"
    if len(acls) != 1:
        return [f"{group.name}: expected one ACL for {label}, actual {len(acls)}"]
    acl, problems = acls[0], []
    direction = "to-lport" if rule.direction == "ingress" else "from-lport"
    action = "allow-related" if stateful else "allow-stateless"
    if acl.direction != direction:
        problems.append(f"ACL of {label} direction: expected {direction}, actual {acl.direction}")
    if acl.action != action:
        problems.append(f"ACL of {label} action: expected {action}, actual {acl.action}")
    expected, actual = expected_match(rule), match_terms(acl.match)
    if expected != actual:
        missing, extra = sorted(expected - actual), sorted(actual - expected)
        problems.append(f"ACL of {label} match: expected {' && '.join(sorted(expected))}, actual {acl.match}"
                        + (f" (missing {', '.join(missing)})" if missing else "")
                        + (f" (not implied by the rule: {', '.join(extra)})" if extra else ""))
    return problems


def check_port_groups(node: NodeFacts, server, port, api_rules, groups=None) -> None:
    """S1/S2 (OVN): the port is in the port group of each of its security groups and in ``neutron_pg_drop``, and in
    no other port group (another group's ACLs would apply to it); each rule of those groups (``api_rules``, from the
    API) is one ACL of its group whose direction, action and match are the rule's; the drop group drops both
    directions. ``groups``: the API's groups, for their ``stateful``."""
    stateful = {g.id: getattr(g, "stateful", True) is not False for g in groups or []}
    with Check("the port's security groups are OVN port groups whose ACLs are the groups' rules",
               Where(server=server, port=port, node=node.name)) as c:
        nb = Northbound(node)
        lsp = nb.port(c, port)
        for group_id in port.security_group_ids:
            group = _port_in_group(c, nb, lsp, port_group_name(group_id))
            if group is None:
                continue
            for rule in (r for r in api_rules if r.security_group_id == group_id):
                for problem in _rule_acl_problems(nb, group, rule, stateful.get(group_id, True)):
                    c.require(False, problem)
            known = {r.id for r in api_rules if r.security_group_id == group_id}
            for acl in nb.acls_of(group):
                if acl.rule_id in known:
                    continue
                owner = f"rule {acl.rule_id[:8]}, which the API does not show" if acl.rule_id else "no rule"
                c.require(False, f"{group.name}: expected only ACLs of the group's rules, actual an ACL of {owner}: "
                                 f"{acl.direction} {acl.action} {acl.match}")
        secured = getattr(port, "is_port_security_enabled", True) is not False
        if secured:
            drop = _port_in_group(c, nb, lsp, DROP_GROUP)
            if drop is not None:
                drops = {a.direction for a in nb.acls_of(drop) if a.action == "drop"}
                c.expect(f"{DROP_GROUP} drop ACL directions", ["from-lport", "to-lport"], sorted(drops))
        own = {port_group_name(g) for g in port.security_group_ids} | ({DROP_GROUP} if secured else set())
        for name, group in sorted(nb.groups.items()):
            c.require(name in own or lsp.uuid not in group.ports,
                      f"port group {name}: expected the port only in its groups' port groups"
                      f"{' and ' + DROP_GROUP if secured else ''}, actual in {name} too (its ACLs apply to the port)")


def check_port_security(node: NodeFacts, server, port) -> None:
    """S3 (OVN): the logical switch port's ``port_security`` allows the port's MAC with its fixed IPs (and each
    allowed address pair), nothing else."""
    with Check("the logical switch port allows only the port's MAC and IPs",
               Where(server=server, port=port, node=node.name)) as c:
        nb = Northbound(node)
        lsp = nb.port(c, port)
        ips = sorted(f["ip_address"] for f in port.fixed_ips or [])
        expected = [(port.mac_address.lower(), tuple(ips))]
        for pair in getattr(port, "allowed_address_pairs", None) or []:
            expected.append(((pair.get("mac_address") or port.mac_address).lower(), (pair["ip_address"],)))
        actual = []
        for entry in lsp.port_security:
            words = entry.split()
            actual.append((words[0].lower(), tuple(sorted(words[1:]))) if words else ("", ()))
        c.expect("port_security", sorted(expected), sorted(actual), "port MAC and fixed IPs, address pairs")


def check_acl_applied(node: NodeFacts, server, port, api_rule, present: bool = True, timeout: float = 60) -> None:
    """S5 (OVN): a rule added (``present``) or removed through the API shows up in (or leaves) its group's port
    group as an ACL within ``timeout`` seconds."""
    group_name = port_group_name(api_rule.security_group_id)

    def probe():
        state = "holds" if present else "no longer holds"
        with Check(f"the port group {state} the ACL of rule {api_rule.id[:8]} ({describe_rule(api_rule)})",
                   Where(server=server, port=port, node=node.name)) as c:
            nb = Northbound(node)
            group = nb.groups.get(group_name)
            if group is None:
                c.fail(f"port group {group_name}: expected in the northbound DB, actual absent")
            if present:
                for problem in _rule_acl_problems(nb, group, api_rule, True):
                    c.require(False, problem)
            else:
                left = [a.match for a in nb.acls_of(group) if a.rule_id == api_rule.id]
                c.require(not left, f"{group_name}: expected no ACL of the deleted rule, actual {' | '.join(left)}")
    wait_until(probe, timeout)


__all__ = ["check_acl_applied", "check_port_groups", "check_port_security", "expected_match", "match_terms",
           "port_group_name"]
