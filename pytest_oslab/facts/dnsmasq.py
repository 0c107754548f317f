"""The files neutron's DHCP agent writes for dnsmasq under ``/var/lib/neutron/dhcp/<network>/`` (``host``,
``addn_hosts``, ``leases``, ``opts``, ``interface``) and the dnsmasq command line it starts."""
import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ._parse import ParseError, lines, normalize_mac


def neutron_hostname(ip) -> str:
    """The name neutron gives a port's address when the port has no DNS name:
    ``10.0.0.5`` -> ``host-10-0-0-5``; IPv6 ``fd00::5`` -> ``host-fd00--5``."""
    address = ipaddress.ip_address(ip)
    return "host-" + str(address).replace(".", "-").replace(":", "-")


@dataclass(frozen=True)
class HostEntry:
    """A line of ``host``: ``fa:16:3e:e9:6a:38,host-172-17-0-153.openstacklocal,172.17.0.153[,set:tag]``."""
    mac: str
    hostname: str             # as written: "host-172-17-0-153.openstacklocal"
    ip: str
    tags: Tuple[str, ...] = ()

    @property
    def name(self):
        return self.hostname.split(".", 1)[0]

    @property
    def domain(self):
        return self.hostname.split(".", 1)[1] if "." in self.hostname else None


@dataclass(frozen=True)
class AddnHost:
    """A line of ``addn_hosts``: ``172.17.0.153\\thost-172-17-0-153.openstacklocal host-172-17-0-153``."""
    ip: str
    names: Tuple[str, ...]

    @property
    def fqdn(self):
        return self.names[0]


@dataclass(frozen=True)
class Lease:
    """A line of ``leases``: ``1713796643 fa:16:3e:e9:6a:38 172.17.0.153 host-172-17-0-153 01:fa:16:3e:e9:6a:38``."""
    expires: int
    mac: str
    ip: str
    hostname: Optional[str]   # None for "*"
    client_id: Optional[str]  # None for "*"


@dataclass(frozen=True)
class DhcpOption:
    """A line of ``opts``: ``tag:subnet-<id>,option:router,192.168.101.1`` (or a numeric option, ``249,...``)."""
    tags: Tuple[str, ...]
    option: str               # "router", "dns-server", "classless-static-route", "249", ...
    values: Tuple[str, ...]


@dataclass(frozen=True)
class DhcpRange:
    """``--dhcp-range=set:subnet-<id>,192.168.31.64,static,255.255.255.224,86400s``."""
    tag: Optional[str]
    start: str
    mode: Optional[str]       # "static" for neutron
    netmask: Optional[str]
    lease: Optional[str]

    @property
    def network(self):
        """The subnet as an ``ipaddress`` network, when the range gives a netmask (IPv4) or prefix (IPv6)."""
        if self.netmask is None:
            return None
        return ipaddress.ip_network(f"{self.start}/{self.netmask}", strict=False)


@dataclass
class DnsmasqCommand:
    argv: List[str]
    options: Dict[str, List[str]] = field(default_factory=dict)   # "dhcp-range" -> [values]; flags -> [""]

    def get(self, name):
        """The value of an option given once (``cmd.get("domain")`` -> ``"openstacklocal"``), or None."""
        values = self.options.get(name.lstrip("-"))
        if not values:
            return None
        if len(values) > 1:
            raise ValueError(f"dnsmasq option --{name.lstrip('-')} is given {len(values)} times: {values}")
        return values[0]

    def all(self, name):
        return list(self.options.get(name.lstrip("-"), ()))

    def has(self, name):
        return name.lstrip("-") in self.options

    @property
    def dhcp_ranges(self):
        return [_dhcp_range(value) for value in self.all("dhcp-range")]

    @property
    def mtu(self):
        """The MTU pushed with ``--dhcp-option-force=option:mtu,<n>`` (or ``26,<n>``), or None."""
        return next((mtu for _, mtu in self.mtu_options), None)

    @property
    def mtu_options(self):
        """Every MTU option of the command line: ``[("--dhcp-option-force=option:mtu,1450", "1450")]``."""
        found = []
        for name in ("dhcp-option-force", "dhcp-option"):
            for value in self.all(name):
                parts = [p for p in value.split(",") if not p.startswith(("tag:", "set:"))]
                if len(parts) == 2 and parts[0] in ("option:mtu", "26"):
                    found.append((f"--{name}={value}", _mtu(parts[1])))
        return found


def _fields(line, source, count):
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < count:
        raise ParseError(source, f"expected at least {count} comma-separated fields", line)
    return parts


def _ip(value, source, line):
    value = value.strip("[]")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ParseError(source, f"{value!r} is not an IP address", line) from None
    return value


def parse_hosts(text) -> List[HostEntry]:
    """``host`` -> ``[HostEntry]``."""
    entries = []
    for line in lines(text):
        parts = _fields(line.strip(), "dnsmasq host file", 3)
        tags = tuple(p for p in parts[3:] if p.startswith("set:"))
        entries.append(HostEntry(mac=normalize_mac(parts[0], "dnsmasq host file"), hostname=parts[1],
                                 ip=_ip(parts[2], "dnsmasq host file", line), tags=tags))
    return entries


