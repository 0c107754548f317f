"""Security groups on the iptables firewall (S1-S5): a port's ingress, egress and spoofing chains and how the
bridge's traffic reaches them, judged against the port's security-group rules from the API (``iptables-save``).

Linux bridge names the chains ``neutron-linuxbri-{i,o,s}<port[:10]>``; OVS with the hybrid iptables firewall
``neutron-openvswi-…``. Only IPv4 rules are judged (ip6tables holds the IPv6 ones).
"""
from __future__ import annotations

import ipaddress
from typing import Callable, Iterable, List, Optional, Sequence

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, CheckFailed, Where, wait_until
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import sysctl
from pytest_oslab.facts.iptables import Chain, Rule, Ruleset

PROTOCOL_NUMBERS = {"1": "icmp", "6": "tcp", "17": "udp", "132": "sctp"}
ANY = ("0.0.0.0/0", None, "")


# --- one security-group rule as the iptables firewall writes it -----------------------------------------------

def describe_rule(rule) -> str:
    """``ingress IPv4 tcp 22 from 0.0.0.0/0`` for an API security-group rule."""
    proto = rule.protocol or "any protocol"
    ports = ""
    if rule.port_range_min is not None:
        ports = f" {rule.port_range_min}" + (f"-{rule.port_range_max}" if rule.port_range_max not in
                                              (None, rule.port_range_min) else "")
    if rule.remote_group_id:
        peer = f"group {rule.remote_group_id[:8]}"
    else:
        peer = rule.remote_ip_prefix or "anywhere"
    direction = "from" if rule.direction == "ingress" else "to"
    return f"{rule.direction} {rule.ether_type} {proto}{ports} {direction} {peer}"


def _protocol(value) -> Optional[str]:
    if value in (None, "", "any"):
        return None
    value = str(value).lower()
    return PROTOCOL_NUMBERS.get(value, value)


def rule_matches(api_rule, rule: Rule) -> bool:
    """Whether iptables ``rule`` is the RETURN the firewall writes for the API security-group rule ``api_rule``."""
    if rule.target != "RETURN":
        return False
    proto = _protocol(api_rule.protocol)
    if proto != _protocol(rule.protocol):
        return False
    low, high = api_rule.port_range_min, api_rule.port_range_max
    if proto == "icmp":
        icmp = rule.option("icmp-type")
        if low is None:
            if icmp is not None:
                return False
        elif str(icmp) != (f"{low}/{high}" if high is not None else str(low)):
            return False
    elif proto in ("tcp", "udp", "sctp", "udplite", "dccp"):
        if low is None or (low, high) == (1, 65535):
            expected = None
        elif low == high or high is None:
            expected = str(low)
        else:
            expected = f"{low}:{high}"
        if (rule.dport or None) != expected:
            return False
    elif rule.dport is not None:
        return False
    ingress = api_rule.direction == "ingress"
    peer = rule.source if ingress else rule.destination
    if api_rule.remote_group_id:
        matched = rule.match_set
        if not matched or matched[1] != ("src" if ingress else "dst"):
            return False
        set_name = matched[0]
        return set_name.startswith("NIPv4") and api_rule.remote_group_id.startswith(set_name[5:])
    if rule.match_set:
        return False
    if api_rule.remote_ip_prefix in ANY:
        return peer is None
    try:
        return peer is not None and ipaddress.ip_network(peer.lstrip("!"), strict=False) == \
            ipaddress.ip_network(api_rule.remote_ip_prefix, strict=False)
    except ValueError:
        return False


def ipv4_rules(rules: Iterable, direction: str) -> List:
    return [r for r in rules if r.direction == direction and r.ether_type == "IPv4"]


# --- reading a chain ------------------------------------------------------------------------------------------

def _is_state(rule: Rule, states: Sequence[str], target: str) -> bool:
    return rule.target == target and set(states) <= rule.ctstate and rule.ctstate


