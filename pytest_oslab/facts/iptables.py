"""Tables, chains and rules from ``iptables-save`` (also ``iptables -S`` and the ``iptables -L`` of seed 001).

Every rule keeps its raw line and is also read into fields: interfaces, addresses, protocol, the matches with
their options (``physdev``, ``state``/``conntrack``, ``udp``/``tcp``, ``mac``, ``set``, ``comment``...) and the
jump target, so a check can say ``rule.physdev_out == "tap7a8c0a54-75"`` or ``rule.dport == "22"``.
"""
import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from ._parse import ParseError, lines

OptionValue = Union[str, bool]


@dataclass(frozen=True)
class Match:
    name: str                                   # "physdev", "state", "udp", "comment", ...
    options: Dict[str, OptionValue] = field(default_factory=dict)   # {"physdev-out": "tap..", "physdev-is-bridged": True}


@dataclass(frozen=True)
class Rule:
    chain: str
    raw: str
    target: Optional[str] = None                # "-j X" (or "-g X", see ``goto``)
    target_options: Tuple[str, ...] = ()        # ("--zone", "4097")
    goto: bool = False
    protocol: Optional[str] = None
    source: Optional[str] = None                # "192.168.101.88/32"; "!" in front when negated
    destination: Optional[str] = None
    in_interface: Optional[str] = None
    out_interface: Optional[str] = None
    matches: Tuple[Match, ...] = ()
    counters: Optional[Tuple[int, int]] = None  # (packets, bytes) with iptables-save -c

    def option(self, name):
        """Value of a match option wherever it is (``"physdev-in"``, ``"dport"``, ``"ctstate"``...), or None."""
        for match in self.matches:
            if name in match.options:
                return match.options[name]
        return None

    def match(self, name):
        return next((m for m in self.matches if m.name == name), None)

    @property
    def source_network(self):
        """``source`` as an ``ipaddress`` network (``/32`` added when ``-L`` printed a bare address), or None."""
        return _network(self.source)

    @property
    def destination_network(self):
        return _network(self.destination)

    @property
    def comment(self):
        return self.option("comment")

    @property
    def physdev_in(self):
        return self.option("physdev-in")

    @property
    def physdev_out(self):
        return self.option("physdev-out")

    @property
    def physdev_is_bridged(self):
        return bool(self.option("physdev-is-bridged"))

    @property
    def ctstate(self):
        """Conntrack states of ``-m state --state`` or ``-m conntrack --ctstate``, as a frozenset."""
        value = self.option("state") or self.option("ctstate")
        return frozenset(value.split(",")) if isinstance(value, str) else frozenset()

    @property
    def sport(self):
        return self.option("sport")

    @property
    def dport(self):
        return self.option("dport") or self.option("dports")

    @property
    def mac_source(self):
        value = self.option("mac-source")
        return value.lower() if isinstance(value, str) else None

    @property
    def match_set(self):
        """``("NIPv4...", "src")`` for ``-m set --match-set NAME src``, or None."""
        value = self.option("match-set")
        return tuple(value.split()) if isinstance(value, str) else None


def _network(value):
    if not value or value.startswith("!"):
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


@dataclass
class Chain:
    name: str
    policy: Optional[str] = None                # "ACCEPT" / "DROP" for built-in chains, None for user chains
    rules: List[Rule] = field(default_factory=list)

    @property
    def targets(self):
        return [rule.target for rule in self.rules]


@dataclass
class Table:
    name: str
    chains: Dict[str, Chain] = field(default_factory=dict)


@dataclass
class Ruleset:
    tables: Dict[str, Table] = field(default_factory=dict)

    def table(self, name="filter"):
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r}; tables: {sorted(self.tables)}") from None

    def chain(self, table, name) -> Chain:
        """``ruleset.chain("filter", "neutron-linuxbri-i7a8c0a54-7")``; KeyError names the chains present."""
        chains = self.table(table).chains
        try:
            return chains[name]
        except KeyError:
            raise KeyError(f"no chain {name!r} in table {table!r}; chains: {sorted(chains)}") from None

    def has_chain(self, table, name):
        return table in self.tables and name in self.tables[table].chains

    def jumps_to(self, name, table="filter") -> List[Rule]:
        """Rules of ``table`` that jump (or go) to chain ``name``."""
        return [rule for chain in self.table(table).chains.values() for rule in chain.rules if rule.target == name]

    def chains_starting(self, prefix, table="filter"):
        return [chain for chain_name, chain in self.table(table).chains.items() if chain_name.startswith(prefix)]