def parse_addn_hosts(text) -> List[AddnHost]:
    """``addn_hosts`` -> ``[AddnHost]``."""
    entries = []
    for line in lines(text):
        words = line.split()
        if len(words) < 2:
            raise ParseError("dnsmasq addn_hosts", "expected an address and a name", line)
        entries.append(AddnHost(ip=_ip(words[0], "dnsmasq addn_hosts", line), names=tuple(words[1:])))
    return entries


def parse_leases(text) -> List[Lease]:
    """``leases`` -> ``[Lease]`` (the ``duid`` line of IPv6 lease files is skipped)."""
    leases = []
    for line in lines(text):
        words = line.split()
        if words[0] == "duid":
            continue
        if len(words) != 5 or not words[0].isdigit():
            raise ParseError("dnsmasq leases", "expected 'expiry mac ip hostname client-id'", line)
        leases.append(Lease(expires=int(words[0]), mac=normalize_mac(words[1], "dnsmasq leases"),
                            ip=_ip(words[2], "dnsmasq leases", line),
                            hostname=None if words[3] == "*" else words[3],
                            client_id=None if words[4] == "*" else words[4]))
    return leases


def parse_opts(text) -> List[DhcpOption]:
    """``opts`` -> ``[DhcpOption]``."""
    options = []
    for line in lines(text):
        parts = _fields(line.strip(), "dnsmasq opts file", 2)
        tags = []
        while parts and parts[0].startswith(("tag:", "set:")):
            tags.append(parts.pop(0))
        if not parts:
            raise ParseError("dnsmasq opts file", "line without an option", line)
        option = parts.pop(0)
        for prefix in ("option:", "option6:"):
            if option.startswith(prefix):
                option = option[len(prefix):]
        options.append(DhcpOption(tags=tuple(tags), option=option, values=tuple(parts)))
    return options


def _mtu(value: str):
    return int(value) if value.isdigit() else value


def mtu_options(options: List[DhcpOption]) -> List[Tuple[str, object]]:
    """The lines of an ``opts`` file that give an MTU (``option:mtu`` or option 26), each with its MTU:
    ``[("tag:subnet-…,option:mtu,1400", 1400)]``."""
    return [(",".join(o.tags + (f"option:{o.option}" if o.option == "mtu" else o.option,) + o.values),
             _mtu(o.values[0]) if o.values else None) for o in options if o.option in ("mtu", "26")]


def parse_interface_file(text) -> str:
    """``interface`` -> the DHCP device's name (``tap43bf8dcc-08`` on OVS, ``ns-...`` on Linux bridge)."""
    names = lines(text)
    if len(names) != 1 or len(names[0].split()) != 1:
        raise ParseError("dnsmasq interface file", "expected one interface name", str(text))
    return names[0].strip()


def _dhcp_range(value):
    parts = value.split(",")
    tag = parts.pop(0) if parts and parts[0].startswith(("set:", "tag:")) else None
    if not parts:
        raise ParseError("dnsmasq --dhcp-range", "no start address", value)
    start = parts.pop(0)
    mode = parts.pop(0) if parts and parts[0] in ("static", "proxy", "ra-only", "ra-names", "ra-stateless",
                                                  "slaac", "constructor") else None
    netmask = parts.pop(0) if parts and not parts[0][-1:] in ("s", "m", "h", "d") and parts[0] != "infinite" \
        else None
    lease = parts.pop(0) if parts else None
    return DhcpRange(tag=tag.split(":", 1)[1] if tag else None, start=start, mode=mode, netmask=netmask,
                     lease=lease)


def split_cmdline(text) -> List[str]:
    """argv of a command: ``/proc/<pid>/cmdline`` (NUL-separated, bytes or str), a ``ps`` line (``ps -eo args``,
    ``ps -ef``, ``ps ax``: everything before the program is dropped by ``parse_cmdline``), or the notebook form
    with ``\\`` line continuations."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if "\0" in text:
        return [arg for arg in text.split("\0") if arg]
    joined = [line for line in text.replace("\\\n", " ").splitlines() if line.strip()]
    if len(joined) > 1:
        raise ParseError("command line", "more than one line: pick the process first (processes.find)", text)
    return joined[0].split() if joined else []


def parse_cmdline(text, program="dnsmasq") -> DnsmasqCommand:
    """A dnsmasq command line -> DnsmasqCommand; argv starts at the first word whose basename is ``program``."""
    words = split_cmdline(text)
    start = next((i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] == program), None)
    if start is None:
        raise ParseError(f"{program} command line", f"no {program} in it", " ".join(words))
    argv = words[start:]
    options: Dict[str, List[str]] = {}
    for arg in argv[1:]:
        if not arg.startswith("--"):
            raise ParseError(f"{program} command line", f"argument {arg!r} is not a --long option", " ".join(argv))
        name, _, value = arg[2:].partition("=")
        options.setdefault(name, []).append(value)
    return DnsmasqCommand(argv=argv, options=options)