def _is_dhcp(rule: Rule, sport: str, dport: str, target: str, destination: Optional[str] = None,
             source: Optional[str] = None) -> bool:
    if rule.target != target or _protocol(rule.protocol) != "udp":
        return False
    if rule.sport != sport or rule.dport != dport:
        return False
    if destination is not None and rule.destination_network != ipaddress.ip_network(destination):
        return False
    if source is not None and rule.source_network != ipaddress.ip_network(source):
        return False
    return True


def _unconditional(rule: Rule, target: str) -> bool:
    """``-j target`` with no address, interface, protocol or match but a comment."""
    return (rule.target == target and not (rule.source or rule.destination or rule.protocol or rule.in_interface
                                           or rule.out_interface)
            and all(m.name == "comment" for m in rule.matches))


def _index(rules: List[Rule], test) -> Optional[int]:
    return next((i for i, r in enumerate(rules) if test(r)), None)


def _order(c: Check, chain: str, found: List[tuple]) -> None:
    """``found``: (description, index or None) in the documented order: each present and in that order."""
    last_name, last = None, -1
    for description, index in found:
        if not c.require(index is not None, f"{chain}: expected a rule {description}, actual none"):
            continue
        c.require(index > last, f"{chain}: expected {description} after {last_name}, actual rule #{index + 1} "
                                f"comes before it (#{last + 1})")
        last_name, last = description, index


def _chain(c: Check, ruleset: Ruleset, name: str) -> Chain:
    if not ruleset.has_chain("filter", name):
        c.fail(f"chain {name}: expected in the filter table, actual absent")
    return ruleset.chain("filter", name)


def _group_rules(c: Check, chain: Chain, api_rules: List, after: int, before: Optional[int]) -> None:
    """Each API rule has its RETURN between ``after`` and ``before``."""
    window = chain.rules[after + 1:before]
    for api_rule in api_rules:
        c.require(any(rule_matches(api_rule, r) for r in window),
                  f"{chain.name}: expected a RETURN for rule {api_rule.id[:8]} ({describe_rule(api_rule)}), "
                  f"actual none")


# --- judging a chain whole: nothing lets traffic through that is not documented -----------------------------

LETS_THROUGH = ("RETURN", "ACCEPT")


def _established(rule: Rule) -> bool:
    """RELATED,ESTABLISHED (or fewer) RETURN: the connections already allowed."""
    return rule.target == "RETURN" and bool(rule.ctstate) and rule.ctstate <= {"RELATED", "ESTABLISHED"}


def _undocumented_allows(c: Check, ruleset: Ruleset, chain: Chain, implied: Callable[[Rule], bool],
                         known_chains: Sequence[str]) -> None:
    """Every rule of ``chain`` that lets traffic through (RETURN, ACCEPT, or a jump to a chain the firewall does
    not document) is ``implied(rule)`` (a rule of the port's groups or a documented fixed rule); else it fails,
    naming the rule."""
    chains = set(ruleset.table("filter").chains) if "filter" in ruleset.tables else set()
    for number, rule in enumerate(chain.rules, 1):
        jumps_elsewhere = rule.target in chains and rule.target not in known_chains
        if (rule.target in LETS_THROUGH or jumps_elsewhere) and not implied(rule):
            c.require(False, f"{chain.name}: expected only RETURNs that the port's security-group rules or the "
                             f"documented fixed rules imply, actual rule #{number} lets traffic through: {rule.raw}")


def _dhcp_reply_to(addresses: Sequence[str]) -> Callable[[Rule], bool]:
    """The DHCP server's replies (UDP 67 -> 68) to one of ``addresses``, let in."""
    return lambda rule: any(_is_dhcp(rule, "67", "68", "RETURN", address) for address in addresses)


def _dhcp_client(rule: Rule) -> bool:
    """The guest's DHCP requests (UDP 68 -> 67), let out: broadcast from 0.0.0.0, or to any server."""
    return (_is_dhcp(rule, "68", "67", "RETURN", "255.255.255.255/32", "0.0.0.0/32")
            or (_is_dhcp(rule, "68", "67", "RETURN") and rule.destination is None and rule.source is None))