# -------------------------------------------------------------------------------------- rule grammar (-A ...)

_SHORT = {"-s": "source", "--source": "source", "-d": "destination", "--destination": "destination",
          "-i": "in_interface", "--in-interface": "in_interface", "-o": "out_interface",
          "--out-interface": "out_interface", "-p": "protocol", "--protocol": "protocol"}


def _tokens(line, source):
    try:
        return shlex.split(line)
    except ValueError as error:
        raise ParseError(source, f"unbalanced quoting ({error})", line) from None


def parse_rule(line, source="iptables-save") -> Rule:
    """One ``-A CHAIN ...`` line (optionally ``[packets:bytes]`` in front) -> Rule."""
    raw = line.strip()
    counters = None
    counted = re.match(r"^\[(\d+):(\d+)\]\s+(.*)$", raw)
    body = raw
    if counted:
        counters, body = (int(counted.group(1)), int(counted.group(2))), counted.group(3)
    words = _tokens(body, source)
    if len(words) < 2 or words[0] not in ("-A", "--append"):
        raise ParseError(source, "not an -A rule", raw)
    fields = {"chain": words[1], "raw": raw, "counters": counters}
    matches: List[Match] = []
    current: Optional[Match] = None
    negate = False
    i = 2
    while i < len(words):
        word = words[i]
        if word == "!":
            negate = True
            i += 1
            continue
        if word in _SHORT:
            if i + 1 >= len(words):
                raise ParseError(source, f"{word} has no value", raw)
            fields[_SHORT[word]] = ("!" if negate else "") + words[i + 1]
            negate = False
            i += 2
            continue
        if word in ("-m", "--match"):
            if i + 1 >= len(words):
                raise ParseError(source, "-m has no module name", raw)
            current = Match(words[i + 1], {})
            matches.append(current)
            i += 2
            continue
        if word in ("-j", "--jump", "-g", "--goto"):
            if i + 1 >= len(words):
                raise ParseError(source, f"{word} has no target", raw)
            fields["target"], fields["goto"] = words[i + 1], word in ("-g", "--goto")
            fields["target_options"] = tuple(words[i + 2:])
            break
        if word.startswith("--"):
            if current is None:   # an option before any -m: the protocol's implicit match
                current = Match(fields.get("protocol", "").lstrip("!") or "implicit", {})
                matches.append(current)
            values = []
            i += 1
            while i < len(words) and not words[i].startswith("-") and words[i] != "!":
                values.append(words[i])
                i += 1
            key = ("!" if negate else "") + word[2:]
            current.options[key] = " ".join(values) if values else True
            negate = False
            continue
        if word in ("-f", "--fragment"):
            matches.append(Match("fragment", {"fragment": not negate}))
            negate = False
            i += 1
            continue
        raise ParseError(source, f"unexpected {word!r}", raw)
    return Rule(matches=tuple(matches), **fields)


# -------------------------------------------------------------------------------------------- whole outputs

def parse_iptables_save(text) -> Ruleset:
    """``iptables-save`` (or ``ip6tables-save``, with or without ``-c``) -> Ruleset."""
    ruleset = Ruleset()
    table = None
    for line in lines(text):
        line = line.strip()
        if line.startswith("#"):
            continue
        if line.startswith("*"):
            table = ruleset.tables.setdefault(line[1:], Table(line[1:]))
            continue
        if line == "COMMIT":
            table = None
            continue
        if table is None:
            raise ParseError("iptables-save", "line outside a *table ... COMMIT block", line)
        if line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise ParseError("iptables-save", "chain line without a policy", line)
            table.chains[parts[0]] = Chain(parts[0], None if parts[1] == "-" else parts[1])
            continue
        rule = parse_rule(line)
        _chain(table, rule.chain, "iptables-save", line).rules.append(rule)
    return ruleset


def parse_iptables_S(text, table="filter") -> Ruleset:
    """``iptables [-t TABLE] -S`` -> Ruleset with that one table."""
    tab = Table(table)
    for line in lines(text):
        line = line.strip()
        words = line.split()
        if words[0] == "-P" and len(words) == 3:
            tab.chains.setdefault(words[1], Chain(words[1])).policy = words[2]
        elif words[0] == "-N" and len(words) == 2:
            tab.chains.setdefault(words[1], Chain(words[1]))
        elif words[0] == "-A":
            rule = parse_rule(line, "iptables -S")
            _chain(tab, rule.chain, "iptables -S", line).rules.append(rule)
        else:
            raise ParseError("iptables -S", "expected -P, -N or -A", line)
    return Ruleset({table: tab})