def _implied_by(api_rules: List, *fixed: Callable[[Rule], bool]) -> Callable[[Rule], bool]:
    """``rule -> bool``: the rule is one the firewall writes for one of ``api_rules`` or one of the ``fixed``
    predicates (RELATED/ESTABLISHED, DHCP...)."""
    return lambda rule: any(test(rule) for test in fixed) or any(rule_matches(a, rule) for a in api_rules)


def check_ingress_chain(node: NodeFacts, server, port, rules: Iterable, driver: str = "linuxbridge") -> None:
    """S1: the ingress chain: RELATED,ESTABLISHED RETURN; DHCP replies to the port IP and broadcast; one RETURN per
    ingress rule of its groups; INVALID DROP; the jump to ``…-sg-fallback`` last. Judged whole: no other rule
    anywhere in the chain lets traffic in."""
    chains = names.chains(port.id, driver)
    with Check("the port's ingress chain holds the documented rules, one RETURN per ingress rule",
               Where(server=server, port=port, chain=chains["in"], node=node.name)) as c:
        ruleset = node.iptables()
        chain = _chain(c, ruleset, chains["in"])
        rs = chain.rules
        established = _index(rs, lambda r: _is_state(r, ("RELATED", "ESTABLISHED"), "RETURN"))
        found = [("RELATED,ESTABLISHED RETURN", established)]
        for ip, _ in names.ipv4_fixed_ips(port):
            found.append((f"DHCP reply RETURN to {ip}", _index(rs, lambda r, ip=ip: _is_dhcp(r, "67", "68", "RETURN",
                                                                                             f"{ip}/32"))))
        found.append(("DHCP reply RETURN to 255.255.255.255",
                      _index(rs, lambda r: _is_dhcp(r, "67", "68", "RETURN", "255.255.255.255/32"))))
        invalid = _index(rs, lambda r: _is_state(r, ("INVALID",), "DROP"))
        found.append(("INVALID DROP", invalid))
        fallback = _index(rs, lambda r: r.target == chains["fallback"])
        found.append((f"jump to {chains['fallback']}", fallback))
        _order(c, chain.name, found)
        c.require(fallback is None or fallback == len(rs) - 1,
                  f"{chain.name}: expected the jump to {chains['fallback']} last, actual rule #{(fallback or 0) + 1} "
                  f"of {len(rs)}")
        dhcp_last = max((i for _, i in found[1:-2] if i is not None), default=established or 0)
        api_rules = ipv4_rules(rules, "ingress")
        _group_rules(c, chain, api_rules, dhcp_last, invalid)
        replies_to = [f"{ip}/32" for ip, _ in names.ipv4_fixed_ips(port)] + ["255.255.255.255/32"]
        _undocumented_allows(c, ruleset, chain, _implied_by(api_rules, _established, _dhcp_reply_to(replies_to)),
                             [chains["fallback"]])


def check_egress_chain(node: NodeFacts, server, port, rules: Iterable, driver: str = "linuxbridge") -> None:
    """S2: the egress chain: DHCP client allowed, jump to the spoofing chain, DHCP server spoofing DROP,
    RELATED,ESTABLISHED RETURN, one RETURN per egress rule, INVALID DROP, fallback. Judged whole: no other rule
    anywhere in the chain lets traffic out."""
    chains = names.chains(port.id, driver)
    with Check("the port's egress chain holds the documented rules, one RETURN per egress rule",
               Where(server=server, port=port, chain=chains["out"], node=node.name)) as c:
        ruleset = node.iptables()
        chain = _chain(c, ruleset, chains["out"])
        rs = chain.rules
        established = _index(rs, lambda r: _is_state(r, ("RELATED", "ESTABLISHED"), "RETURN"))
        invalid = _index(rs, lambda r: _is_state(r, ("INVALID",), "DROP"))
        _order(c, chain.name, [
            ("DHCP client RETURN from 0.0.0.0 to 255.255.255.255",
             _index(rs, lambda r: _is_dhcp(r, "68", "67", "RETURN", "255.255.255.255/32", "0.0.0.0/32"))),
            (f"jump to {chains['spoof']}", _index(rs, lambda r: r.target == chains["spoof"])),
            ("DHCP client RETURN", _index(rs, lambda r: _is_dhcp(r, "68", "67", "RETURN") and r.destination is None)),
            ("DHCP spoofing DROP", _index(rs, lambda r: _is_dhcp(r, "67", "68", "DROP"))),
            ("RELATED,ESTABLISHED RETURN", established),
            ("INVALID DROP", invalid),
            (f"jump to {chains['fallback']} last",
             len(rs) - 1 if rs and rs[-1].target == chains["fallback"] else None),
        ])
        api_rules = ipv4_rules(rules, "egress")
        if established is not None:
            _group_rules(c, chain, api_rules, established, invalid)
        _undocumented_allows(c, ruleset, chain, _implied_by(api_rules, _established, _dhcp_client),
                             [chains["fallback"], chains["spoof"]])


def check_spoofing_chain(node: NodeFacts, server, port, driver: str = "linuxbridge") -> None:
    """S3: the spoofing chain: a RETURN for each of the port's IP+MAC pairs (and allowed address pairs), DROP else;
    no other rule lets anything through."""
    chains = names.chains(port.id, driver)
    with Check("the port's spoofing chain allows its own IP/MAC pairs and drops the rest",
               Where(server=server, port=port, chain=chains["spoof"], node=node.name)) as c:
        ruleset = node.iptables()
        chain = _chain(c, ruleset, chains["spoof"])
        pairs = [(ip, port.mac_address.lower()) for ip, _ in names.ipv4_fixed_ips(port)]
        for pair in getattr(port, "allowed_address_pairs", None) or []:
            if ":" not in pair["ip_address"]:
                pairs.append((pair["ip_address"], (pair.get("mac_address") or port.mac_address).lower()))
        returns = [r for r in chain.rules if r.target == "RETURN"]
        for ip, mac in pairs:
            network = ipaddress.ip_network(ip, strict=False)
            c.require(any(r.source_network == network and r.mac_source == mac for r in returns),
                      f"{chain.name}: expected RETURN for {ip} with MAC {mac}, actual "
                      f"{' | '.join(f'{r.source} {r.mac_source}' for r in returns) or 'no RETURN'}")
        expected = {(ipaddress.ip_network(ip, strict=False), mac) for ip, mac in pairs}
        _undocumented_allows(c, ruleset, chain, lambda r: r.target == "RETURN" and (r.source_network, r.mac_source)
                             in expected, [])
        last = chain.rules[-1] if chain.rules else None
        c.require(last is not None and _unconditional(last, "DROP"),
                  f"{chain.name}: expected a final DROP, actual {last.raw if last else 'empty chain'}")