def _chain(table, name, source, line):
    try:
        return table.chains[name]
    except KeyError:
        raise ParseError(source, f"rule for undeclared chain {name!r}", line) from None


# ---------------------------------------------------------------------------------------------- iptables -L

_SERVICES = {"bootps": "67", "bootpc": "68", "ssh": "22", "domain": "53", "http": "80", "https": "443"}
_CHAIN_HEAD = re.compile(r"^Chain (\S+) \((?:policy ([A-Z]+)|(\d+) references)")
_L_ROW = re.compile(r"^(\S+)?\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$")


def _address_L(value):
    if value == "anywhere":
        return None
    return "0.0.0.0" if value == "default" else value


def _extra_L(extra):
    """The free text after the addresses of an ``iptables -L`` row -> matches."""
    matches = []
    comment = re.search(r"/\* (.*) \*/", extra)
    if comment:
        extra = extra[:comment.start()] + extra[comment.end():]
    words = extra.split()
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("state", "ctstate") and i + 1 < len(words):
            matches.append(Match("state" if word == "state" else "conntrack", {word: words[i + 1]}))
            i += 2
        elif word in ("udp", "tcp"):
            options = {}
            i += 1
            while i < len(words) and re.match(r"^(spt|dpt|spts|dpts):", words[i]):
                key, _, value = words[i].partition(":")
                options[{"spt": "sport", "dpt": "dport", "spts": "sport", "dpts": "dport"}[key]] = \
                    _SERVICES.get(value, value)
                i += 1
            matches.append(Match(word, options))
        elif word == "PHYSDEV" and i + 1 < len(words) and words[i + 1] == "match":
            options = {}
            i += 2
            while i < len(words) and words[i].startswith("--"):
                key = words[i][2:]
                if i + 1 < len(words) and not words[i + 1].startswith("--"):
                    options[key] = words[i + 1]
                    i += 2
                else:
                    options[key] = True
                    i += 1
            matches.append(Match("physdev", options))
        elif word == "MAC" and i + 1 < len(words):
            matches.append(Match("mac", {"mac-source": words[i + 1]}))
            i += 2
        elif word == "match-set" and i + 2 < len(words):
            matches.append(Match("set", {"match-set": f"{words[i + 1]} {words[i + 2]}"}))
            i += 3
        else:
            raise ParseError("iptables -L", f"unknown match text {word!r}", extra)
    if comment:
        matches.append(Match("comment", {"comment": comment.group(1)}))
    return tuple(matches)


def parse_iptables_L(text, table="filter") -> Ruleset:
    """``iptables [-t TABLE] -L`` (without ``-v``/``-n`` columns beyond the default) -> Ruleset.

    Lossy by nature (service names, ``anywhere``): ports are turned back to numbers for the usual services."""
    tab = Table(table)
    chain = None
    for line in lines(text):
        head = _CHAIN_HEAD.match(line)
        if head:
            chain = tab.chains.setdefault(head.group(1), Chain(head.group(1), head.group(2)))
            continue
        if line.startswith("target ") or line.split()[:2] == ["target", "prot"]:
            continue
        if chain is None:
            raise ParseError("iptables -L", "rule before any 'Chain' line", line)
        row = _L_ROW.match(line)
        if not row:
            raise ParseError("iptables -L", "not a rule row", line)
        target, prot, _opt, src, dst, extra = row.groups()
        chain.rules.append(Rule(chain=chain.name, raw=line, target=target,
                                protocol=None if prot in ("all", "0") else prot,
                                source=_address_L(src), destination=_address_L(dst), matches=_extra_L(extra)))
    return Ruleset({table: tab})


def port_chain_names(port_id, prefix="neutron-linuxbri-") -> Dict[str, str]:
    """The ingress, egress and spoofing chains neutron's iptables firewall makes for a port:
    ``{"in": prefix+"i"+id[:10], "out": ..."o"..., "spoof": ..."s"...}``."""
    return {"in": f"{prefix}i{port_id[:10]}", "out": f"{prefix}o{port_id[:10]}", "spoof": f"{prefix}s{port_id[:10]}"}