def check_sg_chain_jumps(node: NodeFacts, server, port, driver: str = "linuxbridge") -> None:
    """S4: ``…-sg-chain`` jumps to the port's chains by ``physdev --physdev-out/--physdev-in tap<port>
    --physdev-is-bridged`` and accepts only last, after every port's jumps; FORWARD and INPUT reach it;
    ``…-sg-fallback`` drops."""
    chains = names.chains(port.id, driver)
    tap = names.tap(port.id)
    with Check("the bridge's traffic of the tap reaches the port's chains", Where(server=server, port=port,
                                                                                device=tap, node=node.name)) as c:
        ruleset = node.iptables()
        sg = _chain(c, ruleset, chains["sg-chain"])

        def jump(chain: Chain, target: str, direction: str) -> bool:
            return any(r.target == target and r.option(f"physdev-{direction}") == tap and r.physdev_is_bridged
                       for r in chain.rules)
        c.require(jump(sg, chains["in"], "out"), f"{sg.name}: expected a jump to {chains['in']} for "
                                                 f"--physdev-out {tap} --physdev-is-bridged, actual none")
        c.require(jump(sg, chains["out"], "in"), f"{sg.name}: expected a jump to {chains['out']} for "
                                                 f"--physdev-in {tap} --physdev-is-bridged, actual none")
        accept_last = sg.rules[-1] if sg.rules else None
        c.require(accept_last is not None and _unconditional(accept_last, "ACCEPT"),
                  f"{sg.name}: expected a final ACCEPT, actual {accept_last.raw if accept_last else 'empty chain'}")
        for number, rule in enumerate(sg.rules[:-1], 1):
            c.require(rule.target not in LETS_THROUGH and rule.physdev_is_bridged,
                      f"{sg.name}: expected only the ports' bridged jumps before the final ACCEPT, actual rule "
                      f"#{number}: {rule.raw}")
        forward = _chain(c, ruleset, chains["FORWARD"])
        for direction in ("out", "in"):
            c.require(jump(forward, sg.name, direction), f"{forward.name}: expected a jump to {sg.name} for "
                                                         f"--physdev-{direction} {tap}, actual none")
        inbound = _chain(c, ruleset, chains["INPUT"])
        c.require(jump(inbound, chains["out"], "in"), f"{inbound.name}: expected a jump to {chains['out']} for "
                                                      f"--physdev-in {tap}, actual none")
        for builtin, own in (("FORWARD", chains["FORWARD"]), ("INPUT", chains["INPUT"])):
            c.require(any(r.target == own for r in ruleset.chain("filter", builtin).rules),
                      f"{builtin}: expected a jump to {own}, actual none")
        fallback = _chain(c, ruleset, chains["fallback"])
        c.require(any(_unconditional(r, "DROP") for r in fallback.rules),
                  f"{fallback.name}: expected an unconditional DROP, actual "
                  f"{' | '.join(r.raw for r in fallback.rules) or 'empty chain'}")


BRIDGE_NF_CALL = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


def check_bridged_traffic_filtered(node: NodeFacts, server=None) -> None:
    """S4: the kernel sends bridged traffic through iptables (else no chain sees a guest's packets and every
    security group is silently off): ``br_netfilter`` loaded or built in (its ``net.bridge.*`` sysctls exist) and
    ``net.bridge.bridge-nf-call-iptables`` / ``-ip6tables`` = 1 in the node's network namespace, where the bridges
    of the guests' taps are."""
    with Check("the kernel passes bridged traffic through iptables and ip6tables",
               Where(server=server, node=node.name)) as c:
        result = node.run(f"sysctl {' '.join(BRIDGE_NF_CALL)}", ok=False)
        values = sysctl.parse_sysctl(result.stdout)
        if not values:
            c.fail(f"br_netfilter: expected loaded (the sysctls {', '.join(BRIDGE_NF_CALL)} exist), actual not "
                   f"loaded: {(result.stderr.strip().splitlines() or ['no sysctl output'])[0]}")
        for key in BRIDGE_NF_CALL:
            c.expect(key, "1", values.get(key), "bridged traffic through the iptables firewall")


def check_rule_applied(node: NodeFacts, server, port, api_rule, present: bool = True, timeout: float = 60,
                       driver: str = "linuxbridge") -> None:
    """S5: a security-group rule added (``present``) or removed through the API shows up in (or leaves) the port's
    chain within ``timeout`` seconds."""
    chains = names.chains(port.id, driver)
    chain_name = chains["in"] if api_rule.direction == "ingress" else chains["out"]

    def probe():
        state = "holds" if present else "no longer holds"
        with Check(f"the port's chain {state} the RETURN of rule {api_rule.id[:8]} ({describe_rule(api_rule)})",
                   Where(server=server, port=port, chain=chain_name, node=node.name)) as c:
            chain = _chain(c, node.iptables(), chain_name)
            hits = [r.raw for r in chain.rules if rule_matches(api_rule, r)]
            if present:
                c.require(hits, f"{chain_name}: expected a RETURN for {describe_rule(api_rule)}, actual none")
            else:
                c.require(not hits, f"{chain_name}: expected no RETURN for {describe_rule(api_rule)}, actual "
                                    f"{' | '.join(hits)}")
    wait_until(probe, timeout)


__all__ = ["CheckFailed", "check_bridged_traffic_filtered", "check_egress_chain", "check_ingress_chain", "check_rule_applied",
           "check_sg_chain_jumps", "check_spoofing_chain", "describe_rule", "rule_matches"]
